// A store that lost a session's newest state (what a Redis failover does to a write that had not
// reached the promoted replica) and holds an older one, the node that wrote the newest one gone: the client's RESUME on another node is
// refused with the exact reason stale-state, instead of resuming from the older state and
// replaying other data under counts the client already holds. The older state is put back into
// a real store: a MemoryStore (an older record written over the newer one), and a real
// redis-server, where the session's hash is DUMPed at the older moment and RESTOREd over the
// newer one, version and all, as a promoted replica would hold it.

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { SessionError } from '../../src/engine/errors.js';
import { ResumeRefuseReason } from '../../src/engine/frames.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { forwarder } from '../support/forwarder.js';
import { skipWithout, startRedis, type RedisServer } from '../support/redis.js';

const KEY_PREFIX = 'colloquy:rt:';
const SKIP_REDIS = skipWithout(
  'redis-server',
  'test/server/durable-stale.test.ts (Redis)',
  'apt-get install -y redis-server',
);

/** A store, and a way to save a session's record now and put it back later. */
interface Backing {
  store: SessionStore;
  save(key: string): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.destroy();
});

/** The first write of a session follows its 'session' event: wait for it (bounded). */
async function stored<T>(read: () => Promise<T | null>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await read();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('the session was never written to the store');
}

function memoryBacking(): Backing {
  const store = new MemoryStore();
  return {
    store,
    save: async (key) => {
      const old = await stored(() => store.get(key));
      return async () => {
        await store.set(key, old.data, { ttlMs: 60_000, principal: old.principal });
      };
    },
    close: () => store.close(),
  };
}

function redisBacking(redis: RedisServer): Backing {
  const prefix = `stale${Math.random().toString(36).slice(2, 8)}`;
  const store = new RedisStore({ url: redis.url, prefix });
  const raw = new Redis(redis.port, '127.0.0.1', { lazyConnect: false, maxRetriesPerRequest: 1 });
  const keys = new RedisKeys(prefix);
  return {
    store,
    save: async (key) => {
      const dump = await stored(() => raw.dumpBuffer(keys.session(key)));
      return async () => {
        const ttl = await raw.pttl(keys.session(key));
        await raw.restore(keys.session(key), Math.max(ttl, 60_000), dump, 'REPLACE');
      };
    },
    close: async () => {
      await store.close();
      raw.disconnect();
    },
  };
}

function closedError(client: Awaited<ReturnType<typeof connect>>): Promise<SessionError | undefined> {
  return new Promise((resolve) => client.on('closed', ({ error }) => resolve(error)));
}

/**
 * node1 sends three messages the client receives; the store then loses them (the record as it
 * was before is put back) and the client's next connection lands on node2.
 */
async function staleResume(backing: Backing): Promise<{ error: SessionError | undefined; id: string }> {
  const options = { tcp: { port: 0 }, heartbeatMs: 0, durability: { store: backing.store } } as const;
  const node1 = await listen(options);
  const node2 = await listen(options);
  servers.push(node2, node1);
  let restoreOlder: (() => Promise<void>) | undefined;
  let id = '';
  node1.on('session', (s) => {
    id = s.id;
    void (async () => {
      restoreOlder = await backing.save(`${KEY_PREFIX}${s.id}`); // the state a replica still has
      for (const m of ['m0', 'm1', 'm2']) await s.send(m);
    })();
  });
  const lb = await forwarder(node1.addresses.tcp as number);
  try {
    const client = await connect(`tcp://127.0.0.1:${lb.port}`, {
      heartbeatMs: 0,
      reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    });
    const got: string[] = [];
    for await (const m of client) {
      got.push(new TextDecoder().decode(m));
      if (got.length === 3) break;
    }
    expect(got).toEqual(['m0', 'm1', 'm2']);
    const closed = closedError(client);
    lb.switchTo(0); // node1 is gone for the client
    lb.cutAll();
    // node1 stops, its sessions left in the store: no live copy holds the newest state any more (a
    // live one whose own writes were lost writes them again: test/server/durable-lost-write.test.ts).
    await node1.close({ mode: 'handover', timeoutMs: 10_000 });
    await (restoreOlder as () => Promise<void>)(); // the failover lost the newest state
    lb.switchTo(node2.addresses.tcp as number);
    const error = await closed;
    // node2 ended its copy with a tombstone saying stale-state, so every node refuses it alike.
    for (let i = 0; i < 200 && node2.sessions.has(id); i++) await new Promise((r) => setTimeout(r, 5));
    return { error, id };
  } finally {
    await lb.close();
  }
}

function expectStale(error: SessionError | undefined): void {
  expect(error?.code).toBe('ERR_RESUME_REFUSED');
  expect(error?.origin).toBe('remote');
  expect(error?.details.reason).toBe(ResumeRefuseReason.staleState);
  expect(error?.message).toBe(
    'stale-state: you received 3 frames, this state of the session sent 0; the newest state of the session was lost',
  );
}

async function expectTombstone(store: SessionStore, id: string): Promise<void> {
  let data: { ended?: boolean; reason?: number } | undefined;
  for (let i = 0; i < 200 && !data?.ended; i++) {
    data = (await store.get<{ ended?: boolean; reason?: number }>(`${KEY_PREFIX}${id}`))?.data;
    if (!data?.ended) await new Promise((r) => setTimeout(r, 5));
  }
  expect(data).toMatchObject({ ended: true, reason: ResumeRefuseReason.staleState });
}

describe('durable sessions: a store that lost the newest state', () => {
  it('MemoryStore: the resume on another node is refused stale-state, and the store remembers why', async () => {
    const backing = memoryBacking();
    try {
      const { error, id } = await staleResume(backing);
      expectStale(error);
      await expectTombstone(backing.store, id);
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

    it('Redis: the hash RESTOREd to its older version: the resume is refused stale-state', async () => {
      const backing = redisBacking(redis);
      try {
        const { error, id } = await staleResume(backing);
        expectStale(error);
        await expectTombstone(backing.store, id);
      } finally {
        await backing.close();
      }
    });
  });
});
