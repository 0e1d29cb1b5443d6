// Web sessions, side by side in one run: a route that increments a counter in the session, hit
// by autocannon with 50 connections and one fixed cookie, for
//
//   bare Express / bare Fastify          no session (a counter in the process)
//   Colloquy on Express / on Fastify     WebSessions, memory store and Redis store; session.increment()
//   express-session                      its MemoryStore, connect-redis 7 on ioredis, and
//                                        connect-pg-simple on pg; n = n + 1
//   Colloquy on PostgreSQL               WebSessions on PostgresStore (Express and Fastify)
//   @fastify/session                     its default (memory) store; n = n + 1
//
// Each server runs in its own child process (this file, forked with BENCH_WEB_CASE), so the
// load generator does not share its event loop. Redis is a private redis-server on a free port
// (test/support/redis.ts); without redis-server the Redis cases are skipped with a notice.
// PostgreSQL is the machine's (test/support/postgres.ts: 127.0.0.1:5432, database test), each
// PostgreSQL case in a schema of this run, dropped at the end; without it those cases are skipped.
//
// The cases of one group (Express + memory, Fastify + memory, Redis, PostgreSQL) run at the same
// time as processes and are measured in alternation, round after round (A, B, C, A, B, C, ...),
// so that a change of load on the shared machine hits both sides of a ratio alike; the first
// round(s) are warm-up (JIT, connections) and dropped. Each ratio is taken within a round (ours /
// peer of the same round) and printed per round, with the median and the best across rounds;
// a target (recordTarget) is met when the median req/s ratio and the median CPU-per-request ratio
// (the peer's CPU per request over ours) both reach it.
//
// Printed per case: requests/s, server CPU per request (user + system time of the server process
// over the round, divided by the increments it answered: less disturbed by other load on the
// machine than req/s), p99 latency, 2xx answered, and lost increments: increments the handlers
// performed minus how far the stored counter actually moved (read back after each round, warm-up
// rounds included). Targets: memory store >= 0.9x bare Express and >= 0.75x bare Fastify; Redis
// >= 2x express-session + connect-redis; on PostgreSQL, Colloquy against express-session +
// connect-pg-simple (no target set; printed as measured against 1x); 0 lost increments.
//
// Run: npx tsx bench/web.ts (or import { run }). BENCH_WEB_SECONDS=3 per case and round;
// BENCH_WEB_ROUNDS=3 measured rounds; BENCH_WEB_WARMUP=1 rounds dropped first;
// BENCH_WEB_ONLY=name,name runs only the cases whose names contain one of those words;
// BENCH_WEB_PROFILE=dir writes a V8 CPU profile of each server process there.

import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { envList, fmt, loadAverages, table } from './support.js';
import { recordTarget } from './targets.js';

const SECONDS = Number(process.env.BENCH_WEB_SECONDS ?? 3);
const ROUNDS = Math.max(1, Number(process.env.BENCH_WEB_ROUNDS ?? 3));
const WARMUP = Math.max(0, Number(process.env.BENCH_WEB_WARMUP ?? 1));
const CONNECTIONS = 50;
const HERE = fileURLToPath(import.meta.url);
const COMPILED = import.meta.url.endsWith('.js');

type CaseName =
  | 'bare-express'
  | 'bare-fastify'
  | 'colloquy-express-memory'
  | 'colloquy-fastify-memory'
  | 'express-session-memory'
  | 'fastify-session-memory'
  | 'colloquy-express-redis'
  | 'colloquy-fastify-redis'
  | 'express-session-connect-redis'
  | 'colloquy-express-postgres'
  | 'colloquy-fastify-postgres'
  | 'express-session-connect-pg-simple';

/** Cases that run in alternation with each other (each ratio compares two cases of one group). */
const GROUPS = ['express-memory', 'fastify-memory', 'redis', 'postgres'] as const;

