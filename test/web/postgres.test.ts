// The web-session suite (suite.ts), the JWT refresh-family suite (token-suite.ts) and the
// real-time identity suite (realtime-suite.ts) on the PostgreSQL store, for node:http, Express and
// Fastify, each store in a schema of its own; plus a real outage: the server cut off behind a proxy
// mid-run (503 within the bound), then back (the login made before it still works: the rows are
// in PostgreSQL).
//
// Without PostgreSQL: skipped with a loud notice outside CI, run (and failing) under CI=true.

import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { WebSessions } from '../../src/web/index.js';
import { dropSchemas, freshSchema, POSTGRES_URL, skipWithoutPostgres } from '../support/postgres.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { Client, startApp } from './servers.js';
import { webSessionSuite, type StoreFactory } from './suite.js';
import { tokenSuite } from './token-suite.js';
import { realtimeSuite } from './realtime-suite.js';

const SKIP = await skipWithoutPostgres('test/web/postgres.test.ts');

const stores: PostgresStore[] = [];
const schemas: string[] = [];
// The suites make a store per test: they share one pool (the application's-own-pool mode), so the
// file holds a few connections of the machine's server, not one pool per test.
const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 6 });
pool.on('error', () => undefined);
const store = (connectionString?: string, timeoutMs = 500): PostgresStore => {
  const schema = freshSchema('web');
  schemas.push(schema);
  const connection = connectionString ? { connectionString, poolSize: 4 } : { pool };
  const s = new PostgresStore({ ...connection, schema, timeoutMs, listen: false });
  stores.push(s);
  return s;
};

describe.skipIf(SKIP)('web sessions on PostgreSQL', () => {
  afterAll(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await pool.end();
    await dropSchemas(schemas);
  }, 30_000);

  const factory: StoreFactory = { make: async () => store() };
  webSessionSuite('postgres', factory);
  tokenSuite('postgres', factory);
  realtimeSuite('postgres', factory);

  it('a real outage: the server cut off gives 503 within the bound; once back, the same login works', async () => {
    const proxy = await startTcpProxy(Number(new URL(POSTGRES_URL).port || 5432));
    const sessions = new WebSessions({
      store: store(POSTGRES_URL.replace(/@[^/]+\//, `@127.0.0.1:${proxy.port}/`), 300),
      storeTimeoutMs: 300,
    });
    const app = await startApp('node', sessions);
    try {
      const c = new Client(app.base);
      await c.call('POST', '/login?user=ada');
      expect((await c.call('POST', '/inc')).body.n).toBe(1);
      proxy.set('down');
      const started = Date.now();
      const down = await c.me();
      expect(down.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(5_000); // generous: the bound is 300 ms + guard
      proxy.set('up');
      let up = await c.me();
      for (let i = 0; i < 100 && up.status !== 200; i++) {
        await new Promise((res) => setTimeout(res, 50));
        up = await c.me();
      }
      expect(up.status).toBe(200);
      // PostgreSQL kept the session through the outage: the counter goes on from 1.
      expect((await c.call('POST', '/inc')).body.n).toBe(2);
    } finally {
      await app.close();
      await proxy.close();
    }
  }, 60_000);
});
