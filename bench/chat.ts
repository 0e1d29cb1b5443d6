// Chat fan-out: one room, MEMBERS clients, one of them says MESSAGES messages; every member
// (the sender included) must get every message. Colloquy's chat service over WebSocket against
// a Socket.IO 4 room broadcast over WebSocket, both servers and all clients in this process.
// Reported: deliveries per second (MESSAGES x MEMBERS / time until the last member has the last
// message), latency from send to arrival, p50 and p99, over every delivery, and the process's CPU
// time per delivery (server and clients; on a busy machine the rate follows the scheduler, the
// CPU per delivery much less). Messages are sent
// in bursts of BURST with a wait for the sender's own copy between bursts, so neither side is
// measured on an unbounded queue.
//
// Two room sizes, each beside Socket.IO at the same size: 20 members (2,000 messages) and 1,000
// members (100 messages, 100,000 deliveries each). BENCH_CHAT_MEMBERS=20,1000 picks the sizes,
// BENCH_CHAT_MESSAGES the messages at every size. Clients connect 50 at a time.
//
// Run: npx tsx bench/chat.ts   (or import { run } and await it). About a minute.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Server as SocketIoServer } from 'socket.io';
import { io as socketIo } from 'socket.io-client';
import { listen } from '../src/server/server.js';
import { ServiceHost } from '../src/apps/host.js';
import { chatService } from '../src/apps/chat.js';
import { ChatClient } from '../src/apps/chat-client.js';
import { recordTarget } from './targets.js';

const SIZES = (process.env.BENCH_CHAT_MEMBERS ?? '20,1000').split(',').map(Number);
/** Messages per run: 2,000 in a small room, 100 at 1,000 members (100,000 deliveries). */
const messagesFor = (members: number): number =>
  Number(process.env.BENCH_CHAT_MESSAGES ?? (members >= 500 ? 100 : 2000));
const BURST = 50;
/** Clients connecting at once. */
const CONNECT_BATCH = 50;
let MEMBERS = 20;
let MESSAGES = 2000;

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU time of this process (server and every client) per delivery, in microseconds: load-independent, unlike the rate. */
  cpuPerDelivery: number;
  /** Deliveries that had not arrived when the wait ended (WAIT_MS): members aborted as slow readers, or lost. */
  missing: number;
}

/** How long a run may wait for its deliveries (a burst's own copy, or the last delivery) before it reports what is missing. */
const WAIT_MS = Number(process.env.BENCH_CHAT_WAIT_MS ?? 120_000);

function summarize(latencies: number[], ms: number, cpu: NodeJS.CpuUsage): Result {
  latencies.sort((a, b) => a - b);
  const at = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return {
    perSecond: latencies.length / (ms / 1000),
    p50: at(50),
    p99: at(99),
    cpuPerDelivery: (cpu.user + cpu.system) / Math.max(1, latencies.length),
    missing: MESSAGES * MEMBERS - latencies.length,
  };
}

/** Waits until every delivery arrived or WAIT_MS passed since `since`. */
async function drained(t: { got: number }, since: number): Promise<void> {
  while (t.got < MESSAGES * MEMBERS && performance.now() - since < WAIT_MS) await new Promise((r) => setTimeout(r, 1));
}

/** Counts deliveries; resolves `burst(n)` once the sender has its own n-th message back. */
function tracker(): {
  latencies: number[];
  got: number;
  onMessage(text: string): void;
  own(text: string): void;
  until(n: number): Promise<void>;
} {
  let ownCount = 0;
  let waiter: { n: number; resolve(): void } | undefined;
  const t = {
    latencies: [] as number[],
    got: 0,
    onMessage(text: string): void {
      t.got++;
      t.latencies.push(performance.now() - Number(text.slice(0, text.indexOf(' '))));
    },
    own(): void {
      ownCount++;
      if (waiter && ownCount >= waiter.n) {
        const w = waiter;
        waiter = undefined;
        w.resolve();
      }
    },
    until(n: number): Promise<void> {
      if (ownCount >= n) return Promise.resolve();
      return new Promise((resolve) => {
        // Bounded: a sender aborted as a slow reader never gets its own copy back.
        const timer = setTimeout(resolve, WAIT_MS);
        waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    },
  };
  return t;
}

async function colloquy(): Promise<Result> {
  const chat = chatService({ historyLimit: 10 });
  const host = new ServiceHost([chat]);
  const server = await listen({ ws: { port: 0 }, authenticate: host.authenticate });
  host.attach(server);
  const url = `ws://127.0.0.1:${server.addresses.ws}/session`;
  const t = tracker();
  const clients: ChatClient[] = [];
  try {
    const join = async (i: number): Promise<void> => {
      const c = await ChatClient.connect(url, { nick: `m${i}`, room: 'bench' });
      c.on('message', (m) => {
        if (!m.history) {
          t.onMessage(m.text);
          if (i === 0) t.own(m.text);
        }
      });
      clients[i] = c;
    };
    for (let i = 0; i < MEMBERS; i += CONNECT_BATCH)
      await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, MEMBERS - i) }, (_, k) => join(i + k)));
    const sender = clients[0] as ChatClient;
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    for (let sent = 0; sent < MESSAGES;) {
      const end = Math.min(MESSAGES, sent + BURST);
      for (; sent < end; sent++) void sender.send(`${performance.now()} m`);
      await t.until(end);
    }
    await drained(t, started);
    if (chat.stats.slowAborts > 0)
      console.log(`  (Colloquy aborted ${chat.stats.slowAborts} member(s) as slow readers)`);
    return summarize(t.latencies, performance.now() - started, process.cpuUsage(cpuStart));
  } finally {
    for (const c of clients) c.abort();
    await server.destroy();
  }
}

