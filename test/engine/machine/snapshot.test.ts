// Snapshot and restore: a session goes on in a new machine (another node, a restart) with
// nothing lost or duplicated, provided the snapshot is taken write-ahead: after every input and
// before the frames it produced are considered sent. The harness takes it at every quiescent
// point (after each action and pump), which is exactly that discipline, then "crashes" the
// acceptor at random: the transport is cut anywhere and the acceptor is rebuilt from its last
// snapshot, with no memory of anything else.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionError } from '../../../src/engine/errors.js';
import { SessionMachine } from '../../../src/engine/machine/index.js';
import type { MachineSnapshot } from '../../../src/engine/machine/session-machine.js';
import { Pair } from '../support/pair.js';

const RUNS = Number(process.env.COLLOQUY_PROPERTY_RUNS ?? (process.env.CI ? 1000 : 300));

const payload = (side: number, i: number): Uint8Array => Uint8Array.of(side, i >> 8, i & 0xff);
const idOf = (p: Uint8Array): number => ((p[1] as number) << 8) | (p[2] as number);

/**
 * Runs a command the machine may refuse while a major sync awaits confirmation: that refusal
 * (ERR_SYNC_PENDING) gives false; any other error fails the test.
 */
function unlessPending(command: () => unknown): boolean {
  try {
    command();
    return true;
  } catch (error) {
    if (error instanceof SessionError && error.code === 'ERR_SYNC_PENDING') return false;
    throw error;
  }
}

describe('snapshot and restore', () => {
  it(`a crashed acceptor rebuilt from its last snapshot resumes exactly once, in order (${RUNS} runs)`, () => {
    const step = fc.oneof(
      fc.record({ k: fc.constant('send' as const), a: fc.nat(4), b: fc.nat(4) }),
      fc.record({ k: fc.constant('cut' as const), keep: fc.nat(120) }),
      fc.record({ k: fc.constant('crash' as const), keep: fc.nat(120) }),
      fc.record({ k: fc.constant('reconnect' as const) }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.nat(40) }),
      fc.record({ k: fc.constant('sync' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 3, maxLength: 60 }), (steps) => {
        const p = new Pair({ a: { modes: ['fullDuplex'] }, latency: 2 });
        const sent = { A: 0, B: 0 };
        const got = { A: [] as number[], B: [] as number[] };
        const watch = (): void => {
          p.A.onEvent = (e) => {
            if (e.type === 'data') got.A.push(idOf(e.payload));
          };
          p.B.onEvent = (e) => {
            if (e.type === 'data') got.B.push(idOf(e.payload));
            if (e.type === 'connect-request') p.B.machine.accept();
            if (e.type === 'sync-major') p.B.machine.confirmMajorSync();
          };
        };
        watch();
        p.connectTransport();
        p.settle();
        let snap: MachineSnapshot = p.B.machine.snapshot();
        for (const s of steps) {
          if (p.A.machine.state === 'closed' || p.B.machine.state === 'closed') break;
          switch (s.k) {
            case 'send':
              // A send refused now (a major sync awaiting confirmation) is simply not counted.
              for (let i = 0; i < s.a && unlessPending(() => p.A.machine.sendData(payload(1, sent.A))); i++) sent.A++;
              for (let i = 0; i < s.b && unlessPending(() => p.B.machine.sendData(payload(2, sent.B))); i++) sent.B++;
              break;
            case 'sync':
              unlessPending(() => p.A.machine.syncMajor()); // not now while one awaits confirmation
              break;
            case 'cut':
              p.cut(s.keep);
              break;
            case 'crash':
              // The cut may still deliver bytes to B; a durable node persists after each input it
              // processes, before its application acts on it, so the snapshot follows the cut.
              p.cut(s.keep);
              snap = p.B.machine.snapshot();
              p.B.machine = SessionMachine.restore(snap, { heartbeatMs: 0 }, p.now);
              break;
            case 'reconnect':
              if (!p.connected) p.connectTransport();
              break;
            case 'advance':
              p.advance(s.ms);
              break;
          }
          p.pump();
          snap = p.B.machine.snapshot(); // write-ahead: everything B has sent or received is in it
        }
        for (let i = 0; i < 5; i++) {
          if (!p.connected) p.connectTransport();
          p.settle();
          p.advance(50);
        }
        expect(p.A.machine.state).toBe('established');
        expect(p.B.machine.state).toBe('established');
        expect(got.B).toEqual(Array.from({ length: sent.A }, (_, i) => i));
        expect(got.A).toEqual(Array.from({ length: sent.B }, (_, i) => i));
        expect(p.A.machine.serial).toBe(p.B.machine.serial);
      }),
      { numRuns: RUNS },
    );
  });

  it('a snapshot is plain data a store can keep, and restore refuses an unknown version', () => {
    const p = new Pair();
    p.establish();
    const snap = p.B.machine.snapshot();
    expect(snap).toMatchObject({ v: 1, role: 'acceptor', received: 0, replayBase: 0 });
    expect(() => SessionMachine.restore({ ...snap, v: 2 as 1 }, {}, 0)).toThrow(/snapshot version/);
    const restored = SessionMachine.restore(snap, {}, 0);
    expect(restored.state).toBe('interrupted');
    expect(restored.sessionId).toEqual(snap.sessionId);
  });
});
