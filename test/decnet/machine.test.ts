// DecnetMachine in pairs on a virtual clock (test/decnet/support/pair.ts): a whole logical link,
// a rejected connect, loss and cuts healed (or not) by NSP retransmission, flow control, bounds,
// and peers that break the rules.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dataFrame,
  DecnetMachine,
  encodeFrame,
  FlowControl,
  type ConnectData,
  type DecnetEvent,
  type DecnetMachineOptions,
} from '../../src/decnet/index.js';
import { fuzzRuns } from '../support/codec-harness.js';
import { A, B, LA, LB } from './cases.js';
import { Pair } from './support/pair.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

const REQUEST: ConnectData = {
  destination: { format: 1, objectType: 0, name: 'COLLOQUY' },
  source: { format: 2, objectType: 0, group: 1, user: 4, name: 'ADA' },
  access: { user: 'ada', password: 'secret', account: 'acct' },
  userData: text('hi'),
};

function pair(a: Partial<DecnetMachineOptions> = {}, b: Partial<DecnetMachineOptions> = {}): Pair {
  return new Pair({ address: A, linkAddress: LA, ...a }, { address: B, linkAddress: LB, ...b });
}

/** A connected pair: A called B, B accepted. */
function connected(a: Partial<DecnetMachineOptions> = {}, b: Partial<DecnetMachineOptions> = {}): Pair {
  const p = pair(a, b);
  p.do((now) => p.a.connect(now, { remote: B, data: REQUEST }));
  p.do((now) => p.b.accept(now, text('ok')));
  p.run(() => p.a.state === 'run' && p.b.state === 'run');
  expect([p.a.state, p.b.state]).toEqual(['run', 'run']);
  return p;
}

const data = (p: Pair, side: 'a' | 'b'): string[] =>
  p.of(side, 'data').map((e) => str((e as Extract<DecnetEvent, { type: 'data' }>).data));

