// Resynchronize (S-RESYNCHRONIZE: RESYNC / RESYNC_ACK): restart, abandon and set, data past the
// point thrown away, and collisions when both sides resynchronize at once.

import { describe, expect, it } from 'vitest';
import { ResyncType, Token } from '../../../../src/engine/frames.js';
import { bytes, established, eventsSince, expectRejected, framesSince, ladderSince, mark, view } from './scenario.js';
import type { Pair } from './scenario.js';

/** A confirmed major sync point at serial 1 (V(R) = 2), then minor points 2 and 3 (V(M) = 4). */
function withSyncPoints(): Pair {
  const p = established();
  p.A.machine.syncMajor();
  p.settle();
  p.B.machine.confirmMajorSync();
  p.settle();
  p.A.machine.syncMinor();
  p.A.machine.syncMinor();
  p.settle();
  expect([p.A.machine.serial, p.B.machine.serial]).toEqual([4, 4]);
  return p;
}

describe('resynchronize', () => {
  it('restart: back to the last confirmed major sync point; both sides agree on the serial', () => {
    const p = withSyncPoints();
    const A = p.A.machine;
    const B = p.B.machine;
    expectRejected(p, () => A.resynchronize('restart', { serial: 1 }), 'ERR_INVALID_ARGUMENT', { serial: 1 });
    expectRejected(p, () => A.resynchronize('restart', { serial: 5 }), 'ERR_INVALID_ARGUMENT', { serial: 5 });
    const m = mark(p);
    expect(A.resynchronize('restart', { userData: bytes('again') })).toBe(2);
    expectRejected(p, () => A.sendData(bytes('x')), 'ERR_CONFIRM_PENDING', { pending: 'resync' });
    expectRejected(p, () => A.resynchronize('abandon'), 'ERR_CONFIRM_PENDING', { pending: 'resync' });
    p.settle();
    expectRejected(p, () => B.sendData(bytes('x')), 'ERR_RESPONSE_REQUIRED', { pending: 'resync' });
    expectRejected(p, () => B.resynchronize('abandon'), 'ERR_RESPONSE_REQUIRED', { pending: 'resync' });
    expect(B.respondResync(bytes('ok'))).toBe(2);
    expectRejected(p, () => B.respondResync(), 'ERR_NOTHING_TO_CONFIRM');
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>RESYNC', 'B>RESYNC_ACK']);
    expect(framesSince(p, m)).toEqual([
      { type: 'RESYNC', resyncType: ResyncType.restart, serial: 2, tokenSetting: 0, userData: bytes('again') },
      { type: 'RESYNC_ACK', serial: 2, tokenSetting: 0, userData: bytes('ok') },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'resync', resyncType: 'restart', serial: 2, tokens: [], userData: 'again' },
    ]);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'resync-complete', serial: 2, tokens: ['minorSync', 'majorActivity'], userData: 'ok' },
    ]);
    expect(view(p.A)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 2,
      activity: null,
    });
    expect(view(p.B)).toEqual({ state: 'established', tokens: [], serial: 2, activity: null });
  });

  it('abandon: moves on to a new serial, reassigns tokens, and throws away data past the point both ways', () => {
    const p = withSyncPoints();
    const A = p.A.machine;
    const B = p.B.machine;
    const m = mark(p);
    B.sendData(bytes('crossing'));
    A.sendData(bytes('queued'));
    expect(A.resynchronize('abandon', { serial: 10, tokens: [] })).toBe(10);
    p.settle();
    B.respondResync();
    p.settle();

    // A's queued DATA never went out; B's DATA crossed the RESYNC and was dropped on arrival.
    expect(ladderSince(p, m)).toEqual(['A>RESYNC', 'B>DATA', 'B>RESYNC_ACK']);
    expect(framesSince(p, m)[0]).toMatchObject({
      resyncType: ResyncType.abandon,
      serial: 10,
      tokenSetting: Token.minorSync | Token.majorActivity,
    });
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'data-discarded', direction: 'out', payloads: ['queued'] },
      { type: 'data-discarded', direction: 'in', payloads: ['crossing'] },
      { type: 'resync-complete', serial: 10, tokens: [], userData: '' },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'resync', resyncType: 'abandon', serial: 10, tokens: ['minorSync', 'majorActivity'], userData: '' },
    ]);
    expect(view(p.A)).toEqual({ state: 'established', tokens: [], serial: 10, activity: null });
    expect(view(p.B)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 10,
      activity: null,
    });
    expect(B.syncMinor()).toBe(10);
  });

  it('set: needs an explicit serial; any side may resynchronize, tokens or not', () => {
    const p = established();
    const B = p.B.machine;
    expectRejected(p, () => B.resynchronize('set'), 'ERR_INVALID_ARGUMENT', { serial: undefined });
    expectRejected(p, () => B.resynchronize('set', { serial: 1_000_000 }), 'ERR_INVALID_ARGUMENT', {
      serial: 1_000_000,
    });
    expectRejected(p, () => B.resynchronize('rewind' as never), 'ERR_INVALID_ARGUMENT', { type: 'rewind' });
    expectRejected(p, () => B.resynchronize('set', { serial: 5, tokens: ['data'] }), 'ERR_UNIT_NOT_SELECTED');
    const m = mark(p);
    B.resynchronize('set', { serial: 500 });
    p.settle();
    p.A.machine.respondResync();
    p.settle();
    expect(ladderSince(p, m)).toEqual(['B>RESYNC', 'A>RESYNC_ACK']);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'resync', resyncType: 'set', serial: 500, tokens: ['minorSync', 'majorActivity'], userData: '' },
    ]);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'resync-complete', serial: 500, tokens: [], userData: '' }]);
    expect([view(p.A).serial, view(p.B).serial]).toEqual([500, 500]);
  });

  it('a resynchronize cancels our own pending major sync; the peer sees the major sync cancelled too', () => {
    const p = established();
    const A = p.A.machine;
    const B = p.B.machine;
    const m = mark(p);
    expect(A.syncMajor()).toBe(1);
    expect(A.resynchronize('restart')).toBe(1);
    p.settle();
    expectRejected(p, () => B.confirmMajorSync(), 'ERR_NOTHING_TO_CONFIRM');
    B.respondResync();
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>MAJOR_SYNC', 'A>RESYNC', 'B>RESYNC_ACK']);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'cancelled', service: 'sync-major', side: 'local', by: 'resync' },
      { type: 'resync-complete', serial: 1, tokens: ['minorSync', 'majorActivity'], userData: '' },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'sync-major', serial: 1, userData: '' },
      { type: 'cancelled', service: 'sync-major', side: 'remote', by: 'resync' },
      { type: 'resync', resyncType: 'restart', serial: 1, tokens: [], userData: '' },
    ]);
    expect([view(p.A).serial, view(p.B).serial]).toEqual([1, 1]);
  });

  describe('both sides at once', () => {
    it('restart vs abandon: abandon wins even against the initiator; the loser answers it', () => {
      const p = withSyncPoints();
      const m = mark(p);
      p.A.machine.resynchronize('restart');
      p.B.machine.resynchronize('abandon', { serial: 20 });
      p.settle();
      p.A.machine.respondResync();
      p.settle();

      expect(ladderSince(p, m)).toEqual(['A>RESYNC', 'B>RESYNC', 'A>RESYNC_ACK']);
      expect(eventsSince(p.A, m)).toEqual([
        { type: 'cancelled', service: 'resync', side: 'local', by: 'resync' },
        { type: 'resync', resyncType: 'abandon', serial: 20, tokens: ['minorSync', 'majorActivity'], userData: '' },
      ]);
      expect(eventsSince(p.B, m)).toEqual([{ type: 'resync-complete', serial: 20, tokens: [], userData: '' }]);
      expect(view(p.A)).toEqual({
        state: 'established',
        tokens: ['minorSync', 'majorActivity'],
        serial: 20,
        activity: null,
      });
      expect(view(p.B)).toEqual({ state: 'established', tokens: [], serial: 20, activity: null });
    });

    it('two restarts with different serials: the lower serial wins, whoever sent it', () => {
      const p = withSyncPoints();
      const m = mark(p);
      p.A.machine.resynchronize('restart', { serial: 3 });
      p.B.machine.resynchronize('restart', { serial: 2 });
      p.settle();
      expectRejected(p, () => p.B.machine.respondResync(), 'ERR_NOTHING_TO_CONFIRM');
      p.A.machine.respondResync();
      p.settle();

      expect(ladderSince(p, m)).toEqual(['A>RESYNC', 'B>RESYNC', 'A>RESYNC_ACK']);
      expect(framesSince(p, m)[2]).toMatchObject({ type: 'RESYNC_ACK', serial: 2 });
      expect(eventsSince(p.A, m)).toEqual([
        { type: 'cancelled', service: 'resync', side: 'local', by: 'resync' },
        { type: 'resync', resyncType: 'restart', serial: 2, tokens: ['minorSync', 'majorActivity'], userData: '' },
      ]);
      expect(eventsSince(p.B, m)).toEqual([{ type: 'resync-complete', serial: 2, tokens: [], userData: '' }]);
      expect([view(p.A).serial, view(p.B).serial]).toEqual([2, 2]);
    });

    it.each([
      ['abandon', { serial: 7 }, { serial: 9 }, 7],
      ['restart', { serial: 3 }, { serial: 3 }, 3],
      ['set', { serial: 40 }, { serial: 30 }, 40],
    ] as const)('equal types (%s): the initiator wins', (type, aOptions, bOptions, winning) => {
      const p = withSyncPoints();
      const m = mark(p);
      p.A.machine.resynchronize(type, aOptions);
      p.B.machine.resynchronize(type, bOptions);
      p.settle();
      expectRejected(p, () => p.A.machine.respondResync(), 'ERR_NOTHING_TO_CONFIRM');
      p.B.machine.respondResync();
      p.settle();

      expect(ladderSince(p, m)).toEqual(['A>RESYNC', 'B>RESYNC', 'B>RESYNC_ACK']);
      expect(eventsSince(p.B, m)).toEqual([
        { type: 'cancelled', service: 'resync', side: 'local', by: 'resync' },
        { type: 'resync', resyncType: type, serial: winning, tokens: [], userData: '' },
      ]);
      expect(eventsSince(p.A, m)).toEqual([
        { type: 'resync-complete', serial: winning, tokens: ['minorSync', 'majorActivity'], userData: '' },
      ]);
      expect([view(p.A).serial, view(p.B).serial]).toEqual([winning, winning]);
    });
  });
});
