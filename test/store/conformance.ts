// The store conformance suite: one set of cases run unchanged against every SessionStore.
// A harness gives a fresh store and a way to let time pass (a fake clock for the memory store;
// remote stores let real time pass, bounded).

import { setTimeout as delay } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { SessionError } from '../../src/engine/errors.js';
import type { SessionStore } from '../../src/store/store.js';
import { updateSession } from '../../src/store/store.js';

export interface StoreHarness {
  make(): Promise<SessionStore>;
  /** Let `ms` of store time pass, then run whatever expiry processing the store does. */
  advance(store: SessionStore, ms: number): Promise<void>;
  /**
   * For remote stores: a store whose server the test can take away (`down`) and bring back
   * (`up`), and the per-call timeout it was made with. Runs the two outage cases (each call
   * alone; under load), so no store's tests keep an outage case of their own.
   */
  outage?: {
    make(): Promise<SessionStore>;
    down(): Promise<void>;
    up(): Promise<void>;
    timeoutMs: number;
  };
}

/**
 * `advance` for a remote store with a clock of its own (`now()`: Redis TIME, PostgreSQL's clock):
 * real time passes, a bounded wait until that clock has moved by `ms`, then one sweep.
 */
export async function advanceStoreClock(s: SessionStore, ms: number): Promise<void> {
  const store = s as SessionStore & { now(): Promise<number>; sweep(): Promise<unknown> };
  const target = (await store.now()) + ms;
  for (let i = 0; i < 200; i++) {
    const now = await store.now();
    if (now >= target) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(target - now, 50)));
  }
  await store.sweep();
}

const TTL = 60_000;
let n = 0;
const fresh = (prefix: string): string => `${prefix}-${process.pid}-${++n}-${Math.random().toString(36).slice(2)}`;

