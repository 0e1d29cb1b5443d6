// Synchronization: S-SYNC-MINOR (MINOR_SYNC / MINOR_SYNC_ACK) and S-SYNC-MAJOR
// (MAJOR_SYNC / MAJOR_SYNC_ACK), with the serial number V(M) counted alike on both sides.

import { describe, expect, it } from 'vitest';
import { bytes, established, eventsSince, expectRejected, framesSince, ladderSince, mark, view } from './scenario.js';

describe('minor and major sync', () => {
  it('minor sync points: unconfirmed and confirmed; data keeps flowing while a confirmation is due', () => {
    const p = established();
    const A = p.A.machine;
    const B = p.B.machine;
    const m = mark(p);
    expect(A.syncMinor()).toBe(1);
    expect(A.syncMinor({ confirm: true, userData: bytes('cp2') })).toBe(2);
    A.sendData(bytes('after 2'));
    p.settle();
    expectRejected(p, () => A.confirmMinorSync(), 'ERR_NOTHING_TO_CONFIRM');
    expect(B.confirmMinorSync(bytes('got 2'))).toBe(2);
    expectRejected(p, () => B.confirmMinorSync(), 'ERR_NOTHING_TO_CONFIRM');
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>MINOR_SYNC', 'A>MINOR_SYNC', 'A>DATA', 'B>MINOR_SYNC_ACK']);
    expect(framesSince(p, m)).toEqual([
      { type: 'MINOR_SYNC', serial: 1, confirm: false, userData: bytes('') },
      { type: 'MINOR_SYNC', serial: 2, confirm: true, userData: bytes('cp2') },
      { type: 'DATA', payload: bytes('after 2') },
      { type: 'MINOR_SYNC_ACK', serial: 2, userData: bytes('got 2') },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'sync-minor', serial: 1, confirm: false, userData: '' },
      { type: 'sync-minor', serial: 2, confirm: true, userData: 'cp2' },
      { type: 'data', payload: 'after 2' },
    ]);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'sync-minor-confirmed', serial: 2, userData: 'got 2' }]);
    expect(view(p.A)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 3,
      activity: null,
    });
    expect(view(p.B)).toEqual({ state: 'established', tokens: [], serial: 3, activity: null });
  });

  it('a receiver confirms an earlier minor point while later ones are open, then the latest', () => {
    const p = established();
    const A = p.A.machine;
    const B = p.B.machine;
    for (let i = 0; i < 3; i++) A.syncMinor({ confirm: true, userData: bytes(`cp${i + 1}`) });
    p.settle();
    const m = mark(p);
    expectRejected(p, () => B.confirmMinorSync(undefined, 4), 'ERR_INVALID_ARGUMENT', {
      serial: 4,
      first: 1,
      latest: 3,
    });
    expectRejected(p, () => B.confirmMinorSync(undefined, 0), 'ERR_INVALID_ARGUMENT', { serial: 0 });
    expect(B.confirmMinorSync(bytes('got 1'), 1)).toBe(1);
    expectRejected(p, () => B.confirmMinorSync(undefined, 1), 'ERR_INVALID_ARGUMENT', { serial: 1, first: 2 });
    A.sendData(bytes('more'));
    p.settle();
    expect(B.confirmMinorSync(bytes('got 3'))).toBe(3);
    expectRejected(p, () => B.confirmMinorSync(undefined, 2), 'ERR_NOTHING_TO_CONFIRM');
    p.settle();
    expect(framesSince(p, m)).toEqual([
      { type: 'MINOR_SYNC_ACK', serial: 1, userData: bytes('got 1') },
      { type: 'DATA', payload: bytes('more') },
      { type: 'MINOR_SYNC_ACK', serial: 3, userData: bytes('got 3') },
    ]);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'sync-minor-confirmed', serial: 1, userData: 'got 1' },
      { type: 'sync-minor-confirmed', serial: 3, userData: 'got 3' },
    ]);
  });

  it('major sync: no new data from either side until the peer confirms', () => {
    const p = established();
    const A = p.A.machine;
    const B = p.B.machine;
    A.syncMinor();
    p.settle();
    const m = mark(p);
    expect(A.syncMajor(bytes('mj'))).toBe(2);
    expectRejected(p, () => A.sendData(bytes('x')), 'ERR_SYNC_PENDING', { pending: 'sync-major' });
    expectRejected(p, () => A.sendTyped(bytes('x')), 'ERR_SYNC_PENDING', { pending: 'sync-major' });
    expectRejected(p, () => A.syncMinor(), 'ERR_SYNC_PENDING', { pending: 'sync-major' });
    expectRejected(p, () => A.syncMajor(), 'ERR_SYNC_PENDING', { pending: 'sync-major' });
    p.settle();
    expectRejected(p, () => B.sendData(bytes('x')), 'ERR_RESPONSE_REQUIRED', { pending: 'sync-major' });
    // Expedited data is outside the flow and still goes.
    B.sendExpedited(bytes('exp'));
    expect(B.confirmMajorSync(bytes('ok'))).toBe(2);
    expectRejected(p, () => B.confirmMajorSync(), 'ERR_NOTHING_TO_CONFIRM');
    B.sendData(bytes('b after'));
    p.settle();
    A.sendData(bytes('a after'));
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>MAJOR_SYNC', 'B>EXPEDITED', 'B>MAJOR_SYNC_ACK', 'B>DATA', 'A>DATA']);
    expect(framesSince(p, m).slice(0, 3)).toEqual([
      { type: 'MAJOR_SYNC', serial: 2, userData: bytes('mj') },
      { type: 'EXPEDITED', payload: bytes('exp') },
      { type: 'MAJOR_SYNC_ACK', serial: 2, userData: bytes('ok') },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'sync-major', serial: 2, userData: 'mj' },
      { type: 'data', payload: 'a after' },
    ]);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'expedited', payload: 'exp' },
      { type: 'sync-major-confirmed', serial: 2, userData: 'ok' },
      { type: 'data', payload: 'b after' },
    ]);
    expect(view(p.A).serial).toBe(3);
    expect(view(p.B).serial).toBe(3);
  });

  it('sync commands name the missing unit or token', () => {
    const p = established({ a: { units: ['majorSync'] } });
    expectRejected(p, () => p.A.machine.syncMinor(), 'ERR_UNIT_NOT_SELECTED', { unit: 'minorSync' });
    expectRejected(p, () => p.A.machine.confirmMinorSync(), 'ERR_NOTHING_TO_CONFIRM');
    expectRejected(p, () => p.B.machine.syncMajor(), 'ERR_TOKEN_NOT_HELD', { token: 'majorActivity' });

    const q = established();
    expectRejected(q, () => q.B.machine.syncMinor(), 'ERR_TOKEN_NOT_HELD', { token: 'minorSync' });
    q.A.machine.giveTokens(['minorSync']);
    q.settle();
    // A major sync needs every available token: minor sync too.
    expectRejected(q, () => q.A.machine.syncMajor(), 'ERR_TOKEN_NOT_HELD', { token: 'minorSync' });
    expectRejected(q, () => q.B.machine.syncMajor(), 'ERR_TOKEN_NOT_HELD', { token: 'majorActivity' });
  });

  it('half duplex: sync points also need the data token', () => {
    const p = established({ a: { modes: ['halfDuplex'], units: ['minorSync', 'majorSync'] } });
    const A = p.A.machine;
    const m = mark(p);
    expect(A.syncMinor()).toBe(1);
    A.giveTokens(['data']);
    expectRejected(p, () => A.syncMinor(), 'ERR_TOKEN_NOT_HELD', { token: 'data' });
    expectRejected(p, () => A.syncMajor(), 'ERR_TOKEN_NOT_HELD', { token: 'data' });
    p.settle();
    expect(ladderSince(p, m)).toEqual(['A>MINOR_SYNC', 'A>GIVE_TOKENS']);
    expect(eventsSince(p.B, m).map((e) => e.type)).toEqual(['sync-minor', 'tokens-given']);
    expect(view(p.A)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 2,
      activity: null,
    });
    expect(view(p.B)).toEqual({ state: 'established', tokens: ['data'], serial: 2, activity: null });
  });
});
