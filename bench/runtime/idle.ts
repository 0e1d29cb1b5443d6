// 3. idle sessions: RSS per session of a Colloquy ws server vs a raw ws one, each alone in a child.

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { connect } from '../../src/client/connect.js';
import type { FromIdle, MemorySample, ToIdle } from '../peers/protocol.js';
import { fmt, ratioText, table } from '../support.js';
import { join } from 'node:path';
import { IDLE_SESSIONS, IDLE_WARM, IDLE_CONCURRENCY, IDLE_OPEN_MS, IDLE_SNAPSHOTS } from './config.js';
import { spawnPeer } from './peers.js';
import { kib, mib, target, type Target } from './report.js';

// ---- 3. idle sessions ----------------------------------------------------------------------

export interface IdleOutcome {
  kind: string;
  opened: number;
  before: MemorySample;
  after: MemorySample;
  seconds: number;
  note?: string;
}

/** The soft limit on open files of this process (Linux), or undefined when unknown. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** Opens `count` connections, `concurrency` at a time, until done, a failure, or `deadline`. */
export async function openMany(
  count: number,
  concurrency: number,
  deadline: number,
  open: () => Promise<() => void>,
  into: (() => void)[],
): Promise<string | undefined> {
  let started = 0;
  let failure: string | undefined;
  const worker = async (): Promise<void> => {
    while (started < count && failure === undefined) {
      if (performance.now() > deadline) {
        failure = `stopped after ${IDLE_OPEN_MS / 1000} s`;
        return;
      }
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

export async function idleSessions(kind: 'colloquy' | 'ws', sessions: number): Promise<IdleOutcome> {
  const { peer, ready } = await spawnPeer<ToIdle, FromIdle>('idle.ts', [kind], { exposeGc: true, raiseFdLimit: true });
  const url = `ws://127.0.0.1:${ready.port}${ready.path}`;
  const open =
    kind === 'colloquy'
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
  const measure = async (phase: string): Promise<MemorySample> => {
    const m = await peer.request({ cmd: 'measure' }, 'memory', 30_000);
    if (IDLE_SNAPSHOTS) {
      const path = join(IDLE_SNAPSHOTS, `idle-${kind}-${phase}.heapsnapshot`);
      await peer.request({ cmd: 'snapshot', path }, 'snapshot', 300_000);
    }
    return m;
  };
  try {
    let note = await openMany(IDLE_WARM, 20, performance.now() + IDLE_OPEN_MS, open, closers);
    await sleep(300);
    const before = await measure('before');
    const start = performance.now();
    note ??= await openMany(sessions, IDLE_CONCURRENCY, start + IDLE_OPEN_MS, open, closers);
    const seconds = (performance.now() - start) / 1000;
    // Handshakes the server has not finished yet: give them a moment, then count what is there.
    for (
      let i = 0;
      i < 20 && (await peer.request({ cmd: 'measure' }, 'memory', 30_000)).connections < closers.length;
      i++
    )
      await sleep(250);
    const after = await measure('after');
    return { kind, opened: after.connections - before.connections, before, after, seconds, note };
  } finally {
    for (const close of closers) close();
    await sleep(500);
    await peer.stop({ cmd: 'exit' });
  }
}

export async function idleSection(targets: Target[]): Promise<void> {
  console.log('');
  const limit = openFileLimit();
  let sessions = IDLE_SESSIONS;
  if (limit !== undefined && limit < IDLE_SESSIONS + IDLE_WARM + 500) {
    sessions = Math.max(100, limit - IDLE_WARM - 500);
    console.log(
      `   NOTE: this process may open only ${limit} files (ulimit -n); measuring ${sessions} sessions, not ${IDLE_SESSIONS}.`,
    );
  }
  console.log(
    `3. idle ws sessions: server alone in a child process; RSS after a full GC with ${IDLE_WARM} warm connections open, then with ${sessions} more`,
  );
  const idle: IdleOutcome[] = [];
  for (const kind of ['colloquy', 'ws'] as const) {
    try {
      idle.push(await idleSessions(kind, sessions));
    } catch (e) {
      console.log(`   ${kind}: failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const perSession = (o: IdleOutcome, field: 'rss' | 'heapUsed'): number =>
    (o.after[field] - o.before[field]) / o.opened;
  table([
    ['server', 'opened', 'open time', 'RSS before', 'RSS after', 'RSS/session', 'JS heap/session'],
    ...idle.map((o) => [
      o.kind === 'colloquy' ? 'Colloquy ws (defaults)' : 'raw ws',
      String(o.opened),
      `${o.seconds.toFixed(1)} s`,
      mib(o.before.rss),
      mib(o.after.rss),
      kib(perSession(o, 'rss')),
      kib(perSession(o, 'heapUsed')),
    ]),
  ]);
  for (const o of idle) if (o.note) console.log(`   ${o.kind}: ${o.note}`);
  const ci = idle.find((o) => o.kind === 'colloquy');
  const wi = idle.find((o) => o.kind === 'ws');
  const memRatio = ci && wi ? perSession(ci, 'rss') / perSession(wi, 'rss') : Number.NaN;
  console.log(
    `RSS/session Colloquy / raw ws: ${ratioText(memRatio)} (target <= 1.25x); JS heap/session: ${ci && wi ? ratioText(perSession(ci, 'heapUsed') / perSession(wi, 'heapUsed')) : 'n/a'}`,
  );
  targets.push(
    target(
      `idle RSS/session Colloquy ws / raw ws, ${fmt(sessions)} sessions`,
      memRatio,
      1.25,
      true,
      ci ? kib(perSession(ci, 'rss')) : '',
      wi ? kib(perSession(wi, 'rss')) : '',
    ),
  );
}
