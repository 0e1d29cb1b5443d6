// 4. scale: many idle WebSocket sessions on one node. The server is alone in a child process
// (bench/peers/idle.ts, maxSessions raised to the count); the clients live in opener processes
// (bench/peers/opener.ts), each under its own open-files limit, each connection from one of
// several 127.0.0.x source addresses in turn (one address has ~28,000 ephemeral ports towards
// one server port). Reported per system: sessions open, time to open them and the open rate,
// the server's RSS and JS heap after a full GC (and per session, over what it had with no
// client), and the server's CPU while every session sits idle for SCALE_IDLE_MS (a heartbeat
// interval and a bit: Colloquy's sessions heartbeat every 15 s by default, raw ws sends nothing).
//
// BENCH_SCALE_SESSIONS sets the count (default SCALE_SESSIONS); BENCH_SCALE_SESSIONS=100000 is the
// issue's run (several minutes). Every process lifts its soft open-files limit to the hard one;
// when the server's hard limit is below the count, the run is capped at what it can hold and
// says so (raising a hard limit needs root with CAP_SYS_RESOURCE, e.g. `prlimit` or limits.conf).
//
// 4b, multiplexed: SCALE_MUX_SESSIONS Colloquy sessions (100,000 by default) on the same kind of
// server, carried SCALE_PER_CONNECTION to a WebSocket connection by each opener's ConnectionPool
// (docs/runtime.md, "Channels and the pool"; one source address per opener), so the count needs
// only count / SCALE_PER_CONNECTION descriptors. Every session is a whole Colloquy session (its
// own CONNECT/ACCEPT, machine, heartbeats, replay buffer); only the socket is shared.

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
  SCALE_SESSIONS,
} from './config.js';
import { spawnPeer, type Peer } from './peers.js';
import { kib, mib, type Target } from './report.js';

/** File descriptors a process keeps for itself beyond its connections (node, IPC, listeners). */
const FD_MARGIN = 300;

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

export async function scaleRun(kind: 'colloquy' | 'ws', asked: number, perConnection = 1): Promise<ScaleOutcome> {
  const notes: string[] = [];
  const hard = hardFileLimit();
  let count = asked;
  if (hard !== undefined && hard - FD_MARGIN < Math.ceil(count / perConnection)) {
    count = (hard - FD_MARGIN) * perConnection;
    notes.push(
      `the server process may open only ${fmt(hard)} files (hard limit, ulimit -Hn); ${fmt(count)} sessions, not ${fmt(asked)}`,
    );
  }
  // Descriptors an opener needs: one per connection.
  const perOpener = Math.max(1, Math.min(SCALE_PER_OPENER, ((hard ?? Infinity) - FD_MARGIN) * perConnection));
  const openerCount = Math.ceil(count / perOpener);
  const addresses = Array.from(
    { length: Math.max(1, Math.ceil(count / perConnection / SCALE_PER_ADDRESS)) },
    (_, i) => `127.0.0.${i + 2}`,
  );
  // Multiplexed: each opener dials from its own address (a pool per address).
  const addressesOf = (i: number): string[] => (perConnection > 1 ? [`127.0.0.${(i % 250) + 2}`] : addresses);
  const { peer: server, ready } = await spawnPeer<ToIdle, FromIdle>('idle.ts', [kind, String(count + 100)], {
    exposeGc: true,
    raiseFdLimit: true,
  });
  const openers: Peer<ToOpener, FromOpener>[] = [];
  try {
    for (let i = 0; i < openerCount; i++)
      openers.push((await spawnPeer<ToOpener, FromOpener>('opener.ts', [], { raiseFdLimit: true })).peer);
    const url = `ws://127.0.0.1:${ready.port}${ready.path}`;
    const empty = await server.request({ cmd: 'measure' }, 'memory', 60_000);
    const start = performance.now();
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
          },
          'opened',
          SCALE_OPEN_MS + 60_000,
        ),
      ),
    );
    const seconds = (performance.now() - start) / 1000;
    for (const r of results) if (r.failure) notes.push(`an opener: ${r.failure}`);
    const clients = results.reduce((s, r) => s + r.opened, 0);
    const connections = results.reduce((s, r) => s + r.connections, 0);
    // Handshakes the server has not finished yet: give them a moment.
    let full = await server.request({ cmd: 'measure' }, 'memory', 120_000);
    for (let i = 0; i < 20 && full.connections < clients; i++) {
      await new Promise((r) => setTimeout(r, 500));
      full = await server.request({ cmd: 'measure' }, 'memory', 120_000);
    }
    const cpu = await server.request({ cmd: 'cpu', ms: SCALE_IDLE_MS }, 'cpu', SCALE_IDLE_MS + 60_000);
    const idleCpu = (100 * (cpu.userUs + cpu.systemUs)) / 1000 / cpu.ms;
    return { kind, asked, opened: full.connections, perConnection, connections, seconds, empty, full, idleCpu, notes };
  } finally {
    await Promise.all(openers.map((o) => o.stop({ cmd: 'exit' })));
    await server.stop({ cmd: 'exit' });
  }
}

