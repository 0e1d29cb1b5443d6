// Runtime benchmark: Colloquy over real sockets, side by side with what people would use instead,
// in one run, with the ratios the issue asks for.
//
// What runs: under tsx (`npm run bench`, `npx tsx bench/runtime.ts`) run() compiles this file, its
// peers and the src/ they import with tsc into a temp directory and runs that on plain node:
// tsx's esbuild keepNames would otherwise tax Colloquy's closures (not the node_modules
// baselines). See runtime-compile.ts. Every measuring process is plain node.
//
//   1. one-way messages/s at 64 B, 1 KiB, 64 KiB. The sender is this process; every receiver
//      lives in one child process (bench/peers/sink.ts), so each side has a core. A case sends
//      for MEASURE_MS (after a WARM_MS warm-up on the same connection, message counts capped),
//      then waits until it is complete; the matrix runs ROUNDS times and the best run counts:
//        Colloquy tcp/ws   `await session.send()` per message (it resolves once queued), heartbeats
//                          off. Complete when the receiver has read every message through the
//                          session's async iterator AND the sender's stats.acknowledged covers
//                          them (acks are cumulative and lazy: the last may come ackDelayMs =
//                          20 ms late, and that is counted)
//        Colloquy (diag.)  64 send() calls, then one await for all: what the per-send flush costs
//                          (no target; 64 B only)
//        raw ws            ws.send() per message, waits on a send callback above 1 MiB unsent;
//                          complete when the receiver has every message (no acks: the ceiling)
//        raw TCP           4-byte length + payload, one socket.write() per message, noDelay,
//                          waits for 'drain'; complete when the receiver has every message
//        Socket.IO 4       websocket transport, connection state recovery on (server),
//                          emitWithAck() per message, at most SOCKET_IO_WINDOW unanswered;
//                          complete when every ack came back
//        MQTT QoS 1        a local broker at 127.0.0.1:1883 (skipped with a notice when none
//                          answers): publish QoS 1, subscriber QoS 1 in the child; at most
//                          MQTT_WINDOW published but not both PUBACKed and received (the
//                          broker's default queue is 1000 per client and drops past it);
//                          complete when every PUBACK came back and the subscriber has all
//   2. round trip of 64 B (ping, echo in the child, pong; one at a time): Colloquy over ws vs raw
//      ws, in alternating blocks of RTT_BLOCK round trips, samples pooled per system
//   3. idle sessions: a server alone in a child process (bench/peers/idle.ts), RSS after a full
//      GC before and after IDLE_SESSIONS more ws sessions (clients here), divided; the child
//      lifts its open-files soft limit to the hard one
//
// Targets (the issue): >= 1.0x raw ws msgs/s, >= 2x raw one-write-per-message TCP at 64 B,
// >= 3x Socket.IO acked, >= 2x MQTT QoS 1, RTT p50 <= 1.1x raw ws, idle memory <= 1.25x raw ws.
// On a machine shared with other work, rates swing by tens of percent between runs: the header
// prints the load average.
// Run: npx tsx bench/runtime.ts   (or import { run } and await it). About 2 minutes.
// BENCH_ONLY=colloquy-tcp/65536,rtt,idle runs only the cases whose "<system>/<size>" or section
// (throughput, rtt, idle) contains one of the comma-separated words (for profiling one case);
// BENCH_NODE_ARGS / BENCH_PEER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" add node options
// to the measuring process / to the peers.

import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connectAsync } from 'mqtt';
import { io as socketIo } from 'socket.io-client';
import { WebSocket } from 'ws';
import { connect } from '../src/client/connect.js';
import { compileBench, exitWithLauncher, runCompiled } from './runtime-compile.js';
import type { FromIdle, FromSink, MemorySample, SinkPorts, ToIdle, ToSink } from './peers/protocol.js';
import { envList, ratioText, table } from './support.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** This file as compiled by runtime-compile.ts (plain node), or the TypeScript source under tsx. */
const COMPILED = import.meta.url.endsWith('.js');
const ROOT = dirname(HERE);

