// 4. scale: many idle WebSocket sessions on one node (BENCH_ONLY=scale, or scale-mux). The server
// is alone in a child process (bench/peers/idle.ts, maxSessions raised to the count); the
// clients live in opener processes (bench/peers/opener.ts), each under its own open-files
// limit, connecting from several 127.0.x.y source addresses. Three runs, one table:
//
//   raw ws                 SCALE_SESSIONS connections (BENCH_SCALE_SESSIONS, 20,000 by default),
//                          capped at what the server's open-files limit holds (~19,700 where the
//                          hard limit is 20,000; the cap and its reason are printed)
//   Colloquy ws            the same count, a connection each
//   Colloquy ws, N/conn.   SCALE_MUX_SESSIONS sessions (BENCH_SCALE_MUX_SESSIONS, 100,000 by
//                          default) carried SCALE_PER_CONNECTION (100) to a WebSocket connection
//                          by each opener's ConnectionPool (an opener per 127.0.0.x), so they need
//                          count / 100 descriptors. Each is a whole session (its own CONNECT/
//                          ACCEPT, machine, heartbeats, replay buffer); only the socket is shared.
//
// Reported per run: sessions open, connections, time to open and the open rate, the server's
// RSS and JS heap after a full GC (and per session, over what it had with no client), and its
// CPU while every session sits idle for SCALE_IDLE_MS (a heartbeat interval and a bit:
// Colloquy's sessions heartbeat every 15 s by default, raw ws sends nothing). Every run is
// bounded: the openers stop at SCALE_OPEN_MS (BENCH_SCALE_OPEN_MS) or after 1% of their opens
// failed, and report every failure by its reason, with the server's own account (connections it
// turned away and sessions it ended, by reason). The results are recorded as issue 14 targets.
//
// 100,000 sessions each on a connection of its own need 100,000 descriptors in the server
// process; where the hard open-files limit is lower (raising it needs CAP_SYS_RESOURCE:
// `prlimit`, limits.conf, systemd's LimitNOFILE) that run is capped and the target is reported
// as not met, with the limit as the reason (docs/runtime.md, "100,000 sessions on one node").

import { readFileSync } from 'node:fs';
import type { FromIdle, FromOpener, MemorySample, ToIdle, ToOpener } from '../peers/protocol.js';
import { fmt, table } from '../support.js';
import {
  SCALE_CONCURRENCY,
  SCALE_IDLE_MS,
  SCALE_MUX_SESSIONS,
  SCALE_PER_CONNECTION,
  SCALE_OPEN_MS,
  SCALE_PER_ADDRESS,
  SCALE_PER_OPENER,
  SCALE_PROGRESS_MS,
  SCALE_SESSIONS,
} from './config.js';
import { spawnPeer, type Peer } from './peers.js';
import { kib, mib, type Target } from './report.js';

/** File descriptors a process keeps for itself beyond its connections (node, IPC, listeners). */
const FD_MARGIN = 300;
/** The issue's count. */
const ISSUE_COUNT = 100_000;

export interface ScaleOutcome {
  kind: 'colloquy' | 'ws';
  asked: number;
  opened: number;
  /** Sessions per connection (1: a connection each). */
  perConnection: number;
  /** Client connections open (the pools' count when multiplexed). */
  connections: number;
  seconds: number;
  empty: MemorySample;
  full: MemorySample;
  /** Server CPU while idle, in percent of one core. */
  idleCpu: number;
  notes: string[];
}

/** The hard limit on open files of this process (Linux; children inherit it), or undefined. */
export function hardFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const hard = line?.split(/\s{2,}/)[2];
    return hard === undefined || hard === 'unlimited' ? undefined : Number(hard);
  } catch {
    return undefined;
  }
}

/** Connections one server process may hold: its hard open-files limit less what node keeps. */
export function connectionLimit(): number {
  const hard = hardFileLimit();
  return hard === undefined ? Infinity : hard - FD_MARGIN;
}

const reasons = (m: Record<string, number> | undefined): string =>
  Object.entries(m ?? {})
    .map(([why, n]) => `${fmt(n)} x ${why}`)
    .join('; ');

