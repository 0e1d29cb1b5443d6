// Token management: S-TOKEN-GIVE (GIVE_TOKENS), S-TOKEN-PLEASE (PLEASE_TOKENS) and
// S-CONTROL-GIVE (GIVE_CONTROL / GIVE_CONTROL_ACK).

import { describe, expect, it } from 'vitest';
import { Token } from '../../../../src/engine/frames.js';
import { bytes, established, eventsSince, expectRejected, framesSince, ladderSince, mark, view } from './scenario.js';

describe('tokens', () => {
  it('give: GIVE_TOKENS moves the named tokens at once; the receiver may use them', () => {
    const p = established();
    const A = p.A.machine;
    const B = p.B.machine;
    const m = mark(p);
    A.giveTokens(['minorSync']);
    expect(view(p.A).tokens).toEqual(['majorActivity']);
    expectRejected(p, () => A.syncMinor(), 'ERR_TOKEN_NOT_HELD', { token: 'minorSync' });
    p.settle();
    expect(B.syncMinor()).toBe(1);
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>GIVE_TOKENS', 'B>MINOR_SYNC']);
    expect(framesSince(p, m)[0]).toEqual({ type: 'GIVE_TOKENS', tokens: Token.minorSync });
    expect(eventsSince(p.B, m)).toEqual([{ type: 'tokens-given', tokens: ['minorSync'] }]);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'sync-minor', serial: 1, confirm: false, userData: '' }]);
    expect(view(p.A)).toEqual({ state: 'established', tokens: ['majorActivity'], serial: 2, activity: null });
    expect(view(p.B)).toEqual({ state: 'established', tokens: ['minorSync'], serial: 2, activity: null });
  });

  it('please: PLEASE_TOKENS only asks; the holder decides what to give', () => {
    const p = established({ a: { modes: ['halfDuplex'], units: ['minorSync', 'majorSync', 'negotiatedRelease'] } });
    const A = p.A.machine;
    const B = p.B.machine;
    expect(view(p.A).tokens).toEqual(['data', 'minorSync', 'majorActivity', 'release']);
    const m = mark(p);
    B.requestTokens(['data', 'release'], bytes('please'));
    p.settle();
    expect(view(p.A).tokens).toEqual(['data', 'minorSync', 'majorActivity', 'release']);
    A.giveTokens(['release']);
    p.settle();
    expectRejected(p, () => B.requestTokens(['data', 'release']), 'ERR_TOKEN_HELD', { token: 'release' });
    A.giveTokens(['data', 'minorSync']);
    p.settle();

    expect(ladderSince(p, m)).toEqual(['B>PLEASE_TOKENS', 'A>GIVE_TOKENS', 'A>GIVE_TOKENS']);
    expect(framesSince(p, m)).toEqual([
      { type: 'PLEASE_TOKENS', tokens: Token.data | Token.release, userData: bytes('please') },
      { type: 'GIVE_TOKENS', tokens: Token.release },
      { type: 'GIVE_TOKENS', tokens: Token.data | Token.minorSync },
    ]);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'tokens-requested', tokens: ['data', 'release'], userData: 'please' },
    ]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'tokens-given', tokens: ['release'] },
      { type: 'tokens-given', tokens: ['data', 'minorSync'] },
    ]);
    expect(view(p.A).tokens).toEqual(['majorActivity']);
    expect(view(p.B).tokens).toEqual(['data', 'minorSync', 'release']);
  });

  it('token commands that are not allowed fail at once and change nothing', () => {
    const p = established({ a: { modes: ['halfDuplex'], units: ['minorSync', 'majorSync'] } });
    const A = p.A.machine;
    const B = p.B.machine;
    expectRejected(p, () => A.giveTokens([]), 'ERR_INVALID_ARGUMENT');
    expectRejected(p, () => B.requestTokens([]), 'ERR_INVALID_ARGUMENT');
    expectRejected(p, () => A.giveTokens(['data', 'release']), 'ERR_UNIT_NOT_SELECTED', {
      unit: 'negotiatedRelease',
      token: 'release',
    });
    expectRejected(p, () => B.giveTokens(['minorSync']), 'ERR_TOKEN_NOT_HELD', { token: 'minorSync' });
    expectRejected(p, () => A.requestTokens(['majorActivity']), 'ERR_TOKEN_HELD', { token: 'majorActivity' });
    // While our major sync awaits confirmation, tokens stay where they are.
    A.syncMajor();
    expectRejected(p, () => A.giveTokens(['data']), 'ERR_CONFIRM_PENDING', { pending: 'sync-major' });
    p.settle();
    expectRejected(p, () => A.giveTokens(['data']), 'ERR_CONFIRM_PENDING', { pending: 'sync-major' });
    B.confirmMajorSync();
    p.settle();
    A.giveTokens(['data']);
    p.settle();
    expect(view(p.B).tokens).toEqual(['data']);
  });

  it('give control: GIVE_CONTROL hands over every token; the peer answers GIVE_CONTROL_ACK', () => {
    const p = established({ a: { units: ['activities', 'minorSync', 'majorSync'] } });
    const A = p.A.machine;
    expect(view(p.A).tokens).toEqual(['minorSync', 'majorActivity']);
    const m = mark(p);
    A.giveControl();
    expect(view(p.A).tokens).toEqual([]);
    p.settle();

    expect(ladderSince(p, m)).toEqual(['A>GIVE_CONTROL', 'B>GIVE_CONTROL_ACK']);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'control-give-confirmed' }]);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'control-given' }]);
    expect(view(p.A)).toEqual({ state: 'established', tokens: [], serial: 1, activity: null });
    expect(view(p.B)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 1,
      activity: null,
    });

    // Control is given between activities only.
    const B = p.B.machine;
    B.startActivity(bytes('act'));
    p.settle();
    expectRejected(p, () => B.giveControl(), 'ERR_ACTIVITY_IN_PROGRESS');
  });
});
