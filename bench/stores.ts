// Stores and several nodes: what a shared store and durability cost, and how long a client waits
// when its node dies. Three sections, each against a private redis-server on a free port
// (test/support/redis.ts; never the machine's 6379):
//
//   1. RedisStore operations/s against redis-benchmark on the same Redis, with bare ioredis
//      doing the same single command between them, and CPU per operation of node and of
//      redis-server for each (bench/stores-ops.ts).
//   2. Durability cost: one server and one client in this process over TCP, an echo service:
//      messages/s (the client sends 64-byte messages for MEASURE_MS, at most WINDOW without
//      their echo, counted when their echo is back) and the round trip of one message at a time (p50/p95), with durability off, with a
//      MemoryStore, with a RedisStore and (when the machine's PostgreSQL answers) a PostgresStore.
//   3. Time to resume on another node after kill -9: three node processes (test/deploy/node.ts,
//      Redis durability) behind HAProxy running deploy/haproxy.cfg; a client pinned to a node by
//      its cookie exchanges a few messages, the node is killed with SIGKILL, and the time from
//      the kill to the client's `resumed` is measured (default reconnect options: the first
//      redial is immediate). RESUME_RUNS runs, each on a fresh session; the killed node is
//      restarted on its port between runs. The same with memory-only nodes measures the time
//      until the client learns its session is lost (`resume-failed`). Skipped with a notice
//      without haproxy.
//
//   4. PostgresStore operations/s against pgbench on the same PostgreSQL (bench/stores-postgres.ts);
//      runs without Redis too. Skipped with a notice when PostgreSQL does not answer.
//   5. What RedisStore's waitForReplicas (WAIT after each write) costs, through a Sentinel with one
//      replica: compareAndSet calls/s and durable echo, WAIT off and on (bench/stores-wait.ts).
//
// Run: npx tsx bench/stores.ts   (or import { run } and await it). About two and a half minutes.
// BENCH_ONLY=ops,durability,resume,postgres,wait runs only those sections; BENCH_STORE_ROUNDS (default 3)
// sets how many interleaved rounds section 1 keeps the best of.

import { pathToFileURL } from 'node:url';
import { connect } from '../src/client/connect.js';
import type { ClientSession } from '../src/client/connect.js';
import { listen } from '../src/server/server.js';
import type { Server } from '../src/server/server.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { PostgresStore } from '../src/store/postgres-store.js';
import { RedisStore } from '../src/store/redis-store.js';
import type { SessionStore } from '../src/store/store.js';
import { POSTGRES_URL, postgresQuery, postgresReachable } from '../test/support/postgres.js';
import { have, startRedis } from '../test/support/redis.js';
import type { RedisServer } from '../test/support/redis.js';
import { HAPROXY, startHaproxy, startNode } from '../test/deploy/lb.js';
import type { Node } from '../test/deploy/lb.js';
import { envList, fmt, loadAverages, percentile, ratioText as ratio, table } from './support.js';
import { postgresOps } from './stores-postgres.js';
import { storeOps } from './stores-ops.js';
import { replicaWaitCost } from './stores-wait.js';

const WARM_MS = 300;
const MEASURE_MS = 1500;
const CONCURRENCY = [1, 50] as const;
const KEYS = 1000;
const VALUE_BYTES = 100;
const TTL_MS = 60_000;
const RTT_SAMPLES = 300;
/** Messages each way in the exchange case (test/driver/conformance.ts's 5,000-message case). */
const EXCHANGE = 5000;
/** Messages in flight (sent, echo not back) in the durability throughput case. */
const WINDOW = 256;
const RESUME_RUNS = 10;

const only = envList('BENCH_ONLY');
const wanted = (section: string): boolean => only.length === 0 || only.includes(section);

// -- helpers ------------------------------------------------------------------------------------

