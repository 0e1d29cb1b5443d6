// Credentials refresh (Colloquy extension): REAUTH answered by REAUTH_RESULT, counted and replayed
// like every session frame.

import { describe, expect, it } from 'vitest';
import { bytes, established, eventsSince, expectRejected, ladderSince, mark } from './scenario.js';

describe('credentials refresh', () => {
  it('REAUTH, REAUTH_RESULT; one at a time; only the initiator asks, only the acceptor answers', () => {
    const p = established();
    const [A, B] = [p.A.machine, p.B.machine];
    expectRejected(p, () => B.refreshCredentials(bytes('x')), 'ERR_INVALID_STATE');
    expectRejected(p, () => B.answerReauth(true), 'ERR_NOTHING_TO_CONFIRM');
    const m = mark(p);
    A.refreshCredentials(bytes('token-2'));
    expectRejected(p, () => A.refreshCredentials(bytes('token-3')), 'ERR_CONFIRM_PENDING', { pending: 'reauth' });
    p.settle();
    expect(eventsSince(p.B, m)).toEqual([{ type: 'reauth', credentials: 'token-2' }]);
    B.answerReauth(false, 'expired');
    p.settle();
    expect(ladderSince(p, m)).toEqual(['A>REAUTH', 'B>REAUTH_RESULT']);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'reauth-result', accepted: false, message: 'expired' }]);
    A.refreshCredentials(bytes('token-3'));
    p.settle();
    B.answerReauth(true);
    p.settle();
    expect(eventsSince(p.A, m).at(-1)).toEqual({ type: 'reauth-result', accepted: true, message: '' });
  });

  it('a REAUTH cut in flight is replayed after the resume, exactly once', () => {
    const p = established();
    const m = mark(p);
    p.A.machine.refreshCredentials(bytes('token-2'));
    p.pump();
    p.cut(0);
    p.connectTransport();
    p.settle();
    expect(eventsSince(p.B, m).filter((e) => e.type === 'reauth')).toEqual([
      { type: 'reauth', credentials: 'token-2' },
    ]);
  });
});
