// A client process for the idle-session benches of bench/runtime/: it opens WebSocket sessions
// (Colloquy or raw ws) and holds them until told to exit, so the clients of a 100,000-session run
// spread over several processes (each under its own open-files limit) and away from the bench.
//
//   on { cmd: 'open', ... }  opens `count` connections to `url`, `concurrency` at a time, each
//                            from the next of `localAddresses` in turn (a bind to one source
//                            address slows down as its ports fill: bench/runtime/config.ts,
//                            SCALE_PER_ADDRESS), and answers `opened` with how many
//                            opened, how long it took, and every failure counted by its reason
//                            (an open gets OPEN_GIVE_UP_MS; the opener stops at `timeoutMs`
//                            or after 1% failed), and sessions that opened and then ended; with
//                            `perConnection` > 1 the Colloquy sessions share WebSocket
//                            connections, that many per connection (a ConnectionPool per source
//                            address), so the count is not bounded by the open-files limit;
//                            with `progressMs`, a `progress` report that often meanwhile
//   on { cmd: 'exit' }       ends every connection and exits (also when its parent goes away)
//
// It lifts its own open-files soft limit through the shell that starts it (peers.ts).

import { once } from 'node:events';
import { WebSocket } from 'ws';
import { connect } from '../../src/client/connect.js';
import { ConnectionPool } from '../../src/client/pool.js';
import { exitWithParent, tell } from './protocol.js';
import type { ToOpener } from './protocol.js';

exitWithParent();

const closers: (() => void)[] = [];
/** Sessions that opened and then ended before the run was over, by reason. */
const dropped = new Map<string, number>();
let exiting = false;
/** One pool per source address, when sessions share connections. */
const pools = new Map<string, ConnectionPool>();

async function openOne(
  kind: 'colloquy' | 'ws',
  url: string,
  localAddress: string,
  perConnection: number,
): Promise<() => void> {
  if (kind === 'colloquy') {
    let pool: ConnectionPool | undefined;
    if (perConnection > 1) {
      pool = pools.get(localAddress);
      if (!pool) pools.set(localAddress, (pool = new ConnectionPool({ maxChannelsPerConnection: perConnection })));
    }
    // A minute for a handshake: at load average 30+ a server holding tens of thousands of sessions
    // answers late, and a late answer is a slow open, not a failed one.
    const s = await connect(url, {
      reconnect: false,
      localAddress,
      handshakeTimeoutMs: 60_000,
      ...(pool ? { pool } : {}),
    });
    s.on('interrupted', ({ error }) => {
      if (exiting) return;
      const why = `interrupted: ${error ? `${error.code}: ${error.message}` : 'the transport closed'}`;
      dropped.set(why, (dropped.get(why) ?? 0) + 1);
    });
    s.on('closed', ({ error }) => {
      if (exiting) return;
      const why = error ? `${error.code}: ${error.message}` : 'released';
      dropped.set(why, (dropped.get(why) ?? 0) + 1);
    });
    // Each session has a reader waiting, as an application has (and as the server side has).
    void (async () => {
      try {
        for await (const message of s) void message;
      } catch {
        // aborted at the end of the run
      }
    })();
    return () => s.abort('bench done');
  }
  const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
  ws.on('error', () => {});
  ws.on('message', () => {});
  await once(ws, 'open');
  return () => ws.terminate();
}

/** An open that has not settled this long after it began is counted as failed (the worker goes on). */
const OPEN_GIVE_UP_MS = 90_000;

function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function open(m: Extract<ToOpener, { cmd: 'open' }>): Promise<void> {
  const start = performance.now();
  const deadline = start + m.timeoutMs;
  let started = 0;
  // Every failure is counted by its reason (the message), so a run says why it fell short.
  const failures = new Map<string, number>();
  let failed = 0;
  // An open that fails is counted and the others go on; past this many failures the opener stops.
  const maxFailures = Math.max(10, Math.ceil(m.count / 100));
  let late = false;
  const worker = async (): Promise<void> => {
    while (started < m.count && failed < maxFailures && !late) {
      if (performance.now() > deadline) {
        late = true;
        return;
      }
      const local = m.localAddresses[started % m.localAddresses.length] as string;
      started++;
      try {
        closers.push(await bounded(openOne(m.kind, m.url, local, m.perConnection ?? 1), OPEN_GIVE_UP_MS));
      } catch (e) {
        failed++;
        const why = e instanceof Error ? e.message : String(e);
        failures.set(why, (failures.get(why) ?? 0) + 1);
      }
    }
  };
  const before = closers.length;
  const progress =
    m.progressMs === undefined
      ? undefined
      : setInterval(() => tell({ ev: 'progress', opened: closers.length - before, failed }), m.progressMs);
  await Promise.all(Array.from({ length: m.concurrency }, worker));
  clearInterval(progress);
  let connections = 0;
  for (const p of pools.values()) connections += p.stats.connections;
  const reasons = [...failures].map(([why, n]) => `${n} x ${why}`).join('; ');
  const ended = [...dropped].map(([why, n]) => `${n} x ${why}`).join('; ');
  tell({
    ev: 'opened',
    opened: closers.length - before,
    connections: pools.size > 0 ? connections : closers.length - before,
    seconds: (performance.now() - start) / 1000,
    ...(failed === 0 && !late && dropped.size === 0
      ? {}
      : {
          failure: [
            late ? `stopped after ${m.timeoutMs / 1000} s` : '',
            failed === 0 ? '' : `${failed} failed${failed >= maxFailures ? ' (stopped there)' : ''}: ${reasons}`,
            dropped.size === 0 ? '' : `opened, then ended: ${ended}`,
          ]
            .filter(Boolean)
            .join('; '),
        }),
  });
}

process.on('message', (m: ToOpener) => {
  if (m.cmd === 'exit') {
    exiting = true;
    for (const close of closers.splice(0)) close();
    for (const pool of pools.values()) pool.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  open(m).catch((error: unknown) =>
    tell({ ev: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});

tell({ ev: 'ready' });
