// Section 4 of bench/stores.ts: PostgresStore operations/s against pgbench on the same server.
//
// The machine's PostgreSQL (test/support/postgres.ts: 127.0.0.1:5432), in a database made for
// this run (`colloquy_bench_<pid>`, dropped at the end) so pgbench's tables and ours sit side by
// side and nothing else is touched.
//
//   ours     get, set, compareAndSet, touch with C calls in flight (C workers, each awaiting its
//            call; a pool of C connections, prepared statements), 100-byte JSON values over
//            KEYS sessions, for MEASURE_MS after a warm-up.
//   theirs   pgbench -c C -j min(C, 2) -M prepared -T 2 on a scale-1 database (100,000 accounts):
//            the built-in select-only (one SELECT by primary key) and simple-update (BEGIN,
//            UPDATE, SELECT, INSERT, END: five statements), and a one-statement script
//            (UPDATE pgbench_accounts ... WHERE aid = :aid), the closest to one store write.
//
// Ratios: get against select-only; set, compareAndSet and touch against the one-UPDATE script,
// and against simple-update. Each of our calls is one statement too (docs/stores.md), but does
// more: the write function locks and reads the row before it writes, maintains the expiry and
// principal indexes, and the JSON is built and parsed in Node.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PostgresStore } from '../src/store/postgres-store.js';
import { POSTGRES_URL, postgresQuery, postgresReachable } from '../test/support/postgres.js';
import { have } from '../test/support/redis.js';
import { callsPerSecond, fmt, ratioText as ratio, table } from './support.js';

const run$ = promisify(execFile);
const PGBENCH_SECONDS = 2;

export interface PostgresOpsOptions {
  warmMs: number;
  measureMs: number;
  concurrency: readonly number[];
  keys: number;
  valueBytes: number;
  ttlMs: number;
}

async function pgbench(url: URL, clients: number, script: string[]): Promise<number> {
  const args = [
    '-h',
    url.hostname,
    '-p',
    url.port || '5432',
    '-U',
    decodeURIComponent(url.username || 'postgres'),
    '-c',
    String(clients),
    '-j',
    String(Math.min(clients, 2)),
    '-M',
    'prepared',
    '-T',
    String(PGBENCH_SECONDS),
    '-n',
    ...script,
    url.pathname.slice(1),
  ];
  const { stdout } = await run$('pgbench', args, { timeout: 120_000 });
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout) ?? /tps = ([\d.]+)/.exec(stdout);
  return m ? Number(m[1]) : NaN;
}

export async function postgresOps(o: PostgresOpsOptions): Promise<void> {
  console.log('');
  console.log(
    `4. PostgresStore operations/s vs pgbench on the same PostgreSQL (${POSTGRES_URL.replace(/\/\/[^@]*@/, '//')}): ${o.valueBytes}-byte values, ${o.keys} sessions,`,
  );
  console.log(
    `   ${o.warmMs} ms warm-up then ${o.measureMs} ms; C = calls in flight (ours: a pool of C connections; pgbench: -c C -M prepared, ${PGBENCH_SECONDS} s, scale 1)`,
  );
  if (!(await postgresReachable())) {
    console.log(`   SKIPPED: PostgreSQL does not answer at ${POSTGRES_URL}`);
    return;
  }
  if (!have('pgbench')) {
    console.log('   SKIPPED: pgbench is not installed (apt-get install postgresql-contrib or postgresql)');
    return;
  }
  const db = `colloquy_bench_${process.pid}`;
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${db}`;
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-pgbench-'));
  const oneUpdate = join(dir, 'one-update.sql');
  writeFileSync(
    oneUpdate,
    '\\set aid random(1, 100000 * :scale)\n\\set delta random(-5000, 5000)\nUPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\n',
  );
  await postgresQuery(`CREATE DATABASE ${db}`);
  try {
    await run$(
      'pgbench',
      [
        '-h',
        url.hostname,
        '-p',
        url.port || '5432',
        '-U',
        decodeURIComponent(url.username || 'postgres'),
        '-i',
        '-s',
        '1',
        '-q',
        db,
      ],
      { timeout: 120_000 },
    );
    const rows: string[][] = [['C', 'operation', 'ours ops/s', 'pgbench', 'pgbench tps', 'ratio']];
    const value = { user: 'ada', pad: 'x'.repeat(o.valueBytes - 24) };
    for (const c of o.concurrency) {
      const theirs = {
        select: await pgbench(url, c, ['-b', 'select-only']),
        simple: await pgbench(url, c, ['-b', 'simple-update']),
        one: await pgbench(url, c, ['-f', oneUpdate]),
      };
      const store = new PostgresStore({
        connectionString: url.toString(),
        schema: 'colloquy_bench',
        poolSize: c,
        listen: false,
        sweepIntervalMs: 0,
        timeoutMs: 10_000,
      });
      try {
        for (let k = 0; k < o.keys; k += 100)
          await Promise.all(
            Array.from({ length: Math.min(100, o.keys - k) }, (_, i) =>
              store.set(`k${k + i}`, value, { ttlMs: o.ttlMs }),
            ),
          );
        const rate = (op: (w: number, i: number) => Promise<unknown>): Promise<number> =>
          callsPerSecond(c, o.warmMs, o.measureMs, op);
        const versions = new Map<string, number>();
        const ours = {
          get: await rate((_w, i) => store.get(`k${(i * 7919) % o.keys}`)),
          set: await rate((_w, i) => store.set(`k${(i * 7919) % o.keys}`, value, { ttlMs: o.ttlMs })),
          compareAndSet: await rate(async (w) => {
            // Each worker owns its key, so every compare-and-set succeeds (a conflict would not count).
            const id = `cas${c}-${w}`;
            const version = await store.compareAndSet(id, versions.get(id) ?? 0, value, { ttlMs: o.ttlMs });
            if (version === null) throw new Error(`compareAndSet conflict on ${id}`);
            versions.set(id, version);
          }),
          touch: await rate((_w, i) => store.touch(`k${(i * 7919) % o.keys}`, o.ttlMs)),
        };
        rows.push([
          String(c),
          'get',
          fmt(ours.get),
          'select-only',
          fmt(theirs.select),
          ratio(ours.get / theirs.select),
        ]);
        for (const op of ['set', 'compareAndSet', 'touch'] as const) {
          rows.push([String(c), op, fmt(ours[op]), 'one UPDATE', fmt(theirs.one), ratio(ours[op] / theirs.one)]);
          rows.push([String(c), '', '', 'simple-update', fmt(theirs.simple), ratio(ours[op] / theirs.simple)]);
        }
      } finally {
        await store.close();
      }
    }
    table(rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await postgresQuery(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch((e: unknown) =>
      console.log(`   (could not drop ${db}: ${String(e)})`),
    );
  }
}
