// The Redis store against real redis-server processes: the conformance suite on standalone,
// Cluster (3 masters) and Sentinel; several store instances sharing one Redis; per-call
// timeouts; and the suite's outage cases (redis-server stopped by PID mid-run, then restarted on its port).
//
// Without redis-server: skipped with a loud notice outside CI, run (and failing) under CI=true.

import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionError } from '../../src/engine/errors.js';
import { RedisStore, type RedisConnection, type RedisStoreOptions } from '../../src/store/redis-store.js';
import {
  redisCommand,
  skipWithout,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
  type RedisCluster,
  type RedisSentinel,
  type RedisServer,
} from '../support/redis.js';
import { advanceStoreClock, storeConformance, type StoreHarness } from './conformance.js';

const SKIP = skipWithout('redis-server', 'test/store/redis-store.test.ts', 'apt-get install -y redis-server');

let stores = 0;
const uniquePrefix = (): string => `t${process.pid}x${++stores}x${Math.random().toString(36).slice(2, 8)}`;

/** Real time passes by the store's own clock (Redis TIME, PostgreSQL's clock). */
const advance = advanceStoreClock;

function harness(connection: () => RedisConnection, extra: Partial<RedisStoreOptions> = {}): StoreHarness {
  return {
    make: async () => new RedisStore({ ...connection(), prefix: uniquePrefix(), ...extra } as RedisStoreOptions),
    advance,
  };
}

async function expectCoded(p: Promise<unknown>, codes: string[]): Promise<SessionError> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SessionError);
  expect(codes).toContain((error as SessionError).code);
  return error as SessionError;
}

