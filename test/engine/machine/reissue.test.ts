// A request of the peer that the node holding the session received (and counted, so the peer
// will not send it again) but had not answered when it died: the node that restores the session
// from its last snapshot gives it to its own application again, once, on the first resume, and
// the application's answer completes it. Seen with real processes: the major sync point at the
// end of a put, received by a node killed before it confirmed it, was never confirmed by the
// node that resumed the session, and the put hung. Pairs of machines on the virtual clock; the
// acceptor is "killed" (its machine dropped) and rebuilt from a snapshot taken after the input,
// as the durable driver persists it before it delivers the events (write-ahead).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionError } from '../../../src/engine/errors.js';
import { SessionMachine } from '../../../src/engine/machine/index.js';
import type { MachineOptions, SessionEvent } from '../../../src/engine/machine/index.js';
import { Pair, bytes, text } from '../support/pair.js';

const RUNS = Number(process.env.COLLOQUY_PROPERTY_RUNS ?? (process.env.CI ? 500 : 200));

/** The acceptor's node dies now: its machine is rebuilt from a snapshot of what it had stored. */
function crashB(p: Pair): void {
  const snap = p.B.machine.snapshot();
  p.cut(0);
  p.B.machine = SessionMachine.restore(snap, { heartbeatMs: 0 }, p.now);
}

/** The client redials and resumes; returns B's events from then on. */
function resume(p: Pair): SessionEvent[] {
  const from = p.B.events.length;
  p.connectTransport();
  p.settle();
  expect(p.A.machine.state).toBe('established');
  expect(p.B.machine.state).toBe('established');
  return p.B.events.slice(from);
}

const shown = (events: SessionEvent[]): unknown[] =>
  events.map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v instanceof Uint8Array ? text(v) : v])));

function established(units?: MachineOptions['units']): Pair {
  const p = new Pair(units ? { a: { units } } : {});
  p.establish();
  p.advance(100);
  return p;
}

