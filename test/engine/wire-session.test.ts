// WireSession: the machine behind the native codec. Two sessions joined by bytes, and the
// fuzz property for the machine's byte input: any bytes, in any state, never throw; bad bytes
// end the session with an ABORT and a coded error.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameDecoder } from '../../src/engine/codec/index.js';
import { AbortReason } from '../../src/engine/frames.js';
import { SessionMachine } from '../../src/engine/machine/index.js';
import { WireSession } from '../../src/engine/wire-session.js';
import { EDGES, TABLE } from './codec/cases.js';
import { RESUME_SECRET, SESSION_ID } from './support/pair.js';

const RUNS = Number(process.env.COLLOQUY_FUZZ_RUNS ?? (process.env.CI ? 20_000 : 5_000));

function pairOverBytes(): { a: WireSession; b: WireSession; pump: () => void } {
  const a = new WireSession(new SessionMachine({ role: 'initiator', heartbeatMs: 0 }));
  const b = new WireSession(
    new SessionMachine({ role: 'acceptor', sessionId: SESSION_ID, resumeSecret: RESUME_SECRET }),
  );
  const pump = (): void => {
    for (let moved = true; moved;) {
      moved = false;
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        for (let bytes = from.pollBytes(0); bytes; bytes = from.pollBytes(0)) {
          to.handleBytes(bytes, 0);
          moved = true;
        }
        for (let e = from.machine.pollEvent(); e; e = from.machine.pollEvent()) {
          moved = true;
          if (e.type === 'connect-request') from.machine.accept();
        }
      }
    }
  };
  b.handleTransportUp(0);
  a.handleTransportUp(0);
  pump();
  return { a, b, pump };
}

