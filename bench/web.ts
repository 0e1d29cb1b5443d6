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
// Printed per case: requests/s, p99 latency, server CPU per request (user + system time of the
// server process over the measured run, divided by the increments it answered: less disturbed by
// other load on the machine than req/s; best round kept), 2xx answered, and lost increments: increments the
// handlers performed minus how far the stored counter actually moved (read back after the run). Ratios against
// the targets: memory store >= 0.9x bare Express and >= 0.75x bare Fastify; Redis >= 2x
// express-session + connect-redis; on PostgreSQL, Colloquy against express-session +
// connect-pg-simple (no target set; printed as measured against 1x); 0 lost increments.
//
// Run: npx tsx bench/web.ts (or import { run }). BENCH_WEB_SECONDS=5 per case (default 5);
// BENCH_WEB_ROUNDS=1 (more rounds keep each case's best req/s: the machine may be shared);
// BENCH_WEB_ONLY=name,name runs only the cases whose names contain one of those words;
// BENCH_WEB_PROFILE=dir writes a V8 CPU profile of each server process there.

import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { envList, fmt, loadAverages, table } from './support.js';
import { recordTarget } from './targets.js';

const SECONDS = Number(process.env.BENCH_WEB_SECONDS ?? 5);
const ROUNDS = Math.max(1, Number(process.env.BENCH_WEB_ROUNDS ?? 1));
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

