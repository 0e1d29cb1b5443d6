// Regressions found by review of the scenario suite; each test names the rule it pins down.

import { describe, expect, it } from 'vitest';
import { RESUME_SECRET, SESSION_ID } from '../../support/pair.js';
import { established, eventsSince, expectRejected, ladderSince, mark } from './scenario.js';

describe('regressions', () => {
  it('restart and abandon refuse a fractional serial up front (nothing is sent)', () => {
    const p = established();
    p.A.machine.syncMinor();
    p.settle();
    expectRejected(p, () => p.A.machine.resynchronize('restart', { serial: 1.5 }), 'ERR_INVALID_ARGUMENT');
    expectRejected(p, () => p.A.machine.resynchronize('abandon', { serial: 7.25 }), 'ERR_INVALID_ARGUMENT');
  });

  it('confirming a major sync point also confirms the minor points before it (no late MINOR_SYNC_ACK)', () => {
    const p = established();
    const [A, B] = [p.A.machine, p.B.machine];
    A.syncMinor({ confirm: true });
    A.syncMajor();
    p.settle();
    B.confirmMajorSync();
    expectRejected(p, () => B.confirmMinorSync(), 'ERR_NOTHING_TO_CONFIRM');
  });

  it('interrupting an activity voids the minor points the interrupter had yet to confirm (found by the property test, seed 30877647)', () => {
    const p = established({ a: { units: ['activities', 'minorSync', 'majorSync'] } });
    const [A, B] = [p.A.machine, p.B.machine];
    A.startActivity(new Uint8Array([1]));
    A.syncMinor({ confirm: true });
    A.giveTokens(['majorActivity']);
    p.settle();
    // B owes a confirmation for point 1, then interrupts the activity instead.
    B.interruptActivity(1);
    p.settle();
    A.confirmActivityInterrupt();
    p.settle();
    expectRejected(p, () => B.confirmMinorSync(), 'ERR_NOTHING_TO_CONFIRM');
    expect(A.state).toBe('established');
    expect(B.state).toBe('established');
  });

  it("issuing a minor sync point gives up the right to confirm the peer's earlier points (property test, seed 202 at 5,000 runs)", () => {
    // X.225's Vsc: only the side that did not issue the latest sync point may confirm. Before,
    // B confirmed A's point 1 after A had confirmed B's point 2 (V(A) 3 on A), and A aborted.
    const p = established({
      a: { modes: ['simplex'], units: ['typedData', 'expedited', 'minorSync', 'resynchronize'] },
    });
    const [A, B] = [p.A.machine, p.B.machine];
    A.syncMinor({ confirm: true });
    A.giveTokens(['minorSync']);
    p.settle();
    B.syncMinor({ confirm: true });
    p.settle();
    A.confirmMinorSync();
    p.settle();
    expectRejected(p, () => B.confirmMinorSync(), 'ERR_NOTHING_TO_CONFIRM');
    p.advance(100);
    expect([A.state, B.state]).toEqual(['established', 'established']);
    expect(A.serial).toBe(B.serial);
  });

  it('issuing a major sync point voids the minor points the issuer still owed a confirmation for', () => {
    const p = established();
    const [A, B] = [p.A.machine, p.B.machine];
    A.syncMinor({ confirm: true });
    A.giveTokens(A.tokens);
    p.settle();
    B.syncMajor();
    p.settle();
    A.confirmMajorSync();
    expectRejected(p, () => B.confirmMinorSync(), 'ERR_NOTHING_TO_CONFIRM');
    p.advance(100);
    expect([A.state, B.state]).toEqual(['established', 'established']);
  });

  it('ending an activity voids the minor points the ender still owed a confirmation for', () => {
    const p = established({ a: { units: ['activities', 'minorSync', 'majorSync'] } });
    const [A, B] = [p.A.machine, p.B.machine];
    A.startActivity(new Uint8Array([1]));
    A.syncMinor({ confirm: true });
    A.giveTokens(A.tokens);
    p.settle();
    B.endActivity();
    p.settle();
    A.confirmActivityEnd();
    expectRejected(p, () => B.confirmMinorSync(), 'ERR_NOTHING_TO_CONFIRM');
    p.advance(100);
    expect([A.state, B.state]).toEqual(['established', 'established']);
  });

  it('a minor sync confirmation crossing an activity interrupt still moves V(A) on the interrupter (sweep, seed 388295106)', () => {
    // B confirms point 1 (its V(A) becomes 2) while A's interrupt is on the way; A used to drop
    // the late MINOR_SYNC_ACK and keep V(A) 1, so the sides disagreed at rest.
    const p = established({ a: { modes: ['halfDuplex'], units: ['activities', 'minorSync', 'majorSync'] } });
    const [A, B] = [p.A.machine, p.B.machine];
    A.startActivity(new Uint8Array([1]));
    A.syncMinor({ confirm: true });
    p.settle();
    B.confirmMinorSync();
    A.interruptActivity(1);
    p.settle();
    B.confirmActivityInterrupt();
    p.settle();
    expect(p.A.events.map((e) => e.type)).not.toContain('sync-minor-confirmed');
    expect(A.snapshot().dialogue.va).toBe(B.snapshot().dialogue.va);
    expect([A.state, B.state]).toEqual(['established', 'established']);
  });

  it('a MINOR_SYNC_ACK for an already confirmed point is a protocol violation', () => {
    const p = established({ trace: true });
    const [A, B] = [p.A.machine, p.B.machine];
    A.syncMinor({ confirm: true });
    p.settle();
    B.confirmMinorSync();
    p.settle();
    A.handleFrame({ type: 'MINOR_SYNC_ACK', serial: 1, userData: new Uint8Array(0) }, p.now);
    p.pump();
    expect(A.state).toBe('closed');
    expect(p.A.events.at(-1)).toMatchObject({ type: 'closed', error: { code: 'ERR_PROTOCOL_VIOLATION' } });
  });

  it('RESUME on a transport that already carries the session is a protocol violation, not an internal error', () => {
    const p = established({ trace: true });
    const m = mark(p);
    p.B.machine.handleFrame({ type: 'RESUME', sessionId: SESSION_ID, resumeSecret: RESUME_SECRET, received: 0 }, p.now);
    p.pump();
    expect(ladderSince(p, m, { acks: true })).toEqual(['B>ABORT']);
    expect(eventsSince(p.B, m)).toMatchObject([{ type: 'closed', error: { code: 'ERR_PROTOCOL_VIOLATION' } }]);
  });

  it('release is refused while an exception report is pending', () => {
    const p = established({ a: { modes: ['halfDuplex'], units: ['exceptions', 'minorSync'] } });
    p.B.machine.reportException(1);
    p.settle();
    expectRejected(p, () => p.A.machine.release(), 'ERR_EXCEPTION_PENDING');
  });

  it('V(R) is 0 after connect: a restart may go back to serial 0', () => {
    const p = established();
    expect(p.A.machine.resynchronize('restart', { serial: 0 })).toBe(0);
  });

  it('an EXCEPTION_REPORT without the exceptions unit is a protocol violation', () => {
    const p = established();
    p.B.machine.handleFrame({ type: 'EXCEPTION_REPORT', reason: 1, message: 'x' }, p.now);
    expect(p.B.machine.state).toBe('closed');
  });
});

describe('heartbeat liveness counts bytes, not only whole frames', () => {
  it('a peer whose large frame trickles in is not declared dead', () => {
    const p = established({ a: { heartbeatMs: 100 }, b: { heartbeatMs: 100 } });
    const B = p.B.machine;
    // Nothing complete arrives for 10 intervals, but bytes do, every 50 ms.
    for (let t = 50; t <= 1000; t += 50) {
      B.handleProgress(p.now + t);
      B.handleTimeout(p.now + t);
    }
    expect(B.state).toBe('established');
    const events = [];
    for (let e = B.pollEvent(); e; e = B.pollEvent()) events.push(e.type);
    expect(events).not.toContain('close-transport');
  });
});