export async function scaleRun(kind: 'colloquy' | 'ws', asked: number, perConnection = 1): Promise<ScaleOutcome> {
  const notes: string[] = [];
  const limit = connectionLimit();
  let count = asked;
  if (limit < Math.ceil(count / perConnection)) {
    count = limit * perConnection;
    notes.push(
      `the server process may open only ${fmt(hardFileLimit() ?? 0)} files (hard limit, ulimit -Hn); ${fmt(count)} sessions, not ${fmt(asked)}`,
    );
  }
  // An opener holds one descriptor per connection.
  const perOpener = Math.max(1, Math.min(SCALE_PER_OPENER, limit) * perConnection);
  const openerCount = Math.ceil(count / perOpener);
  // Source addresses 127.0.B.2, .3, ...: B drawn per run, so no run binds among the ports a run
  // before it left in TIME_WAIT (a minute; a bind skips them, and the scan for a free port grows
  // as they fill the range). A connection each: spread over addresses, SCALE_PER_ADDRESS to one.
  // Multiplexed: each opener dials from its own address (a pool per address).
  const block = 1 + Math.floor(Math.random() * 254);
  const address = (i: number): string => `127.0.${block}.${(i % 250) + 2}`;
  const direct = Array.from({ length: Math.max(1, Math.ceil(count / SCALE_PER_ADDRESS)) }, (_, i) => address(i));
  const addressesOf = (i: number): string[] => (perConnection > 1 ? [address(i)] : direct);
  const { peer: server, ready } = await spawnPeer<ToIdle, FromIdle>('idle.ts', [kind, String(count + 100)], {
    exposeGc: true,
    raiseFdLimit: true,
  });
  const openers: Peer<ToOpener, FromOpener>[] = [];
  const offs: (() => void)[] = [];
  try {
    for (let i = 0; i < openerCount; i++)
      openers.push((await spawnPeer<ToOpener, FromOpener>('opener.ts', [], { raiseFdLimit: true })).peer);
    const url = `ws://127.0.0.1:${ready.port}${ready.path}`;
    const empty = await server.request({ cmd: 'measure' }, 'memory', 60_000);
    const start = performance.now();
    // Progress: the openers' latest counts, printed as they come (a slow run shows where it is).
    const progress = openers.map(() => ({ opened: 0, failed: 0 }));
    openers.forEach((o, i) =>
      offs.push(
        o.listen((m) => {
          if (m.ev !== 'progress') return;
          progress[i] = { opened: m.opened, failed: m.failed };
          if (i !== openers.length - 1) return;
          const opened = progress.reduce((s, p) => s + p.opened, 0);
          const failed = progress.reduce((s, p) => s + p.failed, 0);
          console.log(
            `   ... ${fmt(opened)} of ${fmt(count)} open after ${((performance.now() - start) / 1000).toFixed(0)} s${failed ? `, ${fmt(failed)} failed` : ''}`,
          );
        }),
      ),
    );
    const results = await Promise.all(
      openers.map((o, i) =>
        o.request(
          {
            cmd: 'open',
            kind,
            url,
            count: Math.min(perOpener, count - i * perOpener),
            localAddresses: addressesOf(i),
            concurrency: SCALE_CONCURRENCY,
            timeoutMs: SCALE_OPEN_MS,
            perConnection,
            progressMs: SCALE_PROGRESS_MS,
          },
          'opened',
          SCALE_OPEN_MS + 120_000,
        ),
      ),
    );
    const seconds = (performance.now() - start) / 1000;
    for (const r of results) if (r.failure) notes.push(`an opener: ${r.failure}`);
    const clients = results.reduce((s, r) => s + r.opened, 0);
    const connections = results.reduce((s, r) => s + r.connections, 0);
    // Handshakes the server has not finished yet: give them a moment (at most 10 s more).
    let full = await server.request({ cmd: 'measure' }, 'memory', 120_000);
    for (let i = 0; i < 20 && full.connections < clients; i++) {
      await new Promise((r) => setTimeout(r, 500));
      full = await server.request({ cmd: 'measure' }, 'memory', 120_000);
    }
    if (Object.keys(full.turnedAway ?? {}).length) notes.push(`the server turned away: ${reasons(full.turnedAway)}`);
    if (Object.keys(full.interrupted ?? {}).length)
      notes.push(`the server's sessions lost their transport: ${reasons(full.interrupted)}`);
    if (Object.keys(full.ended ?? {}).length) notes.push(`the server's sessions ended: ${reasons(full.ended)}`);
    const cpu = await server.request({ cmd: 'cpu', ms: SCALE_IDLE_MS }, 'cpu', SCALE_IDLE_MS + 60_000);
    const idleCpu = (100 * (cpu.userUs + cpu.systemUs)) / 1000 / cpu.ms;
    return { kind, asked, opened: full.connections, perConnection, connections, seconds, empty, full, idleCpu, notes };
  } finally {
    for (const off of offs) off();
    await Promise.all(openers.map((o) => o.stop({ cmd: 'exit' })));
    await server.stop({ cmd: 'exit' });
  }
}

const label = (o: ScaleOutcome): string =>
  o.kind === 'ws'
    ? 'raw ws'
    : o.perConnection > 1
      ? `Colloquy ws, ${o.perConnection} sessions/connection`
      : 'Colloquy ws, a connection each';

/** Server RSS and JS heap per session, over what it had with no client. */
const perSession = (o: ScaleOutcome): { rss: number; heap: number } => {
  const n = o.full.connections - o.empty.connections;
  return { rss: (o.full.rss - o.empty.rss) / n, heap: (o.full.heapUsed - o.empty.heapUsed) / n };
};
const rate = (o: ScaleOutcome): number => o.opened / o.seconds;