const CASES: { name: CaseName; label: string; group: (typeof GROUPS)[number]; redis: boolean; postgres?: boolean }[] = [
  { name: 'bare-express', label: 'bare Express (no session)', group: 'express-memory', redis: false },
  { name: 'colloquy-express-memory', label: 'Colloquy on Express, memory', group: 'express-memory', redis: false },
  { name: 'express-session-memory', label: 'express-session, MemoryStore', group: 'express-memory', redis: false },
  { name: 'bare-fastify', label: 'bare Fastify (no session)', group: 'fastify-memory', redis: false },
  { name: 'colloquy-fastify-memory', label: 'Colloquy on Fastify, memory', group: 'fastify-memory', redis: false },
  { name: 'fastify-session-memory', label: '@fastify/session, memory', group: 'fastify-memory', redis: false },
  { name: 'express-session-connect-redis', label: 'express-session + connect-redis', group: 'redis', redis: true },
  { name: 'colloquy-express-redis', label: 'Colloquy on Express, Redis', group: 'redis', redis: true },
  { name: 'colloquy-fastify-redis', label: 'Colloquy on Fastify, Redis', group: 'redis', redis: true },
  {
    name: 'express-session-connect-pg-simple',
    label: 'express-session + connect-pg-simple',
    group: 'postgres',
    redis: false,
    postgres: true,
  },
  {
    name: 'colloquy-express-postgres',
    label: 'Colloquy on Express, PostgreSQL',
    group: 'postgres',
    redis: false,
    postgres: true,
  },
  {
    name: 'colloquy-fastify-postgres',
    label: 'Colloquy on Fastify, PostgreSQL',
    group: 'postgres',
    redis: false,
    postgres: true,
  },
];

/** The ratios printed (ours / peer, from the same round); `record`: a target of issue 14 (bench/targets.ts). */
const COMPARISONS: { ours: CaseName; peer: CaseName; target: number; record: boolean }[] = [
  { ours: 'colloquy-express-memory', peer: 'bare-express', target: 0.9, record: true },
  { ours: 'colloquy-fastify-memory', peer: 'bare-fastify', target: 0.75, record: true },
  { ours: 'colloquy-express-redis', peer: 'express-session-connect-redis', target: 2, record: true },
  { ours: 'colloquy-fastify-redis', peer: 'express-session-connect-redis', target: 2, record: true },
  { ours: 'colloquy-express-postgres', peer: 'express-session-connect-pg-simple', target: 1, record: false },
  { ours: 'colloquy-fastify-postgres', peer: 'express-session-connect-pg-simple', target: 1, record: false },
];

// -- the servers (child side) -------------------------------------------------------------------

const SECRET = 'bench-secret-bench-secret-bench-secret';

/** Where the PostgreSQL cases keep their rows (passed to the server processes). */
interface PgTarget {
  url: string;
  schema: string;
}