const CASES: { name: CaseName; label: string; redis: boolean; postgres?: boolean }[] = [
  { name: 'bare-express', label: 'bare Express (no session)', redis: false },
  { name: 'colloquy-express-memory', label: 'Colloquy on Express, memory', redis: false },
  { name: 'express-session-memory', label: 'express-session, MemoryStore', redis: false },
  { name: 'bare-fastify', label: 'bare Fastify (no session)', redis: false },
  { name: 'colloquy-fastify-memory', label: 'Colloquy on Fastify, memory', redis: false },
  { name: 'fastify-session-memory', label: '@fastify/session, memory', redis: false },
  { name: 'colloquy-express-redis', label: 'Colloquy on Express, Redis', redis: true },
  { name: 'colloquy-fastify-redis', label: 'Colloquy on Fastify, Redis', redis: true },
  { name: 'express-session-connect-redis', label: 'express-session + connect-redis', redis: true },
  { name: 'colloquy-express-postgres', label: 'Colloquy on Express, PostgreSQL', redis: false, postgres: true },
  { name: 'colloquy-fastify-postgres', label: 'Colloquy on Fastify, PostgreSQL', redis: false, postgres: true },
  {
    name: 'express-session-connect-pg-simple',
    label: 'express-session + connect-pg-simple',
    redis: false,
    postgres: true,
  },
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

interface Row {
  label: string;
  rps: number;
  p99: number;
  ok: number;
  bad: number;
  lost: number;
  cpuPerReq: number;
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

async function measure(
  autocannon: Autocannon,
  c: (typeof CASES)[number],
  redisUrl: string | undefined,
  pgTarget: PgTarget | undefined,
): Promise<Row> {
  const { port, child } = await startServer(c.name, redisUrl, pgTarget);
  try {
    const base = `http://127.0.0.1:${port}`;
    const first = await fetch(`${base}/inc`, { method: 'POST' });
    await first.text();
    const cookie = first.headers
      .getSetCookie()
      .map((s) => s.split(';')[0])
      .join('; ');
    const headers: Record<string, string> = cookie ? { cookie } : {};
    const read = async (): Promise<{ n: number; served: number; cpu: number }> =>
      (await (await fetch(`${base}/count`, { headers })).json()) as { n: number; served: number; cpu: number };
    // Warm-up (JIT, connections), not counted.
    await autocannon({ url: `${base}/inc`, method: 'POST', connections: CONNECTIONS, duration: 1, headers });
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
      url: `${base}/inc`,
      method: 'POST',
      connections: CONNECTIONS,
      duration: SECONDS,
      headers,
    });
    const after = await settled();
    // Lost: increments the server performed (counted when the handler's increment completed)
    // minus how far the stored counter moved. autocannon's own count misses the requests in
    // flight when it stops, so the server counts.
    return {
      label: c.label,
      rps: r.requests.average,
      p99: r.latency.p99,
      ok: r['2xx'],
      bad: r.non2xx + r.errors + r.timeouts,
      lost: after.served - before.served - (after.n - before.n),
      cpuPerReq: (after.cpu - before.cpu) / Math.max(1, after.served - before.served),
    };
  } finally {
    await stop(child);
  }
}

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
    `Web sessions: POST /inc increments a counter in the session; autocannon, ${CONNECTIONS} connections, one fixed cookie, ${SECONDS} s per case after a 1 s warm-up, ${ROUNDS} round(s), best kept;`,
  );
  console.log(
    `each server in its own process. Load average before: ${loadAverages()} (2 cores shared: compare within one run only)`,
  );
  const rows = new Map<CaseName, Row>();
  try {
    // Rounds (BENCH_WEB_ROUNDS) run every case again, in the same order; the best req/s of a case
    // is kept (the machine is shared: the best round is the least disturbed), lost increments the
    // worst.
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        if ((c.redis && !redis) || (c.postgres && !pg)) continue;
        const row = await measure(autocannon, c, redis?.url, pg);
        const best = rows.get(c.name);
        const cpuPerReq = Math.min(row.cpuPerReq, best?.cpuPerReq ?? Infinity);
        rows.set(
          c.name,
          !best || row.rps > best.rps
            ? { ...row, lost: Math.max(row.lost, best?.lost ?? 0), cpuPerReq }
            : { ...best, lost: Math.max(row.lost, best.lost), cpuPerReq },
        );
      }
    }
  } finally {
    await redis?.stop();
    if (pg) await pgSupport.dropSchemas([pg.schema]);
  }
  table([
    ['case', 'req/s', 'p99', 'server CPU/req', '2xx', 'errors', 'lost increments'],
    ...[...rows.values()].map((r) => [
      r.label,
      fmt(r.rps),
      `${r.p99} ms`,
      `${r.cpuPerReq.toFixed(1)} µs`,
      fmt(r.ok),
      fmt(r.bad),
      fmt(r.lost),
    ]),
  ]);
  const ratio = (a: CaseName, b: CaseName, target: number): string[] => {
    const x = rows.get(a);
    const y = rows.get(b);
    if (!x || !y) return [`${a} / ${b}`, 'n/a', `>= ${target}x`, 'not run'];
    const v = x.rps / y.rps;
    if (!b.includes('pg-simple'))
      recordTarget({
        measure: `${x.label} / ${y.label}, req/s`,
        ours: `${fmt(x.rps)}/s`,
        peer: `${fmt(y.rps)}/s`,
        ratio: v,
        target: `>= ${target}x`,
        explained: 'docs/web-sessions.md#Tests and benchmark',
      });
    return [`${x.label} / ${y.label}`, `${v.toFixed(2)}x`, `>= ${target}x`, v >= target ? 'met' : 'MISSED'];
  };
  console.log('');
  table([
    ['ratio', 'measured', 'target', ''],
    ratio('colloquy-express-memory', 'bare-express', 0.9),
    ratio('colloquy-fastify-memory', 'bare-fastify', 0.75),
    ratio('colloquy-express-redis', 'express-session-connect-redis', 2),
    ratio('colloquy-fastify-redis', 'express-session-connect-redis', 2),
    ratio('colloquy-express-postgres', 'express-session-connect-pg-simple', 1),
    ratio('colloquy-fastify-postgres', 'express-session-connect-pg-simple', 1),
  ]);
  const colloquyLost = [...rows.entries()]
    .filter(([k]) => k.startsWith('colloquy'))
    .reduce((sum, [, r]) => sum + r.lost, 0);
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
