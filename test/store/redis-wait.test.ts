// RedisStore's `waitForReplicas` (src/store/redis-wait.ts) against real redis-server processes: a
// write through Sentinel resolves only once its replica has it; with the replica gone the write
// still succeeds after the WAIT timeout and the shortfall is counted and published, and while the
// primary has no replica later writes skip the WAIT (no blocked connection); under Cluster
// the WAIT goes to the primary owning the key's slot (the slot computed as Redis does).
//
// Without redis-server: skipped with a loud notice outside CI, run (and failing) under CI=true.

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_CALL_CHANNEL, type StoreCallMessage } from '../../src/store/diagnostics.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { keySlot, ownerOf, REPLICA_RECHECK_MS } from '../../src/store/redis-wait.js';
import type { Cluster } from 'ioredis';
import {
  probe,
  redisCommand,
  skipWithout,
  startRedisCluster,
  startRedisSentinel,
  type RedisCluster,
  type RedisSentinel,
} from '../support/redis.js';

const SKIP = skipWithout('redis-server', 'test/store/redis-wait.test.ts', 'apt-get install -y redis-server');

describe('keySlot', () => {
  it('computes the Cluster slot as Redis does (CRC16 XMODEM of the hash tag, mod 16384)', () => {
    expect(keySlot('123456789')).toBe(0x31c3); // the CRC16/XMODEM check value
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar')); // an empty first tag: the whole key
    expect(keySlot('{colloquy:abc}:session')).toBe(keySlot('colloquy:abc'));
  });
});

describe.skipIf(SKIP)('waitForReplicas', () => {
  let sentinel: RedisSentinel | undefined;
  let cluster: RedisCluster | undefined;
  beforeAll(async () => {
    [sentinel, cluster] = await Promise.all([startRedisSentinel('waitmaster', { replicas: 1 }), startRedisCluster()]);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([sentinel?.stop(), cluster?.stop()]);
  }, 30_000);

  it('refuses a WAIT timeout that the call timeout would cut short', () => {
    expect(
      () =>
        new RedisStore({
          url: 'redis://127.0.0.1:1',
          timeoutMs: 500,
          waitForReplicas: { replicas: 1, timeoutMs: 500 },
        }),
    ).toThrow(/below the store's timeoutMs/);
  });

  it('Sentinel: a write resolves once its replica has it; without the replica it resolves after the timeout, counted', async () => {
    const s = sentinel as RedisSentinel;
    const store = new RedisStore({
      sentinels: s.sentinels,
      name: s.name,
      prefix: 'wait',
      timeoutMs: 2000,
      waitForReplicas: { replicas: 1, timeoutMs: 300 },
    });
    const seen: StoreCallMessage[] = [];
    const listener = (m: unknown): void => {
      if ((m as StoreCallMessage).op === 'wait') seen.push(m as StoreCallMessage);
    };
    subscribe(STORE_CALL_CHANNEL, listener);
    try {
      const replica = s.replicas[0] as (typeof s.replicas)[number];
      for (let i = 0; i < 20; i++) {
        await store.set(`k${i}`, { i }, { ttlMs: 60_000 });
        // The moment the write resolves, the replica holds it (no polling).
        expect(await redisCommand(replica.port, ['EXISTS', `{wait:k${i}}:session`])).toBe(1);
        expect(await store.compareAndSet(`k${i}`, 1, { i, again: true }, { ttlMs: 60_000 })).toBe(2);
        expect(await redisCommand(replica.port, ['HGET', `{wait:k${i}}:session`, 'v'])).toBe('2');
      }
      expect(store.replicaShortfalls).toBe(0);
      expect(seen.filter((m) => m.error !== null)).toEqual([]);
      expect(seen.length).toBe(40);

      await replica.kill();
      const started = Date.now();
      expect(await store.set('alone', { x: 1 }, { ttlMs: 60_000 })).toBe(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(store.replicaShortfalls).toBe(1);
      expect(seen.at(-1)).toMatchObject({ store: 'redis', op: 'wait', error: 'ERR_STORE_TIMEOUT' });
      expect((await store.get('alone'))?.data).toEqual({ x: 1 });
      // Reads, touches and conflicts wait for nothing.
      expect(await store.compareAndSet('alone', 7, {}, { ttlMs: 60_000 })).toBeNull();
      expect(await store.touch('alone', 60_000)).toBe(true);
      expect(store.replicaShortfalls).toBe(1);

      // The primary has no replica now (ROLE says so): later writes do not block its connection
      // on a WAIT that cannot succeed; each is counted. Once the replica is back, they WAIT again.
      const quick = Date.now();
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.set(`alone${i}`, { i }, { ttlMs: 60_000 })));
      expect(Date.now() - quick).toBeLessThan(290);
      expect(store.replicaShortfalls).toBe(11);
      await replica.restart();
      await probe('the replica back in sync', async () => {
        const info = await redisCommand(replica.port, ['INFO', 'replication']);
        return typeof info === 'string' && info.includes('master_link_status:up');
      });
      await new Promise((r) => setTimeout(r, REPLICA_RECHECK_MS));
      await store.set('paired', { x: 2 }, { ttlMs: 60_000 });
      expect(await redisCommand(replica.port, ['EXISTS', '{wait:paired}:session'])).toBe(1);
      expect(store.replicaShortfalls).toBe(11);
    } finally {
      unsubscribe(STORE_CALL_CHANNEL, listener);
      await store.close();
    }
  }, 60_000);

  it("Cluster: the WAIT goes to the primary owning the key's slot", async () => {
    const c = cluster as RedisCluster;
    const store = new RedisStore({
      cluster: c.nodes,
      prefix: 'wait',
      timeoutMs: 2000,
      waitForReplicas: { replicas: 1, timeoutMs: 50 },
    });
    try {
      const owners = new Set<string>();
      for (let i = 0; i < 30; i++) {
        await store.set(`c${i}`, { i }, { ttlMs: 60_000 });
        const key = `{wait:c${i}}:session`;
        const node = ownerOf(store.client as Cluster, key);
        expect(node).not.toBeNull();
        // The node it picks holds the key: asked on its own port, no redirection.
        expect(await redisCommand(Number(node?.options.port), ['EXISTS', key])).toBe(1);
        owners.add(String(node?.options.port));
      }
      expect(owners.size).toBe(3); // every primary was waited on
      expect(store.replicaShortfalls).toBe(30); // these primaries have no replica: each write counted, none failed
    } finally {
      await store.close();
    }
  }, 60_000);
});
