// 2. round trips of 64 B, Colloquy ws vs raw ws, in alternating blocks.

import { once } from 'node:events';
import { WebSocket } from 'ws';
import { connect } from '../../src/client/connect.js';
import type { SinkPorts } from '../peers/protocol.js';
import { ratioText, table } from '../support.js';
import { RTT_WARM, RTT_MS, RTT_BLOCK, RTT_CAP } from './config.js';
import type { Sink } from './peers.js';
import { withTimeout } from './senders.js';
import { target, us, type Target } from './report.js';

// ---- 2. round trips ------------------------------------------------------------------------

export interface Pinger {
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function colloquyPinger(url: string, payload: Uint8Array): Promise<Pinger> {
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
      const released = await withTimeout(
        session.release().catch(() => false),
        3000,
      );
      if (released !== true) session.abort('bench done');
    },
  };
}

export async function rawWsPinger(url: string, payload: Uint8Array): Promise<Pinger> {
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
    ping: () =>
      new Promise<void>((resolve, reject) => {
        pong = { resolve, reject };
        ws.send(payload);
      }),
    async close() {
      ws.close();
      await withTimeout(once(ws, 'close'), 2000);
    },
  };
}

export interface Latency {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  error?: string;
}

/**
 * Ping-pong on every pinger, in blocks of RTT_BLOCK round trips that alternate between them
 * until RTT_MS have passed (so a burst of load elsewhere on the machine hits each alike);
 * samples pool per pinger.
 */
export async function roundTrips(sink: Sink, opens: readonly (() => Promise<Pinger>)[]): Promise<Latency[]> {
  await sink.request({ cmd: 'reset', echo: true }, 'reset');
  const pingers: Pinger[] = [];
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const fail = (e: unknown): Latency[] =>
    opens.map(() => ({
      n: 0,
      p50: Number.NaN,
      p90: Number.NaN,
      p99: Number.NaN,
      mean: Number.NaN,
      error: e instanceof Error ? e.message : String(e),
    }));
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

export async function rttSection(sink: Sink, ports: SinkPorts, targets: Target[]): Promise<void> {
  console.log('');
  console.log(
    `2. round trip, 64 B ping -> echo -> pong, one at a time, echo in the child; ${RTT_WARM} warm-up each, then blocks of ${RTT_BLOCK}`,
  );
  console.log(`   alternating between the systems for ${RTT_MS} ms, samples pooled per system`);
  const payload = new Uint8Array(64).fill(7);
  const [c, w] = (await roundTrips(sink, [
    () => colloquyPinger(`ws://127.0.0.1:${ports.colloquyWs}/session`, payload),
    () => rawWsPinger(`ws://127.0.0.1:${ports.rawWs}/`, payload),
  ])) as [Latency, Latency];
  table([
    ['system', 'round trips', 'p50', 'p90', 'p99', 'mean'],
    ...[['Colloquy ws', c] as const, ['raw ws', w] as const].map(([label, r]) => [
      label,
      r.error ? `failed: ${r.error}` : String(r.n),
      us(r.p50),
      us(r.p90),
      us(r.p99),
      us(r.mean),
    ]),
  ]);
  console.log(`p50 Colloquy / raw ws: ${ratioText(c.p50 / w.p50)} (target <= 1.10x); p99: ${ratioText(c.p99 / w.p99)}`);
  targets.push(target('RTT p50 Colloquy ws / raw ws', c.p50 / w.p50, 1.1, true, us(c.p50), us(w.p50)));
}
