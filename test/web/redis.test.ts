// The web-session suite (suite.ts) on a real Redis (a private redis-server on a free port), for
// node:http, Express and Fastify, and the token suite; plus a real outage: redis-server stopped by PID mid-run (503,
// bounded), then restarted (sessions work again).
//
// Without redis-server: skipped with a loud notice outside CI, run (and failing) under CI=true.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.js';
import { WebSessions } from '../../src/web/index.js';
import { skipWithout, startRedis, type RedisServer } from '../support/redis.js';
import { Client, startApp } from './servers.js';
import { webSessionSuite, type StoreFactory } from './suite.js';
import { tokenSuite } from './token-suite.js';
import { realtimeSuite } from './realtime-suite.js';

const SKIP = skipWithout('redis-server', 'test/web/redis.test.ts', 'apt-get install -y redis-server');

let redis: RedisServer | undefined;
const stores: RedisStore[] = [];
let n = 0;

async function server(): Promise<RedisServer> {
  redis ??= await startRedis();
  return redis;
}

describe.skipIf(SKIP)('web sessions on Redis', () => {
  beforeAll(async () => {
    await server();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await redis?.stop();
  }, 30_000);

  const factory: StoreFactory = {
    make: async () => {
      const s = new RedisStore({ url: (await server()).url, prefix: `web${process.pid}x${++n}`, timeoutMs: 500 });
      stores.push(s);
      return s;
    },
  };
  webSessionSuite('redis', factory);
  tokenSuite('redis', factory);
  realtimeSuite('redis', factory);

  it('a real outage: redis-server stopped gives 503 within the bound, and sessions work again after restart', async () => {
    const r = await server();
    const store = new RedisStore({ url: r.url, prefix: `outage${process.pid}`, timeoutMs: 300 });
    stores.push(store);
    const sessions = new WebSessions({ store, storeTimeoutMs: 300 });
    const app = await startApp('node', sessions);
    try {
      const c = new Client(app.base);
      await c.call('POST', '/login?user=ada');
      await r.kill();
      const started = Date.now();
      const down = await c.me();
      expect(down.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(5_000); // generous: the bound is 300 ms + guard
      await r.restart();
      // Redis restarted empty (no persistence): the old session is gone, a new one works.
      let up = await c.me();
      for (let i = 0; i < 100 && up.status !== 200; i++) {
        await new Promise((res) => setTimeout(res, 50));
        up = await c.me();
      }
      expect(up.status).toBe(200);
      expect((await c.call('POST', '/inc')).body.n).toBe(1);
    } finally {
      await app.close();
    }
  }, 60_000);
});
