// Operations: how long a stop takes with many sessions, and the pause a client sees when its
// node hands it over to another (docs/operations.md).
//
//   1. Time to stop with STOP_SESSIONS idle sessions (default 10,000; in-process clients over
//      the memory transport, so the number is the server's work, not the kernel's): close() in
//      release mode (every client answers its release), in handover mode (durable sessions in
//      a RedisStore on a private redis-server, or a MemoryStore without redis-server: the
//      store is named in the output), and destroy() (abort everything at once: the floor),
//      each with its ratio to destroy(). Then the same sessions with clients that never answer:
//      close() ends at its deadline (STOP_DEADLINE_MS) whatever their number.
//   2. The pause a client sees in a handover: two servers sharing the store, PAUSE_CLIENTS
//      clients through a forwarder that sends new connections to whichever node accepts (a
//      balancer), each sending a message every 100 ms and counting echoes. The first node stops
//      with a handover; for each client, the time from its transport closing (`interrupted`) to
//      `resumed` on the other node, and the longest gap between two echoes around it. Beside
//      it, the peer case: the same clients' transports cut on one node (they resume where they
//      were), which is the floor any resume pays. p50 and p95 of each, with the ratio.
//
// Run: npx tsx bench/operations.ts   (or BENCH=operations npm run bench). About a minute.
// BENCH_ONLY=stop,pause runs only those sections; BENCH_STOP_SESSIONS=N changes the count.

import { pathToFileURL } from 'node:url';
import { connect } from '../src/client/connect.js';
import type { ClientSession } from '../src/client/connect.js';
import type { Session } from '../src/driver/session.js';
import { listen } from '../src/server/server.js';
import type { CloseReport, Server, ServerOptions } from '../src/server/server.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { RedisStore } from '../src/store/redis-store.js';
import type { SessionStore } from '../src/store/store.js';
import { have, startRedis } from '../test/support/redis.js';
import type { RedisServer } from '../test/support/redis.js';
import { envList, fmt, loadAverages, percentile, ratioText as ratio, table } from './support.js';
import { forwarder } from '../test/support/forwarder.js';

const STOP_SESSIONS = Number(process.env['BENCH_STOP_SESSIONS'] ?? 10_000);
const STOP_DEADLINE_MS = 2000;
const PAUSE_CLIENTS = 100;
const PAUSE_INTERVAL_MS = 100;
const only = envList('BENCH_ONLY');
const wanted = (section: string): boolean => only.length === 0 || only.includes(section);

let memoryName = 0;

/** A server on a fresh memory endpoint with `n` idle client sessions connected to it. */
async function withSessions(
  n: number,
  options: Partial<ServerOptions>,
  answer = true,
): Promise<{ server: Server; clients: ClientSession[] }> {
  const name = `bench-ops-${process.pid}-${memoryName++}`;
  const server = await listen({ memory: name, heartbeatMs: 0, maxSessions: n + 10, ...options });
  const clients: ClientSession[] = [];
  for (let i = 0; i < n; i += 200) {
    clients.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(200, n - i) }, () =>
          connect(`memory://${name}`, { heartbeatMs: 0, reconnect: false }),
        ),
      )),
    );
  }
  if (!answer) for (const c of clients) c.driver.pauseReading(); // hears nothing from now on: answers nothing
  return { server, clients };
}

async function timeStop(
  n: number,
  options: Partial<ServerOptions>,
  stop: (s: Server) => Promise<CloseReport | void>,
  answer = true,
): Promise<{ ms: number; report: CloseReport | void }> {
  const { server, clients } = await withSessions(n, options, answer);
  const started = performance.now();
  const report = await stop(server);
  const ms = performance.now() - started;
  for (const c of clients) c.abort();
  await server.destroy();
  return { ms, report };
}

async function stopSection(store: SessionStore, storeName: string): Promise<void> {
  console.log(`-- time to stop with ${fmt(STOP_SESSIONS)} idle sessions (memory transport, one process)`);
  const destroy = await timeStop(STOP_SESSIONS, {}, (s) => s.destroy());
  const release = await timeStop(STOP_SESSIONS, {}, (s) => s.close({ mode: 'release', timeoutMs: 60_000 }));
  const handover = await timeStop(
    STOP_SESSIONS,
    { durability: { store, keyPrefix: `bench:ops:${process.pid}:` } },
    (s) => s.close({ mode: 'handover', timeoutMs: 60_000 }),
  );
  const silent = await timeStop(
    STOP_SESSIONS,
    {},
    (s) => s.close({ mode: 'release', timeoutMs: STOP_DEADLINE_MS }),
    false,
  );
  const counts = (r: CloseReport | void): string =>
    r ? `${fmt(r.released)} / ${fmt(r.handedOver)} / ${fmt(r.aborted)}` : `0 / 0 / ${fmt(STOP_SESSIONS)} (abort)`;
  table([
    ['how', 'stop ms', 'sessions/s', 'released / handed over / aborted', 'vs destroy()'],
    [
      'destroy(): abort all (floor)',
      fmt(destroy.ms),
      fmt(STOP_SESSIONS / (destroy.ms / 1000)),
      counts(destroy.report),
      ratio(1),
    ],
    [
      'close() release',
      fmt(release.ms),
      fmt(STOP_SESSIONS / (release.ms / 1000)),
      counts(release.report),
      ratio(release.ms / destroy.ms),
    ],
    [
      `close() handover (${storeName})`,
      fmt(handover.ms),
      fmt(STOP_SESSIONS / (handover.ms / 1000)),
      counts(handover.report),
      ratio(handover.ms / destroy.ms),
    ],
    [
      `close() release, clients silent, deadline ${STOP_DEADLINE_MS} ms`,
      fmt(silent.ms),
      '',
      counts(silent.report),
      ratio(silent.ms / destroy.ms),
    ],
  ]);
}

