// Web sessions through a store failover that lost a write (docs/web-sessions.md, "Through a Redis
// failover"): a Redis primary acknowledges a write before its replica has it, so a promoted
// replica can hold the record one write older. That write is lost, once; the next update is not:
// it is a diff written with compare-and-set, so a request that read the lost version misses its
// compare-and-set, reads the record again and applies its change to what the store holds.
//
// The older record is put back into a real store: on a real redis-server the record's hash is
// DUMPed before the write and RESTOREd after it (version and all, as the promoted replica holds
// it); on a MemoryStore the older record is written back over the newer one.

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { WebSessions, type WebSession } from '../../src/web/index.js';
import { skipWithout, startRedis, type RedisServer } from '../support/redis.js';

const SKIP_REDIS = skipWithout('redis-server', 'test/web/failover.test.ts (Redis)', 'apt-get install -y redis-server');

/** A store, and a way to save a record now and put it back later (what the promoted replica has). */
interface Backing {
  store: SessionStore;
  save(key: string): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

function memoryBacking(): Backing {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  return {
    store,
    save: async (key) => {
      const old = await store.get(key);
      if (!old) throw new Error(`no record under ${key}`);
      return async () => {
        await store.set(key, old.data, { ttlMs: 60_000, principal: old.principal });
      };
    },
    close: () => store.close(),
  };
}

function redisBacking(redis: RedisServer): Backing {
  const prefix = `wf${Math.random().toString(36).slice(2, 8)}`;
  const store = new RedisStore({ url: redis.url, prefix });
  const raw = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  const keys = new RedisKeys(prefix);
  return {
    store,
    save: async (key) => {
      const dump = await raw.dumpBuffer(keys.session(key));
      if (!dump) throw new Error(`no hash for ${key}`);
      return async () => {
        await raw.restore(keys.session(key), 60_000, dump, 'REPLACE');
      };
    },
    close: async () => {
      await store.close();
      raw.disconnect();
    },
  };
}

type Handler = (session: WebSession) => Promise<void> | void;

/** One request with `cookie`; resolves with the cookie to send next (the new one, if set). */
async function request(sessions: WebSessions, cookie: string, handler: Handler): Promise<string> {
  const response = await sessions.handle(new Request('http://app.test/', { headers: { cookie } }), async (_r, s) => {
    await handler(s);
    return new Response('ok');
  });
  expect(response.status).toBe(200);
  const set = response.headers.getSetCookie()[0];
  return set ? (set.split(';')[0] as string) : cookie;
}

async function lostWriteThenUpdate(backing: Backing): Promise<void> {
  const sessions = new WebSessions({ store: backing.store });
  const cookie = await request(sessions, '', (s) => s.set('user', 'ada'));
  const id = cookie.slice(cookie.indexOf('=') + 1).split('.')[0] as string;
  const key = `web:${id}`;
  const older = await backing.save(key); // the record as the replica has it: { user }

  await request(sessions, cookie, (s) => s.set('cart', 'book')); // acknowledged by the primary only

  // A request that read the record with the cart, and saves after the failover lost it.
  let loaded!: () => void;
  const read = new Promise<void>((resolve) => (loaded = resolve));
  let failedOver!: () => void;
  const failover = new Promise<void>((resolve) => (failedOver = resolve));
  const slow = request(sessions, cookie, async (s) => {
    expect(s.data).toEqual({ user: 'ada', cart: 'book' });
    loaded();
    await failover;
    s.set('theme', 'dark');
  });
  await read;
  await older(); // the promoted replica: the cart is gone
  failedOver();
  await slow;
  // Its compare-and-set missed (the version it read is gone): it read again and applied its change.
  expect((await backing.store.get<{ d: unknown }>(key))?.data.d).toEqual({ user: 'ada', theme: 'dark' });

  // The next update lands on top of that, and nothing else is lost.
  await request(sessions, cookie, async (s) => {
    expect(await s.increment('visits')).toBe(1);
  });
  await request(sessions, cookie, (s) => {
    expect(s.data).toEqual({ user: 'ada', theme: 'dark', visits: 1 });
  });
  await sessions.close();
}

describe('web sessions: a write lost in a store failover', () => {
  it('MemoryStore: the lost write is lost once; the update that read it is re-applied, not lost', async () => {
    const backing = memoryBacking();
    try {
      await lostWriteThenUpdate(backing);
    } finally {
      await backing.close();
    }
  });

  describe.skipIf(SKIP_REDIS)('on a real redis-server', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    }, 30_000);
    afterAll(async () => {
      await redis?.stop();
    });

    it('Redis, the hash RESTOREd one version back: the update that read the lost version is re-applied', async () => {
      const backing = redisBacking(redis);
      try {
        await lostWriteThenUpdate(backing);
      } finally {
        await backing.close();
      }
    });
  });
});