const label = (o: ScaleOutcome): string =>
  o.kind === 'ws'
    ? 'raw ws'
    : o.perConnection > 1
      ? `Colloquy ws, ${o.perConnection} sessions/connection`
      : 'Colloquy ws (defaults)';

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
    ...outcomes.map((o) => {
      const n = o.full.connections - o.empty.connections;
      return [
        label(o),
        fmt(o.opened),
        fmt(o.connections),
        `${o.seconds.toFixed(1)} s`,
        fmt(o.opened / o.seconds),
        mib(o.full.rss),
        kib((o.full.rss - o.empty.rss) / n),
        kib((o.full.heapUsed - o.empty.heapUsed) / n),
        `${o.idleCpu.toFixed(1)}% of a core`,
      ];
    }),
  ]);
  for (const o of outcomes) for (const note of o.notes) console.log(`   ${label(o)}: ${note}`);
}

async function attempt(kind: 'colloquy' | 'ws', asked: number, perConnection = 1): Promise<ScaleOutcome | undefined> {
  try {
    return await scaleRun(kind, asked, perConnection);
  } catch (e) {
    console.log(`   ${kind}: failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

export async function scaleSection(targets: Target[]): Promise<void> {
  console.log('');
  console.log(
    `4. scale: ${fmt(SCALE_SESSIONS)} idle ws sessions on one node (BENCH_SCALE_SESSIONS), a connection each: server alone in a child, clients in opener processes from several 127.0.0.x`,
  );
  const outcomes = [await attempt('colloquy', SCALE_SESSIONS), await attempt('ws', SCALE_SESSIONS)].filter(
    (o): o is ScaleOutcome => o !== undefined,
  );
  if (outcomes.length > 0) print(outcomes);
  const [c, w] = [outcomes.find((o) => o.kind === 'colloquy'), outcomes.find((o) => o.kind === 'ws')];
  if (c && w) {
    const per = (o: ScaleOutcome): number => (o.full.rss - o.empty.rss) / (o.full.connections - o.empty.connections);
    console.log(
      `Colloquy / raw ws at this count: RSS/session ${(per(c) / per(w)).toFixed(2)}x, open rate ${(c.opened / c.seconds / (w.opened / w.seconds)).toFixed(2)}x`,
    );
  }
  console.log('');
  console.log(
    `4b. ${fmt(SCALE_MUX_SESSIONS)} idle Colloquy sessions on one node (BENCH_SCALE_MUX_SESSIONS), ${SCALE_PER_CONNECTION} to a WebSocket connection (BENCH_SCALE_PER_CONNECTION; ConnectionPool), an opener process per 127.0.0.x`,
  );
  const m = await attempt('colloquy', SCALE_MUX_SESSIONS, SCALE_PER_CONNECTION);
  if (m) print([m]);
  // No ratio target: the issue asks for 100,000 WebSocket sessions open and measured, beside raw
  // ws. Met only by a connection each (blocked by the open-files limit here); the multiplexed run
  // is shown beside it.
  targets.push({
    name: 'idle ws sessions on one node',
    ratio: Number.NaN,
    goal: '',
    words: '100,000 open, measured',
    met: (c?.opened ?? 0) >= 100_000,
    ours: [c ? `${fmt(c.opened)} direct` : 'direct failed', m ? `${fmt(m.opened)} on ${fmt(m.connections)} conn.` : '']
      .filter(Boolean)
      .join('; '),
    peer: w ? `raw ws ${fmt(w.opened)}` : '',
  });
}