const SIZES = [64, 1024, 64 * 1024] as const;
/** Messages per measured phase, at most (the warm-up sends a tenth of it). */
const CAP: Record<number, number> = { 64: 2_000_000, 1024: 1_000_000, 65536: 40_000 };
const WARM_MS = 300;
const MEASURE_MS = 1500;
/** Every throughput case runs once per round, rounds one after the other; the best run counts. */
const ROUNDS = 2;
/** A case that is not complete this long after its last send is reported as failed. */
const SETTLE_MS = 15_000;
const RAW_WS_HIGH_WATER = 1024 * 1024;
const SOCKET_IO_WINDOW = 1000;
const MQTT_URL = 'mqtt://127.0.0.1:1883';
const MQTT_WINDOW = 500;
const MQTT_PROGRESS_EVERY = 100;
const RTT_WARM = 1000;
/** Round trips alternate between the systems in blocks of RTT_BLOCK, for RTT_MS in all; samples pool per system. */
const RTT_MS = 4000;
const RTT_BLOCK = 100;
const RTT_CAP = 100_000;
const IDLE_SESSIONS = 10_000;
/** Opened (and left open) before the "before" sample, so code loading and JIT are not counted. */
const IDLE_WARM = 100;
const IDLE_CONCURRENCY = 100;
const IDLE_OPEN_MS = 60_000;

const ONLY = envList('BENCH_ONLY');
const selected = (...names: string[]): boolean => ONLY.length === 0 || ONLY.some((w) => names.some((n) => n.includes(w)));

// ---- peers ---------------------------------------------------------------------------------

interface Waiter<M> { ev: string; resolve(m: M): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }

/** A child process speaking ./peers/protocol.ts over IPC. */
class Peer<To, From extends { ev: string }> {
  private waiters: Waiter<From>[] = [];
  private readonly listeners = new Set<(m: From) => void>();
  private readonly exited: Promise<void>;

