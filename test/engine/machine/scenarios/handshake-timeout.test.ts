// Handshake timeout: a connect or resume handshake must finish within handshakeTimeoutMs.
// An unanswered CONNECT ends the attempt with ABORT (reason timeout); an unanswered RESUME only
// drops that transport: the session stays interrupted and may try again within its window.

import { describe, expect, it, vi } from 'vitest';
import { AbortReason } from '../../../../src/engine/frames.js';
import { bytes, established, eventsSince, expectRejected, framesSince, ladderSince, mark, Pair } from './scenario.js';

describe('handshake timeout', () => {
  it('CONNECT unanswered: the initiator aborts after handshakeTimeoutMs (ERR_HANDSHAKE_TIMEOUT)', () => {
    const p = new Pair({ trace: true, a: { handshakeTimeoutMs: 3000 } });
    const m = mark(p);
    p.connectTransport();
    p.advance(2999);
    // The acceptor's application has not answered connect-request yet.
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['connecting', 'accepting']);
    p.advance(1);
    p.settle();

    expect(ladderSince(p, m, { acks: true })).toEqual(['A>CONNECT', 'A>ABORT']);
    expect(framesSince(p, m)[1]).toMatchObject({ type: 'ABORT', reason: AbortReason.timeout });
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'closed', error: { code: 'ERR_HANDSHAKE_TIMEOUT', origin: 'local' } },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      expect.objectContaining({ type: 'connect-request' }),
      { type: 'closed', error: { code: 'ERR_ABORTED', origin: 'remote' } },
    ]);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['closed', 'closed']);
    // Too late to answer.
    expectRejected(p, () => p.B.machine.accept(), 'ERR_INVALID_STATE', { state: 'closed' });
  });

  it("nothing arrives on the acceptor's new transport: it aborts after its own handshakeTimeoutMs", () => {
    const p = new Pair({ trace: true, b: { handshakeTimeoutMs: 2000 } });
    // The initiator never speaks on this transport.
    vi.spyOn(p.A.machine, 'handleTransportUp').mockImplementation(() => {});
    const m = mark(p);
    p.connectTransport();
    p.advance(2000);
    p.settle();

    expect(ladderSince(p, m, { acks: true })).toEqual(['B>ABORT']);
    expect(framesSince(p, m)[0]).toMatchObject({ type: 'ABORT', reason: AbortReason.timeout });
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'closed', error: { code: 'ERR_HANDSHAKE_TIMEOUT', origin: 'local' } },
    ]);
    expect(p.B.machine.state).toBe('closed');
  });

  it('RESUME unanswered: the initiator drops that transport, stays interrupted, and resumes on the next', () => {
    const p = established({ a: { handshakeTimeoutMs: 1000 } });
    p.A.machine.sendData(bytes('queued'));
    p.pump();
    p.cut(0);
    // B's process is stuck: it takes the transport but reads nothing from it.
    const stuck = vi.spyOn(p.B.machine, 'handleFrame').mockImplementation(() => {});
    const m = mark(p);
    p.connectTransport();
    p.advance(1000);

    expect(ladderSince(p, m, { acks: true })).toEqual(['A>RESUME']);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'close-transport', error: { code: 'ERR_HANDSHAKE_TIMEOUT', origin: 'local' } },
    ]);
    expect(p.A.machine.state).toBe('interrupted');
    expect(p.A.machine.isAttached).toBe(false);

    stuck.mockRestore();
    p.cut(0);
    const m2 = mark(p);
    p.connectTransport();
    p.settle();
    expect(ladderSince(p, m2)).toEqual(['A>RESUME', 'B>RESUMED', 'A>DATA']);
    expect(eventsSince(p.A, m2)).toEqual([{ type: 'resumed', replayed: 1 }]);
    expect(eventsSince(p.B, m2)).toEqual([
      { type: 'resumed', replayed: 0 },
      { type: 'data', payload: 'queued' },
    ]);
  });
});