const ms = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(n < 10 ? 2 : 1)} ms` : 'n/a');

// -- 2. durability cost -------------------------------------------------------------------------

async function echoPair(
  durability: SessionStore | null,
): Promise<{ server: Server; client: ClientSession; next(): Promise<Uint8Array> }> {
  const server = await listen({
    tcp: { port: 0 },
    heartbeatMs: 0,
    ...(durability ? { durability: { store: durability } } : {}),
  });
  server.on('session', (s) => {
    void (async () => {
      for await (const m of s) await s.send(m);
    })().catch(() => {});
  });
  const client = await connect(`tcp://127.0.0.1:${server.addresses.tcp as number}`, { heartbeatMs: 0 });
  const iterator = client[Symbol.asyncIterator]();
  return {
    server,
    client,
    next: async () => {
      const r = await iterator.next();
      if (r.done) throw new Error('the session ended');
      return r.value;
    },
  };
}

/**
 * Echo throughput (at most WINDOW in flight, for MEASURE_MS after WARM_MS) and the round trip of
 * one message at a time (p50, p95), with `store` as the server's durability (null: off).
 */
export async function echoRates(store: SessionStore | null): Promise<{ rate: number; p50: number; p95: number }> {
  const { server, client, next } = await echoPair(store);
  try {
    const payload = new Uint8Array(64);
    // Throughput: at most WINDOW messages without their echo (a flood would measure how large
    // the send queue may grow, not the session).
    const state: { phase: 'warm' | 'measure' | 'stop' } = { phase: 'warm' };
    let sent = 0;
    let echoed = 0;
    let counted = 0;
    let wake: (() => void) | null = null;
    const sending = (async () => {
      while (state.phase !== 'stop') {
        if (sent - echoed >= WINDOW) {
          await new Promise<void>((r) => {
            wake = r;
          });
          continue;
        }
        await client.send(payload);
        sent++;
      }
    })();
    const reading = (async () => {
      while (state.phase !== 'stop' || echoed < sent) {
        await next();
        echoed++;
        if (state.phase === 'measure') counted++;
        const w = wake as (() => void) | null;
        if (w && sent - echoed < WINDOW / 2) {
          wake = null;
          w();
        }
      }
    })();
    await new Promise((r) => setTimeout(r, WARM_MS));
    state.phase = 'measure';
    const start = performance.now();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const messagesPerSecond = (counted / (performance.now() - start)) * 1000;
    state.phase = 'stop';
    (wake as (() => void) | null)?.();
    await sending;
    await reading;
    // Round trip, one at a time.
    const samples: number[] = [];
    for (let i = 0; i < RTT_SAMPLES; i++) {
      const t0 = performance.now();
      await client.send(payload);
      await next();
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    const p50 = percentile(samples, 50);
    await client.release();
    return { rate: messagesPerSecond, p50, p95: percentile(samples, 95) };
  } finally {
    await server.destroy();
  }
}

async function durabilityCost(redis: RedisServer): Promise<void> {
  console.log('');
  console.log('2. durability cost: echo over TCP in this process (server and client share a core), 64-byte messages;');
  console.log(
    `   messages/s = echoes back per second, at most ${WINDOW} in flight, for ${MEASURE_MS} ms (after ${WARM_MS} ms); round trip: one message at a time, ${RTT_SAMPLES} samples`,
  );
  const modes: { label: string; store: () => SessionStore | null }[] = [
    { label: 'off (memory only)', store: () => null },
    { label: 'MemoryStore', store: () => new MemoryStore() },
    { label: `RedisStore`, store: () => new RedisStore({ url: redis.url, prefix: 'bench-durable', timeoutMs: 5000 }) },
  ];
  // The machine's PostgreSQL, when it answers: the same durable sessions on PostgresStore (a
  // schema of this run, dropped after).
  const pgSchema = `bench_durable_${process.pid}`;
  const withPg = await postgresReachable();
  if (withPg) {
    const pg = { connectionString: POSTGRES_URL, schema: pgSchema, listen: false, notify: false, timeoutMs: 5000 };
    modes.push({ label: 'PostgresStore', store: () => new PostgresStore(pg) });
    // Commits that do not wait for their WAL flush: a PostgreSQL crash may lose the last moments
    // (never a node crash: the rows are in the server); what Redis without fsync also gives.
    modes.push({
      label: 'PostgresStore, synchronous_commit off',
      store: () => new PostgresStore({ ...pg, poolOptions: { options: '-c synchronous_commit=off' } }),
    });
  }
  const rows: string[][] = [
    ['durability', 'messages/s', 'vs off', 'rtt p50', 'rtt p95', 'vs off (p50)', `${EXCHANGE} each way`],
  ];
  let base: { rate: number; p50: number } | null = null;
  for (const mode of modes) {
    const store = mode.store();
    try {
      const { rate: messagesPerSecond, p50, p95 } = await echoRates(store);
      base ??= { rate: messagesPerSecond, p50 };
      const seconds = Math.min(await exchange(store), await exchange(store)); // best of two: the first run also warms up
      rows.push([
        mode.label,
        fmt(messagesPerSecond),
        ratio(messagesPerSecond / base.rate),
        ms(p50),
        ms(p95),
        ratio(p50 / base.p50),
        `${seconds.toFixed(2)} s`,
      ]);
    } finally {
      await store?.close();
    }
  }
  if (withPg) await postgresQuery(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
  table(rows);
}

/** The runtime conformance case: EXCHANGE messages each way at once (sizes 0..1999 B); seconds until both sides have all. */
async function exchange(store: SessionStore | null): Promise<number> {
  const server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, ...(store ? { durability: { store } } : {}) });
  const msg = (i: number, size: number): Uint8Array => {
    const b = new Uint8Array(Math.max(4, size));
    new DataView(b.buffer).setUint32(0, i);
    return b;
  };
  const read = async (s: AsyncIterable<Uint8Array>, n: number): Promise<void> => {
    let got = 0;
    for await (const _ of s) if (++got === n) return;
  };
  try {
    let serverSide: Promise<unknown> = Promise.resolve();
    const seen = new Promise<void>((resolve) =>
      server.on('session', (s) => {
        serverSide = Promise.all([
          (async () => {
            for (let i = 0; i < EXCHANGE; i++) await s.send(msg(i, (i * 53) % 2000));
          })(),
          read(s, EXCHANGE),
        ]);
        serverSide.catch(() => {}); // reported through the await below; never unhandled after destroy()
        resolve();
      }),
    );
    const start = performance.now();
    const client = await connect(`tcp://127.0.0.1:${server.addresses.tcp as number}`, { heartbeatMs: 0 });
    await Promise.all([
      (async () => {
        for (let i = 0; i < EXCHANGE; i++) await client.send(msg(i, (i * 37) % 2000));
      })(),
      read(client, EXCHANGE),
      seen.then(() => serverSide),
    ]);
    const seconds = (performance.now() - start) / 1000;
    await client.release();
    return seconds;
  } finally {
    await server.destroy();
  }
}