describe('a whole logical link', () => {
  it('connect with access control, data both ways, interrupt, stop/go, disconnect', () => {
    const p = pair();
    p.do((now) => p.a.connect(now, { remote: B, data: REQUEST }));
    expect(p.b.state).toBe('cr');
    expect(p.of('b', 'connect-request')).toEqual([{ type: 'connect-request', remote: A, data: REQUEST }]);
    p.do((now) => p.b.accept(now, text('ok')));
    expect(p.of('a', 'connected')).toEqual([{ type: 'connected', data: text('ok'), segmentSize: 1024 }]);
    expect([p.a.state, p.b.state]).toEqual(['run', 'run']);

    const big = 'x'.repeat(2500); // three segments of at most 1024
    p.do((now) => {
      p.a.send(now, text('hello'));
      p.a.send(now, text(big));
      p.b.send(now, text('welcome'));
    });
    p.do((now) => p.a.interrupt(now, text('urgent')));
    p.do((now) => p.b.interrupt(now, text('attn')));
    p.do((now) => p.b.pauseData(now, true));
    p.do((now) => p.b.pauseData(now, false));
    p.run();
    expect(data(p, 'b')).toEqual(['hello', big]);
    expect(data(p, 'a')).toEqual(['welcome']);
    expect(p.of('b', 'interrupt').map((e) => str((e as { data: Uint8Array }).data))).toEqual(['urgent']);
    expect(p.of('a', 'interrupt').map((e) => str((e as { data: Uint8Array }).data))).toEqual(['attn']);
    expect(p.of('a', 'flow')).toEqual([
      { type: 'flow', stopped: true },
      { type: 'flow', stopped: false },
    ]);
    expect(p.of('a', 'sent')).toEqual([
      { type: 'sent', id: 1 },
      { type: 'sent', id: 2 },
    ]);
    expect(p.a.queuedBytes).toBe(0);

    p.do((now) => p.a.disconnect(now, 0, text('bye')));
    p.run();
    expect([p.a.state, p.b.state]).toEqual(['closed', 'closed']);
    expect(p.of('a', 'disconnected')).toEqual([
      { type: 'disconnected', origin: 'local', reason: 0, reasonName: expect.any(String), data: text('bye') },
    ]);
    expect(p.of('b', 'disconnected')).toEqual([
      { type: 'disconnected', origin: 'remote', reason: 0, reasonName: expect.any(String), data: text('bye') },
    ]);
    const types = new Set(
      p.wire.map((s) => (s.nsp.type === 'DATA' ? `DATA${s.nsp.bom ? 'B' : ''}${s.nsp.eom ? 'E' : ''}` : s.nsp.type)),
    );
    for (const t of [
      'CONNECT_INITIATE',
      'CONNECT_ACK',
      'CONNECT_CONFIRM',
      'DATABE',
      'DATAB',
      'DATA',
      'DATAE',
      'DATA_ACK',
      'OTHER_DATA_ACK',
      'INTERRUPT',
      'LINK_SERVICE',
      'DISCONNECT_INITIATE',
      'DISCONNECT_CONFIRM',
    ])
      expect(types.has(t), t).toBe(true);
    expect(p.wire.every((s) => s.delivered)).toBe(true);
    expect([p.a.nextDeadline(), p.b.nextDeadline()]).toEqual([undefined, undefined]);
  });

  it('a rejected connect: the caller fails with ERR_DECNET_REJECTED and the reason', () => {
    const p = pair();
    p.do((now) => p.a.connect(now, { remote: B, data: REQUEST }));
    p.do((now) => p.b.reject(now, 34));
    p.run();
    expect(p.of('a', 'failed')).toEqual([
      {
        type: 'failed',
        error: expect.objectContaining({
          code: 'ERR_DECNET_REJECTED',
          details: expect.objectContaining({ reason: 34 }),
        }),
      },
    ]);
    expect(p.of('b', 'disconnected')).toMatchObject([{ origin: 'local', reason: 34 }]);
    expect(p.trace()).toEqual(['a:CONNECT_INITIATE', 'b:CONNECT_ACK', 'b:DISCONNECT_INITIATE', 'a:DISCONNECT_CONFIRM']);
  });

  it('connect data that does not parse is rejected with reason 5', () => {
    const p = pair();
    const ci = dataFrame(A, B, {
      type: 'CONNECT_INITIATE',
      retransmitted: false,
      dst: 0,
      src: LA,
      flowControl: 1,
      version: 2,
      segSize: 512,
      data: Uint8Array.of(7, 0),
    });
    p.b.handleFrame(encodeFrame(ci), 0);
    p.settle();
    expect(p.of('b', 'discarded')).toMatchObject([{ error: { reason: 'bad-descriptor' } }]);
    expect(p.wire.map((s) => s.nsp)).toMatchObject([
      { type: 'CONNECT_ACK' },
      { type: 'DISCONNECT_INITIATE', reason: 5 },
    ]);
  });

  it('the peer ends the link with user abort: disconnected with ERR_DECNET_DISCONNECTED', () => {
    const p = connected();
    p.do((now) => p.a.send(now, text('dropped?')));
    p.do((now) => p.b.abort(now));
    p.run();
    expect(p.of('a', 'disconnected')).toMatchObject([
      { origin: 'remote', reason: 9, error: { code: 'ERR_DECNET_DISCONNECTED' } },
    ]);
  });
});