  constructor(private readonly child: ChildProcess, readonly name: string) {
    child.on('message', (m: From) => {
      if (m.ev === 'error') console.error(`  ${name}: ${(m as unknown as { message: string }).message}`);
      for (const l of this.listeners) l(m);
      const i = this.waiters.findIndex((w) => w.ev === m.ev);
      if (i < 0) return;
      const [w] = this.waiters.splice(i, 1) as [Waiter<From>];
      clearTimeout(w.timer);
      w.resolve(m);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`${name} exited (${signal ?? code})`));
        }
        resolve();
      });
    });
  }

  /** The next message of this kind (register before sending what causes it). */
  next<E extends From['ev']>(ev: E, timeoutMs = 10_000): Promise<Extract<From, { ev: E }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`${this.name}: no '${ev}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ ev, resolve: resolve as (m: From) => void, reject, timer });
    });
  }

  listen(listener: (m: From) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(message: To): void {
    if (this.child.connected) this.child.send(message as object);
  }

  request<E extends From['ev']>(message: To, ev: E, timeoutMs?: number): Promise<Extract<From, { ev: E }>> {
    const answer = this.next(ev, timeoutMs);
    this.send(message);
    return answer;
  }

  /** Asks the peer to exit; kills it (this child, by its PID) when it has not within 5 s. */
  async stop(exit: To): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.send(exit);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Forks bench/peers/<script> under tsx. With `raiseFdLimit` it goes through /bin/sh to lift the
 * soft open-files limit to the hard one first (exec keeps the PID and the IPC channel).
 */
async function spawnPeer<To, From extends { ev: string }>(script: string, args: string[], o: { exposeGc?: boolean; raiseFdLimit?: boolean } = {}): Promise<{ peer: Peer<To, From>; ready: Extract<From, { ev: 'ready' }> }> {
  const extra = (process.env.BENCH_PEER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const execArgv = [...(COMPILED ? [] : ['--import', 'tsx']), ...(o.exposeGc ? ['--expose-gc'] : []), ...extra];
  const path = join(HERE, 'peers', COMPILED ? script.replace(/\.ts$/, '.js') : script);
  const shell = o.raiseFdLimit && process.platform !== 'win32';
  const child = shell
    ? fork(path, args, { cwd: ROOT, execPath: '/bin/sh', execArgv: ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, ...execArgv], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : fork(path, args, { cwd: ROOT, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const peer = new Peer<To, From>(child, script.replace(/\.ts$/, ''));
  const ready = await peer.next('ready' as From['ev'], 20_000);
  return { peer, ready: ready as Extract<From, { ev: 'ready' }> };
}

type Sink = Peer<ToSink, FromSink>;

// ---- senders -------------------------------------------------------------------------------

interface Sender {
  /** Sends until `count` messages or `deadline`; resolves with how many were handed over. */
  send(count: number, deadline: number): Promise<number>;
  /** Resolves once the sender itself knows the first `total` messages arrived (immediate without acks). */
  acknowledged(total: number, deadline: number): Promise<void>;
  close(): Promise<void>;
}

/** Resolves when `done()` holds, checking every millisecond (for counters without events). */
async function poll(done: () => boolean, deadline: number, what: () => string): Promise<void> {
  while (!done()) {
    if (performance.now() > deadline) throw new Error(what());
    await sleep(1);
  }
}

/** `p`, or undefined after `ms`; the timer never outlives the race. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => { timer = setTimeout(resolve, ms, undefined); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * `batch` 1: `await session.send()` for every message, as an application writes it. A larger
 * batch issues that many send() calls before awaiting them together (a diagnostic: it shows
 * what the per-message flush costs; the `diag.` rows at 64 B).
 */
async function colloquySender(url: string, payload: Uint8Array, batch = 1): Promise<Sender> {
  const session = await connect(url, { heartbeatMs: 0, reconnect: false });
  const acked = (): number => session.machine.stats.acknowledged;
  const pending: Promise<void>[] = [];
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        if (batch === 1) {
          await session.send(payload);
          i++;
        } else {
          const n = Math.min(batch, count - i);
          for (let j = 0; j < n; j++) pending.push(session.send(payload));
          await Promise.all(pending);
          pending.length = 0;
          i += n;
        }
        if ((i & 63) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: (total, deadline) => poll(() => acked() >= total, deadline, () => `acknowledged ${acked()} of ${total}`),
    async close() {
      const released = await withTimeout(session.release().catch(() => false), 3000);
      if (released !== true) session.abort('bench done');
    },
  };
}

async function rawWsSender(url: string, payload: Uint8Array): Promise<Sender> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('error', () => {});
  await once(ws, 'open');
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        if (ws.bufferedAmount > RAW_WS_HIGH_WATER) {
          // The callback runs once this message (and all before it) reached the socket.
          await new Promise<void>((resolve, reject) => ws.send(payload, (e) => (e ? reject(e) : resolve())));
        } else {
          ws.send(payload);
        }
        if ((++i & 255) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: () => Promise.resolve(),
    async close() {
      ws.close();
      await withTimeout(once(ws, 'close'), 2000);
    },
  };
}

async function rawTcpSender(port: number, payload: Uint8Array): Promise<Sender> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, 4);
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        if (!socket.write(frame)) await once(socket, 'drain');
        if ((++i & 255) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: () => Promise.resolve(),
    async close() {
      socket.end();
      await withTimeout(once(socket, 'close'), 2000);
    },
  };
}

/** Counts answers to a window of outstanding requests; `wait()` resolves at the next change. */
class Window {
  answered = 0;
  failed: Error | null = null;
  private wake: (() => void) | null = null;
  bump(error?: Error | null): void {
    if (error) this.failed ??= error;
    else this.answered++;
    this.notify();
  }
  notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
  wait(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve) => { this.wake = resolve; });
  }
  /** Waits until `done()`; one timer wakes the wait at `deadline`, which then fails. */
  async until(done: () => boolean, deadline: number, what: () => string): Promise<void> {
    if (done()) return;
    const timer = setTimeout(() => this.notify(), Math.max(0, deadline - performance.now()));
    try {
      while (!done()) {
        if (performance.now() >= deadline) throw new Error(what());
        await this.wait();
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

async function socketIoSender(port: number, payload: Uint8Array): Promise<Sender> {
  const socket = socketIo(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const data = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const acks = new Window();
  let sent = 0;
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        while (sent - acks.answered >= SOCKET_IO_WINDOW) await acks.wait();
        socket.emitWithAck('m', data).then(() => acks.bump(), (e: unknown) => acks.bump(e instanceof Error ? e : new Error(String(e))));
        sent++;
        if ((++i & 63) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: (total, deadline) => acks.until(() => acks.answered >= total, deadline, () => `${acks.answered} of ${total} acks`),
    async close() {
      socket.disconnect();
      await Promise.resolve();
    },
  };
}

async function mqttSender(sink: Sink, payload: Uint8Array): Promise<Sender> {
  const topic = `colloquy-bench/${process.pid}/${Date.now()}`;
  await sink.request({ cmd: 'mqtt-subscribe', url: MQTT_URL, topic, every: MQTT_PROGRESS_EVERY }, 'mqtt-ready', 5000);
  const client = await connectAsync(MQTT_URL, { clientId: `colloquy-bench-pub-${process.pid}`, clean: true, reconnectPeriod: 0, connectTimeout: 3000 });
  client.on('error', () => {});
  const data = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const pubacks = new Window();
  let received = 0;
  let published = 0;
  const off = sink.listen((m) => {
    if (m.ev === 'progress') {
      received = m.total;
      pubacks.notify();
    }
  });
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        while (published - Math.min(pubacks.answered, received) >= MQTT_WINDOW) await pubacks.wait();
        client.publish(topic, data, { qos: 1 }, (e) => pubacks.bump(e));
        published++;
        if ((++i & 63) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: (total, deadline) => pubacks.until(() => pubacks.answered >= total, deadline, () => `${pubacks.answered} of ${total} PUBACKs`),
    async close() {
      off();
      await withTimeout(client.endAsync(), 2000);
      await sink.request({ cmd: 'mqtt-unsubscribe' }, 'mqtt-done', 5000);
    },
  };
}

// ---- 1. throughput -------------------------------------------------------------------------

interface Outcome { rate: number; messages: number; seconds: number; error?: string }

async function throughput(sink: Sink, size: number, open: () => Promise<Sender>): Promise<Outcome> {
  await sink.request({ cmd: 'reset', echo: false }, 'reset');
  const cap = CAP[size] ?? 100_000;
  let sender: Sender | undefined;
  try {
    sender = await open();
    const s = sender;
    let sent = 0;
    const complete = async (): Promise<void> => {
      const deadline = performance.now() + SETTLE_MS;
      await Promise.all([sink.request({ cmd: 'await', target: sent }, 'reached', SETTLE_MS), s.acknowledged(sent, deadline)]);
    };
    sent += await s.send(Math.ceil(cap / 10), performance.now() + WARM_MS);
    await complete();
    const start = performance.now();
    const n = await s.send(cap, start + MEASURE_MS);
    sent += n;
    await complete();
    const seconds = (performance.now() - start) / 1000;
    return { rate: n / seconds, messages: n, seconds };
  } catch (e) {
    return { rate: Number.NaN, messages: 0, seconds: 0, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await sender?.close().catch(() => {});
  }
}

interface System {
  key: string;
  label: string;
  transport: 'tcp' | 'ws';
  open(size: number): () => Promise<Sender>;
  /** Measured at these sizes only (default: all). */
  sizes?: readonly number[];
}

/** Diagnostic rows (no target): Colloquy with 64 send() calls per await, at 64 B. */
const DIAG_BATCH = 64;

function systems(sink: Sink, ports: SinkPorts, mqtt: boolean): System[] {
  const payload = (size: number): Uint8Array => new Uint8Array(size).map((_, i) => i & 0xff);
  const list: System[] = [
    { key: 'colloquy-tcp', label: 'Colloquy', transport: 'tcp', open: (size) => () => colloquySender(`tcp://127.0.0.1:${ports.colloquyTcp}`, payload(size)) },
    { key: 'colloquy-ws', label: 'Colloquy', transport: 'ws', open: (size) => () => colloquySender(`ws://127.0.0.1:${ports.colloquyWs}/session`, payload(size)) },
    { key: 'colloquy-tcp-batch', label: `Colloquy, ${DIAG_BATCH} sends/await (diag.)`, transport: 'tcp', sizes: [64], open: (size) => () => colloquySender(`tcp://127.0.0.1:${ports.colloquyTcp}`, payload(size), DIAG_BATCH) },
    { key: 'colloquy-ws-batch', label: `Colloquy, ${DIAG_BATCH} sends/await (diag.)`, transport: 'ws', sizes: [64], open: (size) => () => colloquySender(`ws://127.0.0.1:${ports.colloquyWs}/session`, payload(size), DIAG_BATCH) },
    { key: 'raw-ws', label: 'raw ws (ceiling)', transport: 'ws', open: (size) => () => rawWsSender(`ws://127.0.0.1:${ports.rawWs}/`, payload(size)) },
    { key: 'raw-tcp', label: 'raw TCP, 1 write/msg', transport: 'tcp', open: (size) => () => rawTcpSender(ports.rawTcp, payload(size)) },
    { key: 'socket-io', label: 'Socket.IO 4 acked', transport: 'ws', open: (size) => () => socketIoSender(ports.socketIo, payload(size)) },
  ];
  if (mqtt) list.push({ key: 'mqtt', label: 'MQTT QoS 1 (broker)', transport: 'tcp', open: (size) => () => mqttSender(sink, payload(size)) });
  return list;
}

