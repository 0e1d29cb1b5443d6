// A release cut short: the transport dies right after one of the release frames (FINISH,
// DISCONNECT, the ACK of the DISCONNECT) is put on the wire, before it arrives, in both
// directions (the initiator releases, or the acceptor does). The initiator then reconnects at
// once, as a client does. Whatever was lost, the release completes right after the resume
// handshake: both sides `closed` with no error, the DISCONNECT's user data delivered once, and
// nobody left waiting out the resume window. The requester closes within one round trip after
// the resume, the responder when the requester's ACK of the DISCONNECT reaches it (one way more;
// this is a whole release when the FINISH itself was lost).

import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../../../src/engine/machine/index.js';
import { bytes, chain, Pair, text } from './scenario.js';
import type { Side } from './scenario.js';

const LATENCY = 10;
const RTT = 2 * LATENCY;

type Releaser = 'A' | 'B';
/** How many of the release frames arrive before the cut (0: FINISH lost; 1: DISCONNECT lost; 2: the ACK lost). */
type Arrived = 0 | 1 | 2;

function releasePair(): Pair {
  const p = new Pair({ latency: LATENCY, trace: true, a: { modes: ['fullDuplex'], units: [] } });
  p.establish();
  p.advance(100);
  expect([p.A.machine.state, p.B.machine.state]).toEqual(['established', 'established']);
  return p;
}

type Closed = Extract<SessionEvent, { type: 'closed' }>;
const closes = (s: Side): Closed[] => s.events.filter((e): e is Closed => e.type === 'closed');

interface Run {
  p: Pair;
  resumedAt: number;
  closedAt: Map<Side, number>;
}

function run(releaser: Releaser, arrived: Arrived, answerAfterCut: boolean): Run {
  const p = releasePair();
  const closedAt = new Map<Side, number>();
  for (const s of [p.A, p.B])
    s.onEvent = chain(s.onEvent, (e) => {
      if (e.type === 'closed') closedAt.set(s, p.now);
    });
  const from = releaser === 'A' ? p.A : p.B;
  const to = p.other(from);
  const out = releaser === 'A' ? 'AtoB' : 'BtoA';
  const back = releaser === 'A' ? 'BtoA' : 'AtoB';
  let answer = !answerAfterCut;
  to.onEvent = chain(to.onEvent, (e) => {
    if (e.type === 'release-request' && answer) to.machine.respondRelease(true, bytes('bye'));
  });

  from.machine.release(bytes('done'));
  p.pump();
  expect(p.inFlight(out)).toHaveLength(1); // FINISH
  if (arrived >= 1) {
    p.deliverNext(out);
    if (!answerAfterCut) expect(p.inFlight(back)).toHaveLength(1); // DISCONNECT
  }
  if (arrived >= 2) {
    p.deliverNext(back);
    expect(from.machine.state).toBe('closed');
    expect(p.inFlight(out)).toHaveLength(1); // the ACK of the DISCONNECT
  }
  p.cut(0);
  if (answerAfterCut && arrived >= 1) {
    answer = true;
    to.machine.respondRelease(true, bytes('bye'));
    p.pump();
  }
  p.connectTransport();
  // The resume handshake (RESUME, RESUMED) takes one round trip.
  const resumedAt = p.now + RTT;
  p.advance(10 * RTT);
  return { p, resumedAt, closedAt };
}

describe('a release cut short completes on resume', () => {
  for (const releaser of ['A', 'B'] as const) {
    for (const arrived of [0, 1, 2] as const) {
      for (const answerAfterCut of arrived === 1 ? [false, true] : [false]) {
        const lost = ['FINISH', 'DISCONNECT', 'ACK of the DISCONNECT'][arrived];
        const who = releaser === 'A' ? 'the initiator' : 'the acceptor';
        const late = answerAfterCut ? ' (answered while cut off)' : '';
        it(`${who} releases; the ${lost} is lost${late}: both close normally within one round trip after the resume`, () => {
          const { p, resumedAt, closedAt } = run(releaser, arrived, answerAfterCut);
          const from = releaser === 'A' ? p.A : p.B;
          const to = p.other(from);
          expect([p.A.machine.state, p.B.machine.state]).toEqual(['closed', 'closed']);
          for (const s of [p.A, p.B]) {
            expect(closes(s), `${s.name} closes once`).toHaveLength(1);
            expect(closes(s)[0]?.error, `${s.name} closes without an error`).toBeUndefined();
          }
          // The requester gets the DISCONNECT's user data, once.
          const got = closes(from)[0]?.userData;
          expect(got && text(got)).toBe('bye');
          expect(to.events.filter((e) => e.type === 'release-request')).toHaveLength(1);
          expect(closedAt.get(from), 'the requester closes within one round trip after the resume').toBeLessThanOrEqual(
            resumedAt + RTT,
          );
          expect(closedAt.get(to), 'the responder closes when the ACK of its DISCONNECT arrives').toBeLessThanOrEqual(
            resumedAt + RTT + LATENCY,
          );
          // Nothing armed: nobody waits out the resume window.
          expect([p.A.machine.nextDeadline(), p.B.machine.nextDeadline()]).toEqual([undefined, undefined]);
        });
      }
    }
  }
});

describe('a released acceptor answers only a RESUME on the same transport', () => {
  it('its answer lost with that transport, it sends nothing on the next one before the RESUME comes (found by the explorer)', () => {
    const p = releasePair();
    p.B.onEvent = chain(p.B.onEvent, (e) => {
      if (e.type === 'release-request') p.B.machine.respondRelease(true);
    });
    p.A.machine.release();
    p.pump();
    p.deliverNext('AtoB'); // FINISH; the DISCONNECT goes out
    p.cut(0); // and is lost: the acceptor closes, the initiator will come back for it
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['interrupted', 'closed']);
    // The RESUME arrives, and the transport dies before the acceptor's answer (RESUMED, then the
    // DISCONNECT again) is written: as when the initiator gives up on its handshake meanwhile.
    p.connectTransport();
    const a = p.A.machine;
    p.B.machine.handleFrame(
      {
        type: 'RESUME',
        sessionId: a.sessionId as Uint8Array,
        resumeSecret: a.resumeSecret as Uint8Array,
        received: a.stats.received,
      },
      p.now,
    );
    p.cut(0);
    // The next transport: nothing from the acceptor until the initiator's RESUME has arrived.
    const m = p.wire.length;
    p.connectTransport();
    p.advance(10 * RTT);
    expect(p.wire.slice(m).map((w) => `${w.from}>${w.frame.type}`)).toEqual([
      'A>RESUME',
      'B>RESUMED',
      'B>DISCONNECT',
      'A>ACK',
    ]);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['closed', 'closed']);
    expect(closes(p.A)).toEqual([{ type: 'closed' }]);
  });
});