// -- 3. resume on another node after kill -9 ----------------------------------------------------

/** RESUME_RUNS kills behind HAProxy, each of the node a fresh session is pinned to; ms from SIGKILL to `outcome`. */
async function killRuns(store: string, outcome: 'resumed' | 'resume-failed'): Promise<number[]> {
  const nodes: Node[] = await Promise.all(['node1', 'node2', 'node3'].map((n) => startNode(n, store)));
  const lb = await startHaproxy(nodes);
  const times: number[] = [];
  try {
    for (let run = 0; run < RESUME_RUNS; run++) {
      const at = run % nodes.length;
      const victim = nodes[at] as Node;
      const client = await connect(`ws://127.0.0.1:${lb.port}/session`, {
        headers: { cookie: `COLLOQUY_NODE=${victim.name}` },
      });
      const iterator = client[Symbol.asyncIterator]();
      const echo = async (text: string): Promise<string> => {
        await client.send(text);
        const r = await iterator.next();
        if (r.done) throw new Error('the session ended');
        return new TextDecoder().decode(r.value);
      };
      for (let i = 0; i < 20; i++) {
        const reply = await echo(`m${i}`);
        if (!reply.startsWith(`${victim.name} `))
          throw new Error(`the cookie did not pin the session to ${victim.name}: ${reply}`);
      }
      // Whatever happens first; a run that sees neither within 30 s fails the benchmark.
      const ended = new Promise<{ what: string; at: number }>((resolve) => {
        client.once('resumed', () => resolve({ what: 'resumed', at: performance.now() }));
        client.once('resume-failed', () => resolve({ what: 'resume-failed', at: performance.now() }));
        const timer = setTimeout(() => resolve({ what: 'nothing within 30 s', at: NaN }), 30_000);
        (timer as { unref?: () => void }).unref?.();
      });
      const t0 = performance.now();
      await victim.kill();
      const got = await ended;
      if (got.what !== outcome) throw new Error(`expected ${outcome} after the kill, got ${got.what}`);
      times.push(got.at - t0);
      if (outcome === 'resumed') {
        const after = await echo('after');
        if (after.startsWith(`${victim.name} `) || !after.endsWith(' after'))
          throw new Error(`unexpected reply after the resume: ${after}`);
        await client.release();
      }
      nodes[at] = await startNode(victim.name, store, { port: victim.port });
    }
  } finally {
    await lb.stop();
    for (const n of nodes) await n.kill();
  }
  return times;
}