describe('loss and cuts', () => {
  it('a lost Connect Initiate is sent again as a retransmitted CI', () => {
    const p = pair();
    let first = true;
    p.link = (s) => !(s.nsp.type === 'CONNECT_INITIATE' && (first ? !(first = false) : false));
    p.do((now) => p.a.connect(now, { remote: B, data: REQUEST }));
    p.run(() => p.b.state === 'cr');
    expect(p.wire.map((s) => s.nsp)).toMatchObject([
      { type: 'CONNECT_INITIATE', retransmitted: false },
      { type: 'CONNECT_INITIATE', retransmitted: true },
      { type: 'CONNECT_ACK' },
    ]);
    expect(p.now).toBe(1000);
  });

  it('a lost data segment is retransmitted; a lost ack makes a duplicate that is delivered once', () => {
    const p = connected();
    let dropped = 0;
    p.link = (s) =>
      !(s.nsp.type === 'DATA' && s.nsp.segNum === 2 && dropped++ === 0) &&
      !(s.nsp.type === 'DATA_ACK' && s.from === 'b' && dropped === 1 && dropped++ === 1);
    p.do((now) => {
      for (const m of ['one', 'two', 'three']) p.a.send(now, text(m));
    });
    p.run(() => p.of('a', 'sent').length === 3);
    expect(data(p, 'b')).toEqual(['one', 'two', 'three']);
    expect(p.wire.filter((s) => s.nsp.type === 'DATA' && s.nsp.segNum === 2).length).toBeGreaterThanOrEqual(2);
  });

  it('a lost Disconnect Confirm: the Disconnect Initiate is sent again and answered again', () => {
    const p = connected();
    let lost = false;
    p.link = (s) => !(s.nsp.type === 'DISCONNECT_CONFIRM' && !lost && (lost = true));
    p.do((now) => p.a.disconnect(now));
    p.run();
    expect(p.trace().slice(-4)).toEqual([
      'a:DISCONNECT_INITIATE',
      'b:DISCONNECT_CONFIRM (lost)',
      'a:DISCONNECT_INITIATE',
      'b:DISCONNECT_CONFIRM',
    ]);
    expect([p.a.state, p.b.state]).toEqual(['closed', 'closed']);
    expect(p.of('b', 'disconnected')).toHaveLength(1);
  });

  it('a cut that outlasts the retransmissions: ERR_DECNET_TIMEOUT after maxRetransmits', () => {
    const p = connected({ maxRetransmits: 3, retransmitMs: 500 });
    p.link = () => false;
    p.do((now) => p.a.send(now, text('into the void')));
    p.run();
    expect(p.of('a', 'failed')).toMatchObject([
      { error: { code: 'ERR_DECNET_TIMEOUT', details: { waitingFor: 'Data Acknowledgement' } } },
    ]);
    expect(p.wire.filter((s) => s.from === 'a' && s.nsp.type === 'DATA')).toHaveLength(4);
    expect(p.now - p.wire.find((s) => s.nsp.type === 'DATA' && !s.delivered)!.at).toBe(2000);
  });

  it('a cut shorter than the retransmissions heals: everything arrives once, in order', () => {
    const p = connected();
    let cutUntil = -1;
    p.link = (s) => s.at >= cutUntil;
    p.do((now) => {
      cutUntil = now + 2500;
      for (let i = 0; i < 5; i++) p.a.send(now, text(`m${i}`));
    });
    p.run(() => p.of('a', 'sent').length === 5);
    expect(data(p, 'b')).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    p.do((now) => p.a.disconnect(now));
    p.run();
    expect([p.a.state, p.b.state]).toEqual(['closed', 'closed']);
  });

  it('random loss both ways: every message once and in order, interrupts too, then a clean end', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        fc.integer({ min: 1, max: 8 }),
        (drops, window) => {
          // Loss ends after 60 link uses, and every retransmission is one: a budget above 60 lets the
          // retransmissions heal any pattern (with 20, a periodic pattern passing 2 slots in 12 could
          // drop the one interrupt 21 times before the loss ended: ERR_DECNET_TIMEOUT, as it must,
          // seed 1747623026 in a clean-clone CI run).
          const p = connected({ window, maxRetransmits: 64 }, { window, maxRetransmits: 64, segmentSize: 16 });
          let i = 0;
          p.link = () => !(drops[i++ % drops.length] && i < 60); // loss ends: the retransmissions must then heal it
          const sent: string[] = [];
          p.do((now) => {
            for (let k = 0; k < 6; k++) {
              const m = `message ${k} ${'#'.repeat(k * 7)}`;
              sent.push(m);
              p.a.send(now, text(m));
              p.b.send(now, text(m));
            }
            p.a.interrupt(now, text('int'));
          });
          p.run(
            () =>
              p.of('a', 'sent').length === 6 && p.of('b', 'sent').length === 6 && p.of('b', 'interrupt').length === 1,
            5_000,
          );
          expect(data(p, 'b')).toEqual(sent);
          expect(data(p, 'a')).toEqual(sent);
          p.do((now) => p.a.disconnect(now));
          p.run(() => p.a.state === 'closed' && p.b.state === 'closed', 5_000);
          expect([p.a.state, p.b.state]).toEqual(['closed', 'closed']);
          expect(p.of('a', 'failed')).toEqual([]);
        },
      ),
      { numRuns: fuzzRuns(100, 300) },
    );
  });
});

