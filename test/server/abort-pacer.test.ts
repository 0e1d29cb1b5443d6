// The abort pacer on a virtual clock: each cut costs `cost` ms of the clock when the event loop
// turns (as aborts do: their work runs after the cut), sleeping advances the clock. The last
// abort must be done by the deadline whatever the number of sessions, when the estimate is
// too high, too low, or the machine slows down midway; and sessions that end by themselves are
// never cut.

import { describe, expect, it } from 'vitest';
import { ABORT_BATCH, ABORT_MARGIN, INITIAL_ABORT_COST_MS, paceAborts } from '../../src/server/abort-pacer.js';

interface Run {
  cut: number;
  firstCutAt: number;
  doneAt: number;
}

/** `n` sessions, a deadline `deadline` ms from 0, each abort costing `costAt(now)` ms. */
async function run(
  n: number,
  deadline: number,
  costAt: (now: number) => number,
  endsBy?: (waiting: Set<number>, now: number) => void,
): Promise<Run> {
  let now = 0;
  let pendingCost = 0;
  let firstCutAt = -1;
  const waiting = new Set(Array.from({ length: n }, (_, i) => i));
  const result = await paceAborts(waiting, deadline, {
    clock: () => now,
    sleep: async (ms) => {
      now += Math.max(ms, 0.001);
      endsBy?.(waiting, now);
    },
    yieldTurn: async () => {
      now += pendingCost;
      pendingCost = 0;
      endsBy?.(waiting, now);
    },
    cut: () => {
      if (firstCutAt < 0) firstCutAt = now;
      pendingCost += costAt(now);
    },
  });
  return { cut: result.cut, firstCutAt, doneAt: now };
}

describe('paceAborts', () => {
  it('10,000 sessions at the estimated cost: every abort done by the deadline, cutting starts late', async () => {
    const r = await run(10_000, 10_000, () => INITIAL_ABORT_COST_MS);
    expect(r.cut).toBe(10_000);
    expect(r.doneAt).toBeLessThanOrEqual(10_000);
    expect(r.firstCutAt).toBeGreaterThan(2000);
  });

  it('aborts cheaper than estimated: the estimate falls, cutting pauses, still done by the deadline', async () => {
    const r = await run(10_000, 2000, () => 0.1);
    expect(r.cut).toBe(10_000);
    expect(r.doneAt).toBeLessThanOrEqual(2000);
    expect(r.doneAt).toBeGreaterThan(1500); // it did not simply abort everything at the start
  });

  it('aborts dearer than estimated (up to ABORT_MARGIN times): the first batch teaches it, done by the deadline', async () => {
    const r = await run(10_000, 10_000, () => INITIAL_ABORT_COST_MS * ABORT_MARGIN * 0.95);
    expect(r.cut).toBe(10_000);
    expect(r.doneAt).toBeLessThanOrEqual(10_000);
  });

  it('the machine slows down while it cuts (0.1 ms, then 0.19 ms): done by the deadline', async () => {
    const r = await run(10_000, 5000, (now) => (now < 4000 ? 0.1 : 0.19));
    expect(r.doneAt).toBeLessThanOrEqual(5000);
  });

  it('more abort work than the whole deadline: it cuts from the start and is late by no more than the difference', async () => {
    const r = await run(10_000, 2000, () => 0.4); // 4,000 ms of aborts
    expect(r.firstCutAt).toBe(0);
    expect(r.doneAt).toBeLessThanOrEqual(4000 + 1);
  });

  it('a cost far above the estimate when cutting starts: late by no more than the excess', async () => {
    // Cutting starts at 10,000 - 10,000 x 0.25 x 2 = 5,000 ms; 10,000 x 0.8 ms of aborts from there.
    const r = await run(10_000, 10_000, () => 0.8);
    expect(r.firstCutAt).toBeGreaterThanOrEqual(4900);
    expect(r.doneAt).toBeLessThanOrEqual(r.firstCutAt + 8000 + 1);
  });

  it('sessions that end by themselves are not cut', async () => {
    // Half of them release within the first 100 ms.
    const r = await run(
      2 * ABORT_BATCH,
      1000,
      () => 0.2,
      (waiting, now) => {
        if (now > 100) for (const i of waiting) if (i % 2 === 0) waiting.delete(i);
      },
    );
    expect(r.cut).toBe(ABORT_BATCH);
    expect(r.doneAt).toBeLessThanOrEqual(1000);
  });

  it('nothing waiting: returns at once', async () => {
    const r = await run(0, 1000, () => 1);
    expect(r).toEqual({ cut: 0, firstCutAt: -1, doneAt: 0 });
  });
});