describe('WireSession', () => {
  it('carries a session over bytes and coalesces frames into one write', () => {
    const { a, b, pump } = pairOverBytes();
    expect(a.machine.state).toBe('established');
    for (let i = 0; i < 100; i++) a.machine.sendData(new Uint8Array(64).fill(i));
    const write = a.pollBytes(0);
    expect(write).toBeDefined();
    const d = new FrameDecoder();
    d.push(write as Uint8Array);
    let n = 0;
    while (d.next()) n++;
    expect(n).toBe(100);
    b.handleBytes(write as Uint8Array, 1);
    pump();
    expect(b.machine.stats.received).toBe(100);
  });

  it('writes a large payload apart from its header, uncopied, and drops it with the transport', () => {
    const { a, b, pump } = pairOverBytes();
    a.payloadApartFrom = 1024;
    const big = new Uint8Array(5000).map((_, i) => i & 0xff);
    a.machine.sendData(new Uint8Array(10).fill(1));
    a.machine.sendData(big);
    a.machine.sendData(new Uint8Array(10).fill(2));
    const head = a.pollBytes(0) as Uint8Array;
    expect(a.payloadPending).toBe(true);
    const payload = a.pollBytes(0) as Uint8Array;
    expect(payload).toBe(big); // the application's bytes themselves: no copy
    expect(a.payloadPending).toBe(false);
    const tail = a.pollBytes(0) as Uint8Array;
    expect(a.pollBytes(0)).toBeUndefined();
    expect(head.length).toBe(12 + 1 + 2); // DATA(10) whole, then DATA's type and 2-byte length
    for (const bytes of [head, payload, tail]) b.handleBytes(bytes, 1);
    pump();
    expect(b.machine.stats.received).toBe(3);
    // A transport lost between header and payload: the payload is not written on the next one.
    a.machine.sendData(big);
    a.pollBytes(0);
    expect(a.payloadPending).toBe(true);
    a.handleTransportDown(2);
    expect(a.payloadPending).toBe(false);
  });

  it('FrameDecoder takes the buffer for a body that spans chunks from the given allocator', () => {
    const sizes: number[] = [];
    const allocate = (n: number): Uint8Array => {
      sizes.push(n);
      return new Uint8Array(n).fill(0xee); // not zeroed: every byte must be overwritten
    };
    const d = new FrameDecoder({ allocate });
    const wire = encodeFrame({ type: 'DATA', payload: new Uint8Array(3000).map((_, i) => i % 251) });
    // Copies (slice), not views of one buffer: pieces adjacent in memory would be viewed uncopied.
    d.push(wire.slice(0, 1000));
    expect(d.next()).toBeUndefined();
    d.push(wire.slice(1000));
    const f = d.next();
    expect(f?.type === 'DATA' && f.payload).toEqual(new Uint8Array(3000).map((_, i) => i % 251));
    expect(sizes).toEqual([3000]);
  });

  it('lowers the decoder limit to the negotiated max frame size and aborts on a larger frame', () => {
    const a = new WireSession(new SessionMachine({ role: 'initiator', heartbeatMs: 0, maxFrameSize: 4096 }));
    const b = new WireSession(
      new SessionMachine({ role: 'acceptor', sessionId: SESSION_ID, resumeSecret: RESUME_SECRET }),
    );
    b.handleTransportUp(0);
    a.handleTransportUp(0);
    b.handleBytes(a.pollBytes(0) as Uint8Array, 0);
    expect(b.machine.pollEvent()?.type).toBe('connect-request');
    b.machine.accept();
    a.handleBytes(b.pollBytes(0) as Uint8Array, 0);
    expect(b.machine.negotiated?.maxFrameSize).toBe(4096);
    b.handleBytes(encodeFrame({ type: 'DATA', payload: new Uint8Array(5000) }), 1);
    const events = [];
    for (let e = b.machine.pollEvent(); e; e = b.machine.pollEvent()) events.push(e);
    const closed = events.find((e) => e.type === 'closed');
    expect(closed?.type === 'closed' && closed.error?.code).toBe('ERR_FRAME_TOO_LARGE');
    const abort = decodeFrame(b.pollBytes(0) as Uint8Array);
    expect(abort.type === 'ABORT' && abort.reason).toBe(AbortReason.frameTooLarge);
  });

  it('never throws on any bytes or any decodable frames, in any state', () => {
    const validFrames = fc.constantFrom(...TABLE, ...EDGES).map((f) => encodeFrame(f));
    const chunk = fc.oneof(fc.uint8Array({ maxLength: 40 }), validFrames);
    fc.assert(
      fc.property(
        fc.constantFrom('initiator-new', 'acceptor-new', 'established-a', 'established-b'),
        fc.array(chunk, { maxLength: 12 }),
        (state, chunks) => {
          let target: WireSession;
          if (state === 'initiator-new' || state === 'acceptor-new') {
            target =
              state === 'initiator-new'
                ? new WireSession(new SessionMachine({ role: 'initiator' }))
                : new WireSession(
                    new SessionMachine({ role: 'acceptor', sessionId: SESSION_ID, resumeSecret: RESUME_SECRET }),
                  );
            target.handleTransportUp(0);
          } else {
            const { a, b } = pairOverBytes();
            target = state === 'established-a' ? a : b;
          }
          for (const c of chunks) target.handleBytes(c, 1);
          target.machine.handleTimeout(1_000_000);
          for (let e = target.machine.pollEvent(); e; e = target.machine.pollEvent()) {
            if (e.type === 'closed' && e.error) expect(e.error.code).toMatch(/^ERR_/);
          }
          for (let out = target.pollBytes(0); out; out = target.pollBytes(0)) expect(out.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('messages on the wire stay within their limit', () => {
  it('a long abort or refuse message is cut to 1024 UTF-8 bytes, never breaking a character', () => {
    const { a, b } = pairOverBytes();
    a.machine.abort('é'.repeat(2000));
    const frame = decodeFrame(a.pollBytes(0) as Uint8Array);
    expect(frame.type === 'ABORT' && frame.message).toBe('é'.repeat(512));
    const r = new WireSession(
      new SessionMachine({ role: 'acceptor', sessionId: SESSION_ID, resumeSecret: RESUME_SECRET }),
    );
    r.handleTransportUp(0);
    const i = new WireSession(new SessionMachine({ role: 'initiator' }));
    i.handleTransportUp(0);
    r.handleBytes(i.pollBytes(0) as Uint8Array, 0);
    r.machine.refuse(0, '€'.repeat(1000));
    const refuse = decodeFrame(r.pollBytes(0) as Uint8Array);
    expect(refuse.type === 'REFUSE' && refuse.message).toBe('€'.repeat(341));
    expect(b.machine.state).toBe('established');
  });
});

describe('user data limits leave room for every frame', () => {
  it('the largest ACTIVITY_RESUME and ABORT fit the smallest negotiated frame size', () => {
    const a = new WireSession(
      new SessionMachine({ role: 'initiator', heartbeatMs: 0, maxFrameSize: 1024, units: ['activities', 'majorSync'] }),
    );
    const b = new WireSession(
      new SessionMachine({ role: 'acceptor', sessionId: SESSION_ID, resumeSecret: RESUME_SECRET }),
    );
    b.handleTransportUp(0);
    a.handleTransportUp(0);
    b.handleBytes(a.pollBytes(0) as Uint8Array, 0);
    b.machine.pollEvent();
    b.machine.accept();
    a.handleBytes(b.pollBytes(0) as Uint8Array, 0);
    const id = new Uint8Array(64).fill(1);
    const room = 1024 - 160;
    a.machine.resumeActivity(id, id, 5, new Uint8Array(room));
    expect(() => a.machine.endActivity(new Uint8Array(room + 1))).toThrow(/exceeds/);
    b.handleBytes(a.pollBytes(0) as Uint8Array, 1);
    const events = [];
    for (let e = b.machine.pollEvent(); e; e = b.machine.pollEvent()) events.push(e.type);
    expect(events).toContain('activity-resume');
    a.machine.abort('x'.repeat(5000), new Uint8Array(512));
    b.handleBytes(a.pollBytes(0) as Uint8Array, 2);
    const closed = [];
    for (let e = b.machine.pollEvent(); e; e = b.machine.pollEvent()) closed.push(e);
    expect(closed.at(-1)).toMatchObject({ type: 'closed', error: { code: 'ERR_ABORTED', origin: 'remote' } });
  });
});
