// An idle-session server for bench/runtime/, alone in its process so its RSS is its own.
//
//   npx tsx bench/peers/idle.ts colloquy   Colloquy listen() on ws /session, default options
//                                          (heartbeats every 15 s); each session has a reader
//                                          waiting in its async iterator, as an application has
//   (an optional second argument sets Colloquy's maxSessions; default 30,000)
//   npx tsx bench/peers/idle.ts ws         a plain `ws` WebSocketServer on /session, no
//                                          compression; each socket has a 'message' listener
//
// On `measure` it runs a full GC twice (the bench starts it with --expose-gc), lets the heap
// settle, and reports process.memoryUsage() with the number of live sessions or sockets; on
// `snapshot` it writes a V8 heap snapshot after the same GC (bench/runtime/heap-diff.ts reads two);
// on `cpu` it reports its CPU time over the given milliseconds (the scale bench's idle CPU).
// Ends on `exit` or when its parent goes away. Commands and reports: ./protocol.ts.

import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeHeapSnapshot } from 'node:v8';
import { WebSocketServer } from 'ws';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server/server.js';
import { exitWithParent, tell } from './protocol.js';
import type { ToIdle } from './protocol.js';

exitWithParent();

const PATH = '/session';
const kind = process.argv[2];
let connections: () => number;
/** Why connections were turned away and why sessions ended, with how many each (the scale bench prints them). */
const turnedAway = new Map<string, number>();
const ended = new Map<string, number>();
const interrupted = new Map<string, number>();
const tally = (m: Map<string, number>, why: string): void => void m.set(why, (m.get(why) ?? 0) + 1);
let port: number;
let stop: () => Promise<void>;

async function read(session: Session): Promise<void> {
  try {
    for await (const message of session) void message;
  } catch {
    // aborted by the client at the end of the run
  }
}

if (kind === 'colloquy') {
  // Every client comes from 127.0.0.1: the per-address caps (1,000 by default) are lifted here.
  const server = await listen({
    ws: { port: 0, path: PATH },
    maxSessions: Number(process.argv[3] ?? 30_000),
    maxSessionsPerAddress: 0,
    maxConnectionsPerAddress: 0,
    maxPendingHandshakesPerAddress: 0,
  });
  server.on('session', (session) => {
    session.on('interrupted', ({ error }) =>
      tally(interrupted, error ? `${error.code}: ${error.message}` : 'the transport closed'),
    );
    session.on('closed', ({ error }) => tally(ended, error ? `${error.code}: ${error.message}` : 'released'));
    void read(session);
  });
  server.on('rejected', ({ error }) => tally(turnedAway, `${error.code}: ${error.message}`));
  connections = () => server.sessions.size;
  port = server.addresses.ws ?? 0;
  stop = () => server.destroy();
} else if (kind === 'ws') {
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http, path: PATH, perMessageDeflate: false });
  let open = 0;
  wss.on('connection', (ws) => {
    open++;
    ws.on('error', () => {});
    ws.on('message', () => {});
    ws.on('close', () => open--);
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  connections = () => open;
  port = (http.address() as AddressInfo).port;
  stop = async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    http.close();
  };
} else {
  throw new Error(`usage: idle.ts colloquy|ws (got ${String(kind)})`);
}

async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 2; i++) {
    gc?.();
    await sleep(100);
  }
}

async function snapshot(path: string): Promise<void> {
  await settle();
  tell({ ev: 'snapshot', path: writeHeapSnapshot(path) });
}

async function cpu(ms: number): Promise<void> {
  const start = process.cpuUsage();
  const began = performance.now();
  await sleep(ms);
  const used = process.cpuUsage(start);
  tell({ ev: 'cpu', ms: performance.now() - began, userUs: used.user, systemUs: used.system });
}

async function measure(): Promise<void> {
  await settle();
  const m = process.memoryUsage();
  tell({
    ev: 'memory',
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    connections: connections(),
    turnedAway: Object.fromEntries(turnedAway),
    ended: Object.fromEntries(ended),
    interrupted: Object.fromEntries(interrupted),
  });
}

process.on('message', (m: ToIdle) => {
  const done =
    m.cmd === 'measure'
      ? measure()
      : m.cmd === 'snapshot'
        ? snapshot(m.path)
        : m.cmd === 'cpu'
          ? cpu(m.ms)
          : stop().then(() => process.exit(0));
  done.catch((error: unknown) =>
    tell({ ev: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});

tell({ ev: 'ready', port, path: PATH });