async function serve(name: CaseName, redisUrl: string | undefined, pgTarget: PgTarget | undefined): Promise<number> {
  const express = (await import('express')).default;
  const Fastify = (await import('fastify')).default;
  const { WebSessions, sessionMiddleware, fastifySessions } = await import('../src/web/index.js');
  const { RedisStore } = await import('../src/store/redis-store.js');
  const { MemoryStore } = await import('../src/store/memory-store.js');
  const { PostgresStore } = await import('../src/store/postgres-store.js');
  const storeFor = (
    kind: string,
  ): InstanceType<typeof MemoryStore> | InstanceType<typeof RedisStore> | InstanceType<typeof PostgresStore> => {
    if (kind === 'redis')
      return new RedisStore({ url: redisUrl as string, prefix: `bench${process.pid}`, timeoutMs: 5000 });
    // As many connections as autocannon's: connect-pg-simple's pg.Pool defaults to 10, and so does ours.
    if (kind === 'postgres')
      return new PostgresStore({
        connectionString: (pgTarget as PgTarget).url,
        schema: (pgTarget as PgTarget).schema,
        table: `colloquy_${process.pid}`,
        timeoutMs: 5000,
      });
    return new MemoryStore();
  };
  const colloquy = (kind: string): InstanceType<typeof WebSessions> =>
    new WebSessions({ store: storeFor(kind), storeTimeoutMs: 5000 });
  let bare = 0;
  let served = 0; // increments answered with a 2xx by this server
  // Server CPU (user + system, µs) so far: per request, the cost that load on the shared machine
  // does not distort as much as req/s.
  const cpu = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  type Req = { session: { increment(k: string): Promise<number>; get(k: string): unknown } };
  type LegacyReq = { session: { n?: number; get?(k: string): unknown; set?(k: string, v: unknown): void } };
  const listenNode = (handler: http.RequestListener): Promise<number> =>
    new Promise((resolve) => {
      const server = http.createServer(handler);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  switch (name) {
    case 'bare-express': {
      const app = express();
      app.post('/inc', (_req, res) => {
        served++;
        res.json({ n: ++bare });
      });
      app.get('/count', (_req, res) => {
        res.json({ n: bare, served, cpu: cpu() });
      });
      return listenNode(app);
    }
    case 'colloquy-express-memory':
    case 'colloquy-express-redis':
    case 'colloquy-express-postgres': {
      const app = express();
      app.use(sessionMiddleware(colloquy(name.split('-')[2] as string)));
      app.post('/inc', (req, res, next) => {
        (req as unknown as Req).session.increment('n').then((n) => {
          served++;
          res.json({ n });
        }, next);
      });
      app.get('/count', (req, res) => {
        res.json({ n: (req as unknown as Req).session.get('n') ?? 0, served, cpu: cpu() });
      });
      return listenNode(app);
    }
    case 'express-session-memory':
    case 'express-session-connect-redis':
    case 'express-session-connect-pg-simple': {
      const session = (await import('express-session')).default;
      let store: unknown;
      if (name === 'express-session-connect-redis') {
        const RedisStoreCR = (await import('connect-redis')).default;
        const { Redis } = await import('ioredis');
        store = new RedisStoreCR({ client: new Redis(redisUrl as string), prefix: `cr${process.pid}:` });
      }
      if (name === 'express-session-connect-pg-simple') {
        const PgStore = (await import('connect-pg-simple')).default(session);
        store = new PgStore({
          conString: (pgTarget as PgTarget).url,
          schemaName: (pgTarget as PgTarget).schema,
          tableName: `cps_${process.pid}`,
          createTableIfMissing: true,
          pruneSessionInterval: false,
        });
      }
      const app = express();
      app.use(
        session({
          secret: SECRET,
          resave: false,
          saveUninitialized: false,
          ...(store ? { store: store as InstanceType<typeof session.Store> } : {}),
        }),
      );
      app.post('/inc', (req, res) => {
        const s = (req as unknown as LegacyReq).session;
        s.n = (s.n ?? 0) + 1;
        served++;
        res.json({ n: s.n });
      });
      app.get('/count', (req, res) => {
        res.json({ n: (req as unknown as LegacyReq).session.n ?? 0, served, cpu: cpu() });
      });
      return listenNode(app);
    }
    case 'bare-fastify': {
      const app = Fastify();
      app.post('/inc', async () => {
        served++;
        return { n: ++bare };
      });
      app.get('/count', async () => ({ n: bare, served, cpu: cpu() }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return (app.server.address() as AddressInfo).port;
    }
    case 'colloquy-fastify-memory':
    case 'colloquy-fastify-redis':
    case 'colloquy-fastify-postgres': {
      const app = Fastify();
      await app.register(fastifySessions(colloquy(name.split('-')[2] as string)));
      app.post('/inc', async (req) => {
        const n = await (req as unknown as Req).session.increment('n');
        served++;
        return { n };
      });
      app.get('/count', async (req) => ({ n: (req as unknown as Req).session.get('n') ?? 0, served, cpu: cpu() }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return (app.server.address() as AddressInfo).port;
    }
    case 'fastify-session-memory': {
      const app = Fastify();
      await app.register((await import('@fastify/cookie')).default);
      await app.register((await import('@fastify/session')).default, {
        secret: SECRET,
        saveUninitialized: false,
        cookie: { secure: false },
      });
      app.post('/inc', async (req) => {
        const s = (
          req as unknown as { session: { get(k: string): number | undefined; set(k: string, v: number): void } }
        ).session;
        const n = (s.get('n') ?? 0) + 1;
        s.set('n', n);
        served++;
        return { n };
      });
      app.get('/count', async (req) => ({
        n: (req as unknown as { session: { get(k: string): number | undefined } }).session.get('n') ?? 0,
        served,
        cpu: cpu(),
      }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return (app.server.address() as AddressInfo).port;
    }
  }
}

// -- the load (parent side) ---------------------------------------------------------------------

interface AutocannonResult {
  requests: { average: number };
  latency: { p99: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;

/** One measured round of one case. */
interface Round {
  rps: number;
  p99: number;
  ok: number;
  bad: number;
  lost: number;
  cpuPerReq: number;
}

/** A server process of one case, kept for all rounds of its group. */
interface Server {
  c: (typeof CASES)[number];
  child: ChildProcess;
  base: string;
  headers: Record<string, string>;
  rounds: Round[];
  /** Lost increments over every round, the warm-up rounds included. */
  lost: number;
}

async function startServer(
  name: CaseName,
  redisUrl: string | undefined,
  pgTarget: PgTarget | undefined,
): Promise<{ port: number; child: ChildProcess }> {
  const child = fork(HERE, [], {
    execArgv: [
      ...(COMPILED ? [] : ['--import', 'tsx']),
      ...(process.env.BENCH_WEB_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_WEB_PROFILE}`] : []),
    ],
    env: {
      ...process.env,
      BENCH_WEB_CASE: name,
      BENCH_WEB_REDIS: redisUrl ?? '',
      BENCH_WEB_PG: pgTarget ? JSON.stringify(pgTarget) : '',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: server did not start within 60 s`)), 60_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve((m as { port: number }).port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name}: server exited (${code})`));
    });
  });
  return { port, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Starts a case's server and makes its session (the cookie every round sends). */
async function open(
  c: (typeof CASES)[number],
  redisUrl: string | undefined,
  pg: PgTarget | undefined,
): Promise<Server> {
  const { port, child } = await startServer(c.name, redisUrl, pg);
  const base = `http://127.0.0.1:${port}`;
  try {
    const first = await fetch(`${base}/inc`, { method: 'POST' });
    await first.text();
    const cookie = first.headers
      .getSetCookie()
      .map((s) => s.split(';')[0])
      .join('; ');
    return { c, child, base, headers: cookie ? { cookie } : {}, rounds: [], lost: 0 };
  } catch (error) {
    await stop(child);
    throw error;
  }
}

/** One round of one server: autocannon for SECONDS, then the server's own counters. */
async function measureRound(autocannon: Autocannon, s: Server): Promise<Round> {
  const read = async (): Promise<{ n: number; served: number; cpu: number }> =>
    (await (await fetch(`${s.base}/count`, { headers: s.headers })).json()) as {
      n: number;
      served: number;
      cpu: number;
    };
  // Requests still in flight when autocannon stops finish later (their saves included): read
  // the counters once they have settled.
  const settled = async (): Promise<{ n: number; served: number; cpu: number }> => {
    let last = await read();
    for (let i = 0; i < 50; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const again = await read();
      if (again.n === last.n && again.served === last.served) return again;
      last = again;
    }
    return last;
  };
  const before = await settled();
  const r = await autocannon({
    url: `${s.base}/inc`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: s.headers,
  });
  const after = await settled();
  const served = after.served - before.served;
  // Lost: increments the server performed (counted when the handler's increment completed)
  // minus how far the stored counter moved. autocannon's own count misses the requests in
  // flight when it stops, so the server counts.
  return {
    rps: r.requests.average,
    p99: r.latency.p99,
    ok: r['2xx'],
    bad: r.non2xx + r.errors + r.timeouts,
    lost: served - (after.n - before.n),
    cpuPerReq: (after.cpu - before.cpu) / Math.max(1, served),
  };
}

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export async function run(): Promise<void> {
  const require = createRequire(import.meta.url);
  const autocannon = require('autocannon') as Autocannon;
  const { have, startRedis } = await import('../test/support/redis.js');
  const only = envList('BENCH_WEB_ONLY');
  const cases = CASES.filter((c) => only.length === 0 || only.some((w) => c.name.includes(w)));
  const wantRedis = cases.some((c) => c.redis);
  const redis = wantRedis && have('redis-server') ? await startRedis() : undefined;
  if (wantRedis && !redis)
    console.log('!!! redis-server is not installed: the Redis cases are skipped (apt-get install -y redis-server)');
  const pgSupport = await import('../test/support/postgres.js');
  const wantPg = cases.some((c) => c.postgres);
  const pg: PgTarget | undefined =
    wantPg && (await pgSupport.postgresReachable())
      ? { url: pgSupport.POSTGRES_URL, schema: pgSupport.freshSchema('bench_web') }
      : undefined;
  if (wantPg && !pg)
    console.log(`!!! PostgreSQL does not answer at ${pgSupport.POSTGRES_URL}: the PostgreSQL cases are skipped`);
  if (pg) await pgSupport.postgresQuery(`CREATE SCHEMA "${pg.schema}"`);
  console.log(
    `Web sessions: POST /inc increments a counter in the session; autocannon, ${CONNECTIONS} connections, one fixed cookie; each server in its own process.`,
  );
  console.log(
    `The cases of a group run in alternation (A, B, C, A, B, C, ...), ${SECONDS} s per case and round, ${WARMUP} warm-up round(s) dropped, ${ROUNDS} measured;`,
  );
  console.log(
    `a ratio is taken within each round (ours / peer of that round), then the median and the best across rounds. Load average before: ${loadAverages()}`,
  );
  const servers = new Map<CaseName, Server>();
  try {
    for (const group of GROUPS) {
      const members = cases.filter((c) => c.group === group && !(c.redis && !redis) && !(c.postgres && !pg));
      if (members.length === 0) continue;
      const running: Server[] = [];
      try {
        for (const c of members) running.push(await open(c, redis?.url, pg));
        for (let round = 0; round < WARMUP + ROUNDS; round++) {
          for (const s of running) {
            const r = await measureRound(autocannon, s);
            s.lost += r.lost;
            if (round >= WARMUP) s.rounds.push(r);
          }
        }
      } finally {
        for (const s of running) {
          servers.set(s.c.name, s);
          await stop(s.child);
        }
      }
    }
  } finally {
    await redis?.stop();
    if (pg) await pgSupport.dropSchemas([pg.schema]);
  }
  const measured = [...servers.values()].filter((s) => s.rounds.length > 0);
  table([
    [
      'case',
      'req/s median',
      'best',
      'server CPU/req median',
      'least',
      'p99 median',
      '2xx',
      'errors',
      'lost increments',
    ],
    ...measured.map((s) => [
      s.c.label,
      fmt(median(s.rounds.map((r) => r.rps))),
      fmt(Math.max(...s.rounds.map((r) => r.rps))),
      `${median(s.rounds.map((r) => r.cpuPerReq)).toFixed(1)} µs`,
      `${Math.min(...s.rounds.map((r) => r.cpuPerReq)).toFixed(1)} µs`,
      `${median(s.rounds.map((r) => r.p99))} ms`,
      fmt(s.rounds.reduce((n, r) => n + r.ok, 0)),
      fmt(s.rounds.reduce((n, r) => n + r.bad, 0)),
      fmt(s.lost),
    ]),
  ]);
  const x = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a');
  const ratioRow = (cmp: (typeof COMPARISONS)[number]): string[] => {
    const a = servers.get(cmp.ours);
    const b = servers.get(cmp.peer);
    const name = `${CASES.find((c) => c.name === cmp.ours)?.label} / ${CASES.find((c) => c.name === cmp.peer)?.label}`;
    if (!a || !b || a.rounds.length === 0 || b.rounds.length === 0)
      return [name, 'not run', '', '', '', `>= ${cmp.target}x`, ''];
    const n = Math.min(a.rounds.length, b.rounds.length);
    const rps: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < n; i++) {
      const ra = a.rounds[i] as Round;
      const rb = b.rounds[i] as Round;
      rps.push(ra.rps / rb.rps);
      cpu.push(rb.cpuPerReq / ra.cpuPerReq);
    }
    const med = median(rps);
    const byCpu = median(cpu);
    // Met only when the req/s ratio and the CPU ratio both reach the target: on a loaded machine
    // req/s alone can pass by luck (a round where the peer was starved), CPU per request cannot.
    const met = med >= cmp.target && byCpu >= cmp.target;
    if (cmp.record)
      recordTarget({
        measure: `${a.c.label} / ${b.c.label}, req/s (median of ${n} alternated round pairs; CPU/req ratio ${x(byCpu)})`,
        ours: `${fmt(median(a.rounds.map((r) => r.rps)))}/s`,
        peer: `${fmt(median(b.rounds.map((r) => r.rps)))}/s`,
        ratio: med,
        target: `>= ${cmp.target}x`,
        met,
        explained: 'docs/web-sessions.md#Tests and benchmark',
      });
    return [
      name,
      rps.map(x).join(' '),
      x(med),
      x(Math.max(...rps)),
      x(byCpu),
      `>= ${cmp.target}x`,
      !cmp.record ? '(no target)' : met ? 'met' : med >= cmp.target ? 'MISSED (by CPU/req)' : 'MISSED',
    ];
  };
  console.log('');
  table([
    ['ratio (req/s, ours / peer)', 'per round', 'median', 'best', 'by CPU/req', 'target', ''],
    ...COMPARISONS.filter((cmp) => servers.has(cmp.ours) || servers.has(cmp.peer)).map(ratioRow),
  ]);
  console.log(
    "by CPU/req: the peer's server CPU per request over ours, median of the round pairs (the req/s ratio if CPU were the only limit); a target is met when both medians reach it.",
  );
  const colloquyLost = measured.filter((s) => s.c.name.startsWith('colloquy')).reduce((sum, s) => sum + s.lost, 0);
  console.log(`Colloquy lost increments in total: ${colloquyLost} (target 0)`);
}

const serving = process.env.BENCH_WEB_CASE as CaseName | undefined;
if (serving) {
  process.once('SIGTERM', () => process.exit(0)); // an orderly exit (writes a CPU profile if asked)
  const port = await serve(
    serving,
    process.env.BENCH_WEB_REDIS || undefined,
    process.env.BENCH_WEB_PG ? (JSON.parse(process.env.BENCH_WEB_PG) as PgTarget) : undefined,
  );
  process.send?.({ port });
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run();
}
