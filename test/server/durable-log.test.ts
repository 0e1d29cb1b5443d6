// The durable store layout (src/server/durable.ts): a snapshot's outbound frames are stored in
// chunks and only what changed is written. Checked against a model, with a seeded random walk
// over what a machine does to its outbound sequence (frames sent, queued, acknowledged,
// expedited frames overtaking the queue, queued data purged by a resynchronize):
//   - after every persist, a claim from another node gives back exactly the frames persisted;
//   - a node dying in the middle of a persist (the head write never lands) leaves a store from
//     which the previous snapshot is claimed exactly: write-ahead across the chunk writes;
//   - a persist writes a bounded amount (the changed chunks and the head), not everything held;
//   - acknowledged chunks are deleted, and an old owner that lost the session cannot change
//     what the new owner stored;
//   - a chunk that stays unacknowledged longer than its head's TTL is kept alive by later
//     persists, and one that is gone anyway ends the session (fail-closed).

import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeFrame } from '../../src/engine/codec/index.js';
import type { SessionFrame } from '../../src/engine/frames.js';
import type { MachineSnapshot } from '../../src/engine/machine/session-machine.js';
import { CHUNK_FRAMES, DurableSessions } from '../../src/server/durable.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { Pair } from '../engine/support/pair.js';

/** A real snapshot of an established acceptor, as the template the walk changes. */
function template(): MachineSnapshot {
  const p = new Pair({ a: { modes: ['fullDuplex'] } });
  p.B.onEvent = (e) => {
    if (e.type === 'connect-request') p.B.machine.accept();
  };
  p.connectTransport();
  p.settle();
  return p.B.machine.snapshot();
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const hex = (f: SessionFrame): string => Buffer.from(encodeFrame(f)).toString('hex');

/**
 * A MemoryStore that counts bytes written, remembers the keys it was given (to list the live
 * ones), and can be told to drop the next head write (the node died before it landed).
 */
class CountingStore extends MemoryStore {
  written = 0;
  dieBeforeHead = false;
  private readonly seen = new Set<string>();
  override set<T>(id: string, data: T, options: Parameters<MemoryStore['set']>[2]): Promise<number> {
    this.written += JSON.stringify(data).length;
    this.seen.add(id);
    return super.set(id, data, options);
  }
  override compareAndSet<T>(
    id: string,
    expected: number,
    data: T,
    options: Parameters<MemoryStore['compareAndSet']>[3],
  ): Promise<number | null> {
    if (this.dieBeforeHead) {
      this.dieBeforeHead = false;
      return new Promise(() => {});
    } // never lands
    this.written += JSON.stringify(data).length;
    this.seen.add(id);
    return super.compareAndSet(id, expected, data, options);
  }
  async keys(): Promise<string[]> {
    const live: string[] = [];
    for (const id of this.seen) if (await this.get(id)) live.push(id);
    return live;
  }
}

async function claimFrames(
  store: SessionStore,
  id: string,
  secret: Uint8Array,
): Promise<{ replay: string[]; queued: string[]; base: number } | null> {
  const claimed = await new DurableSessions({ store }, 60_000).claim(id, secret);
  if (!claimed || claimed === 'wrong-secret') return null;
  return {
    replay: claimed.snapshot.replay.map(hex),
    queued: claimed.snapshot.queued.map(hex),
    base: claimed.snapshot.replayBase,
  };
}

describe('durable sessions: incremental store layout', () => {
  it('claims give back exactly what was persisted, through a random walk of sends, acks, expedited data and purges', async () => {
    const base = template();
    for (const seed of [1, 2, 3]) {
      const random = prng(seed);
      const store = new CountingStore();
      const node = new DurableSessions({ store }, 60_000);
      const id = `s${seed}`;
      let n = 0;
      const frame = (type: 'DATA' | 'EXPEDITED' = 'DATA'): SessionFrame => ({
        type,
        payload: Uint8Array.of(
          seed,
          n >> 8,
          n++ & 0xff,
          ...new Uint8Array(Math.floor(random() * (type === 'DATA' ? 300 : 60))),
        ),
      });
      let replayBase = 0;
      let replay: SessionFrame[] = [];
      let queued: SessionFrame[] = [];
      let persisted: { replay: string[]; queued: string[]; base: number } = { replay: [], queued: [], base: 0 };
      for (let step = 0; step < 150; step++) {
        const r = random();
        if (r < 0.35) for (let i = Math.floor(random() * 40); i > 0; i--) queued.push(frame());
        else if (r < 0.6) {
          const k = Math.floor(random() * (queued.length + 1));
          replay.push(...queued.slice(0, k));
          queued = queued.slice(k);
        } else if (r < 0.8) {
          const k = Math.floor(random() * (replay.length + 1));
          replay = replay.slice(k);
          replayBase += k;
        } else if (r < 0.9) queued.unshift(frame('EXPEDITED'));
        else queued = queued.filter((f) => f.type !== 'DATA');
        const snapshot: MachineSnapshot = { ...base, replayBase, replay: [...replay], queued: [...queued] };
        if (step === 149) {
          // The node dies with this persist half done: chunks may be written, the head never is.
          store.dieBeforeHead = true;
          void node.persist(node.hold(id), snapshot, 'ada');
          await new Promise((resolve) => setImmediate(resolve));
          expect(store.dieBeforeHead).toBe(false); // the chunk writes happened, the head write was dropped
          expect(await claimFrames(store, id, base.resumeSecret)).toEqual(persisted);
          break;
        }
        const before = store.written;
        await node.persist(node.hold(id), snapshot, 'ada');
        persisted = { replay: replay.map(hex), queued: queued.map(hex), base: replayBase };
        // Bounded write: the head plus at most the chunks from the first change on; for a pure
        // append that is the last chunk and the new frames, never the whole sequence again.
        const total = [...replay, ...queued].reduce((sum, f) => sum + encodeFrame(f).length * 2, 0);
        if (r >= 0.6 && r < 0.8 && step > 0) expect(store.written - before).toBeLessThan(4096 + 2 * CHUNK_FRAMES * 450);
        expect(store.written - before).toBeLessThan(total + 8 * CHUNK_FRAMES * 450 + 4096);
        if (step % 10 === 0) {
          // Reading back through a claim would move ownership: read with a fresh store view instead.
          const copy = new MemoryStore();
          for (const key of await store.keys()) {
            const s = await store.get(key);
            if (s) await copy.set(key, s.data, { ttlMs: 60_000 });
          }
          expect(await claimFrames(copy, id, base.resumeSecret)).toEqual(persisted);
        }
      }
    }
  });

  it('acknowledged chunks are deleted; an old owner cannot change what the new owner stored', async () => {
    const base = template();
    const store = new CountingStore();
    const old = new DurableSessions({ store }, 60_000);
    const frames = Array.from({ length: 5 * CHUNK_FRAMES }, (_, i): SessionFrame => ({
      type: 'DATA',
      payload: Uint8Array.of(i >> 8, i & 0xff),
    }));
    await old.persist(old.hold('s'), { ...base, replayBase: 0, replay: frames, queued: [] }, null);
    expect((await store.keys()).length).toBe(1 + 4); // four full chunks; the last 64 frames are the head's tail
    await old.persist(
      old.hold('s'),
      { ...base, replayBase: 4 * CHUNK_FRAMES, replay: frames.slice(4 * CHUNK_FRAMES), queued: [] },
      null,
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect((await store.keys()).length).toBe(1); // what is left fits in the tail

    // Another node claims it; the old owner's next persist is refused, and the claimant's state stands.
    const claimant = new DurableSessions({ store }, 60_000);
    const claimed = await claimant.claim('s', base.resumeSecret);
    if (claimed === 'wrong-secret') throw new Error('wrong secret');
    expect(claimed?.snapshot.replay.map(hex)).toEqual(frames.slice(4 * CHUNK_FRAMES).map(hex));
    const extra: SessionFrame = { type: 'DATA', payload: Uint8Array.of(0xee) };
    await expect(
      old.persist(
        old.hold('s'),
        { ...base, replayBase: 4 * CHUNK_FRAMES, replay: [...frames.slice(4 * CHUNK_FRAMES), extra], queued: [] },
        null,
      ),
    ).rejects.toMatchObject({ code: 'ERR_STORE_CONFLICT' });
    const mine: SessionFrame = { type: 'DATA', payload: Uint8Array.of(0xaa) };
    const restored = claimed?.snapshot as MachineSnapshot;
    await claimant.persist(claimant.hold('s'), { ...restored, replay: [...restored.replay, mine] }, null);
    const again = await new DurableSessions({ store }, 60_000).claim('s', base.resumeSecret);
    if (again === 'wrong-secret') throw new Error('wrong secret');
    expect(again?.snapshot.replay.map(hex)).toEqual([...frames.slice(4 * CHUNK_FRAMES), mine].map(hex));
  });
  describe('chunk lifetimes', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it('old chunks are touched by later persists, so they outlive their first TTL; a missing one fails the persist', async () => {
      const base = template();
      let clock = 1_000_000;
      vi.spyOn(Date, 'now').mockImplementation(() => clock);
      const store = new CountingStore({ now: () => clock, sweepIntervalMs: 0 });
      const ttl = 60_000 + 30_000; // resume window + default grace
      const node = new DurableSessions({ store }, 60_000);
      const frames = Array.from({ length: 2 * CHUNK_FRAMES + 1 }, (_, i): SessionFrame => ({
        type: 'DATA',
        payload: Uint8Array.of(i >> 8, i & 0xff),
      }));
      const snap = (n: number): MachineSnapshot => ({ ...base, replayBase: 0, replay: frames.slice(0, n), queued: [] });
      await node.persist(node.hold('s'), snap(2 * CHUNK_FRAMES + 1), null); // two full chunks and a tail of one
      clock += 0.9 * ttl;
      await node.persist(
        node.hold('s'),
        { ...snap(2 * CHUNK_FRAMES + 1), queued: [{ type: 'DATA', payload: Uint8Array.of(1) }] },
        null,
      ); // head refreshed, chunks not yet touched
      clock += 0.9 * ttl; // 1.8 TTL after the chunks were written: the next persist touches them
      const queued: SessionFrame[] = [{ type: 'DATA', payload: Uint8Array.of(2) }];
      await node.persist(node.hold('s'), { ...snap(2 * CHUNK_FRAMES + 1), queued }, null);
      clock += 0.9 * ttl; // 2.7 TTL after they were written: alive only because they were touched
      const claimed = await new DurableSessions({ store }, 60_000).claim('s', base.resumeSecret);
      if (claimed === 'wrong-secret') throw new Error('wrong secret');
      expect(claimed?.snapshot.replay.map(hex)).toEqual(frames.map(hex));
      expect(claimed?.snapshot.queued.map(hex)).toEqual(queued.map(hex));

      // A chunk that vanished (evicted, deleted by hand) cannot be touched: the persist fails closed.
      const other = new DurableSessions({ store }, 60_000);
      await other.persist(other.hold('t'), snap(2 * CHUNK_FRAMES + 1), null);
      for (const key of await store.keys()) if (key.startsWith('colloquy:rt:t~')) await store.destroy(key);
      clock += 1.1 * ttl;
      await expect(
        other.persist(other.hold('t'), { ...snap(2 * CHUNK_FRAMES + 1), queued }, null),
      ).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
        details: { cause: 'chunk-missing' },
      });
    });
  });
});
