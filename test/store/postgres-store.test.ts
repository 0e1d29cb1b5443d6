// The PostgreSQL store against the machine's PostgreSQL (127.0.0.1:5432, database `test`), each
// store in a schema of its own: the conformance suite unchanged (with its outage case, the
// server reached through a proxy the test cuts), several stores on one table (events through
// LISTEN/NOTIFY, expired exactly once), the migration as documented, sweeping in bounded
// batches, and a hung server (ERR_STORE_TIMEOUT, the pool not pinned).
//
// Without PostgreSQL: skipped with a loud notice outside CI, run (and failing) under CI=true.

import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SessionError } from '../../src/engine/errors.js';
import { postgresMigration } from '../../src/store/postgres-schema.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres-store.js';
import { dropSchemas, freshSchema, POSTGRES_URL, postgresQuery, skipWithoutPostgres } from '../support/postgres.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { advanceStoreClock, storeConformance } from './conformance.js';

const SKIP = await skipWithoutPostgres('test/store/postgres-store.test.ts');

const schemas: string[] = [];
const schema = (): string => {
  const s = freshSchema('store');
  schemas.push(s);
  return s;
};
const open: PostgresStore[] = [];
const make = (options: Partial<PostgresStoreOptions> = {}): PostgresStore => {
  const s = new PostgresStore({ connectionString: POSTGRES_URL, schema: schema(), ...options } as PostgresStoreOptions);
  open.push(s);
  return s;
};

/** Real time passes by the store's own clock (Redis TIME, PostgreSQL's clock). */
const advance = advanceStoreClock;

