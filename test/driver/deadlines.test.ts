// Deadlines (src/driver/deadlines.ts): the one timer every driver shares. On fake timers with
// Date.now() as the clock: entries fire in time order, never early, once each; moving, cancelling
// and throwing entries behave; one Node timer serves any number of entries.

import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../../src/driver/deadlines.js';
import type { DeadlineEntry } from '../../src/driver/deadlines.js';

class Entry implements DeadlineEntry {
  deadlineSlot = -1;
  deadlineAt = Infinity;
  fired: number[] = [];
  constructor(
    readonly name: string,
    private readonly log: string[],
    private readonly onFire: (now: number) => void = () => {},
  ) {}
  onDeadline(now: number): void {
    this.fired.push(now);
    this.log.push(this.name);
    this.onFire(now);
  }
}

describe('Deadlines', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires entries in time order, not before their time, and only once', () => {
    const d = new Deadlines(() => Date.now());
    const log: string[] = [];
    const t0 = Date.now();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => new Entry(n, log)) as [Entry, Entry, Entry];
    d.schedule(a, t0 + 30);
    d.schedule(b, t0 + 10);
    d.schedule(c, t0 + 20);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(9);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['b']);
    vi.advanceTimersByTime(100);
    expect(log).toEqual(['b', 'c', 'a']);
    expect(a.fired[0]).toBeGreaterThanOrEqual(t0 + 30);
    expect(d.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('moves an entry earlier or later, and cancels one', () => {
    const d = new Deadlines(() => Date.now());
    const log: string[] = [];
    const t0 = Date.now();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => new Entry(n, log)) as [Entry, Entry, Entry];
    d.schedule(a, t0 + 50);
    d.schedule(b, t0 + 60);
    d.schedule(c, t0 + 70);
    d.schedule(c, t0 + 5); // earlier
    d.schedule(a, t0 + 100); // later
    d.cancel(b);
    d.cancel(b); // twice: nothing
    vi.advanceTimersByTime(5);
    expect(log).toEqual(['c']);
    vi.advanceTimersByTime(60);
    expect(log).toEqual(['c']);
    vi.advanceTimersByTime(35);
    expect(log).toEqual(['c', 'a']);
    expect(b.fired).toEqual([]);
  });

  it('an entry that throws does not stop the others; one that schedules again fires again', () => {
    const d = new Deadlines(() => Date.now());
    const log: string[] = [];
    const t0 = Date.now();
    const thrown: unknown[] = [];
    const bad = new Entry('bad', log, () => {
      throw new Error('boom');
    });
    const again: Entry = new Entry('again', log, (now) => {
      if (again.fired.length < 3) d.schedule(again, now + 10);
    });
    const good = new Entry('good', log);
    d.schedule(bad, t0 + 10);
    d.schedule(good, t0 + 10);
    d.schedule(again, t0 + 10);
    const microtask = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((fn) => {
      try {
        fn();
      } catch (e) {
        thrown.push(e);
      }
    });
    vi.advanceTimersByTime(10);
    microtask.mockRestore();
    expect([...log].sort()).toEqual(['again', 'bad', 'good']);
    expect(thrown).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(again.fired.map((t) => t - t0)).toEqual([10, 20, 30]);
  });

  it('random schedules, moves and cancels: each live entry fires once, at or after its last time, in order', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            entry: fc.nat(19),
            op: fc.constantFrom('schedule', 'schedule', 'cancel'),
            at: fc.nat(500),
          }),
          { maxLength: 80 },
        ),
        (ops) => {
          const d = new Deadlines(() => Date.now());
          const log: string[] = [];
          const t0 = Date.now();
          const entries = Array.from({ length: 20 }, (_, i) => new Entry(String(i), log));
          const expected = new Map<Entry, number>();
          for (const { entry, op, at } of ops) {
            const e = entries[entry] as Entry;
            if (op === 'cancel') {
              d.cancel(e);
              expected.delete(e);
            } else {
              d.schedule(e, t0 + at);
              expected.set(e, t0 + at);
            }
          }
          vi.advanceTimersByTime(1000);
          for (const e of entries) {
            const at = expected.get(e);
            if (at === undefined) expect(e.fired).toEqual([]);
            else {
              expect(e.fired).toHaveLength(1);
              expect(e.fired[0]).toBeGreaterThanOrEqual(at);
            }
          }
          const order = log.map((n) => expected.get(entries[Number(n)] as Entry) as number);
          expect(order).toEqual([...order].sort((x, y) => x - y));
          expect(d.size).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