async function resumeAfterKill(redis: RedisServer): Promise<void> {
  console.log('');
  console.log(
    '3. the sticky node is killed (SIGKILL): 3 node processes behind HAProxy (deploy/haproxy.cfg), a fresh session pinned by',
  );
  console.log(
    `   its cookie each run; ms from the kill to the client's 'resumed' (Redis durability) or 'resume-failed' (memory only),`,
  );
  console.log(`   default reconnect options, ${RESUME_RUNS} runs each`);
  if (!HAPROXY) {
    console.log('   SKIPPED: haproxy is not installed (apt-get install haproxy)');
    return;
  }
  const rows: string[][] = [['store', 'outcome', 'runs', 'p50', 'p95', 'min', 'max']];
  for (const [label, store, outcome] of [
    ['Redis durability', redis.url, 'resumed'],
    ['memory only', 'memory', 'resume-failed'],
  ] as const) {
    const sorted = (await killRuns(store, outcome)).sort((a, b) => a - b);
    rows.push([
      label,
      outcome,
      String(sorted.length),
      ms(percentile(sorted, 50)),
      ms(percentile(sorted, 95)),
      ms(sorted[0] as number),
      ms(sorted[sorted.length - 1] as number),
    ]);
  }
  table(rows);
}

export async function run(): Promise<void> {
  console.log(`stores and several nodes (load average ${loadAverages()})`);
  if (['ops', 'durability', 'resume'].some(wanted)) {
    if (!have('redis-server') || !have('redis-benchmark')) {
      console.log('SKIPPED (sections 1-3): redis-server and redis-benchmark are needed (apt-get install redis-server)');
    } else {
      const redis = await startRedis({ extraArgs: ['--maxmemory-policy', 'noeviction'] });
      try {
        if (wanted('ops'))
          await storeOps(redis, {
            warmMs: WARM_MS,
            measureMs: MEASURE_MS,
            concurrency: CONCURRENCY,
            keys: KEYS,
            valueBytes: VALUE_BYTES,
            ttlMs: TTL_MS,
            rounds: Number(process.env.BENCH_STORE_ROUNDS ?? 3),
          });
        if (wanted('durability')) await durabilityCost(redis);
        if (wanted('resume')) await resumeAfterKill(redis);
      } finally {
        await redis.stop();
      }
    }
  }
  if (wanted('wait')) {
    if (!have('redis-server'))
      console.log('SKIPPED (section 5): redis-server is needed (apt-get install redis-server)');
    else
      await replicaWaitCost({
        warmMs: WARM_MS,
        measureMs: MEASURE_MS,
        concurrency: CONCURRENCY,
        keys: KEYS,
        valueBytes: VALUE_BYTES,
        echo: echoRates,
      });
  }
  if (wanted('postgres'))
    await postgresOps({
      warmMs: WARM_MS,
      measureMs: MEASURE_MS,
      concurrency: CONCURRENCY,
      keys: KEYS,
      valueBytes: VALUE_BYTES,
      ttlMs: TTL_MS,
    });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
