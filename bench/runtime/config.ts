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
/**
 * 4. scale: idle sessions on one node. A connection each: BENCH_SCALE_SESSIONS (20,000 by default;
 * capped at what the server's open-files limit holds), raw ws and Colloquy at the same count.
 */
export const SCALE_SESSIONS = envCount('BENCH_SCALE_SESSIONS', 20_000);
/**
 * Multiplexed: BENCH_SCALE_MUX_SESSIONS Colloquy sessions (100,000 by default) over WebSocket
 * connections that carry BENCH_SCALE_PER_CONNECTION sessions each (a ConnectionPool).
 */
export const SCALE_MUX_SESSIONS = envCount('BENCH_SCALE_MUX_SESSIONS', 100_000);
export const SCALE_PER_CONNECTION = envCount('BENCH_SCALE_PER_CONNECTION', 100);
/** Connections per opener process. */
export const SCALE_PER_OPENER = 25_000;
/**
 * Connections per source address (127.0.x.y). A client socket with a local address binds before
 * it connects, and Linux finds the port for such a bind by scanning for one no socket on that
 * address holds (first in its half of the ephemeral range, ~14,000 ports). Measured here
 * (Python, bind + connect to a local listener): 2,000 connections from one address took 0.35 s
 * up to 12,000 open, 3.2 s at 14,000, then 85-89 s per 2,000 (the 25 opens/s an earlier 20,000
 * run stopped at); 4,000 to an address kept 0.2-0.3 s per 2,000 to 18,000.
 */
export const SCALE_PER_ADDRESS = 4_000;
/** Handshakes in flight per opener. */
export const SCALE_CONCURRENCY = 64;
/** Each run's openers stop after this long (BENCH_SCALE_OPEN_MS), and report what they opened. */
export const SCALE_OPEN_MS = envCount('BENCH_SCALE_OPEN_MS', 300_000);
/** Openers report their progress this often (printed, so a slow run shows where it is). */
export const SCALE_PROGRESS_MS = 30_000;
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