function print(outcomes: ScaleOutcome[]): void {
  table([
    [
      'server',
      'sessions',
      'connections',
      'time to open',
      'opens/s',
      'RSS',
      'RSS/session',
      'JS heap/session',
      `idle CPU (${SCALE_IDLE_MS / 1000} s)`,
    ],
    ...outcomes.map((o) => [
      label(o),
      fmt(o.opened),
      fmt(o.connections),
      `${o.seconds.toFixed(1)} s`,
      fmt(rate(o)),
      mib(o.full.rss),
      kib(perSession(o).rss),
      kib(perSession(o).heap),
      `${o.idleCpu.toFixed(1)}% of a core`,
    ]),
  ]);
  for (const o of outcomes) for (const note of o.notes) console.log(`   ${label(o)}: ${note}`);
}

async function attempt(kind: 'colloquy' | 'ws', asked: number, perConnection = 1): Promise<ScaleOutcome | undefined> {
  const began = performance.now();
  try {
    return await scaleRun(kind, asked, perConnection);
  } catch (e) {
    console.log(`   ${kind}: failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  } finally {
    console.log(
      `   (${kind === 'ws' ? 'raw ws' : `Colloquy, ${perConnection === 1 ? 'a connection each' : `${perConnection}/connection`}`}: ${((performance.now() - began) / 1000).toFixed(0)} s in all)`,
    );
  }
}

/** One run's numbers for the closing table. */
const summary = (o: ScaleOutcome): string =>
  `${fmt(o.opened)} on ${fmt(o.connections)} conn. in ${o.seconds.toFixed(0)} s (${fmt(rate(o))}/s), ${kib(perSession(o).rss)} RSS + ${kib(perSession(o).heap)} heap/session, idle ${o.idleCpu.toFixed(1)}% core`;

export async function scaleSection(targets: Target[]): Promise<void> {
  const began = performance.now();
  const limit = connectionLimit();
  const direct = Math.min(SCALE_SESSIONS, limit);
  console.log('');
  console.log(
    `4. scale: idle sessions on one node, server alone in a child, clients in opener processes from several 127.0.0.x: raw ws and Colloquy at ${fmt(direct)} connections (BENCH_SCALE_SESSIONS${direct < SCALE_SESSIONS ? `, capped by the open-files limit` : ''}), Colloquy ${fmt(SCALE_MUX_SESSIONS)} sessions ${SCALE_PER_CONNECTION} to a connection (BENCH_SCALE_MUX_SESSIONS, BENCH_SCALE_PER_CONNECTION; ConnectionPool)`,
  );
  const w = await attempt('ws', direct);
  const c = await attempt('colloquy', direct);
  const m = await attempt('colloquy', SCALE_MUX_SESSIONS, SCALE_PER_CONNECTION);
  const outcomes = [w, c, m].filter((o): o is ScaleOutcome => o !== undefined);
  if (outcomes.length > 0) print(outcomes);
  if (w && c)
    console.log(
      `Colloquy, a connection each / raw ws at ${fmt(direct)}: RSS/session ${(perSession(c).rss / perSession(w).rss).toFixed(2)}x, JS heap/session ${(perSession(c).heap / perSession(w).heap).toFixed(2)}x, open rate ${(rate(c) / rate(w)).toFixed(2)}x`,
    );
  if (w && m)
    console.log(
      `Colloquy, ${SCALE_PER_CONNECTION}/connection at ${fmt(m.opened)} / raw ws at ${fmt(w.opened)}: RSS/session ${(perSession(m).rss / perSession(w).rss).toFixed(2)}x, JS heap/session ${(perSession(m).heap / perSession(w).heap).toFixed(2)}x, open rate ${(rate(m) / rate(w)).toFixed(2)}x`,
    );
  console.log(`   (section 4: ${((performance.now() - began) / 1000).toFixed(0)} s)`);
  // The issue's target in words: 100,000 WebSocket sessions on one node, open and measured,
  // beside raw ws. Recorded twice: multiplexed (what one process can hold here), and a
  // connection each (blocked where the open-files limit is below 100,000).
  const peer = w ? `raw ws: ${summary(w)}` : 'raw ws failed';
  targets.push({
    name: `idle sessions on one node, ${SCALE_PER_CONNECTION} per ws connection`,
    ratio: Number.NaN,
    goal: '',
    words: `${fmt(ISSUE_COUNT)} open, measured`,
    met: m === undefined ? undefined : m.opened >= ISSUE_COUNT,
    ours: m
      ? `${summary(m)}${w ? ` (RSS/session ${(perSession(m).rss / perSession(w).rss).toFixed(2)}x raw ws)` : ''}`
      : 'failed',
    peer,
  });
  targets.push({
    name: 'idle ws sessions on one node, a connection each',
    ratio: Number.NaN,
    goal: '',
    words: `${fmt(ISSUE_COUNT)} open, measured`,
    met: c === undefined ? undefined : c.opened >= ISSUE_COUNT,
    ours: c
      ? `${summary(c)}${w ? ` (RSS/session ${(perSession(c).rss / perSession(w).rss).toFixed(2)}x raw ws)` : ''}${c.opened < ISSUE_COUNT && limit < ISSUE_COUNT ? `; blocked at ${fmt(limit)} by the open-files limit (${fmt(hardFileLimit() ?? 0)})` : ''}`
      : 'failed',
    peer,
  });
}