describe('a restored machine gives the peer its unanswered requests again', () => {
  it('a major sync point received but not confirmed: given again after the resume, confirmed by the new node', () => {
    const p = established();
    const serial = p.A.machine.syncMajor(bytes('offset 24 MiB'));
    p.settle();
    expect(p.eventsOf(p.B, 'sync-major')).toHaveLength(1); // the old node's application had it, and died
    crashB(p);
    expect(p.B.machine.awaitingReissue).toBe(true);
    // Before the resume the new node cannot send: the request blocks new data until answered.
    expect(() => p.B.machine.sendData(bytes('x'))).toThrow(/ERR_RESPONSE_REQUIRED|answer/);
    const after = resume(p);
    expect(shown(after)).toEqual([
      { type: 'resumed', replayed: 0 },
      { type: 'sync-major', serial, userData: 'offset 24 MiB' },
    ]);
    expect(p.B.machine.awaitingReissue).toBe(false);
    p.B.machine.confirmMajorSync(bytes('ok'));
    p.settle();
    expect(shown(p.eventsOf(p.A, 'sync-major-confirmed'))).toEqual([
      { type: 'sync-major-confirmed', serial, userData: 'ok' },
    ]);
    p.A.machine.sendData(bytes('on')); // the sync point no longer holds the client back
    p.settle();
    expect(shown(p.eventsOf(p.B, 'data'))).toEqual([{ type: 'data', payload: 'on' }]);
  });

  it('the same machine resuming (its node did not die) gives nothing again: its application has the request', () => {
    const p = established();
    p.A.machine.syncMajor(bytes('p'));
    p.settle();
    p.cut(0);
    expect(p.B.machine.awaitingReissue).toBe(false);
    expect(shown(resume(p))).toEqual([{ type: 'resumed', replayed: 0 }]);
  });

  it('two deaths in a row, the second before any resume: given again once, by the third node', () => {
    const p = established();
    const serial = p.A.machine.syncMajor(bytes('end'));
    p.settle();
    crashB(p);
    crashB(p); // the second node dies too, before the client came back
    expect(shown(resume(p))).toEqual([
      { type: 'resumed', replayed: 0 },
      { type: 'sync-major', serial, userData: 'end' },
    ]);
    p.cut(0);
    expect(shown(resume(p))).toEqual([{ type: 'resumed', replayed: 0 }]); // once, not at every resume
    p.B.machine.confirmMajorSync();
    p.settle();
    expect(p.eventsOf(p.A, 'sync-major-confirmed')).toHaveLength(1);
    crashB(p); // answered and stored: the next node has nothing to give again
    expect(shown(resume(p))).toEqual([{ type: 'resumed', replayed: 0 }]);
  });

  it('a request answered before the snapshot is not given again', () => {
    const p = established();
    p.A.machine.syncMajor();
    p.settle();
    p.B.machine.confirmMajorSync();
    p.pump();
    crashB(p); // the answer is in the snapshot (and in its replay buffer) though the link dropped it
    expect(shown(resume(p))).toEqual([{ type: 'resumed', replayed: 1 }]);
    expect(p.eventsOf(p.A, 'sync-major-confirmed')).toHaveLength(1);
  });

  const kinds: {
    name: string;
    units?: MachineOptions['units'];
    request: (p: Pair) => void;
    expected: unknown;
    answer: (b: SessionMachine) => void;
    answered: SessionEvent['type'];
  }[] = [
    {
      name: 'a minor sync point to confirm',
      request: (p) => p.A.machine.syncMinor({ confirm: true, userData: bytes('m') }),
      expected: { type: 'sync-minor', serial: 1, confirm: true, userData: 'm' },
      answer: (b) => b.confirmMinorSync(),
      answered: 'sync-minor-confirmed',
    },
    {
      name: 'a resynchronize',
      request: (p) => p.A.machine.resynchronize('abandon', { userData: bytes('r') }),
      expected: { type: 'resync', resyncType: 'abandon', serial: 1, tokens: [], userData: 'r' },
      answer: (b) => b.respondResync(),
      answered: 'resync-complete',
    },
    {
      name: 'an activity end',
      units: ['activities', 'minorSync', 'majorSync', 'resynchronize'],
      request: (p) => {
        p.A.machine.startActivity(bytes('act'));
        p.A.machine.endActivity(bytes('e'));
      },
      expected: { type: 'activity-end', serial: 1, userData: 'e' },
      answer: (b) => b.confirmActivityEnd(),
      answered: 'activity-ended',
    },
    {
      name: 'an activity interrupt',
      units: ['activities', 'minorSync', 'majorSync', 'resynchronize'],
      request: (p) => {
        p.A.machine.startActivity(bytes('act'));
        p.A.machine.interruptActivity(7);
      },
      expected: { type: 'activity-interrupt', reason: 7 },
      answer: (b) => b.confirmActivityInterrupt(),
      answered: 'activity-interrupted',
    },
    {
      name: 'capability data',
      units: ['activities', 'capabilityData', 'minorSync', 'majorSync'],
      request: (p) => p.A.machine.sendCapability(bytes('cap')),
      expected: { type: 'capability', payload: 'cap' },
      answer: (b) => b.confirmCapability(),
      answered: 'capability-confirmed',
    },
    {
      name: 'a release',
      request: (p) => p.A.machine.release(bytes('bye')),
      expected: { type: 'release-request', userData: 'bye' },
      answer: (b) => b.respondRelease(true),
      answered: 'closed',
    },
  ];
  for (const k of kinds) {
    it(`${k.name}: given again with what it carried, and the answer completes it`, () => {
      const p = established(k.units);
      k.request(p);
      p.settle();
      crashB(p);
      const again = resume(p).filter((e) => e.type !== 'resumed');
      expect(shown(again)).toEqual([k.expected]);
      k.answer(p.B.machine);
      p.settle();
      expect(p.eventsOf(p.A, k.answered)).toHaveLength(1);
    });
  }

  it(`property: every major sync point the client makes is confirmed, whenever the server dies (${RUNS} runs)`, () => {
    // The server's application answers a request some steps after it sees it (a handler doing
    // I/O); a death loses the application with everything it had not answered yet.
    const step = fc.oneof(
      fc.record({ k: fc.constant('sync' as const) }),
      fc.record({ k: fc.constant('send' as const), n: fc.nat(3) }),
      fc.record({ k: fc.constant('answer' as const) }),
      fc.record({ k: fc.constant('crash' as const), keep: fc.nat(80) }),
      fc.record({ k: fc.constant('cut' as const), keep: fc.nat(80) }),
      fc.record({ k: fc.constant('reconnect' as const) }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.nat(30) }),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 3, maxLength: 50 }), (steps) => {
        const p = new Pair({ latency: 2 });
        p.establish();
        let issued = 0;
        let toAnswer: number[] = []; // the server application's unanswered requests (lost with it)
        const watch = (): void => {
          p.B.onEvent = (e) => {
            if (e.type === 'sync-major') toAnswer.push(e.serial);
          };
        };
        watch();
        const answer = (): void => {
          for (const serial of toAnswer.splice(0)) {
            try {
              expect(p.B.machine.confirmMajorSync()).toBe(serial);
            } catch (error) {
              if (!(error instanceof SessionError && error.code === 'ERR_NOTHING_TO_CONFIRM')) throw error;
            }
          }
        };
        for (const s of steps) {
          switch (s.k) {
            case 'sync':
              try {
                p.A.machine.syncMajor();
                issued++;
              } catch (error) {
                if (!(error instanceof SessionError && error.code === 'ERR_SYNC_PENDING')) throw error;
              }
              break;
            case 'send':
              for (let i = 0; i < s.n; i++) {
                try {
                  p.A.machine.sendData(bytes('d'));
                } catch (error) {
                  if (!(error instanceof SessionError && error.code === 'ERR_SYNC_PENDING')) throw error;
                }
              }
              break;
            case 'answer':
              answer();
              break;
            case 'crash': {
              p.cut(s.keep);
              const snap = p.B.machine.snapshot(); // write-ahead: after every input it took
              p.B.machine = SessionMachine.restore(snap, { heartbeatMs: 0 }, p.now);
              toAnswer = [];
              break;
            }
            case 'cut':
              p.cut(s.keep);
              break;
            case 'reconnect':
              if (!p.connected) p.connectTransport();
              break;
            case 'advance':
              p.advance(s.ms);
              break;
          }
          p.pump();
        }
        for (let i = 0; i < 4; i++) {
          if (!p.connected) p.connectTransport();
          p.settle();
          answer();
          p.settle();
          p.advance(50);
        }
        expect(p.A.machine.state).toBe('established');
        expect(p.eventsOf(p.A, 'sync-major-confirmed')).toHaveLength(issued);
        expect(() => p.A.machine.syncMajor()).not.toThrow(); // nothing left pending
      }),
      { numRuns: RUNS },
    );
  });
});