const url = (port: number): string => POSTGRES_URL.replace(/@[^/]+\//, `@127.0.0.1:${port}/`);

describe.skipIf(SKIP)('postgres store', () => {
  let proxy: TcpProxy | null = null;
  // Each test's stores are closed after it: the machine's server (max_connections) is shared.
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    await proxy?.close();
    await dropSchemas(schemas);
  }, 30_000);

  describe('conformance', () => {
    storeConformance({
      make: async () => make(),
      advance,
      outage: {
        make: async () => {
          proxy ??= await startTcpProxy(Number(new URL(POSTGRES_URL).port || 5432));
          return make({ connectionString: url(proxy.port), timeoutMs: 400 });
        },
        down: async () => {
          proxy?.set('down');
        },
        up: async () => {
          proxy?.set('up');
        },
        timeoutMs: 400,
      },
    });
  });

  describe('several stores on one table', () => {
    it("each store emits every event once: its own at once, the others' through LISTEN/NOTIFY; expired from exactly one DELETE", async () => {
      const shared = schema();
      const nodes = [0, 1, 2].map(() => make({ schema: shared, sweepIntervalMs: 50 }));
      const seen: string[] = [];
      nodes.forEach((s, n) => {
        s.on('created', ({ id, principal }) => seen.push(`${n} created ${id} ${principal}`));
        s.on('destroyed', ({ id }) => seen.push(`${n} destroyed ${id}`));
        s.on('expired', ({ id, principal }) => seen.push(`${n} expired ${id} ${principal}`));
      });
      const [a, b, c] = nodes as [PostgresStore, PostgresStore, PostgresStore];
      await Promise.all(
        nodes.map(
          (s) =>
            new Promise<void>((resolve) => {
              const off = s.on('ready', () => {
                off();
                resolve();
              });
            }),
        ),
      );
      await a.set('x', { v: 1 }, { ttlMs: 60_000 });
      await b.set('x', { v: 2 }, { ttlMs: 60_000 });
      await c.destroy('x');
      await b.set('y', { v: 1 }, { ttlMs: 300, principal: 'ann' });
      const until = Date.now() + 10_000;
      while (seen.filter((l) => l.includes('expired')).length < 3 && Date.now() < until) await delay(50);
      await delay(200);
      const by = (n: number): string[] => seen.filter((l) => l.startsWith(`${n} `)).map((l) => l.slice(2));
      for (const n of [0, 1, 2])
        expect(by(n)).toEqual(['created x null', 'destroyed x', 'created y ann', 'expired y ann']);
      expect(await c.listByPrincipal('ann')).toEqual([]);
    });

    it('listen: false hears only its own events; notify: false sends none', async () => {
      const shared = schema();
      const quiet = make({ schema: shared, listen: false, sweepIntervalMs: 0 });
      const loud = make({ schema: shared, sweepIntervalMs: 0 });
      const silent = make({ schema: shared, notify: false, sweepIntervalMs: 0 });
      await new Promise<void>((resolve) => {
        const off = loud.on('ready', () => {
          off();
          resolve();
        });
      });
      const heard: string[] = [];
      const loudHeard: string[] = [];
      quiet.on('created', ({ id }) => heard.push(id));
      loud.on('created', ({ id }) => loudHeard.push(id));
      await quiet.set('mine', {}, { ttlMs: 60_000 });
      await loud.set('theirs', {}, { ttlMs: 60_000 });
      await silent.set('unsaid', {}, { ttlMs: 60_000 });
      await quiet.set('last', {}, { ttlMs: 60_000 });
      for (let i = 0; i < 100 && !loudHeard.includes('last'); i++) await delay(20);
      expect(heard).toEqual(['mine', 'last']);
      expect(loudHeard).toEqual(['mine', 'theirs', 'last']);
    });
  });

  describe('schema and sweeping', () => {
    it('postgresMigration() is exactly what the store runs: a store with createTable: false works on a table made from it', async () => {
      const s = schema();
      await postgresQuery(postgresMigration({ schema: s, table: 'my_sessions' }));
      // Running it again changes nothing (idempotent).
      await postgresQuery(postgresMigration({ schema: s, table: 'my_sessions' }));
      const store = make({ schema: s, table: 'my_sessions', createTable: false });
      expect(await store.set('a', { n: 1 }, { ttlMs: 60_000, principal: 'p' })).toBe(1);
      const rows = await postgresQuery<{ id: string; data: string; version: string; principal: string }>(
        `SELECT id, data, version, principal FROM "${s}".my_sessions`,
      );
      expect(rows).toEqual([{ id: 'a', data: '{"n":1}', version: '1', principal: 'p' }]);
      // Without the table and without createTable, calls fail with a coded error naming the cause.
      const missing = make({ table: 'absent', createTable: false });
      const error = await missing.get('a').catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      expect((error as SessionError).message).toMatch(/does not exist/);
    });

    it('refuses schema and table names that are not plain identifiers', () => {
      for (const bad of ['Sessions', 'a-b', 'x;drop table y', '', 'a'.repeat(60)]) {
        expect(() => new PostgresStore({ connectionString: POSTGRES_URL, table: bad })).toThrow(SessionError);
      }
    });

    it('several nodes created at once run the migration once between them (advisory lock), without errors', async () => {
      const shared = schema();
      const nodes = Array.from({ length: 6 }, () => make({ schema: shared, sweepIntervalMs: 0 }));
      const versions = await Promise.all(nodes.map((s, i) => s.set(`n${i}`, { i }, { ttlMs: 60_000 })));
      expect(versions).toEqual([1, 1, 1, 1, 1, 1]);
    });

    it('sweeps expired rows in bounded batches, each row reported once', async () => {
      const store = make({ sweepIntervalMs: 0, sweepBatch: 7 });
      const expired: string[] = [];
      store.on('expired', ({ id }) => expired.push(id));
      /** Waits (bounded) until every row named like `prefix%` has expired by the server's clock. */
      const allDue = async (prefix: string): Promise<void> => {
        const [row] = await postgresQuery<{ max: string }>(
          `SELECT max(expires_at) AS max FROM "${store.names.schema}".colloquy_sessions WHERE id LIKE $1`,
          [`${prefix}%`],
        );
        for (let i = 0; i < 200 && (await store.now()) <= Number(row?.max); i++) await delay(25);
      };
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.set(`e${i}`, { i }, { ttlMs: 200 })));
      await store.set('live', {}, { ttlMs: 60_000 });
      await allDue('e');
      // One sweep is at most 8 batches of 7: 40 rows need one sweep (6 batches, the last short).
      expect(await store.sweep()).toBe(40);
      expect(await store.sweep()).toBe(0);
      expect(new Set(expired).size).toBe(40);
      const left = await postgresQuery<{ n: string }>(
        `SELECT count(*) AS n FROM "${store.names.schema}".colloquy_sessions`,
      );
      expect(left[0]?.n).toBe('1');
      // 60 more with a batch of 7: one sweep takes 56, the next the rest.
      await Promise.all(Array.from({ length: 60 }, (_, i) => store.set(`f${i}`, { i }, { ttlMs: 100 })));
      await allDue('f');
      expect(await store.sweep()).toBe(56);
      expect(await store.sweep()).toBe(4);
    });

    it('a write over an expired id deletes it (reported as expired once) and starts again at version 1', async () => {
      const store = make({ sweepIntervalMs: 0 });
      const events: string[] = [];
      for (const e of ['created', 'expired'] as const)
        store.on(e, ({ id, principal }) => events.push(`${e} ${id} ${principal}`));
      await store.set('r', { old: true }, { ttlMs: 100, principal: 'old' });
      const target = (await store.now()) + 150;
      while ((await store.now()) < target) await delay(30);
      expect(await store.compareAndSet('r', 0, { fresh: true }, { ttlMs: 60_000 })).toBe(1);
      expect(await store.get('r')).toMatchObject({ data: { fresh: true }, version: 1, principal: null });
      expect(events).toEqual(['created r old', 'expired r old', 'created r null']);
      expect(await store.sweep()).toBe(0);
    });
  });

  describe("a hung server and the application's own pool", () => {
    it('a call on a server that does not answer ends with ERR_STORE_TIMEOUT in time and does not pin the pool', async () => {
      const hang = await startTcpProxy(Number(new URL(POSTGRES_URL).port || 5432));
      const store = make({
        connectionString: url(hang.port),
        timeoutMs: 300,
        poolSize: 2,
        listen: false,
        sweepIntervalMs: 0,
      });
      try {
        await store.set('h', { n: 1 }, { ttlMs: 60_000 });
        hang.set('hang');
        // More calls than the pool has connections: each ends in its own time, none waits behind another.
        const started = Date.now();
        const results = await Promise.all(
          Array.from({ length: 5 }, () =>
            store.get('h').then(
              () => null,
              (e: unknown) => e,
            ),
          ),
        );
        for (const e of results) expect(e).toMatchObject({ code: 'ERR_STORE_TIMEOUT' });
        expect(Date.now() - started).toBeLessThan(300 + 400);
        hang.set('up');
        let got: unknown = null;
        for (let i = 0; i < 60 && !got; i++) {
          got = await store.get('h').catch(() => null);
          if (!got) await delay(50);
        }
        expect(got).toMatchObject({ data: { n: 1 }, version: 1 });
        // An aborted call rejects with the signal's reason.
        const ac = new AbortController();
        hang.set('hang');
        const pending = store.get('h', { signal: ac.signal, timeoutMs: 5000 });
        ac.abort(new Error('no longer needed'));
        await expect(pending).rejects.toBe(ac.signal.reason);
      } finally {
        hang.set('up');
        await store.close();
        await hang.close();
      }
    });

    it("runs on the application's pool ({ pool }) and leaves it open on close()", async () => {
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 3 });
      try {
        const store = new PostgresStore({ pool, schema: schema() });
        expect(await store.set('p', { mine: true }, { ttlMs: 60_000 })).toBe(1);
        expect((await store.get('p'))?.data).toEqual({ mine: true });
        await store.close();
        expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
      } finally {
        await pool.end();
      }
    });
  });
});
