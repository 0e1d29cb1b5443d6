// Web sessions through a store failover that lost a write (docs/web-sessions.md, "Through a Redis
// failover"): a Redis primary acknowledges a write before its replica has it, so a promoted
// replica can hold the record one write older. That write is lost, once; the next update is not:
// it is a diff written with compare-and-set, so a request that read the lost version misses its
// compare-and-set, reads the record again and applies its change to what the store holds.
//
// The older record is put back into a real store: on a real redis-server the record's hash is
// DUMPed before the write and RESTOREd after it (version, tag and all, as the promoted replica
// holds it); on a MemoryStore the record is destroyed and written again up to that version, the
// last write with that version's tag.
//
// And the case a version number alone could not see: after the failover another request writes
// the record, which takes the lost write's version number again. The request that read the lost
// write must not write over it: its compare-and-set names the version and the write's tag, misses,
// and the save fails with ERR_STORE_CONFLICT (details.reason 'version-reused'); a request through
// handle() answers 503 (retry), and the other request's write stands.

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
        await store.destroy(key);
        for (let v = 1; v <= old.version; v++)
          await store.set(key, old.data, {
            ttlMs: 60_000,
            principal: old.principal,
            tag: v === old.version ? old.tag : '',
          });
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

async function reusedVersion(backing: Backing): Promise<void> {
  const sessions = new WebSessions({ store: backing.store });
  const cookie = await request(sessions, '', (s) => s.set('user', 'ada'));
  const id = cookie.slice(cookie.indexOf('=') + 1).split('.')[0] as string;
  const key = `web:${id}`;
  const older = await backing.save(key); // the record as the replica has it: { user }, version 1
  await request(sessions, cookie, (s) => s.set('cart', 'book')); // version 2, acknowledged by the primary only

  // A request that read version 2 (with the cart) before the failover…
  const slow = await sessions.load({ cookie, secure: false });
  expect(slow.data).toEqual({ user: 'ada', cart: 'book' });
  await older(); // the promoted replica: version 1, the cart is gone
  // …another request writes after it: version 2 again, another write…
  await request(sessions, cookie, (s) => s.set('theme', 'dark'));
  const other = await backing.store.get<{ d: unknown }>(key);
  expect(other).toMatchObject({ version: 2, data: { d: { user: 'ada', theme: 'dark' } } });
  // …and the first one saves: refused, typed, and nothing written over the other request's write.
  slow.set('note', 'from the lost version');
  await expect(sessions.save(slow)).rejects.toMatchObject({
    code: 'ERR_STORE_CONFLICT',
    details: { reason: 'version-reused', version: 2 },
  });
  expect(await backing.store.get(key)).toEqual(other);
  // The same through handle(): a request that read version 3 (with the theme) and saves after the
  // failover took version 3 back and another request wrote it again fails closed (503, retry).
  await request(sessions, cookie, (s) => s.set('theme', 'dark')); // version 3
  const olderAgain = await backing.save(key);
  await request(sessions, cookie, (s) => s.set('cart', 'pen')); // version 4, lost below
  let loaded!: () => void;
  const read = new Promise<void>((resolve) => (loaded = resolve));
  let rewritten!: () => void;
  const failover = new Promise<void>((resolve) => (rewritten = resolve));
  const pending = sessions.handle(new Request('http://app.test/', { headers: { cookie } }), async (_r, s) => {
    expect(s.data).toEqual({ user: 'ada', theme: 'dark', cart: 'pen' });
    loaded();
    await failover;
    s.set('note', 'late');
    return new Response('ok');
  });
  await read;
  await olderAgain(); // version 3 again
  await request(sessions, cookie, (s) => s.set('theme', 'light')); // version 4 again, another write
  const written = await backing.store.get(key);
  rewritten();
  expect((await pending).status).toBe(503);
  expect(await backing.store.get(key)).toEqual(written);
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

  it('MemoryStore: a version written again after the loss is not written over by a request that read the lost one', async () => {
    const backing = memoryBacking();
    try {
      await reusedVersion(backing);
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

    it('Redis, the version written again after the RESTORE: a request that read the lost one is refused (version-reused)', async () => {
      const backing = redisBacking(redis);
      try {
        await reusedVersion(backing);
      } finally {
        await backing.close();
      }
    });
  });
});
