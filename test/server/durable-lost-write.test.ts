// A durable copy whose own acknowledged writes a failover lost (issue 19; src/server/durable-lineage.ts).
// A Redis primary acknowledges a head write and dies before its replica has it: the promoted
// replica holds the copy's older head, version N, where the copy believes N + 1 is stored. The
// copy's next persist misses its compare-and-set. It used to take that for a takeover and end the
// live session without a word; the client then resumed from the older head and was refused as
// stale-state (or, when the lost write held nothing the client had counted, resumed from it).
// Now the copy sees that the head is its own older write (its epoch in the tag) or the head its
// claim went over, so nobody wrote since, and writes its live snapshot over it, every frame
// again (the lost writes' chunks may be lost too): the session goes on, nothing lost or repeated.
// A head another node wrote meanwhile is still a takeover.
//
// The older head is put back as the promoted replica would hold it, version and tag: on a
// MemoryStore by writing the record again up to that version, the last write with its tag (and
// the chunks written since deleted); on a real redis-server by DUMP before and RESTORE after.

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { SessionError } from '../../src/engine/errors.js';
import type { MachineSnapshot } from '../../src/engine/machine/session-machine.js';
import { CHUNK_FRAMES, DurableSessions } from '../../src/server/durable.js';
import { listen } from '../../src/server/server.js';
import type { Session as ServerSession } from '../../src/driver/session.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { SessionStore, StoredSession } from '../../src/store/store.js';
import { Pair } from '../engine/support/pair.js';
import { forwarder } from '../support/forwarder.js';
import { skipWithout, startRedis, type RedisServer } from '../support/redis.js';

const KEY = 'colloquy:rt:';
const SKIP_REDIS = skipWithout(
  'redis-server',
  'test/server/durable-lost-write.test.ts (Redis)',
  'apt-get install -y redis-server',
);

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});

function template(): MachineSnapshot {
  const p = new Pair({ a: { modes: ['fullDuplex'] } });
  p.B.onEvent = (e) => {
    if (e.type === 'connect-request') p.B.machine.accept();
  };
  p.connectTransport();
  p.settle();
  return p.B.machine.snapshot();
}
const frames = (n: number): MachineSnapshot => ({
  ...template(),
  queued: Array.from({ length: n }, (_, i) => ({ type: 'DATA', payload: Uint8Array.of(i >> 8, i & 0xff) }) as const),
});

/** A MemoryStore whose keys can be put back as they were (the promoted replica's copy). */
class RollbackStore extends MemoryStore {
  /** Every key and its record now; `back()` puts them all back (records written since, chunks included, are gone). */
  async mark(): Promise<() => Promise<void>> {
    const keys = [...(this as unknown as { entries: Map<string, unknown> }).entries.keys()];
    const saved = new Map<string, StoredSession>();
    for (const k of keys) {
      const r = await this.get(k);
      if (r) saved.set(k, r);
    }
    return async () => {
      for (const k of [...(this as unknown as { entries: Map<string, unknown> }).entries.keys()])
        if (!saved.has(k)) await this.destroy(k);
      for (const [k, r] of saved) {
        await this.destroy(k);
        for (let v = 1; v <= r.version; v++)
          await this.set(k, r.data, { ttlMs: 60_000, principal: r.principal, tag: v === r.version ? r.tag : '' });
      }
    };
  }
}

function rollbackStore(): RollbackStore {
  const s = new RollbackStore({ sweepIntervalMs: 0 });
  closers.push(() => s.close());
  return s;
}

describe('a durable copy whose own newest writes were lost (DurableSessions)', () => {
  it('writes its live state over its own older head, every frame again, and the next node claims all of it', async () => {
    const store = rollbackStore();
    const snap = template();
    const a = new DurableSessions({ store }, 60_000);
    const hold = a.hold('s');
    await a.persist(hold, snap, null);
    const back = await store.mark(); // what the promoted replica will hold: version 1, a's tag
    await a.persist(hold, frames(2 * CHUNK_FRAMES + 3), null); // version 2 and two chunks: lost
    expect(hold.chunks).toHaveLength(2);
    await back();
    expect(await a.owns(hold)).toBe(true); // nobody wrote since: still this copy's
    await a.persist(hold, frames(2 * CHUNK_FRAMES + 9), null);
    expect(a.relaid).toBe(1);
    const head = await store.get(`${KEY}s`);
    expect(head?.version).toBe(2);
    expect(head?.tag).toBe(hold.token);
    const claimed = await new DurableSessions({ store }, 60_000).claim('s', snap.resumeSecret);
    if (claimed === null || claimed === 'wrong-secret') throw new Error('not claimed');
    expect(claimed.snapshot.queued).toHaveLength(2 * CHUNK_FRAMES + 9);
    expect(claimed.snapshot.queued.map((f) => (f.type === 'DATA' ? f.payload[1] : -1)).slice(-3)).toEqual([
      (2 * CHUNK_FRAMES + 6) & 0xff,
      (2 * CHUNK_FRAMES + 7) & 0xff,
      (2 * CHUNK_FRAMES + 8) & 0xff,
    ]);
  });

  it('a session opened here whose first write was lost is written again', async () => {
    const store = rollbackStore();
    const back = await store.mark(); // nothing yet
    const snap = template();
    const a = new DurableSessions({ store }, 60_000);
    const hold = a.hold('s');
    await a.persist(hold, snap, null);
    await back();
    await a.persist(hold, frames(3), null);
    expect(a.relaid).toBe(1);
    expect((await store.get(`${KEY}s`))?.tag).toBe(hold.token);
  });

  it('a claim that was lost: the claimer writes over the head its claim went over; the old owner then misses', async () => {
    const store = rollbackStore();
    const snap = template();
    const a = new DurableSessions({ store }, 60_000);
    const aHold = a.hold('s');
    await a.persist(aHold, snap, null);
    const back = await store.mark(); // a's version 1
    const b = new DurableSessions({ store }, 60_000);
    const claimed = await b.claim('s', snap.resumeSecret);
    if (claimed === null || claimed === 'wrong-secret') throw new Error('not claimed');
    await b.persist(claimed.hold, frames(2), null);
    await back(); // the claim and b's write are lost
    await b.persist(claimed.hold, frames(3), null);
    expect(b.relaid).toBe(1);
    await expect(a.persist(aHold, frames(1), null)).rejects.toMatchObject({ code: 'ERR_STORE_CONFLICT' });
  });

  it('a head another node wrote after the loss (the same version number again) is a takeover, as before', async () => {
    const store = rollbackStore();
    const snap = template();
    const a = new DurableSessions({ store }, 60_000);
    const hold = a.hold('s');
    await a.persist(hold, snap, null);
    const back = await store.mark();
    await a.persist(hold, frames(1), null); // version 2: lost
    await back();
    const b = new DurableSessions({ store }, 60_000);
    const claimed = await b.claim('s', snap.resumeSecret); // version 2 again, b's tag
    if (claimed === null || claimed === 'wrong-secret') throw new Error('not claimed');
    expect(claimed.hold.version).toBe(hold.version);
    expect(await a.owns(hold)).toBe(false);
    await expect(a.persist(hold, frames(2), null)).rejects.toMatchObject({ code: 'ERR_STORE_CONFLICT' });
    expect(a.relaid).toBe(0);
    expect(await b.owns(claimed.hold)).toBe(true);
  });
});