/** Whether an MQTT broker answers at 127.0.0.1:1883 (a TCP connect and an MQTT CONNECT). */
async function mqttAvailable(): Promise<string | null> {
  const socket = net.connect({ host: '127.0.0.1', port: 1883 });
  const reachable = (await withTimeout(once(socket, 'connect').then(() => true, () => false), 1000)) ?? false;
  socket.destroy();
  if (!reachable) return 'nothing answers at 127.0.0.1:1883';
  try {
    const client = await connectAsync(MQTT_URL, { clientId: `colloquy-bench-probe-${process.pid}`, clean: true, reconnectPeriod: 0, connectTimeout: 2000 });
    await client.endAsync();
    return null;
  } catch (e) {
    return `127.0.0.1:1883 did not accept an MQTT connect (${e instanceof Error ? e.message : String(e)})`;
  }
}

// ---- 2. round trips ------------------------------------------------------------------------

interface Pinger { ping(): Promise<void>; close(): Promise<void> }

async function colloquyPinger(url: string, payload: Uint8Array): Promise<Pinger> {
  const session = await connect(url, { heartbeatMs: 0, reconnect: false });
  const incoming = session[Symbol.asyncIterator]();
  return {
    async ping() {
      await session.send(payload);
      const r = await incoming.next();
      if (r.done) throw new Error('the session ended');
    },
    async close() {
      if (session.closed) return;
      const released = await withTimeout(session.release().catch(() => false), 3000);
      if (released !== true) session.abort('bench done');
    },
  };
}