interface Pauses {
  resume: number[];
  gap: number[];
  failures: number;
}

/** PAUSE_CLIENTS talking clients through a forwarder; `disturb` interrupts them; pauses measured. */
async function measurePauses(
  store: SessionStore,
  disturb: (first: Server, second: Server) => Promise<void>,
): Promise<Pauses> {
  const options = {
    tcp: { port: 0 },
    heartbeatMs: 0,
    durability: { store, keyPrefix: `bench:ops:pause:${process.pid}:${memoryName++}:` },
  } as const;
  const first = await listen(options);
  const second = await listen(options);
  const echo = (s: Session): void => {
    void (async () => {
      for await (const m of s) await s.send(m);
    })().catch(() => {});
  };
  first.on('session', echo);
  second.on('session', echo);
  const lb = await forwarder(() => (first.accepting ? first.addresses.tcp : second.addresses.tcp) as number);
  const out: Pauses = { resume: [], gap: [], failures: 0 };
  const clients: { c: ClientSession; lastEcho: number; gap: number; down: number }[] = [];
  for (let i = 0; i < PAUSE_CLIENTS; i++) {
    const c = await connect(`tcp://127.0.0.1:${lb.port}`, { heartbeatMs: 0 });
    const entry = { c, lastEcho: 0, gap: 0, down: 0 };
    c.on('interrupted', () => {
      entry.down = performance.now();
    });
    c.on('resumed', () => {
      if (entry.down > 0) out.resume.push(performance.now() - entry.down);
      entry.down = 0;
    });
    void (async () => {
      for await (const _ of c) {
        const now = performance.now();
        if (entry.lastEcho > 0) entry.gap = Math.max(entry.gap, now - entry.lastEcho);
        entry.lastEcho = now;
      }
    })().catch(() => {});
    clients.push(entry);
  }
  let talking = true;
  let counting = true;
  for (const e of clients)
    e.c.on('closed', ({ error }) => {
      if (error && counting) out.failures++;
    });
  const talk = Promise.all(
    clients.map(async ({ c }) => {
      while (talking) {
        await c.send('x').catch(() => {});
        await new Promise((r) => setTimeout(r, PAUSE_INTERVAL_MS));
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 500));
  for (const e of clients) e.gap = 0;
  await disturb(first, second);
  // Until every client has resumed (bounded), then a little more talk after it.
  const until = performance.now() + 30_000;
  while (out.resume.length < PAUSE_CLIENTS && out.failures === 0 && performance.now() < until)
    await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  talking = false;
  counting = false;
  await talk;
  out.gap = clients.map((e) => e.gap);
  for (const { c } of clients) c.abort();
  await lb.close();
  await first.destroy();
  await second.destroy();
  return out;
}

async function pauseSection(store: SessionStore, storeName: string): Promise<void> {
  console.log(
    `-- the pause a client sees: ${PAUSE_CLIENTS} clients over TCP, a message every ${PAUSE_INTERVAL_MS} ms each, store ${storeName}`,
  );
  const handover = await measurePauses(store, async (first) => {
    await first.close({ mode: 'handover' });
  });
  const cut = await measurePauses(store, async (first) => {
    for (const s of first.sessions.values()) s.driver.dropTransport();
  });
  const sorted = (a: number[]): number[] => [...a].sort((x, y) => x - y);
  const row = (name: string, p: Pauses, floor?: Pauses): string[] => {
    const r = sorted(p.resume);
    const g = sorted(p.gap);
    const fr = floor ? sorted(floor.resume) : r;
    return [
      name,
      String(r.length),
      fmt(percentile(r, 50)),
      fmt(percentile(r, 95)),
      fmt(percentile(g, 50)),
      fmt(percentile(g, 95)),
      String(p.failures),
      ratio(percentile(r, 50) / percentile(fr, 50)),
    ];
  };
  table([
    [
      'what happens',
      'resumed',
      'resume p50 ms',
      'resume p95 ms',
      'echo gap p50 ms',
      'echo gap p95 ms',
      'errors',
      'p50 vs cut',
    ],
    row('node stops with a handover: resume on the other node', handover, cut),
    row('peer: transport cut, resume on the same node', cut),
  ]);
}

export async function run(): Promise<void> {
  console.log(`load average ${loadAverages()}`);
  let redis: RedisServer | null = null;
  let store: SessionStore;
  let storeName: string;
  if (have('redis-server')) {
    redis = await startRedis();
    store = new RedisStore({ url: redis.url, prefix: 'bench-ops', timeoutMs: 10_000 });
    storeName = 'RedisStore';
  } else {
    console.log('(redis-server not installed: durable sessions in a MemoryStore instead)');
    store = new MemoryStore();
    storeName = 'MemoryStore';
  }
  try {
    if (wanted('stop')) await stopSection(store, storeName);
    if (wanted('pause')) await pauseSection(store, storeName);
  } finally {
    await store.close();
    await redis?.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
