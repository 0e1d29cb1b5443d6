// Resume: after a transport cut the initiator presents RESUME (session ID, secret, frames received)
// on a new transport; the acceptor answers RESUMED (its own count) and each side replays what the
// other lacks. A wrong secret is refused without ending the session; a window that runs out ends it.

import { describe, expect, it } from 'vitest';
import { ResumeRefuseReason } from '../../../../src/engine/frames.js';
import {
  bytes,
  established,
  eventsSince,
  expectRejected,
  framesSince,
  ladderSince,
  mark,
  RESUME_SECRET,
  SESSION_ID,
  text,
  view,
} from './scenario.js';
import type { Pair } from './scenario.js';

function payloads(p: Pair, side: 'A' | 'B'): string[] {
  return p[side].events.flatMap((e) => (e.type === 'data' ? [text(e.payload)] : []));
}

describe('resume', () => {
  it('replays exactly what each side lacks; RESUME and RESUMED carry the counts', () => {
    const p = established();
    const A = p.A.machine;
    const B = p.B.machine;
    A.sendData(bytes('a0'));
    B.sendData(bytes('b0'));
    p.settle(); // delivered, not yet acknowledged (acks are lazy)
    A.sendData(bytes('a1'));
    A.sendData(bytes('a2'));
    B.sendData(bytes('b1'));
    p.pump(); // on the wire, never delivered
    p.cut();
    expect([p.A.events.at(-1), p.B.events.at(-1)]).toEqual([{ type: 'interrupted' }, { type: 'interrupted' }]);
    expect([A.state, B.state]).toEqual(['interrupted', 'interrupted']);
    A.sendData(bytes('a3')); // sent while interrupted: queued
    expectRejected(p, () => B.accept(), 'ERR_INVALID_STATE', { state: 'interrupted' });

    const m = mark(p);
    p.connectTransport();
    p.settle();
    expect(ladderSince(p, m)).toEqual(['A>RESUME', 'B>RESUMED', 'B>DATA', 'A>DATA', 'A>DATA', 'A>DATA']);
    expect(framesSince(p, m).slice(0, 2)).toEqual([
      { type: 'RESUME', sessionId: SESSION_ID, resumeSecret: RESUME_SECRET, received: 1, acked: 0 },
      { type: 'RESUMED', received: 1 },
    ]);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'resumed', replayed: 2 },
      { type: 'data', payload: 'b1' },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'resumed', replayed: 1 },
      { type: 'data', payload: 'a1' },
      { type: 'data', payload: 'a2' },
      { type: 'data', payload: 'a3' },
    ]);
    expect(payloads(p, 'B')).toEqual(['a0', 'a1', 'a2', 'a3']);
    expect(payloads(p, 'A')).toEqual(['b0', 'b1']);
    expect([A.state, B.state]).toEqual(['established', 'established']);
    p.advance(100);
    expect(A.stats).toMatchObject({ sent: 4, received: 2, acknowledged: 4, replayFrames: 0 });
    expect(B.stats).toMatchObject({ sent: 2, received: 4, acknowledged: 2, replayFrames: 0 });
  });

  it('dialogue state survives the cut: tokens, serials and a pending major sync carry on', () => {
    const p = established();
    const A = p.A.machine;
    A.syncMinor();
    A.syncMajor(bytes('mj'));
    p.pump();
    p.cut(0);
    const m = mark(p);
    p.connectTransport();
    p.settle();
    p.B.machine.confirmMajorSync();
    p.settle();
    expect(ladderSince(p, m)).toEqual(['A>RESUME', 'B>RESUMED', 'A>MINOR_SYNC', 'A>MAJOR_SYNC', 'B>MAJOR_SYNC_ACK']);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'resumed', replayed: 2 },
      { type: 'sync-major-confirmed', serial: 2, userData: '' },
    ]);
    expect(view(p.A)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 3,
      activity: null,
    });
    expect(view(p.B)).toEqual({ state: 'established', tokens: [], serial: 3, activity: null });
  });

  it('a RESUME with the wrong secret or an unknown session is refused; the session itself lives on', () => {
    const p = established();
    p.A.machine.sendData(bytes('before'));
    p.pump();
    p.cut(0);
    // A forger reaches B on a fresh transport with hand-built RESUME frames.
    const m = mark(p);
    p.connected = true;
    p.B.machine.handleTransportUp(p.now);
    const wrongSecret = RESUME_SECRET.map((b) => b ^ 0xff);
    p.B.machine.handleFrame({ type: 'RESUME', sessionId: SESSION_ID, resumeSecret: wrongSecret, received: 0 }, p.now);
    p.B.machine.handleFrame(
      { type: 'RESUME', sessionId: new Uint8Array(16), resumeSecret: RESUME_SECRET, received: 0 },
      p.now,
    );
    p.pump();

    expect(ladderSince(p, m, { acks: true })).toEqual(['B>RESUME_REFUSED', 'B>RESUME_REFUSED']);
    expect(framesSince(p, m)).toEqual([
      { type: 'RESUME_REFUSED', reason: ResumeRefuseReason.wrongSecret, message: 'wrong resume secret' },
      { type: 'RESUME_REFUSED', reason: ResumeRefuseReason.unknown, message: 'no such session' },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'close-transport', error: { code: 'ERR_RESUME_REFUSED', origin: 'local' } },
      { type: 'close-transport', error: { code: 'ERR_RESUME_REFUSED', origin: 'local' } },
    ]);
    expect(p.eventsOf(p.B, 'close-transport').map((e) => e.type === 'close-transport' && e.error.details)).toEqual([
      { reason: ResumeRefuseReason.wrongSecret },
      { reason: ResumeRefuseReason.unknown },
    ]);
    expect(p.B.machine.state).toBe('interrupted');

    // B closes the forger's transport; the real initiator then resumes.
    p.cut(0);
    const m2 = mark(p);
    p.connectTransport();
    p.settle();
    expect(ladderSince(p, m2)).toEqual(['A>RESUME', 'B>RESUMED', 'A>DATA']);
    expect(eventsSince(p.A, m2)).toEqual([{ type: 'resumed', replayed: 1 }]);
    expect(eventsSince(p.B, m2)).toEqual([
      { type: 'resumed', replayed: 0 },
      { type: 'data', payload: 'before' },
    ]);
  });

  it('the resume window runs out: both sides close with ERR_RESUME_WINDOW_EXPIRED, no frame needed', () => {
    const p = established({ a: { resumeWindowMs: 5000 } });
    p.A.machine.sendData(bytes('lost'));
    p.pump();
    p.cut(0);
    const m = mark(p);
    p.advance(4999);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['interrupted', 'interrupted']);
    p.advance(1);

    expect(ladderSince(p, m, { acks: true })).toEqual([]);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'closed', error: { code: 'ERR_RESUME_WINDOW_EXPIRED', origin: 'local' } },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'closed', error: { code: 'ERR_RESUME_WINDOW_EXPIRED', origin: 'local' } },
    ]);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['closed', 'closed']);
    // A closed initiator does not try to resume on a new transport.
    p.connectTransport();
    p.settle();
    expect(ladderSince(p, m, { acks: true })).toEqual([]);
  });

  it("a RESUME arriving after the acceptor's window ran out is refused as expired", () => {
    const p = established({ a: { resumeWindowMs: 5000 } });
    // B notices the dead transport 3 s before A does, so its window ends first.
    p.B.machine.handleTransportDown(p.now);
    p.advance(3000);
    p.cut(0);
    p.advance(2500);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['interrupted', 'closed']);
    const m = mark(p);
    p.connectTransport();
    p.settle();

    expect(ladderSince(p, m, { acks: true })).toEqual(['A>RESUME', 'B>RESUME_REFUSED']);
    expect(framesSince(p, m)[1]).toMatchObject({ type: 'RESUME_REFUSED', reason: ResumeRefuseReason.expired });
    expect(eventsSince(p.A, m)).toEqual([{ type: 'closed', error: { code: 'ERR_RESUME_REFUSED', origin: 'remote' } }]);
    expect(p.A.events.at(-1)).toMatchObject({ error: { details: { reason: ResumeRefuseReason.expired } } });
    expect(p.A.machine.state).toBe('closed');
  });

  it("replayOverflow 'block' (default): a send that finds the queue full while disconnected is refused; the session resumes", () => {
    const p = established({ b: { maxSendQueueBytes: 10 } });
    p.cut(0);
    p.B.machine.sendData(bytes('12345678'));
    expectRejected(p, () => p.B.machine.sendData(bytes('abc')), 'ERR_SEND_BUFFER_FULL', { queuedBytes: 8 });
    const m = mark(p);
    p.connectTransport();
    p.settle();
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['established', 'established']);
    expect(eventsSince(p.A, m)).toContainEqual({ type: 'data', payload: '12345678' });
  });

  it("replayOverflow 'fail': the send that overflows while disconnected ends the session with ERR_REPLAY_OVERFLOW; a RESUME is refused as overflowed", () => {
    const p = established({ b: { replayOverflow: 'fail', maxSendQueueBytes: 10 } });
    p.cut(0);
    p.B.machine.sendData(bytes('12345678'));
    expect(p.B.machine.state).toBe('interrupted');
    const m0 = mark(p);
    let error: unknown;
    try {
      p.B.machine.sendData(bytes('abc'));
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ERR_REPLAY_OVERFLOW' });
    expect(p.B.machine.state).toBe('closed');
    p.pump();
    expect(eventsSince(p.B, m0)).toEqual([{ type: 'closed', error: { code: 'ERR_REPLAY_OVERFLOW', origin: 'local' } }]);

    const m = mark(p);
    p.connectTransport();
    p.settle();
    expect(ladderSince(p, m, { acks: true })).toEqual(['A>RESUME', 'B>RESUME_REFUSED']);
    expect(framesSince(p, m)[1]).toMatchObject({ type: 'RESUME_REFUSED', reason: ResumeRefuseReason.overflowed });
    expect(p.A.machine.state).toBe('closed');
    expect(p.A.events.at(-1)).toMatchObject({
      type: 'closed',
      error: { code: 'ERR_RESUME_REFUSED', details: { reason: ResumeRefuseReason.overflowed } },
    });
  });

  it('a release interrupted by a cut completes on resume: the released acceptor replays its DISCONNECT', () => {
    const p = established();
    p.A.machine.release();
    p.settle();
    p.B.machine.respondRelease(true);
    p.pump();
    p.cut(0);
    // The acceptor's DISCONNECT left before the cut: its release is complete (see release-cut.test.ts).
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['interrupted', 'closed']);
    expect(p.B.events.at(-1)).toEqual({ type: 'closed' });
    const m = mark(p);
    p.connectTransport();
    p.settle();
    expect(ladderSince(p, m, { acks: true })).toEqual(['A>RESUME', 'B>RESUMED', 'B>DISCONNECT', 'A>ACK']);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'resumed', replayed: 0 }, { type: 'closed' }]);
    expect(eventsSince(p.B, m)).toEqual([]);
  });
});