/** A store and a way to save what is stored now and put it back later (the promoted replica). */
interface Backing {
  store: SessionStore;
  save(id: string): Promise<() => Promise<void>>;
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * node1 sends m0..m2, which the client receives; the store then loses them (the older head put
 * back); node1 sends m3 and m4. Then the client is moved to node2, which sends m5.
 */
async function liveThroughLoss(backing: Backing): Promise<void> {
  const options = { tcp: { port: 0 }, heartbeatMs: 0, durability: { store: backing.store } } as const;
  const node1 = await listen(options);
  const node2 = await listen(options);
  closers.push(
    () => node1.destroy(),
    () => node2.destroy(),
  );
  let s1: ServerSession | undefined;
  let s2: ServerSession | undefined;
  node1.on('session', (s) => (s1 = s));
  node2.on('session', (s) => (s2 = s));
  const lb = await forwarder(node1.addresses.tcp as number);
  closers.push(() => lb.close());
  const client = await connect(`tcp://127.0.0.1:${lb.port}`, {
    heartbeatMs: 0,
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
  });
  closers.push(async () => client.abort());
  const closed: (SessionError | undefined)[] = [];
  client.on('closed', ({ error }) => closed.push(error));
  const got: string[] = [];
  void (async () => {
    for await (const m of client) got.push(new TextDecoder().decode(m));
  })().catch(() => undefined);
  await waitFor(() => s1 !== undefined, 'the session on node1');
  const session = s1 as ServerSession;
  const back = await backing.save(session.id);
  for (const m of ['m0', 'm1', 'm2']) await session.send(m);
  await waitFor(() => got.length === 3, 'm0..m2 at the client');
  await back(); // the failover lost node1's newest writes
  for (const m of ['m3', 'm4']) await session.send(m);
  await waitFor(() => got.length === 5 || closed.length > 0, 'm3 and m4, or the end');
  expect(closed).toEqual([]);
  expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  // What node1 wrote again is the whole state: the client resumes from it on node2.
  lb.switchTo(node2.addresses.tcp as number);
  lb.cutAll();
  await waitFor(() => s2 !== undefined || closed.length > 0, 'the session restored on node2');
  expect(closed).toEqual([]);
  await (s2 as ServerSession).send('m5');
  await waitFor(() => got.length === 6 || closed.length > 0, 'm5');
  expect(closed).toEqual([]);
  expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
}

describe('a live session whose node lost its newest writes in a failover goes on', () => {
  it('MemoryStore', async () => {
    const store = rollbackStore();
    await liveThroughLoss({
      store,
      save: async (id) => {
        await waitFor(async () => (await store.get(`${KEY}${id}`)) !== null, 'the first write');
        return store.mark();
      },
    });
  });

  describe.skipIf(SKIP_REDIS)('on a real redis-server', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    }, 30_000);
    afterAll(async () => {
      await redis?.stop();
    });

    it('Redis: the head RESTOREd to its older version, tag and all', async () => {
      const prefix = `lost${Math.random().toString(36).slice(2, 8)}`;
      const store = new RedisStore({ url: redis.url, prefix });
      const raw = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      closers.push(
        () => store.close(),
        async () => raw.disconnect(),
      );
      const keys = new RedisKeys(prefix);
      await liveThroughLoss({
        store,
        save: async (id) => {
          const key = keys.session(`${KEY}${id}`);
          let dump: Buffer | null = null;
          await waitFor(async () => (dump = await raw.dumpBuffer(key)) !== null, 'the first write');
          return async () => {
            const ttl = await raw.pttl(key);
            await raw.restore(key, Math.max(ttl, 60_000), dump as Buffer, 'REPLACE');
          };
        },
      });
    });
  });
});
