import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { storeConformance } from './conformance.js';

const clocks = new WeakMap<SessionStore, { t: number }>();

describe('memory store: conformance', () => {
  storeConformance({
    make: async () => {
      const clock = { t: 1_700_000_000_000 };
      const s = new MemoryStore({ now: () => clock.t, sweepIntervalMs: 0 });
      clocks.set(s, clock);
      return s;
    },
    advance: async (s, ms) => {
      (clocks.get(s) as { t: number }).t += ms;
      (s as MemoryStore).sweep();
    },
  });
});

describe('memory store: bounds', () => {
  it('refuses a new session past maxEntries and a write past maxBytes, with ERR_STORE_FULL', async () => {
    const s = new MemoryStore({ maxEntries: 2, maxBytes: 1000, sweepIntervalMs: 0 });
    await s.set('a', 'x', { ttlMs: 1000 });
    await s.set('b', 'y', { ttlMs: 1000 });
    await expect(s.set('c', 'z', { ttlMs: 1000 })).rejects.toMatchObject({
      code: 'ERR_STORE_FULL',
      details: { limit: 'maxEntries' },
    });
    await expect(s.set('a', 'x'.repeat(600), { ttlMs: 1000 })).rejects.toMatchObject({
      code: 'ERR_STORE_FULL',
      details: { limit: 'maxBytes' },
    });
    expect(s.size.entries).toBe(2);
    expect((await s.get('a'))?.data).toBe('x');
    await s.close();
  });

  it('keeps its expiry heap bounded under endless touches', async () => {
    let t = 0;
    const s = new MemoryStore({ now: () => t, sweepIntervalMs: 0 });
    await s.set('a', 1, { ttlMs: 1000 });
    for (let i = 0; i < 20_000; i++) {
      t += 1;
      await s.touch('a', 1000);
    }
    expect((s as unknown as { heap: unknown[] }).heap.length).toBeLessThan(2000);
    await s.close();
  });
});