async function rawWsPinger(url: string, payload: Uint8Array): Promise<Pinger> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('error', () => {});
  await once(ws, 'open');
  let pong: { resolve(): void; reject(e: Error): void } | null = null;
  ws.on('message', () => {
    const p = pong;
    pong = null;
    p?.resolve();
  });
  ws.on('close', () => pong?.reject(new Error('the WebSocket closed')));
  return {
    ping: () => new Promise<void>((resolve, reject) => {
      pong = { resolve, reject };
      ws.send(payload);
    }),
    async close() {
      ws.close();
      await withTimeout(once(ws, 'close'), 2000);
    },
  };
}

interface Latency { n: number; p50: number; p90: number; p99: number; mean: number; error?: string }

/**
 * Ping-pong on every pinger, in blocks of RTT_BLOCK round trips that alternate between them
 * until RTT_MS have passed (so a burst of load elsewhere on the machine hits each alike);
 * samples pool per pinger.
 */
async function roundTrips(sink: Sink, opens: readonly (() => Promise<Pinger>)[]): Promise<Latency[]> {
  await sink.request({ cmd: 'reset', echo: true }, 'reset');
  const pingers: Pinger[] = [];
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const fail = (e: unknown): Latency[] => opens.map(() => ({ n: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, mean: Number.NaN, error: e instanceof Error ? e.message : String(e) }));
  try {
    for (const open of opens) pingers.push(await open());
    // One watchdog for the whole run (a timer per ping would cost every system alike and blur
    // the ratio): it closes the connections, which ends a ping that would wait forever.
    const limit = RTT_MS + 15_000;
    let stuck = false;
    watchdog = setTimeout(() => {
      stuck = true;
      for (const p of pingers) void p.close();
    }, limit);
    const ping = async (p: Pinger): Promise<void> => {
      await p.ping();
      if (stuck) throw new Error(`the run took longer than ${limit} ms`);
    };
    for (const p of pingers) for (let i = 0; i < RTT_WARM; i++) await ping(p);
    const times = pingers.map(() => new Float64Array(RTT_CAP));
    const counts = pingers.map(() => 0);
    const end = performance.now() + RTT_MS;
    while (performance.now() < end && counts.every((n) => n + RTT_BLOCK <= RTT_CAP)) {
      for (let k = 0; k < pingers.length; k++) {
        const p = pingers[k]!;
        const t = times[k]!;
        let n = counts[k]!;
        for (let i = 0; i < RTT_BLOCK; i++) {
          const start = performance.now();
          await ping(p);
          t[n++] = performance.now() - start;
        }
        counts[k] = n;
      }
    }
    return times.map((t, k) => {
      const n = counts[k]!;
      const sorted = t.subarray(0, n).sort();
      const at = (q: number): number => sorted[Math.min(n - 1, Math.floor(q * n))] ?? Number.NaN;
      return { n, p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: sorted.reduce((x, y) => x + y, 0) / n };
    });
  } catch (e) {
    return fail(e);
  } finally {
    clearTimeout(watchdog);
    for (const p of pingers) await p.close().catch(() => {});
  }
}

