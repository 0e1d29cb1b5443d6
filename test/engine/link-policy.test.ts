// LinkPolicy (src/engine/link-policy.ts) on a virtual clock with a seeded random source: the
// backoff's jitter bounds (mulberry32 from the chaos proxy) and ceiling, maxAttempts, the reset on resume, and the idle close.

import { describe, expect, it } from 'vitest';
import { LinkPolicy } from '../../src/engine/link-policy.js';
import type { IdleCheck, LinkAction, LinkPolicyOptions } from '../../src/engine/link-policy.js';
import { mulberry32 as seeded } from '../chaos/fault-proxy.js';

const BASE: LinkPolicyOptions = { reconnect: true, initialDelayMs: 100, maxDelayMs: 5000, idleTimeoutMs: 0 };

function drain(p: LinkPolicy): LinkAction[] {
  const out: LinkAction[] = [];
  for (let a = p.poll(); a; a = p.poll()) out.push(a);
  return out;
}

/** Runs the clock to the next deadline (no idle check expected). */
function fire(p: LinkPolicy): number {
  const at = p.nextDeadline();
  if (at === undefined) throw new Error('no deadline');
  p.handleTimeout(at, () => {
    throw new Error('no idle check expected');
  });
  return at;
}

/** Fails every dial, `n` times; returns each attempt's delay. */
function failDials(p: LinkPolicy, n: number, start = 0): number[] {
  let now = start;
  p.handleTransportDown(now);
  const delays: number[] = [];
  for (let i = 0; i < n; i++) {
    const actions = drain(p);
    const scheduled = actions.find((a) => a.type === 'reconnecting');
    if (!scheduled || scheduled.type !== 'reconnecting') throw new Error(`attempt ${i}: ${JSON.stringify(actions)}`);
    delays.push(scheduled.delayMs);
    if (!actions.some((a) => a.type === 'dial')) {
      expect(p.nextDeadline()).toBe(now + scheduled.delayMs);
      now = fire(p);
      expect(drain(p)).toEqual([{ type: 'dial' }]);
    }
    p.handleDialFailed(now);
  }
  return delays;
}

describe('LinkPolicy: backoff', () => {
  it('dials at once on the first attempt, then waits random() * ceiling with the ceiling doubling up to maxDelayMs', () => {
    const p = new LinkPolicy(BASE, seeded(1), 0);
    p.handleUp(0);
    p.handleTransportDown(10);
    expect(drain(p)).toEqual([{ type: 'reconnecting', attempt: 1, delayMs: 0 }, { type: 'dial' }]);
    expect(p.nextDeadline()).toBeUndefined();
    const random = seeded(2);
    const q = new LinkPolicy(BASE, random, 0);
    const delays = failDials(q, 12);
    const check = seeded(2);
    delays.forEach((d, n) => {
      const ceiling = Math.min(5000, 100 * 2 ** n);
      expect(d).toBe(n === 0 ? 0 : check() * ceiling);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(n === 0 ? 1 : ceiling);
    });
  });

  it('jitter covers the whole window and never passes maxDelayMs, over many seeds', () => {
    let max = 0;
    let min = Infinity;
    for (let seed = 1; seed <= 200; seed++) {
      const delays = failDials(new LinkPolicy(BASE, seeded(seed), 0), 15).slice(8); // ceilings all at 5000
      for (const d of delays) {
        max = Math.max(max, d);
        min = Math.min(min, d);
      }
    }
    expect(max).toBeLessThan(5000);
    expect(max).toBeGreaterThan(4900);
    expect(min).toBeLessThan(100);
  });

  it('gives up after maxAttempts failed dials in a row', () => {
    const p = new LinkPolicy({ ...BASE, maxAttempts: 3 }, seeded(3), 0);
    failDials(p, 3);
    expect(drain(p)).toEqual([{ type: 'give-up', attempts: 3, closedBeforeUp: false }]);
    expect(p.nextDeadline()).toBeUndefined();
    p.handleTransportDown(1e6);
    expect(drain(p)).toEqual([]);
  });

  it('starts counting again once the session is up (established or resumed)', () => {
    const p = new LinkPolicy(BASE, seeded(4), 0);
    failDials(p, 4);
    drain(p);
    const now = fire(p);
    drain(p);
    p.handleDialed(now);
    p.handleUp(now + 5);
    p.handleTransportDown(now + 10);
    expect(drain(p)).toEqual([{ type: 'reconnecting', attempt: 1, delayMs: 0 }, { type: 'dial' }]);
  });

  it('a transport lost before the resume goes on with the backoff, not from zero', () => {
    const p = new LinkPolicy(BASE, seeded(5), 0);
    p.handleTransportDown(0);
    drain(p);
    p.handleDialed(1);
    p.handleTransportDown(2);
    const [scheduled] = drain(p);
    expect(scheduled).toMatchObject({ type: 'reconnecting', attempt: 2 });
  });

  it('reconnect off: a lost transport is left alone; closed: nothing more is decided', () => {
    const off = new LinkPolicy({ ...BASE, reconnect: false }, seeded(6), 0);
    off.handleUp(0);
    off.handleTransportDown(1);
    expect(drain(off)).toEqual([]);
    expect(off.nextDeadline()).toBeUndefined();
    const p = new LinkPolicy(BASE, seeded(6), 0);
    failDials(p, 2);
    drain(p);
    expect(p.nextDeadline()).toBeDefined();
    p.handleClosed();
    expect(p.nextDeadline()).toBeUndefined();
    p.handleTransportDown(1e6);
    expect(drain(p)).toEqual([]);
  });

  it('reconnect off: a transport closed before the session is up gives up at once (a full server closes without a word)', () => {
    const off = new LinkPolicy({ ...BASE, reconnect: false }, seeded(8), 0);
    off.handleTransportDown(1);
    expect(drain(off)).toEqual([{ type: 'give-up', attempts: 1, closedBeforeUp: true }]);
    expect(off.nextDeadline()).toBeUndefined();
  });

  it('reconnect on: transports closed before the session is up are failed attempts: backoff grows, maxAttempts gives up', () => {
    const p = new LinkPolicy({ ...BASE, maxAttempts: 4 }, () => 0.5, 0);
    let now = 0;
    const delays: number[] = [];
    p.handleTransportDown(now);
    for (let i = 0; i < 4; i++) {
      const actions = drain(p);
      const scheduled = actions.find((a) => a.type === 'reconnecting');
      if (scheduled?.type !== 'reconnecting') throw new Error(`attempt ${i}: ${JSON.stringify(actions)}`);
      delays.push(scheduled.delayMs);
      if (!actions.some((a) => a.type === 'dial')) {
        now = fire(p);
        expect(drain(p)).toEqual([{ type: 'dial' }]);
      }
      p.handleDialed(now);
      p.handleTransportDown(now);
    }
    expect(delays[0]).toBe(0);
    expect(delays.slice(1)).toEqual([100, 200, 400]);
    expect(drain(p)).toEqual([{ type: 'give-up', attempts: 4, closedBeforeUp: true }]);
  });

  it('a second transport-down while redialing schedules nothing more', () => {
    const p = new LinkPolicy(BASE, seeded(7), 0);
    failDials(p, 2);
    const before = p.nextDeadline();
    drain(p);
    p.handleTransportDown(1);
    expect(drain(p)).toEqual([]);
    expect(p.nextDeadline()).toBe(before);
  });
});