async function socketIoRoom(): Promise<Result> {
  const httpServer = http.createServer();
  const io = new SocketIoServer(httpServer, { transports: ['websocket'] });
  io.on('connection', (socket) => {
    void socket.join('bench');
    socket.on('say', (text: string) => {
      io.to('bench').emit('message', { from: socket.id, text });
    });
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const port = (httpServer.address() as AddressInfo).port;
  const t = tracker();
  const clients: ReturnType<typeof socketIo>[] = [];
  try {
    const join = async (i: number): Promise<void> => {
      const c = socketIo(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true });
      await new Promise<void>((resolve) => c.once('connect', () => resolve()));
      c.on('message', (m: { text: string }) => {
        t.onMessage(m.text);
        if (i === 0) t.own(m.text);
      });
      clients[i] = c;
    };
    for (let i = 0; i < MEMBERS; i += CONNECT_BATCH)
      await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, MEMBERS - i) }, (_, k) => join(i + k)));
    // join() happens on the server's connection handler; one round trip settles it for everyone.
    await new Promise((r) => setTimeout(r, 50));
    const sender = clients[0] as ReturnType<typeof socketIo>;
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    for (let sent = 0; sent < MESSAGES;) {
      const end = Math.min(MESSAGES, sent + BURST);
      for (; sent < end; sent++) sender.emit('say', `${performance.now()} m`);
      await t.until(end);
    }
    await drained(t, started);
    return summarize(t.latencies, performance.now() - started, process.cpuUsage(cpuStart));
  } finally {
    for (const c of clients) c.disconnect();
    await new Promise<void>((r) => {
      void io.close(() => r());
    });
  }
}

export async function run(): Promise<void> {
  const row = (name: string, r: Result): string =>
    `  ${name.padEnd(28)}${Math.round(r.perSecond).toString().padStart(10)} deliveries/s   p50 ${r.p50.toFixed(2).padStart(7)} ms   p99 ${r.p99.toFixed(2).padStart(7)} ms   CPU ${r.cpuPerDelivery.toFixed(1).padStart(6)} us/delivery${r.missing > 0 ? `   MISSING ${r.missing} deliveries after ${WAIT_MS / 1000} s` : ''}`;
  for (const members of SIZES) {
    MEMBERS = members;
    MESSAGES = messagesFor(members);
    console.log(
      `chat: one room, ${MEMBERS} members, ${MESSAGES} messages from one of them, over WebSocket (load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')})`,
    );
    const c = await colloquy();
    const s = await socketIoRoom();
    console.log(row('Colloquy chat (ws)', c));
    console.log(row('Socket.IO 4 room (ws)', s));
    console.log(
      `  ratio Colloquy / Socket.IO at ${MEMBERS} members: ${(c.perSecond / s.perSecond).toFixed(2)}x deliveries/s (target >= 2x), p50 latency ${(c.p50 / s.p50).toFixed(2)}x, CPU per delivery ${(c.cpuPerDelivery / s.cpuPerDelivery).toFixed(2)}x (Socket.IO / Colloquy: ${(s.cpuPerDelivery / c.cpuPerDelivery).toFixed(2)}x)`,
    );
    recordTarget({
      measure: `chat, ${MEMBERS}-member room, deliveries/s / Socket.IO room`,
      ours: `${Math.round(c.perSecond)}/s, ${c.cpuPerDelivery.toFixed(1)} us CPU`,
      peer: `${Math.round(s.perSecond)}/s, ${s.cpuPerDelivery.toFixed(1)} us CPU`,
      ratio: c.perSecond / s.perSecond,
      // The issue: >= 2x at 20 members, and measured (every delivery arrived) at 1,000.
      ...(MEMBERS >= 500 ? { target: 'measured, none missing', met: c.missing === 0 } : { target: '>= 2x' }),
      explained: 'docs/runtime.md#Chat fan-out',
    });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