export function storeConformance(h: StoreHarness): void {
  const withStore = async (fn: (s: SessionStore) => Promise<void>): Promise<void> => {
    const s = await h.make();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  };

  it('set and get: data round-trips as a copy, versions grow by one, times are kept', () =>
    withStore(async (s) => {
      const id = fresh('rt');
      expect(await s.get(id)).toBeNull();
      const data = { user: 'ada', cart: [1, 2], nested: { ok: true } };
      expect(await s.set(id, data, { ttlMs: TTL, principal: 'ada' })).toBe(1);
      data.cart.push(3);
      const got = await s.get<typeof data>(id);
      expect(got?.data).toEqual({ user: 'ada', cart: [1, 2], nested: { ok: true } });
      expect(got).toMatchObject({ id, version: 1, principal: 'ada' });
      (got as { data: typeof data }).data.cart.push(9);
      expect((await s.get<typeof data>(id))?.data.cart).toEqual([1, 2]);
      expect(await s.set(id, { user: 'ada', cart: [] }, { ttlMs: TTL })).toBe(2);
      const again = await s.get(id);
      expect(again?.version).toBe(2);
      expect(again?.principal).toBe('ada'); // kept when not named
      expect(again?.createdAt).toBe(got?.createdAt);
      expect((again?.expiresAt ?? 0) - (again?.updatedAt ?? 0)).toBe(TTL);
    }));

  it('expires after its TTL; touch extends it without rewriting data or version', () =>
    withStore(async (s) => {
      const a = fresh('ttl');
      const b = fresh('ttl');
      await s.set(a, { v: 1 }, { ttlMs: 1000 });
      await s.set(b, { v: 2 }, { ttlMs: 1000 });
      await h.advance(s, 600);
      expect(await s.touch(b, 1000)).toBe(true);
      await h.advance(s, 600);
      expect(await s.get(a)).toBeNull();
      const kept = await s.get(b);
      expect(kept).toMatchObject({ data: { v: 2 }, version: 1 });
      expect(await s.touch(a, 1000)).toBe(false);
    }));

  it('compareAndSet writes only over the version it names; 0 means "must not exist"', () =>
    withStore(async (s) => {
      const id = fresh('cas');
      expect(await s.compareAndSet(id, 1, { x: 1 }, { ttlMs: TTL })).toBeNull();
      expect(await s.compareAndSet(id, 0, { x: 1 }, { ttlMs: TTL })).toBe(1);
      expect(await s.compareAndSet(id, 0, { x: 2 }, { ttlMs: TTL })).toBeNull();
      expect(await s.compareAndSet(id, 1, { x: 2 }, { ttlMs: TTL })).toBe(2);
      expect(await s.compareAndSet(id, 1, { x: 3 }, { ttlMs: TTL })).toBeNull();
      expect((await s.get(id))?.data).toEqual({ x: 2 });
    }));

  it('50 concurrent atomic increments lose no update', () =>
    withStore(async (s) => {
      const id = fresh('inc');
      await s.set(id, { count: 0 }, { ttlMs: TTL });
      await Promise.all(
        Array.from({ length: 50 }, () =>
          updateSession<{ count: number }>(s, id, (d) => ({ count: d.count + 1 }), { ttlMs: TTL, retries: 200 }),
        ),
      );
      expect((await s.get<{ count: number }>(id))?.data.count).toBe(50);
    }));

  it('indexes sessions by principal: list, move, destroy one, revoke all', () =>
    withStore(async (s) => {
      const user = fresh('user');
      const other = fresh('user');
      const [a, b, c] = [fresh('p'), fresh('p'), fresh('p')];
      await s.set(a, { n: 'a' }, { ttlMs: TTL, principal: user });
      await s.set(b, { n: 'b' }, { ttlMs: TTL, principal: user });
      await s.set(c, { n: 'c' }, { ttlMs: TTL, principal: other });
      expect((await s.listByPrincipal(user)).map((x) => x.id).sort()).toEqual([a, b].sort());
      await s.set(b, { n: 'b' }, { ttlMs: TTL, principal: other }); // moves with the write
      expect((await s.listByPrincipal(user)).map((x) => x.id)).toEqual([a]);
      expect((await s.listByPrincipal(other)).map((x) => x.id).sort()).toEqual([b, c].sort());
      expect(await s.destroy(c)).toBe(true);
      expect(await s.destroy(c)).toBe(false);
      expect((await s.listByPrincipal(other)).map((x) => x.id)).toEqual([b]);
      expect(await s.destroyByPrincipal(other)).toBe(1);
      expect(await s.get(b)).toBeNull();
      expect(await s.listByPrincipal(other)).toEqual([]);
      expect(await s.destroyByPrincipal(user)).toBe(1);
    }));

  it('expired sessions leave the principal index', () =>
    withStore(async (s) => {
      const user = fresh('user');
      const id = fresh('exp');
      await s.set(id, {}, { ttlMs: 500, principal: user });
      await h.advance(s, 1000);
      expect(await s.listByPrincipal(user)).toEqual([]);
    }));

  it('emits created, destroyed and expired (without keyspace notifications)', () =>
    withStore(async (s) => {
      const seen: string[] = [];
      const ids = [fresh('ev'), fresh('ev'), fresh('ev')];
      s.on('created', ({ id }) => {
        if (ids.includes(id)) seen.push(`created ${ids.indexOf(id)}`);
      });
      s.on('destroyed', ({ id }) => {
        if (ids.includes(id)) seen.push(`destroyed ${ids.indexOf(id)}`);
      });
      s.on('expired', ({ id }) => {
        if (ids.includes(id)) seen.push(`expired ${ids.indexOf(id)}`);
      });
      await s.set(ids[0] as string, {}, { ttlMs: TTL, principal: 'u' });
      await s.set(ids[0] as string, { again: true }, { ttlMs: TTL });
      await s.set(ids[1] as string, {}, { ttlMs: 300 });
      await s.destroy(ids[0] as string);
      await h.advance(s, 1000);
      expect(seen).toEqual(['created 0', 'created 1', 'destroyed 0', 'expired 1']);
    }));

  it('a write keeps its tag; compareAndSet naming a version and a tag writes only over that very write', () =>
    withStore(async (s) => {
      const id = fresh('tag');
      expect(await s.compareAndSet(id, { version: 0, tag: 'x' }, { x: 0 }, { ttlMs: TTL })).toBeNull(); // absent: tag ''
      expect(await s.compareAndSet(id, { version: 0, tag: '' }, { x: 1 }, { ttlMs: TTL, tag: 'a' })).toBe(1);
      expect(await s.get(id)).toMatchObject({ version: 1, tag: 'a' });
      expect(await s.compareAndSet(id, { version: 1, tag: 'b' }, { x: 2 }, { ttlMs: TTL, tag: 'c' })).toBeNull();
      expect(await s.compareAndSet(id, { version: 1, tag: 'a' }, { x: 2 }, { ttlMs: TTL, tag: 'c' })).toBe(2);
      expect(await s.touch(id, 2 * TTL)).toBe(true); // a touch keeps the tag
      expect(await s.get(id)).toMatchObject({ data: { x: 2 }, version: 2, tag: 'c' });
      // A version number written again by someone else (what a failover that lost writes allows).
      await s.destroy(id);
      expect(await s.set(id, { x: 'other' }, { ttlMs: TTL, tag: 'other-1' })).toBe(1);
      expect(await s.set(id, { x: 'other' }, { ttlMs: TTL, tag: 'other-2' })).toBe(2);
      expect(await s.compareAndSet(id, { version: 2, tag: 'c' }, { x: 3 }, { ttlMs: TTL })).toBeNull();
      expect(await s.compareAndSet(id, 2, { x: 3 }, { ttlMs: TTL })).toBe(3); // a bare version ignores tags
      expect(await s.get(id)).toMatchObject({ data: { x: 3 }, version: 3, tag: '' });
      await expect(s.set(id, {}, { ttlMs: TTL, tag: 'x'.repeat(65) })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      });
    }));

  it('refuses bad arguments with coded errors and nothing written', () =>
    withStore(async (s) => {
      const id = fresh('bad');
      await expect(s.set(id, {}, { ttlMs: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(s.set(id, undefined, { ttlMs: TTL })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      expect(await s.get(id)).toBeNull();
    }));

  it('touch keeps data, version, principal and updatedAt; only expiresAt moves', () =>
    withStore(async (s) => {
      const id = fresh('touch');
      await s.set(id, { keep: [1, 'two'] }, { ttlMs: TTL, principal: 'keeper' });
      const before = await s.get(id);
      expect(await s.touch(id, 2 * TTL)).toBe(true);
      const after = await s.get(id);
      expect(after).toMatchObject({
        data: { keep: [1, 'two'] },
        version: 1,
        principal: 'keeper',
        createdAt: before?.createdAt,
        updatedAt: before?.updatedAt,
      });
      expect(after?.expiresAt ?? 0).toBeGreaterThan(before?.expiresAt ?? Infinity);
    }));

  it('concurrent creates with compareAndSet(0): exactly one wins, one created event', () =>
    withStore(async (s) => {
      const id = fresh('race');
      const created: string[] = [];
      s.on('created', (e) => {
        if (e.id === id) created.push(e.id);
      });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.compareAndSet(id, 0, { writer: i }, { ttlMs: TTL })),
      );
      expect(results.filter((v) => v === 1)).toHaveLength(1);
      expect(results.filter((v) => v === null)).toHaveLength(19);
      expect(created).toEqual([id]);
      const winner = results.indexOf(1);
      expect((await s.get(id))?.data).toEqual({ writer: winner });
    }));

  it('concurrent sets all land: versions 1..n once each, and the index follows the last write', () =>
    withStore(async (s) => {
      const id = fresh('sets');
      const users = [fresh('user'), fresh('user'), fresh('user')];
      const versions = await Promise.all(
        Array.from({ length: 30 }, (_, i) => s.set(id, { i }, { ttlMs: TTL, principal: users[i % 3] })),
      );
      expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      const last = await s.get<{ i: number }>(id);
      expect(last?.version).toBe(30);
      expect(versions[last?.data.i ?? -1]).toBe(30);
      for (const u of users)
        expect((await s.listByPrincipal(u)).map((x) => x.id)).toEqual(last?.principal === u ? [id] : []);
    }));

  it('principal null leaves the index; revoking all emits destroyed for each session', () =>
    withStore(async (s) => {
      const user = fresh('user');
      const [a, b, c] = [fresh('r'), fresh('r'), fresh('r')];
      const destroyed: string[] = [];
      s.on('destroyed', (e) => {
        if (e.principal === user) destroyed.push(e.id);
      });
      for (const id of [a, b, c]) await s.set(id, { id }, { ttlMs: TTL, principal: user });
      await s.set(c, { id: c }, { ttlMs: TTL, principal: null });
      expect((await s.get(c))?.principal).toBeNull();
      expect((await s.listByPrincipal(user)).map((x) => x.id).sort()).toEqual([a, b].sort());
      expect(await s.destroyByPrincipal(user)).toBe(2);
      expect(destroyed.sort()).toEqual([a, b].sort());
      expect(await s.get(a)).toBeNull();
      expect((await s.get(c))?.data).toEqual({ id: c });
    }));

  it('an aborted signal rejects the call with its reason, and nothing is written', () =>
    withStore(async (s) => {
      const id = fresh('abort');
      const ac = new AbortController();
      ac.abort(new Error('caller gave up'));
      await expect(s.set(id, { x: 1 }, { ttlMs: TTL, signal: ac.signal })).rejects.toBe(ac.signal.reason);
      await expect(s.get(id, { signal: ac.signal })).rejects.toBe(ac.signal.reason);
      expect(await s.get(id)).toBeNull();
    }));

  it.skipIf(!h.outage)(
    'an outage: every call fails with a coded error within its timeout; calls succeed again once the server is back',
    async () => {
      const o = h.outage as NonNullable<StoreHarness['outage']>;
      const s = await o.make();
      const id = fresh('outage');
      try {
        expect(await s.set(id, { n: 1 }, { ttlMs: TTL, principal: 'outage' })).toBe(1);
        await o.down();
        const calls: (() => Promise<unknown>)[] = [
          () => s.get(id),
          () => s.set(id, { n: 2 }, { ttlMs: TTL }),
          () => s.compareAndSet(id, 1, { n: 2 }, { ttlMs: TTL }),
          () => s.touch(id, TTL),
          () => s.listByPrincipal('outage'),
          () => s.destroyByPrincipal('outage'),
          () => s.destroy(id),
        ];
        for (const call of calls) {
          const t0 = Date.now();
          const error = await call().then(
            () => null,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(SessionError);
          expect(['ERR_STORE_UNAVAILABLE', 'ERR_STORE_TIMEOUT']).toContain((error as SessionError).code);
          expect(Date.now() - t0).toBeLessThan(o.timeoutMs + 300);
        }
        await o.up();
        // Back: within a bounded number of tries (reconnects back off up to about a second).
        let written: number | null = null;
        for (let i = 0; i < 100 && written === null; i++) {
          written = await s.set(`${id}-after`, { ok: true }, { ttlMs: TTL }).catch(() => null);
          if (written === null) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(written).toBe(1);
        expect((await s.get(`${id}-after`))?.data).toEqual({ ok: true });
      } finally {
        await o.up();
        await s.close();
      }
    },
    30_000,
  );

  it.skipIf(!h.outage)(
    'an outage under load: callers get coded errors within their timeout, nothing else; the load goes on once the server is back',
    async () => {
      const o = h.outage as NonNullable<StoreHarness['outage']>;
      const s = await o.make();
      const id = fresh('load');
      const principal = fresh('load-user');
      const coded = (error: unknown): string | undefined =>
        error instanceof SessionError && ['ERR_STORE_TIMEOUT', 'ERR_STORE_UNAVAILABLE'].includes(error.code)
          ? error.code
          : undefined;
      try {
        expect(await s.set(id, { n: 0 }, { ttlMs: TTL, principal })).toBe(1);
        // Load running while the server goes away and comes back.
        let stop = false;
        const outcomes = { ok: 0, coded: 0, other: [] as unknown[], slowest: 0 };
        const load = (async () => {
          for (let i = 0; i < 100_000 && !stop; i++) {
            const t0 = Date.now();
            const results = await Promise.allSettled([
              s.get(id),
              s.set(`${id}-k${i % 10}`, { i }, { ttlMs: TTL, principal }),
              s.listByPrincipal(principal),
              s.touch(id, TTL),
            ]);
            outcomes.slowest = Math.max(outcomes.slowest, Date.now() - t0);
            for (const r of results) {
              if (r.status === 'fulfilled') outcomes.ok++;
              else if (coded(r.reason) !== undefined) outcomes.coded++;
              else outcomes.other.push(r.reason);
            }
            if (results.some((r) => r.status === 'rejected')) await delay(10);
          }
        })();
        await delay(200);
        expect(outcomes.ok).toBeGreaterThan(0);
        await o.down();
        await delay(700);
        expect(outcomes.coded).toBeGreaterThan(0);
        // Direct calls while it is down: coded, and within the timeout.
        for (const call of [
          () => s.get(id),
          () => s.set(id, {}, { ttlMs: 1000 }),
          () => s.destroyByPrincipal(principal),
        ]) {
          const t0 = Date.now();
          const error = await call().then(
            () => null,
            (e: unknown) => e,
          );
          expect(coded(error), String(error)).toBeDefined();
          expect(Date.now() - t0).toBeLessThan(o.timeoutMs + 150);
        }
        await o.up();
        const okAt = outcomes.ok;
        const until = Date.now() + 10_000;
        while (outcomes.ok <= okAt + 8 && Date.now() < until) await delay(20);
        stop = true;
        await load;
        expect(outcomes.other).toEqual([]);
        expect(outcomes.ok).toBeGreaterThan(okAt + 8);
        expect(outcomes.slowest).toBeLessThan(o.timeoutMs + 200);
        expect(await s.set(`${id}-after`, { ok: true }, { ttlMs: TTL })).toBe(1);
        expect((await s.get(`${id}-after`))?.data).toEqual({ ok: true });
      } finally {
        await o.up();
        await s.close();
      }
    },
    30_000,
  );

  it('a closed store fails fast with ERR_STORE_UNAVAILABLE', async () => {
    const s = await h.make();
    await s.close();
    const error = await s.get('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionError);
    expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });
}
