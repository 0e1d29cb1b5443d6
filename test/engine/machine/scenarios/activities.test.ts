// Activity management: S-ACTIVITY-START, -INTERRUPT, -RESUME, -DISCARD and -END
// (ACTIVITY_* frames), with serial numbers restarting at 1 for a new activity and continuing
// after the named point for a resumed one.

import { describe, expect, it } from 'vitest';
import { bytes, established, eventsSince, expectRejected, framesSince, ladderSince, mark, view } from './scenario.js';
import type { Pair } from './scenario.js';

const UNITS = ['activities', 'minorSync', 'majorSync', 'resynchronize'] as const;

function withActivities(): Pair {
  return established({ a: { units: [...UNITS] } });
}

describe('activities', () => {
  it('start, data and sync inside, end: ACTIVITY_START ... ACTIVITY_END, ACTIVITY_END_ACK', () => {
    const p = withActivities();
    const A = p.A.machine;
    const B = p.B.machine;
    // With the activities unit, data and sync points need an activity.
    expectRejected(p, () => A.sendData(bytes('x')), 'ERR_ACTIVITY_REQUIRED');
    expectRejected(p, () => A.syncMinor(), 'ERR_ACTIVITY_REQUIRED');
    expectRejected(p, () => A.endActivity(), 'ERR_ACTIVITY_REQUIRED');
    expectRejected(p, () => B.startActivity(bytes('act-1')), 'ERR_TOKEN_NOT_HELD', { token: 'minorSync' });

    const m = mark(p);
    A.startActivity(bytes('act-1'), bytes('go'));
    expect(view(p.A)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 1,
      activity: 'act-1',
    });
    expectRejected(p, () => A.startActivity(bytes('act-2')), 'ERR_ACTIVITY_IN_PROGRESS');
    expectRejected(p, () => A.release(), 'ERR_ACTIVITY_IN_PROGRESS');
    A.sendData(bytes('work'));
    expect(A.syncMinor()).toBe(1);
    expect(A.endActivity(bytes('done'))).toBe(2);
    expectRejected(p, () => A.sendData(bytes('x')), 'ERR_SYNC_PENDING', { pending: 'activity-end' });
    p.settle();
    expectRejected(p, () => B.sendData(bytes('x')), 'ERR_RESPONSE_REQUIRED', { pending: 'activity-end' });
    expect(B.confirmActivityEnd(bytes('ack'))).toBe(2);
    expectRejected(p, () => B.confirmActivityEnd(), 'ERR_NOTHING_TO_CONFIRM');
    p.settle();

    expect(ladderSince(p, m)).toEqual([
      'A>ACTIVITY_START',
      'A>DATA',
      'A>MINOR_SYNC',
      'A>ACTIVITY_END',
      'B>ACTIVITY_END_ACK',
    ]);
    expect(framesSince(p, m)).toEqual([
      { type: 'ACTIVITY_START', activityId: bytes('act-1'), userData: bytes('go') },
      { type: 'DATA', payload: bytes('work') },
      { type: 'MINOR_SYNC', serial: 1, confirm: false, userData: bytes('') },
      { type: 'ACTIVITY_END', serial: 2, userData: bytes('done') },
      { type: 'ACTIVITY_END_ACK', serial: 2, userData: bytes('ack') },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'activity-start', activityId: 'act-1', userData: 'go' },
      { type: 'data', payload: 'work' },
      { type: 'sync-minor', serial: 1, confirm: false, userData: '' },
      { type: 'activity-end', serial: 2, userData: 'done' },
    ]);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'activity-ended', serial: 2, userData: 'ack' }]);
    expect(view(p.A)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 3,
      activity: null,
    });
    expect(view(p.B)).toEqual({ state: 'established', tokens: [], serial: 3, activity: null });
  });

  it('interrupt, then resume under a new ID naming the old one: serials continue after the named point', () => {
    const p = withActivities();
    const A = p.A.machine;
    const B = p.B.machine;
    A.startActivity(bytes('act-1'));
    A.syncMinor();
    A.syncMinor();
    p.settle();
    expect([view(p.A).serial, view(p.B).serial]).toEqual([3, 3]);

    const m = mark(p);
    B.sendData(bytes('crossing'));
    A.interruptActivity(7);
    expectRejected(p, () => A.interruptActivity(), 'ERR_CONFIRM_PENDING', { pending: 'activity-interrupt' });
    p.settle();
    expectRejected(p, () => B.sendData(bytes('x')), 'ERR_RESPONSE_REQUIRED', { pending: 'activity-interrupt' });
    expectRejected(p, () => B.confirmActivityDiscard(), 'ERR_NOTHING_TO_CONFIRM');
    B.confirmActivityInterrupt();
    p.settle();
    expect(ladderSince(p, m)).toEqual(['A>ACTIVITY_INTERRUPT', 'B>DATA', 'B>ACTIVITY_INTERRUPT_ACK']);
    expect(framesSince(p, m)[0]).toEqual({ type: 'ACTIVITY_INTERRUPT', reason: 7 });
    expect(eventsSince(p.B, m)).toEqual([{ type: 'activity-interrupt', reason: 7 }]);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'data-discarded', direction: 'in', payloads: ['crossing'] },
      { type: 'activity-interrupted', activityId: 'act-1', serial: 2 },
    ]);
    expect(view(p.A).activity).toBeNull();
    expect(view(p.B).activity).toBeNull();

    const m2 = mark(p);
    expectRejected(p, () => A.resumeActivity(bytes('act-2'), bytes('act-1'), -1), 'ERR_INVALID_ARGUMENT', {
      serial: -1,
    });
    expectRejected(p, () => A.resumeActivity(bytes('act-2'), new Uint8Array(0), 2), 'ERR_INVALID_ARGUMENT', {
      length: 0,
    });
    A.resumeActivity(bytes('act-2'), bytes('act-1'), 2, bytes('again'));
    expect(A.syncMinor()).toBe(3);
    p.settle();
    expect(ladderSince(p, m2)).toEqual(['A>ACTIVITY_RESUME', 'A>MINOR_SYNC']);
    expect(framesSince(p, m2)).toEqual([
      {
        type: 'ACTIVITY_RESUME',
        activityId: bytes('act-2'),
        oldActivityId: bytes('act-1'),
        serial: 2,
        userData: bytes('again'),
      },
      { type: 'MINOR_SYNC', serial: 3, confirm: false, userData: bytes('') },
    ]);
    expect(eventsSince(p.B, m2)).toEqual([
      { type: 'activity-resume', activityId: 'act-2', oldActivityId: 'act-1', serial: 2, userData: 'again' },
      { type: 'sync-minor', serial: 3, confirm: false, userData: '' },
    ]);
    expect(view(p.A)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 4,
      activity: 'act-2',
    });
    expect(view(p.B)).toEqual({ state: 'established', tokens: [], serial: 4, activity: 'act-2' });
  });

  it('discard: ACTIVITY_DISCARD throws away queued data; the activity is gone on both sides', () => {
    const p = withActivities();
    const A = p.A.machine;
    const B = p.B.machine;
    A.startActivity(bytes('act-1'));
    A.sendData(bytes('kept'));
    p.settle();
    const m = mark(p);
    A.sendData(bytes('queued'));
    A.discardActivity(3);
    p.settle();
    B.confirmActivityDiscard();
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>ACTIVITY_DISCARD', 'B>ACTIVITY_DISCARD_ACK']);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'data-discarded', direction: 'out', payloads: ['queued'] },
      { type: 'activity-discarded' },
    ]);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'activity-discard', reason: 3 }]);
    expect(view(p.A)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 1,
      activity: null,
    });
    expect(view(p.B)).toEqual({ state: 'established', tokens: [], serial: 1, activity: null });
  });

  it('interrupting while our major sync awaits confirmation supersedes the major sync on both sides', () => {
    const p = withActivities();
    const A = p.A.machine;
    const B = p.B.machine;
    A.startActivity(bytes('act-1'));
    p.settle();
    const m = mark(p);
    expect(A.syncMajor()).toBe(1);
    A.interruptActivity(1);
    p.settle();
    expectRejected(p, () => B.confirmMajorSync(), 'ERR_NOTHING_TO_CONFIRM');
    B.confirmActivityInterrupt();
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>MAJOR_SYNC', 'A>ACTIVITY_INTERRUPT', 'B>ACTIVITY_INTERRUPT_ACK']);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'cancelled', service: 'sync-major', side: 'local', by: 'activity-interrupt' },
      { type: 'activity-interrupted', activityId: 'act-1', serial: 1 },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'sync-major', serial: 1, userData: '' },
      { type: 'cancelled', service: 'sync-major', side: 'remote', by: 'activity-interrupt' },
      { type: 'activity-interrupt', reason: 1 },
    ]);
    expect([view(p.A).activity, view(p.B).activity]).toEqual([null, null]);
  });

  it("an interrupt colliding with the peer's resynchronize wins; the resynchronize is cancelled", () => {
    const p = withActivities();
    const A = p.A.machine;
    const B = p.B.machine;
    A.startActivity(bytes('act-1'));
    p.settle();
    const m = mark(p);
    A.interruptActivity(2);
    B.resynchronize('abandon');
    p.settle();
    expectRejected(p, () => A.respondResync(), 'ERR_NOTHING_TO_CONFIRM');
    B.confirmActivityInterrupt();
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>ACTIVITY_INTERRUPT', 'B>RESYNC', 'B>ACTIVITY_INTERRUPT_ACK']);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'cancelled', service: 'resync', side: 'local', by: 'activity-interrupt' },
      { type: 'activity-interrupt', reason: 2 },
    ]);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'activity-interrupted', activityId: 'act-1', serial: 0 }]);
    expect([view(p.A).activity, view(p.B).activity]).toEqual([null, null]);
  });

  it('capability data between activities: CAPABILITY, CAPABILITY_ACK', () => {
    const p = established({ a: { units: ['activities', 'capabilityData', 'minorSync', 'majorSync'] } });
    const A = p.A.machine;
    const B = p.B.machine;
    expectRejected(p, () => B.sendCapability(bytes('cap')), 'ERR_TOKEN_NOT_HELD', { token: 'minorSync' });
    const m = mark(p);
    A.sendCapability(bytes('cap'));
    expectRejected(p, () => A.sendCapability(bytes('again')), 'ERR_CONFIRM_PENDING', { pending: 'capability' });
    p.settle();
    B.confirmCapability(bytes('cap ok'));
    expectRejected(p, () => B.confirmCapability(), 'ERR_NOTHING_TO_CONFIRM');
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>CAPABILITY', 'B>CAPABILITY_ACK']);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'capability', payload: 'cap' }]);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'capability-confirmed', payload: 'cap ok' }]);
    A.startActivity(bytes('act-1'));
    expectRejected(p, () => A.sendCapability(bytes('inside')), 'ERR_ACTIVITY_IN_PROGRESS');
  });

  it('activity commands that are not allowed fail at once, naming what is missing', () => {
    const p = withActivities();
    const A = p.A.machine;
    const B = p.B.machine;
    expectRejected(p, () => A.interruptActivity(), 'ERR_ACTIVITY_REQUIRED');
    expectRejected(p, () => A.startActivity(new Uint8Array(65)), 'ERR_INVALID_ARGUMENT', { length: 65 });
    A.startActivity(bytes('act-1'));
    p.settle();
    expectRejected(p, () => B.interruptActivity(), 'ERR_TOKEN_NOT_HELD', { token: 'majorActivity' });
    expectRejected(p, () => B.discardActivity(), 'ERR_TOKEN_NOT_HELD', { token: 'majorActivity' });
    expectRejected(p, () => B.endActivity(), 'ERR_TOKEN_NOT_HELD', { token: 'minorSync' });
    expectRejected(p, () => A.interruptActivity(256), 'ERR_INVALID_ARGUMENT', { reason: 256 });
    expectRejected(p, () => A.giveControl(), 'ERR_ACTIVITY_IN_PROGRESS');
    expectRejected(p, () => B.confirmActivityInterrupt(), 'ERR_NOTHING_TO_CONFIRM');
    expectRejected(p, () => A.resumeActivity(bytes('b'), bytes('a'), 1), 'ERR_ACTIVITY_IN_PROGRESS');

    const q = established();
    expectRejected(q, () => q.A.machine.startActivity(bytes('act')), 'ERR_UNIT_NOT_SELECTED', { unit: 'activities' });
    expectRejected(q, () => q.A.machine.resumeActivity(bytes('b'), bytes('a'), 1), 'ERR_UNIT_NOT_SELECTED', {
      unit: 'activities',
    });
    expectRejected(q, () => q.A.machine.endActivity(), 'ERR_UNIT_NOT_SELECTED', { unit: 'activities' });
  });
});