describe.skipIf(SKIP)('redis store', () => {
  let standalone: RedisServer;
  let cluster: RedisCluster;
  let sentinel: RedisSentinel;

  beforeAll(async () => {
    [standalone, cluster, sentinel] = await Promise.all([startRedis(), startRedisCluster(), startRedisSentinel()]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([standalone?.stop(), cluster?.stop(), sentinel?.stop()]);
  }, 30_000);

  describe('standalone: conformance', () => {
    // The outage cases on a redis-server of its own: stopped by PID, then restarted on its port.
    let outage: RedisServer | undefined;
    let down = false;
    afterAll(async () => {
      await outage?.stop();
    });
    storeConformance({
      ...harness(() => ({ url: standalone.url })),
      outage: {
        make: async () => {
          outage ??= await startRedis();
          return new RedisStore({ url: outage.url, prefix: uniquePrefix(), timeoutMs: 400 });
        },
        down: async () => {
          await outage?.kill();
          down = true;
        },
        up: async () => {
          if (down) {
            down = false;
            await outage?.restart();
          }
        },
        timeoutMs: 400,
      },
    });
  });

  describe('cluster (3 masters): conformance', () => {
    storeConformance(harness(() => ({ cluster: cluster.nodes })));
  });

  describe('sentinel: conformance', () => {
    storeConformance(harness(() => ({ sentinels: sentinel.sentinels, name: sentinel.name })));
  });

  describe('several stores on one Redis', () => {
    for (const topology of ['standalone', 'cluster'] as const) {
      it(`${topology}: created and destroyed come from the writer; expired from exactly one store`, async () => {
        const connection = (): RedisConnection =>
          topology === 'standalone' ? { url: standalone.url } : { cluster: cluster.nodes };
        const prefix = uniquePrefix();
        const nodes = [0, 1, 2].map(() => new RedisStore({ ...connection(), prefix, sweepIntervalMs: 50 }));
        const seen: string[] = [];
        nodes.forEach((s, n) => {
          s.on('created', ({ id }) => seen.push(`${n} created ${id}`));
          s.on('destroyed', ({ id }) => seen.push(`${n} destroyed ${id}`));
          s.on('expired', ({ id, principal }) => seen.push(`${n} expired ${id} ${principal}`));
        });
        try {
          const [a, b, c] = nodes as [RedisStore, RedisStore, RedisStore];
          await a.set('x', { v: 1 }, { ttlMs: 60_000 });
          await b.set('x', { v: 2 }, { ttlMs: 60_000 });
          await c.destroy('x');
          await b.set('y', { v: 1 }, { ttlMs: 300, principal: 'ann' });
          expect(seen).toEqual(['0 created x', '2 destroyed x', '1 created y']);
          // Every store sweeps every 50 ms; exactly one of them reaps y.
          const until = Date.now() + 10_000;
          while (!seen.some((line) => line.includes('expired')) && Date.now() < until) await delay(50);
          await Promise.all(nodes.map((s) => s.sweep()));
          await delay(200);
          const expired = seen.filter((line) => line.includes('expired'));
          expect(expired).toHaveLength(1);
          expect(expired[0]).toMatch(/^[012] expired y ann$/);
          expect(await c.listByPrincipal('ann')).toEqual([]);
        } finally {
          await Promise.all(nodes.map((s) => s.close()));
        }
      });
    }

    it('standalone: index and deadline entries are exact and move in the same script as the session', async () => {
      const prefix = uniquePrefix();
      const store = new RedisStore({ url: standalone.url, prefix, sweepIntervalMs: 0 });
      const score = async (key: string, id: string): Promise<unknown> =>
        redisCommand(standalone.port, ['ZSCORE', key, id]);
      const p0 = `{${prefix}:principal:p0}:index`;
      const p1 = `{${prefix}:principal:p1}:index`;
      const deadlines = `{${prefix}}:deadlines`;
      try {
        await store.set('s', { n: 0 }, { ttlMs: 60_000, principal: 'p0' });
        let s = await store.get('s');
        expect(await score(p0, 's')).toBe(String(s?.expiresAt));
        expect(await score(deadlines, 's')).toBe(String(s?.expiresAt));
        await store.set('s', { n: 1 }, { ttlMs: 30_000, principal: 'p1' });
        s = await store.get('s');
        expect(await score(p0, 's')).toBeNull();
        expect(await score(p1, 's')).toBe(String(s?.expiresAt));
        expect(await store.touch('s', 90_000)).toBe(true);
        s = await store.get('s');
        expect(await score(p1, 's')).toBe(String(s?.expiresAt));
        expect(await score(deadlines, 's')).toBe(String(s?.expiresAt));
        // Every key carries a TTL.
        for (const key of [`{${prefix}:s}:session`, p1, deadlines])
          expect(Number(await redisCommand(standalone.port, ['PTTL', key]))).toBeGreaterThan(0);
        expect(await store.destroy('s')).toBe(true);
        expect(await score(p1, 's')).toBeNull();
        expect(await score(deadlines, 's')).toBeNull();
      } finally {
        await store.close();
      }
    });
  });

  describe('cluster: bounds instead of cross-slot scripts', () => {
    it("a moved session's old index entry is never listed and goes once its bound has passed; live entries stay ahead of expiresAt", async () => {
      const prefix = uniquePrefix();
      const store = new RedisStore({
        cluster: cluster.nodes,
        prefix,
        slackMs: 400,
        maxClockSkewMs: 100,
        sweepIntervalMs: 0,
      });
      const oldIndex = `{${prefix}:principal:old}:index`;
      const newIndex = `{${prefix}:principal:new}:index`;
      const deadlines = `{${prefix}}:deadlines`;
      try {
        expect(store.isCluster).toBe(true);
        await store.set('m', { n: 1 }, { ttlMs: 300, principal: 'old' });
        await store.set('m', { n: 2 }, { ttlMs: 60_000, principal: 'new' });
        const live = await store.get('m');
        // The old entry is still there (writers never delete entries) but is filtered out.
        expect(await store.client.zscore(oldIndex, 'm')).not.toBeNull();
        expect(await store.listByPrincipal('old')).toEqual([]);
        expect((await store.listByPrincipal('new')).map((x) => x.id)).toEqual(['m']);
        // Entries for the live session are bounds at or past its expiresAt.
        expect(Number(await store.client.zscore(newIndex, 'm'))).toBeGreaterThanOrEqual(live?.expiresAt ?? Infinity);
        expect(Number(await store.client.zscore(deadlines, 'm'))).toBeGreaterThanOrEqual(live?.expiresAt ?? Infinity);
        // touch raises them with the session.
        expect(await store.touch('m', 120_000)).toBe(true);
        const touched = await store.get('m');
        expect(Number(await store.client.zscore(newIndex, 'm'))).toBeGreaterThanOrEqual(touched?.expiresAt ?? Infinity);
        expect(Number(await store.client.zscore(deadlines, 'm'))).toBeGreaterThanOrEqual(
          touched?.expiresAt ?? Infinity,
        );
        // Past the old bound (300 + slack 400) and the skew (100): the next list drops the entry.
        const target = (await store.now()) + 300 + 400 + 100 + 50;
        for (let i = 0; i < 100 && (await store.now()) < target; i++) await delay(50);
        expect(await store.listByPrincipal('old')).toEqual([]);
        expect(await store.client.zscore(oldIndex, 'm')).toBeNull();
        expect((await store.listByPrincipal('new')).map((x) => x.id)).toEqual(['m']);
        // destroyByPrincipal only destroys sessions still belonging to the principal revoked.
        await store.set('k', {}, { ttlMs: 60_000, principal: 'old' });
        await store.set('k', {}, { ttlMs: 60_000, principal: 'new' });
        expect(await store.destroyByPrincipal('old')).toBe(0);
        expect(await store.destroyByPrincipal('new')).toBe(2);
      } finally {
        await store.close();
      }
    });
  });

  describe('timeouts, cancellation and an outage', () => {
    it('a call on a paused Redis ends with ERR_STORE_TIMEOUT within its timeout', async () => {
      const store = new RedisStore({ url: standalone.url, prefix: uniquePrefix(), sweepIntervalMs: 0 });
      try {
        await store.set('a', 1, { ttlMs: 60_000 });
        expect(await redisCommand(standalone.port, ['CLIENT', 'PAUSE', '1500', 'ALL'])).toBe('OK');
        const t0 = Date.now();
        const error = await expectCoded(store.get('a', { timeoutMs: 200 }), ['ERR_STORE_TIMEOUT']);
        const took = Date.now() - t0;
        expect(error.details).toMatchObject({ op: 'get', timeoutMs: 200 });
        expect(took).toBeGreaterThanOrEqual(190);
        expect(took).toBeLessThan(600);
        // An abort during the wait rejects with the signal's reason, right away.
        const ac = new AbortController();
        const pending = store.get('a', { signal: ac.signal, timeoutMs: 5000 });
        ac.abort(new Error('no longer needed'));
        await expect(pending).rejects.toBe(ac.signal.reason);
        // When the pause is over, the store works again.
        const until = Date.now() + 5000;
        let got: unknown = null;
        while (Date.now() < until) {
          got = await store.get('a').catch(() => null);
          if (got) break;
          await delay(50);
        }
        expect(got).toMatchObject({ data: 1 });
      } finally {
        await store.close();
      }
    });

    it('a store whose Redis is unreachable fails fast with coded errors and never hangs', async () => {
      const server = await startRedis();
      await server.stop();
      const store = new RedisStore({ url: server.url, prefix: uniquePrefix(), timeoutMs: 300 });
      try {
        for (let i = 0; i < 5; i++) {
          const t0 = Date.now();
          await expectCoded(store.set('a', 1, { ttlMs: 1000 }), ['ERR_STORE_UNAVAILABLE', 'ERR_STORE_TIMEOUT']);
          expect(Date.now() - t0).toBeLessThan(500);
        }
      } finally {
        await store.close();
      }
    });
  });
});