// ---- 3. idle sessions ----------------------------------------------------------------------

interface IdleOutcome { kind: string; opened: number; before: MemorySample; after: MemorySample; seconds: number; note?: string }

/** The soft limit on open files of this process (Linux), or undefined when unknown. */
function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** Opens `count` connections, `concurrency` at a time, until done, a failure, or `deadline`. */
async function openMany(count: number, concurrency: number, deadline: number, open: () => Promise<() => void>, into: (() => void)[]): Promise<string | undefined> {
  let started = 0;
  let failure: string | undefined;
  const worker = async (): Promise<void> => {
    while (started < count && failure === undefined) {
      if (performance.now() > deadline) { failure = `stopped after ${IDLE_OPEN_MS / 1000} s`; return; }
      started++;
      try {
        into.push(await open());
      } catch (e) {
        failure = e instanceof Error ? e.message : String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failure;
}

async function idleSessions(kind: 'colloquy' | 'ws', sessions: number): Promise<IdleOutcome> {
  const { peer, ready } = await spawnPeer<ToIdle, FromIdle>('idle.ts', [kind], { exposeGc: true, raiseFdLimit: true });
  const url = `ws://127.0.0.1:${ready.port}${ready.path}`;
  const open = kind === 'colloquy'
    ? async (): Promise<() => void> => {
      const s = await connect(url, { reconnect: false });
      return () => s.abort('bench done');
    }
    : async (): Promise<() => void> => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('error', () => {});
      await once(ws, 'open');
      return () => ws.terminate();
    };
  const closers: (() => void)[] = [];
  const measure = (): Promise<MemorySample> => peer.request({ cmd: 'measure' }, 'memory', 30_000);
  try {
    let note = await openMany(IDLE_WARM, 20, performance.now() + IDLE_OPEN_MS, open, closers);
    await sleep(300);
    const before = await measure();
    const start = performance.now();
    note ??= await openMany(sessions, IDLE_CONCURRENCY, start + IDLE_OPEN_MS, open, closers);
    const seconds = (performance.now() - start) / 1000;
    let after = await measure();
    // Handshakes the server has not finished yet: give them a moment, then count what is there.
    for (let i = 0; i < 20 && after.connections < closers.length; i++) {
      await sleep(250);
      after = await measure();
    }
    return { kind, opened: after.connections - before.connections, before, after, seconds, note };
  } finally {
    for (const close of closers) close();
    await sleep(500);
    await peer.stop({ cmd: 'exit' });
  }
}

// ---- printing ------------------------------------------------------------------------------

const sizeName = (size: number): string => (size < 1024 ? `${size} B` : `${size / 1024} KiB`);
const rateText = (rate: number): string => (Number.isNaN(rate) ? 'failed' : rate >= 1e6 ? `${(rate / 1e6).toFixed(2)} M/s` : `${(rate / 1e3).toFixed(1)} k/s`);
const us = (v: number): string => (Number.isNaN(v) ? 'n/a' : `${(v * 1000).toFixed(0)} us`);
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

interface Target { name: string; ratio: number; goal: string; met: boolean | undefined }

function target(name: string, ratio: number, goal: number, atMost = false): Target {
  const met = Number.isFinite(ratio) ? (atMost ? ratio <= goal : ratio >= goal) : undefined;
  return { name, ratio, goal: `${atMost ? '<=' : '>='} ${goal.toFixed(2)}x`, met };
}

// ---- run -----------------------------------------------------------------------------------

function loadText(): string {
  const [one] = loadavg();
  const cores = availableParallelism();
  return `load average ${(one ?? 0).toFixed(1)} on ${cores} cores${(one ?? 0) > cores * 0.75 ? ' (BUSY: other work competes for the cores; rates are low and noisy)' : ''}`;
}

async function throughputSection(sink: Sink, ports: SinkPorts, targets: Target[]): Promise<void> {
  const mqttProblem = await mqttAvailable();
  const list = systems(sink, ports, mqttProblem === null);
  console.log('');
  console.log(`1. one-way acknowledged messages/s: sender here, receivers in a child process; ${WARM_MS} ms warm-up, then ${MEASURE_MS} ms of sending,`);
  console.log('   timed until complete (Colloquy: receiver read all AND sender\'s stats.acknowledged covers them; Socket.IO, MQTT: all acks');
  console.log(`   back and receiver has all; raw ws, raw TCP: receiver has all). Best of ${ROUNDS} rounds (the matrix runs ${ROUNDS} times over).`);
  if (mqttProblem !== null) console.log(`   MQTT skipped: ${mqttProblem}`);
  const results = new Map<string, Outcome>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of SIZES) {
      for (const s of list) {
        if ((s.sizes && !s.sizes.includes(size)) || !selected('throughput', `${s.key}/${size}`)) continue;
        const key = `${s.key}/${size}`;
        const r = await throughput(sink, size, s.open(size));
        if (r.error) console.log(`   ${s.label} ${s.transport} ${sizeName(size)}, round ${round + 1}: failed: ${r.error}`);
        const best = results.get(key);
        if (!best || Number.isNaN(best.rate) || r.rate > best.rate) results.set(key, r);
      }
    }
  }
  const rows = [['system', 'transport', ...SIZES.flatMap((s) => [`${sizeName(s)} msgs/s`, 'MB/s'])]];
  for (const s of list) {
    rows.push([s.label, s.transport, ...SIZES.flatMap((size) => {
      const r = results.get(`${s.key}/${size}`);
      if (!r) return ['-', ''];
      return [rateText(r.rate), Number.isNaN(r.rate) ? '' : (r.rate * size / 1e6).toFixed(0)];
    })]);
  }
  table(rows, 2);
  const rate = (key: string, size: number): number => results.get(`${key}/${size}`)?.rate ?? Number.NaN;
  console.log('');
  const vs = [
    { name: 'Colloquy ws / raw ws', a: 'colloquy-ws', b: 'raw-ws', goal: 1, sizes: SIZES, at: '' },
    { name: 'Colloquy tcp / raw TCP 1 write/msg', a: 'colloquy-tcp', b: 'raw-tcp', goal: 2, sizes: [64], at: ' at 64 B' },
    { name: 'Colloquy ws / Socket.IO acked', a: 'colloquy-ws', b: 'socket-io', goal: 3, sizes: SIZES, at: '' },
    ...(mqttProblem === null ? [{ name: 'Colloquy tcp / MQTT QoS 1', a: 'colloquy-tcp', b: 'mqtt', goal: 2, sizes: SIZES, at: '' }] : []),
  ];
  table([
    ['ratio', ...SIZES.map(sizeName), 'target'],
    ...vs.map((v) => [v.name, ...SIZES.map((size) => ratioText(rate(v.a, size) / rate(v.b, size))), `>= ${v.goal}x${v.at}`]),
  ]);
  for (const v of vs) {
    for (const size of v.sizes) {
      if (results.has(`${v.a}/${size}`) || results.has(`${v.b}/${size}`)) targets.push(target(`${v.name} at ${sizeName(size)}`, rate(v.a, size) / rate(v.b, size), v.goal));
    }
  }
}

