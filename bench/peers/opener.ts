// A client process for the idle-session benches of bench/runtime/: it opens WebSocket sessions
// (Colloquy or raw ws) and holds them until told to exit, so the clients of a 100,000-session run
// spread over several processes (each under its own open-files limit) and away from the bench.
//
//   on { cmd: 'open', ... }  opens `count` connections to `url`, `concurrency` at a time, each
//                            from the next of `localAddresses` in turn (one 127.0.0.x holds at
//                            most ~28,000 ephemeral ports), and answers `opened` with how many
//                            opened, how long it took and the first failure, if any; with
//                            `perConnection` > 1 the Colloquy sessions share WebSocket
//                            connections, that many per connection (a ConnectionPool per source
//                            address), so the count is not bounded by the open-files limit
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

async function open(m: Extract<ToOpener, { cmd: 'open' }>): Promise<void> {
  const start = performance.now();
  const deadline = start + m.timeoutMs;
  let started = 0;
  let failure: string | undefined;
  // An open that fails is counted and the others go on; past this many failures the opener stops.
  const maxFailures = Math.max(10, Math.ceil(m.count / 100));
  let failures = 0;
  let late = false;
  const worker = async (): Promise<void> => {
    while (started < m.count && failures < maxFailures && !late) {
      if (performance.now() > deadline) {
        late = true;
        return;
      }
      const local = m.localAddresses[started % m.localAddresses.length] as string;
      started++;
      try {
        closers.push(await openOne(m.kind, m.url, local, m.perConnection ?? 1));
      } catch (e) {
        failures++;
        failure ??= e instanceof Error ? e.message : String(e);
      }
    }
  };
  const before = closers.length;
  await Promise.all(Array.from({ length: m.concurrency }, worker));
  let connections = 0;
  for (const p of pools.values()) connections += p.stats.connections;
  tell({
    ev: 'opened',
    opened: closers.length - before,
    connections: pools.size > 0 ? connections : closers.length - before,
    seconds: (performance.now() - start) / 1000,
    ...(failure === undefined && !late
      ? {}
      : {
          failure: [
            late ? `stopped after ${m.timeoutMs / 1000} s` : '',
            failure === undefined
              ? ''
              : `${failures} failed${failures >= maxFailures ? ' (stopped there)' : ''}, the first: ${failure}`,
          ]
            .filter(Boolean)
            .join('; '),
        }),
  });
}

process.on('message', (m: ToOpener) => {
  if (m.cmd === 'exit') {
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
