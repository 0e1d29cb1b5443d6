// Stale state: an acceptor rebuilt from a snapshot older than what the initiator has seen of the
// session (a store that lost its newest write, as a Redis failover can) is caught on RESUME by
// the counts the initiator carries (`received`, and `acked`: how many of its frames the acceptor
// acknowledged) and refused with stale-state; the session ends on both sides instead of replaying
// other frames under counts the initiator holds, or losing frames it dropped once acknowledged.

import { describe, expect, it } from 'vitest';
import { SessionError } from '../../../src/engine/errors.js';
import { ResumeRefuseReason } from '../../../src/engine/frames.js';
import type { Frame } from '../../../src/engine/frames.js';
import { SessionMachine } from '../../../src/engine/machine/index.js';
import type { SessionEvent } from '../../../src/engine/machine/index.js';
import { bytes, Pair, RESUME_SECRET, SESSION_ID, text } from '../support/pair.js';

function pair(): Pair {
  const p = new Pair({ trace: true, a: { modes: ['fullDuplex'] }, closeOnRequest: true });
  p.establish();
  p.advance(100);
  return p;
}

/** The acceptor crashes and comes back from `snapshot`, as a node restoring it from a store would. */
function restoreB(p: Pair, snapshot: ReturnType<SessionMachine['snapshot']>): void {
  p.cut();
  p.B.machine = SessionMachine.restore(snapshot, { heartbeatMs: 0 }, p.now);
  p.connectTransport();
  p.settle();
}

function closedError(events: SessionEvent[]): SessionError | undefined {
  const closed = events.find((e) => e.type === 'closed');
  return closed?.type === 'closed' ? closed.error : undefined;
}

function refusals(p: Pair): Frame[] {
  return p.wire.map((w) => w.frame).filter((f) => f.type === 'RESUME_REFUSED');
}

describe('stale state on resume', () => {
  it('the acceptor lost frames it had acknowledged: RESUME carries acked, refused stale-state, both ends close', () => {
    const p = pair();
    const old = p.B.machine.snapshot(); // received 0
    for (const s of ['a0', 'a1', 'a2']) p.A.machine.sendData(bytes(s));
    p.settle();
    p.advance(1000); // the lazy ACK goes out: A drops the three frames from its replay buffer
    expect(p.A.machine.acknowledgedCount).toBe(3);

    restoreB(p, old);
    const resume = p.wire.map((w) => w.frame).findLast((f) => f.type === 'RESUME');
    expect(resume).toMatchObject({ received: 0, acked: 3 });
    expect(refusals(p)).toEqual([
      {
        type: 'RESUME_REFUSED',
        reason: ResumeRefuseReason.staleState,
        message:
          'stale-state: 3 of your frames were acknowledged, this state of the session received 0; the newest state of the session was lost',
      },
    ]);
    expect(p.A.machine.state).toBe('closed');
    expect(closedError(p.A.events)).toMatchObject({
      code: 'ERR_RESUME_REFUSED',
      origin: 'remote',
      details: { reason: ResumeRefuseReason.staleState },
    });
    expect(p.B.machine.state).toBe('closed');
    expect(closedError(p.B.events)).toMatchObject({
      code: 'ERR_RESUME_REFUSED',
      origin: 'local',
      details: { reason: ResumeRefuseReason.staleState },
    });
    // Later RESUMEs of the session hear the same reason.
    expect(p.B.machine.checkResume(SESSION_ID, RESUME_SECRET)).toBe(ResumeRefuseReason.staleState);
  });

  it('the acceptor lost frames it had sent: the initiator received more than the state sent, refused stale-state', () => {
    const p = pair();
    const old = p.B.machine.snapshot(); // sent 0
    p.B.machine.sendData(bytes('b0'));
    p.B.machine.sendData(bytes('b1'));
    p.settle(); // A has them; B's newer state is lost

    restoreB(p, old);
    expect(refusals(p)).toMatchObject([
      {
        reason: ResumeRefuseReason.staleState,
        message: expect.stringMatching(/^stale-state: you received 2 frames, this state of the session sent 0/),
      },
    ]);
    expect(closedError(p.A.events)?.details.reason).toBe(ResumeRefuseReason.staleState);
    expect(p.B.machine.state).toBe('closed');
  });

  // What the counts cannot catch: a frame the lost state received and delivered to its service
  // but had not yet acknowledged. The initiator still holds it and replays it, so the service
  // hears it twice (docs/stores.md: what a failover can cost; WAIT makes it rarer).
  it('an older state that covers all the initiator has seen resumes: the unacknowledged frame is replayed', () => {
    const p = pair();
    p.A.machine.sendData(bytes('a0'));
    p.settle();
    p.advance(1000);
    const old = p.B.machine.snapshot(); // received 1, acknowledged
    p.A.machine.sendData(bytes('a1'));
    p.settle(); // received by the lost state, not yet acknowledged: A still holds it

    restoreB(p, old);
    expect(refusals(p)).toEqual([]);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['established', 'established']);
    const delivered = p.B.events.flatMap((e) => (e.type === 'data' ? [text(e.payload)] : []));
    expect(delivered).toEqual(['a0', 'a1', 'a1']); // a1 by the lost state, then again by the restored one
    expect(p.A.machine.state).toBe('established');
  });

  it('an initiator whose RESUME has no acked (older) hears invalid, a code it knows', () => {
    const p = pair();
    const old = p.B.machine.snapshot();
    p.B.machine.sendData(bytes('b0'));
    p.settle();
    p.cut();
    const b = SessionMachine.restore(old, { heartbeatMs: 0 }, p.now);
    b.handleTransportUp(p.now);
    b.handleFrame({ type: 'RESUME', sessionId: SESSION_ID, resumeSecret: RESUME_SECRET, received: 1 }, p.now);
    expect(b.pollFrame(p.now)).toMatchObject({ type: 'RESUME_REFUSED', reason: ResumeRefuseReason.invalid });
    expect(b.state).toBe('closed');
  });

  it('a count below what the initiator acknowledged is still invalid, not stale', () => {
    const p = pair();
    p.B.machine.sendData(bytes('b0'));
    p.settle();
    p.advance(1000); // A acknowledges b0: B drops it
    p.cut();
    const b = p.B.machine;
    p.B.machine.handleTransportUp(p.now);
    b.handleFrame({ type: 'RESUME', sessionId: SESSION_ID, resumeSecret: RESUME_SECRET, received: 0, acked: 0 }, p.now);
    expect(b.pollFrame(p.now)).toMatchObject({ type: 'RESUME_REFUSED', reason: ResumeRefuseReason.invalid });
    expect(b.state).toBe('interrupted'); // that transport is refused; the session waits for its real client
  });
});