async function rttSection(sink: Sink, ports: SinkPorts, targets: Target[]): Promise<void> {
  console.log('');
  console.log(`2. round trip, 64 B ping -> echo -> pong, one at a time, echo in the child; ${RTT_WARM} warm-up each, then blocks of ${RTT_BLOCK}`);
  console.log(`   alternating between the systems for ${RTT_MS} ms, samples pooled per system`);
  const payload = new Uint8Array(64).fill(7);
  const [c, w] = (await roundTrips(sink, [
    () => colloquyPinger(`ws://127.0.0.1:${ports.colloquyWs}/session`, payload),
    () => rawWsPinger(`ws://127.0.0.1:${ports.rawWs}/`, payload),
  ])) as [Latency, Latency];
  table([
    ['system', 'round trips', 'p50', 'p90', 'p99', 'mean'],
    ...[['Colloquy ws', c] as const, ['raw ws', w] as const].map(([label, r]) => [label, r.error ? `failed: ${r.error}` : String(r.n), us(r.p50), us(r.p90), us(r.p99), us(r.mean)]),
  ]);
  console.log(`p50 Colloquy / raw ws: ${ratioText(c.p50 / w.p50)} (target <= 1.10x); p99: ${ratioText(c.p99 / w.p99)}`);
  targets.push(target('RTT p50 Colloquy ws / raw ws', c.p50 / w.p50, 1.1, true));
}

