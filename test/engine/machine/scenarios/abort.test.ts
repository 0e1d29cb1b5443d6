// Abort: S-U-ABORT (the application's `abort()`) and S-P-ABORT (the machine aborting on a
// protocol violation). One ABORT frame; both sides closed at once, queued data lost.

import { describe, expect, it } from 'vitest';
import { AbortReason } from '../../../../src/engine/frames.js';
import {
  bytes,
  eventsSince,
  established,
  expectRejected,
  framesSince,
  ladderSince,
  mark,
  Pair,
  view,
} from './scenario.js';

describe('abort', () => {
  it('user abort: one ABORT frame with reason and user data; queued data is dropped; both closed', () => {
    const p = established();
    const A = p.A.machine;
    const m = mark(p);
    A.sendData(bytes('never sent'));
    A.abort('bye', bytes('ud'));
    p.settle();

    expect(ladderSince(p, m, { acks: true })).toEqual(['A>ABORT']);
    expect(framesSince(p, m)).toEqual([
      { type: 'ABORT', reason: AbortReason.user, message: 'bye', userData: bytes('ud') },
    ]);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'closed', error: { code: 'ERR_ABORTED', origin: 'local' } }]);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'closed', error: { code: 'ERR_ABORTED', origin: 'remote' } }]);
    expect(p.B.events.at(-1)).toMatchObject({
      error: { message: 'bye', details: { reason: AbortReason.user, userData: bytes('ud') } },
    });
    expect(view(p.A).state).toBe('closed');
    expect(view(p.B).state).toBe('closed');

    // Once closed, commands fail with the state, and a second abort is a no-op.
    expectRejected(p, () => A.sendData(bytes('x')), 'ERR_INVALID_STATE', { state: 'closed' });
    expectRejected(p, () => p.B.machine.syncMinor(), 'ERR_INVALID_STATE', { state: 'closed' });
    const m2 = mark(p);
    A.abort();
    p.settle();
    expect(ladderSince(p, m2, { acks: true })).toEqual([]);
    expect(eventsSince(p.A, m2)).toEqual([]);
  });

  it('the acceptor aborts while deciding on the connect: CONNECT, ABORT', () => {
    const p = new Pair({ trace: true });
    const m = mark(p);
    p.connectTransport();
    p.settle();
    expect(p.B.machine.state).toBe('accepting');
    p.B.machine.abort('busy');
    p.settle();

    expect(ladderSince(p, m, { acks: true })).toEqual(['A>CONNECT', 'B>ABORT']);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'closed', error: { code: 'ERR_ABORTED', origin: 'remote' } }]);
    expect(eventsSince(p.B, m)).toEqual([
      expect.objectContaining({ type: 'connect-request' }),
      { type: 'closed', error: { code: 'ERR_ABORTED', origin: 'local' } },
    ]);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['closed', 'closed']);
  });

  it('provider abort: a frame the peer may not send ends the session with ABORT (protocol error)', () => {
    const p = established();
    const m = mark(p);
    // A MAJOR_SYNC_ACK for a major sync B never made, as if A had sent it.
    p.B.machine.handleFrame({ type: 'MAJOR_SYNC_ACK', serial: 5, userData: bytes('') }, p.now);
    p.settle();

    expect(ladderSince(p, m, { acks: true })).toEqual(['B>ABORT']);
    expect(framesSince(p, m)[0]).toMatchObject({ type: 'ABORT', reason: AbortReason.protocolError });
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'closed', error: { code: 'ERR_PROTOCOL_VIOLATION', origin: 'remote' } },
    ]);
    expect(p.B.events.at(-1)).toMatchObject({ error: { details: { frame: 'MAJOR_SYNC_ACK', state: 'established' } } });
    expect(eventsSince(p.A, m)).toEqual([{ type: 'closed', error: { code: 'ERR_ABORTED', origin: 'remote' } }]);
    expect(p.A.events.at(-1)).toMatchObject({ error: { details: { reason: AbortReason.protocolError } } });
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['closed', 'closed']);
  });

  it('aborting while the transport is down sends nothing; the peer learns nothing until its window ends', () => {
    const p = established({ a: { resumeWindowMs: 5000 } });
    p.cut();
    const m = mark(p);
    p.A.machine.abort();
    p.advance(4999);
    expect(ladderSince(p, m, { acks: true })).toEqual([]);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'closed', error: { code: 'ERR_ABORTED', origin: 'local' } }]);
    expect(p.B.machine.state).toBe('interrupted');
    p.advance(1);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'closed', error: { code: 'ERR_RESUME_WINDOW_EXPIRED', origin: 'local' } },
    ]);
  });
});