describe('LinkPolicy: idle', () => {
  const IDLE = { ...BASE, idleTimeoutMs: 1000 };
  const at = (check: IdleCheck) => () => check;

  it('closes a quiet link idleTimeoutMs after it came up, and redials at once on the next send', () => {
    const p = new LinkPolicy(IDLE, seeded(8), 0);
    p.handleUp(500);
    expect(p.nextDeadline()).toBe(1500);
    p.handleTimeout(1499, at('quiet'));
    expect(drain(p)).toEqual([]);
    p.handleTimeout(1500, at('quiet'));
    expect(drain(p)).toEqual([{ type: 'idle' }]);
    expect(p.nextDeadline()).toBeUndefined();
    p.handleTransportDown(1501); // the idle close itself: no redial
    expect(drain(p)).toEqual([]);
    p.handleReopen(9000);
    expect(drain(p)).toEqual([{ type: 'reconnecting', attempt: 1, delayMs: 0 }, { type: 'dial' }]);
  });

  it('activity moves the check to idleTimeoutMs after the last activity', () => {
    const p = new LinkPolicy(IDLE, seeded(9), 0);
    p.handleUp(0);
    p.handleActivity(700);
    p.handleTimeout(1000, at('quiet'));
    expect(drain(p)).toEqual([]);
    expect(p.nextDeadline()).toBe(1700);
    p.handleTimeout(1700, at('quiet'));
    expect(drain(p)).toEqual([{ type: 'idle' }]);
  });

  it('frames in flight hold the link open, checked again 1 ms later', () => {
    const p = new LinkPolicy(IDLE, seeded(10), 0);
    p.handleUp(0);
    p.handleTimeout(1000, at('in-flight'));
    expect(drain(p)).toEqual([]);
    expect(p.nextDeadline()).toBe(1001);
    p.handleTimeout(1001, at('quiet'));
    expect(drain(p)).toEqual([{ type: 'idle' }]);
  });

  it('a session no longer established stops the checks until it is up again', () => {
    const p = new LinkPolicy(IDLE, seeded(11), 0);
    p.handleUp(0);
    p.handleTimeout(1000, at('not-established'));
    expect(p.nextDeadline()).toBeUndefined();
    p.handleUp(2000);
    expect(p.nextDeadline()).toBe(3000);
  });

  it('idleTimeoutMs 0: never an idle deadline', () => {
    const p = new LinkPolicy(BASE, seeded(12), 0);
    p.handleUp(0);
    expect(p.nextDeadline()).toBeUndefined();
  });
});