async function idleSection(targets: Target[]): Promise<void> {
  console.log('');
  const limit = openFileLimit();
  let sessions = IDLE_SESSIONS;
  if (limit !== undefined && limit < IDLE_SESSIONS + IDLE_WARM + 500) {
    sessions = Math.max(100, limit - IDLE_WARM - 500);
    console.log(`   NOTE: this process may open only ${limit} files (ulimit -n); measuring ${sessions} sessions, not ${IDLE_SESSIONS}.`);
  }
  console.log(`3. idle ws sessions: server alone in a child process; RSS after a full GC with ${IDLE_WARM} warm connections open, then with ${sessions} more`);
  const idle: IdleOutcome[] = [];
  for (const kind of ['colloquy', 'ws'] as const) {
    try {
      idle.push(await idleSessions(kind, sessions));
    } catch (e) {
      console.log(`   ${kind}: failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const perSession = (o: IdleOutcome, field: 'rss' | 'heapUsed'): number => (o.after[field] - o.before[field]) / o.opened;
  table([
    ['server', 'opened', 'open time', 'RSS before', 'RSS after', 'RSS/session', 'JS heap/session'],
    ...idle.map((o) => [o.kind === 'colloquy' ? 'Colloquy ws (defaults)' : 'raw ws', String(o.opened), `${o.seconds.toFixed(1)} s`, mib(o.before.rss), mib(o.after.rss), kib(perSession(o, 'rss')), kib(perSession(o, 'heapUsed'))]),
  ]);
  for (const o of idle) if (o.note) console.log(`   ${o.kind}: ${o.note}`);
  const ci = idle.find((o) => o.kind === 'colloquy');
  const wi = idle.find((o) => o.kind === 'ws');
  const memRatio = ci && wi ? perSession(ci, 'rss') / perSession(wi, 'rss') : Number.NaN;
  console.log(`RSS/session Colloquy / raw ws: ${ratioText(memRatio)} (target <= 1.25x); JS heap/session: ${ci && wi ? ratioText(perSession(ci, 'heapUsed') / perSession(wi, 'heapUsed')) : 'n/a'}`);
  targets.push(target('idle RSS/session Colloquy ws / raw ws', memRatio, 1.25, true));
}

/**
 * Under tsx (`npm run bench`, `npx tsx bench/runtime.ts`) this compiles the bench with src/ and
 * runs the result on plain node (see runtime-compile.ts); compiled, it measures.
 */
export async function run(): Promise<void> {
  if (COMPILED) {
    exitWithLauncher();
    return sections('src/ compiled by tsc, plain node (no tsx) in every measuring process');
  }
  const compiled = await compileBench();
  try {
    if (compiled.entry) return await runCompiled(compiled.entry);
    return await sections(`src/ under tsx, because the tsc build failed (${compiled.problem ?? '?'}); tsx's keepNames makes closures larger and slower`);
  } finally {
    await compiled.remove();
  }
}

async function sections(under: string): Promise<void> {
  const began = performance.now();
  console.log(`runtime: Colloquy vs raw ws, raw TCP, Socket.IO 4, MQTT QoS 1 over loopback, node ${process.version}, ${loadText()}`);
  console.log(`   Colloquy under test: ${under}`);
  const targets: Target[] = [];
  const wantThroughput = selected('throughput', ...SIZES.flatMap((size) => ['colloquy-tcp', 'colloquy-ws', 'colloquy-tcp-batch', 'colloquy-ws-batch', 'raw-ws', 'raw-tcp', 'socket-io', 'mqtt'].map((k) => `${k}/${size}`)));
  if (wantThroughput || selected('rtt')) {
    const { peer: sink, ready } = await spawnPeer<ToSink, FromSink>('sink.ts', []);
    try {
      if (wantThroughput) await throughputSection(sink, ready.ports, targets);
      if (selected('rtt')) await rttSection(sink, ready.ports, targets);
    } finally {
      await sink.stop({ cmd: 'exit' });
    }
  }
  if (selected('idle')) await idleSection(targets);
  console.log('');
  console.log('targets');
  table([['target', 'ratio', 'goal', 'verdict'], ...targets.map((t) => [t.name, ratioText(t.ratio), t.goal, t.met === undefined ? 'not measured' : t.met ? 'met' : 'NOT MET'])]);
  console.log(`(${((performance.now() - began) / 1000).toFixed(0)} s, ${loadText()})`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
