// Orderly release (S-RELEASE): FINISH answered by DISCONNECT (accepted) or NOT_FINISHED (refused,
// negotiated release only), and the FINISH collision when no tokens exist.
// ACK frames are part of these ladders: the side that receives DISCONNECT acknowledges it at once,
// and that ACK is what lets the other side close.

import { describe, expect, it } from 'vitest';
import { bytes, established, eventsSince, expectRejected, ladderSince, mark, view } from './scenario.js';

describe('release', () => {
  it('accepted: FINISH, DISCONNECT, ACK; the peer may still send before answering; both close', () => {
    const p = established();
    const A = p.A.machine;
    const B = p.B.machine;
    expectRejected(p, () => B.release(), 'ERR_TOKEN_NOT_HELD', { token: 'minorSync' });
    expectRejected(p, () => B.respondRelease(true), 'ERR_NOTHING_TO_CONFIRM');
    const m = mark(p);
    A.release(bytes('bye'));
    expectRejected(p, () => A.sendData(bytes('x')), 'ERR_CONFIRM_PENDING', { pending: 'release' });
    expectRejected(p, () => A.release(), 'ERR_CONFIRM_PENDING', { pending: 'release' });
    p.settle();
    B.sendData(bytes('last words'));
    B.respondRelease(true, bytes('ok'));
    expectRejected(p, () => B.sendData(bytes('x')), 'ERR_INVALID_STATE', { state: 'releasing' });
    p.settle();

    expect(ladderSince(p, m, { acks: true })).toEqual(['A>FINISH', 'B>DATA', 'B>DISCONNECT', 'A>ACK']);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'release-request', userData: 'bye' }, { type: 'closed' }]);
    // The DISCONNECT's user data reaches the requester on its closed event.
    expect(eventsSince(p.A, m)).toMatchObject([
      { type: 'data', payload: 'last words' },
      { type: 'closed', userData: 'ok' },
    ]);
    expect(eventsSince(p.A, m)[1]?.error).toBeUndefined();
    expect(view(p.A)).toEqual({ state: 'closed', tokens: ['minorSync', 'majorActivity'], serial: 1, activity: null });
    expect(view(p.B)).toEqual({ state: 'closed', tokens: [], serial: 1, activity: null });
    expectRejected(p, () => A.sendData(bytes('x')), 'ERR_INVALID_STATE', { state: 'closed' });
    expectRejected(p, () => B.release(), 'ERR_INVALID_STATE', { state: 'closed' });
  });

  it('refused with negotiated release: FINISH, NOT_FINISHED; the session goes on', () => {
    const p = established({ a: { units: ['minorSync', 'negotiatedRelease'] } });
    const A = p.A.machine;
    const B = p.B.machine;
    expect(view(p.A).tokens).toEqual(['minorSync', 'release']);
    const m = mark(p);
    A.release(bytes('may I?'));
    p.settle();
    B.respondRelease(false, bytes('not yet'));
    expectRejected(p, () => B.respondRelease(true), 'ERR_NOTHING_TO_CONFIRM');
    p.settle();
    A.sendData(bytes('more'));
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>FINISH', 'B>NOT_FINISHED', 'A>DATA']);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'release-request', userData: 'may I?' },
      { type: 'data', payload: 'more' },
    ]);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'release-refused', userData: 'not yet' }]);
    expect(view(p.A)).toEqual({ state: 'established', tokens: ['minorSync', 'release'], serial: 1, activity: null });
    expect(view(p.B)).toEqual({ state: 'established', tokens: [], serial: 1, activity: null });

    // With the release token given away, only its new holder may release.
    A.giveTokens(['release']);
    p.settle();
    expectRejected(p, () => A.release(), 'ERR_TOKEN_NOT_HELD', { token: 'release' });
  });

  it('refusal is not allowed without negotiated release: ERR_UNIT_NOT_SELECTED, and the request still awaits its answer', () => {
    const p = established();
    const m = mark(p);
    p.A.machine.release();
    p.settle();
    expectRejected(p, () => p.B.machine.respondRelease(false, bytes('no')), 'ERR_UNIT_NOT_SELECTED', {
      unit: 'negotiatedRelease',
    });
    p.B.machine.respondRelease(true);
    p.settle();
    expect(ladderSince(p, m, { acks: true })).toEqual(['A>FINISH', 'B>DISCONNECT', 'A>ACK']);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['closed', 'closed']);
  });

  it("both release at once when no tokens exist: FINISH, FINISH; the acceptor answers the initiator's with DISCONNECT", () => {
    const p = established({ a: { modes: ['fullDuplex'], units: [] } });
    expect(p.A.machine.negotiated?.tokens).toEqual([]);
    const m = mark(p);
    p.A.machine.release(bytes('a done'));
    p.B.machine.release(bytes('b done'));
    p.settle();

    expect(ladderSince(p, m, { acks: true })).toEqual(['A>FINISH', 'B>FINISH', 'B>DISCONNECT', 'A>ACK']);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'closed' }]);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'closed' }]);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['closed', 'closed']);
  });
});
