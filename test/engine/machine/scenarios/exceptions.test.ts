// Exception reporting: S-U-EXCEPTION-REPORT (EXCEPTION_DATA) from the side without the data
// token, and how the data token holder clears the exception condition.

import { describe, expect, it } from 'vitest';
import { bytes, established, eventsSince, expectRejected, framesSince, ladderSince, mark, view } from './scenario.js';
import type { Pair } from './scenario.js';

function halfDuplexWithExceptions(): Pair {
  return established({ a: { modes: ['halfDuplex'], units: ['exceptions', 'minorSync', 'resynchronize'] } });
}

describe('exceptions', () => {
  it('the side without the data token reports; the holder is blocked until it gives the data token', () => {
    const p = halfDuplexWithExceptions();
    const A = p.A.machine;
    const B = p.B.machine;
    const m = mark(p);
    B.reportException(9, bytes('bad'));
    p.settle();
    expectRejected(p, () => A.sendData(bytes('x')), 'ERR_EXCEPTION_PENDING');
    expectRejected(p, () => A.syncMinor(), 'ERR_EXCEPTION_PENDING');
    A.giveTokens(['data']);
    p.settle();
    B.sendData(bytes('fixed'));
    p.settle();

    expect(ladderSince(p, m)).toEqual(['B>EXCEPTION_DATA', 'A>GIVE_TOKENS', 'B>DATA']);
    expect(framesSince(p, m)[0]).toEqual({ type: 'EXCEPTION_DATA', reason: 9, userData: bytes('bad') });
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'exception', from: 'user', reason: 9, userData: 'bad', message: '' },
      { type: 'data', payload: 'fixed' },
    ]);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'tokens-given', tokens: ['data'] }]);
    expect(view(p.A)).toEqual({ state: 'established', tokens: ['minorSync'], serial: 1, activity: null });
    expect(view(p.B)).toEqual({ state: 'established', tokens: ['data'], serial: 1, activity: null });
  });

  it('a resynchronize also clears the exception condition', () => {
    const p = halfDuplexWithExceptions();
    const A = p.A.machine;
    const m = mark(p);
    p.B.machine.reportException(1);
    p.settle();
    expectRejected(p, () => A.sendData(bytes('x')), 'ERR_EXCEPTION_PENDING');
    A.resynchronize('abandon');
    p.settle();
    p.B.machine.respondResync();
    p.settle();
    A.sendData(bytes('after'));
    p.settle();

    expect(ladderSince(p, m)).toEqual(['B>EXCEPTION_DATA', 'A>RESYNC', 'B>RESYNC_ACK', 'A>DATA']);
    expect(eventsSince(p.A, m).map((e) => e.type)).toEqual(['exception', 'resync-complete']);
    expect(eventsSince(p.B, m).map((e) => e.type)).toEqual(['resync', 'data']);
    expect(view(p.A).tokens).toEqual(['data', 'minorSync']);
  });

  it('exception commands that are not allowed fail at once and change nothing', () => {
    const p = halfDuplexWithExceptions();
    expectRejected(p, () => p.A.machine.reportException(1), 'ERR_TOKEN_HELD', { token: 'data' });
    expectRejected(p, () => p.B.machine.reportException(256), 'ERR_INVALID_ARGUMENT', { reason: 256 });

    // The exceptions unit needs half duplex: with full duplex it is dropped at connect.
    const q = established({ a: { modes: ['fullDuplex'], units: ['exceptions'] } });
    expect(q.A.machine.negotiated?.units.has('exceptions')).toBe(false);
    expectRejected(q, () => q.B.machine.reportException(1), 'ERR_UNIT_NOT_SELECTED', { unit: 'exceptions' });
  });
});