describe('flow control', () => {
  it('segment counts: never more in flight than granted (window 2)', () => {
    const p = connected({}, { window: 2 });
    p.link = (s) => s.from === 'a'; // B's acknowledgements and new grants are cut
    p.do((now) => {
      for (let i = 0; i < 6; i++) p.a.send(now, text(`s${i}`));
    });
    p.run(() => p.now >= 3000);
    const numbers = new Set(p.wire.flatMap((s) => (s.from === 'a' && s.nsp.type === 'DATA' ? [s.nsp.segNum] : [])));
    expect([...numbers]).toEqual([1, 2]);
    p.link = () => true;
    p.run(() => p.of('a', 'sent').length === 6);
    expect(data(p, 'b')).toEqual(['s0', 's1', 's2', 's3', 's4', 's5']);
    expect(p.wire.filter((s) => s.from === 'b' && s.nsp.type === 'LINK_SERVICE').length).toBeGreaterThan(1);
  });

  it('no flow control: only stop/go paces data', () => {
    const p = connected({ flowControl: FlowControl.NONE }, { flowControl: FlowControl.NONE });
    p.do((now) => p.b.pauseData(now, true));
    p.do((now) => p.a.send(now, text('held')));
    expect(data(p, 'b')).toEqual([]);
    p.do((now) => p.b.pauseData(now, false));
    expect(data(p, 'b')).toEqual(['held']);
  });

  it('message counts: a grant of 1 message lets a whole multi-segment message through', () => {
    const p = connected({}, { flowControl: FlowControl.MESSAGE, window: 1, segmentSize: 8 });
    p.do((now) => p.a.send(now, text('a message of several segments')));
    p.run(() => p.of('a', 'sent').length === 1);
    expect(data(p, 'b')).toEqual(['a message of several segments']);
  });

  it('a peer that sends past its grant: ERR_DECNET_FLOW_CONTROL', () => {
    const p = pair({}, { window: 1 });
    p.do((now) => p.a.connect(now, { remote: B, data: REQUEST }));
    p.do((now) => p.b.accept(now));
    p.settle();
    for (let n = 1; n <= 3; n++)
      p.b.handleFrame(
        encodeFrame(
          dataFrame(A, B, {
            type: 'DATA',
            dst: LB,
            src: LA,
            bom: true,
            eom: true,
            segNum: n,
            delay: false,
            data: text('x'),
          }),
        ),
        0,
      );
    p.settle();
    expect(p.of('b', 'failed')).toMatchObject([{ error: { code: 'ERR_DECNET_FLOW_CONTROL' } }]);
  });
});

describe('bounds and bad peers', () => {
  it('send before connected, or past maxQueuedBytes', () => {
    const lone = new DecnetMachine({ address: A, linkAddress: LA });
    expect(() => lone.send(0, text('x'))).toThrow(expect.objectContaining({ code: 'ERR_DECNET_CLOSED' }));
    const p = connected({ maxQueuedBytes: 10 });
    expect(() => p.a.send(0, new Uint8Array(11))).toThrow(
      expect.objectContaining({ code: 'ERR_DECNET_LIMIT', details: { limit: 'maxQueuedBytes' } }),
    );
    expect(() => p.a.interrupt(0, new Uint8Array(17))).toThrow(expect.objectContaining({ code: 'ERR_DECNET_LIMIT' }));
  });

  it('a message past maxMessageSize aborts the link', () => {
    const p = connected({}, { maxMessageSize: 100, segmentSize: 64 });
    p.do((now) => p.a.send(now, new Uint8Array(150)));
    p.run();
    expect(p.of('b', 'failed')).toMatchObject([
      { error: { code: 'ERR_DECNET_LIMIT', details: { limit: 'maxMessageSize' } } },
    ]);
  });

  it('a malformed frame is discarded and the link goes on', () => {
    const p = connected();
    p.b.handleFrame(Uint8Array.of(1, 2, 3), 0);
    p.do((now) => p.a.send(now, text('still here')));
    expect(p.of('b', 'discarded')).toMatchObject([{ error: { code: 'ERR_MALFORMED_FRAME' } }]);
    expect(data(p, 'b')).toEqual(['still here']);
  });

  it('a byte stream that loses its framing aborts the link', () => {
    const p = connected();
    p.b.handleBytes(new Uint8Array(20), 0);
    p.settle();
    expect(p.of('b', 'failed')).toMatchObject([{ error: { code: 'ERR_UNKNOWN_FRAME_TYPE' } }]);
    expect(p.of('a', 'disconnected')).toMatchObject([{ origin: 'remote', reason: 7 }]);
  });

  it('data on a link still waiting for accept is a protocol violation', () => {
    const p = pair();
    p.do((now) => p.a.connect(now, { remote: B, data: REQUEST }));
    p.b.handleFrame(
      encodeFrame(
        dataFrame(A, B, {
          type: 'DATA',
          dst: LB,
          src: LA,
          bom: true,
          eom: true,
          segNum: 1,
          delay: false,
          data: text('x'),
        }),
      ),
      0,
    );
    p.settle();
    expect(p.of('b', 'failed')).toMatchObject([{ error: { code: 'ERR_DECNET_UNEXPECTED_MESSAGE' } }]);
  });
});
