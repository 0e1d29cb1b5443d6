// The runtime bench's settings: sizes, durations, caps and windows, BENCH_ONLY, and where it runs from.

import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envList } from '../support.js';

export const HERE = dirname(fileURLToPath(import.meta.url));
/** This file as compiled by compile.ts (plain node), or the TypeScript source under tsx. */
export const COMPILED = import.meta.url.endsWith('.js');
export const ROOT = dirname(dirname(HERE));

export const SIZES = [64, 1024, 64 * 1024] as const;
/** Messages per measured phase, at most (the warm-up sends a tenth of it). */
export const CAP: Record<number, number> = { 64: 2_000_000, 1024: 1_000_000, 65536: 40_000 };
export const WARM_MS = 300;
export const MEASURE_MS = 1500;
/** Every throughput case runs once per round, rounds one after the other; the best run counts. */
export const ROUNDS = 2;
/** A case that is not complete this long after its last send is reported as failed. */
export const SETTLE_MS = 15_000;
export const RAW_WS_HIGH_WATER = 1024 * 1024;
/** Corked raw TCP: bytes of messages written between cork() and uncork() (one writev), as Colloquy coalesces up to 64 KiB per write. */
export const CORK_BYTES = 64 * 1024;
export const SOCKET_IO_WINDOW = 1000;
export const MQTT_URL = 'mqtt://127.0.0.1:1883';
export const MQTT_WINDOW = 500;
export const MQTT_PROGRESS_EVERY = 100;
export const RTT_WARM = 1000;
/** Round trips alternate between the systems in blocks of RTT_BLOCK, for RTT_MS in all; samples pool per system. */
export const RTT_MS = 4000;
export const RTT_BLOCK = 100;
export const RTT_CAP = 100_000;
/** Idle sessions measured per system: BENCH_IDLE_SESSIONS, 10,000 by default. */
export const IDLE_SESSIONS = envCount('BENCH_IDLE_SESSIONS', 10_000);
/** BENCH_IDLE_SNAPSHOTS=<dir>: the idle servers also write heap snapshots before and after (see heap-diff.ts). */
export const IDLE_SNAPSHOTS = process.env.BENCH_IDLE_SNAPSHOTS ?? '';
/** Opened (and left open) before the "before" sample, so code loading and JIT are not counted. */
export const IDLE_WARM = 100;
export const IDLE_CONCURRENCY = 100;
export const IDLE_OPEN_MS = 60_000;
/** 4. scale: idle sessions on one node (BENCH_SCALE_SESSIONS; the run is 100,000, several minutes). */
export const SCALE_SESSIONS = envCount('BENCH_SCALE_SESSIONS', 20_000);
/**
 * 4b. the same, multiplexed: BENCH_SCALE_MUX_SESSIONS Colloquy sessions (100,000 by default) over
 * WebSocket connections that carry BENCH_SCALE_PER_CONNECTION sessions each (a ConnectionPool).
 */
export const SCALE_MUX_SESSIONS = envCount('BENCH_SCALE_MUX_SESSIONS', 100_000);
export const SCALE_PER_CONNECTION = envCount('BENCH_SCALE_PER_CONNECTION', 100);
/** Connections per opener process, and per source address (127.0.0.x has ~28,000 ephemeral ports). */
export const SCALE_PER_OPENER = 25_000;
export const SCALE_PER_ADDRESS = 20_000;
/** Handshakes in flight per opener. */
export const SCALE_CONCURRENCY = 64;
export const SCALE_OPEN_MS = 600_000;
/** Server CPU is measured while idle over this long: one 15 s heartbeat interval and a bit. */
export const SCALE_IDLE_MS = 16_000;

export const ONLY = envList('BENCH_ONLY');

/** A positive integer from the environment (underscores and commas allowed), or `fallback`. */
export function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replace(/[_,]/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${raw}: expected a positive integer`);
  return n;
}
export const selected = (...names: string[]): boolean =>
  ONLY.length === 0 || ONLY.some((w) => names.some((n) => n.includes(w)));
