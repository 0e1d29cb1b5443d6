// Connect and negotiation (S-CONNECT): CONNECT / ACCEPT / REFUSE, and what the two sides agree on.

import { describe, expect, it } from 'vitest';
import { RefuseReason } from '../../../../src/engine/frames.js';
import {
  bytes,
  established,
  eventsSince,
  expectRejected,
  framesSince,
  ladderSince,
  mark,
  Pair,
  SESSION_ID,
  view,
} from './scenario.js';

const START = { wire: 0, A: 0, B: 0 };

describe('connect and negotiation', () => {
  it('connects with the defaults: CONNECT, ACCEPT; the acceptor sees connect-request and answers', () => {
    const p = new Pair({ trace: true, a: { credentials: bytes('pw'), userData: bytes('hello') } });
    p.B.onEvent = (e) => {
      if (e.type === 'connect-request') p.B.machine.accept({ userData: bytes('welcome') });
    };
    p.connectTransport();
    p.settle();

    expect(ladderSince(p, START, { acks: true })).toEqual(['A>CONNECT', 'B>ACCEPT']);
    const negotiated = {
      version: 1,
      units: new Set(['duplex', 'expedited', 'minorSync', 'majorSync', 'resynchronize', 'typedData']),
      mode: 'fullDuplex',
      simplexSender: 'initiator',
      maxFrameSize: 256 * 1024,
      heartbeatMs: 0,
      resumeWindowMs: 120_000,
      initialSerial: 1,
      tokens: ['minorSync', 'majorActivity'],
    };
    expect(eventsSince(p.B, START)).toEqual([
      { type: 'connect-request', proposal: negotiated, credentials: 'pw', userData: 'hello' },
      { type: 'established', negotiated, sessionId: new TextDecoder().decode(SESSION_ID), userData: 'welcome' },
    ]);
    expect(eventsSince(p.A, START)).toEqual([
      { type: 'established', negotiated, sessionId: new TextDecoder().decode(SESSION_ID), userData: 'welcome' },
    ]);
    // Every token starts with the initiator by default; only tokens of selected units exist.
    const [, accept] = framesSince(p, START);
    expect(accept).toMatchObject({ type: 'ACCEPT', tokenSetting: 0, initialSerial: 1 });
    expect(view(p.A)).toEqual({
      state: 'established',
      tokens: ['minorSync', 'majorActivity'],
      serial: 1,
      activity: null,
    });
    expect(view(p.B)).toEqual({ state: 'established', tokens: [], serial: 1, activity: null });
    expect(p.A.machine.sessionId).toEqual(SESSION_ID);
  });

  it('half duplex with "acceptor chooses": the acceptor places the token, ACCEPT carries final positions', () => {
    const p = new Pair({
      trace: true,
      a: {
        modes: ['halfDuplex'],
        units: ['minorSync', 'negotiatedRelease', 'exceptions'],
        initialTokens: { data: 'acceptor-chooses', release: 'acceptor' },
        initialSerial: 7,
      },
      b: { chosenTokens: { data: 'acceptor' } },
    });
    p.establish();

    expect(ladderSince(p, START)).toEqual(['A>CONNECT', 'B>ACCEPT']);
    const [connect, accept] = framesSince(p, START);
    // X.225 token setting: two bits per token (data 1-0, minor 3-2, major 5-4, release 7-6).
    expect(connect).toMatchObject({ type: 'CONNECT', tokenSetting: 0x42, initialSerial: 7 });
    expect(accept).toMatchObject({ type: 'ACCEPT', tokenSetting: 0x41, initialSerial: 7 });
    expect(p.A.machine.negotiated?.units).toEqual(
      new Set(['halfDuplex', 'minorSync', 'negotiatedRelease', 'exceptions']),
    );
    expect(p.A.machine.negotiated?.tokens).toEqual(['data', 'minorSync', 'release']);
    expect(view(p.A)).toEqual({ state: 'established', tokens: ['minorSync'], serial: 7, activity: null });
    expect(view(p.B)).toEqual({ state: 'established', tokens: ['data', 'release'], serial: 7, activity: null });
  });

  it('keeps only units both sides want, and drops exceptions without half duplex and capability data without activities', () => {
    const p = established({
      a: { modes: ['fullDuplex'], units: ['exceptions', 'capabilityData', 'typedData', 'expedited'] },
      b: { units: ['typedData', 'exceptions', 'capabilityData'] },
    });
    expect(p.B.machine.negotiated?.units).toEqual(new Set(['duplex', 'typedData']));
    expect(p.A.machine.negotiated?.tokens).toEqual([]);
    expect(view(p.A).tokens).toEqual([]);

    // Services of units that were not selected fail at once, naming the unit.
    const A = p.A.machine;
    expectRejected(p, () => A.sendExpedited(bytes('x')), 'ERR_UNIT_NOT_SELECTED', { unit: 'expedited' });
    expectRejected(p, () => A.sendCapability(bytes('x')), 'ERR_UNIT_NOT_SELECTED', { unit: 'capabilityData' });
    expectRejected(p, () => A.reportException(1), 'ERR_UNIT_NOT_SELECTED', { unit: 'exceptions' });
    expectRejected(p, () => A.syncMinor(), 'ERR_UNIT_NOT_SELECTED', { unit: 'minorSync' });
    expectRejected(p, () => A.syncMajor(), 'ERR_UNIT_NOT_SELECTED', { unit: 'majorSync' });
    expectRejected(p, () => A.resynchronize('abandon'), 'ERR_UNIT_NOT_SELECTED', { unit: 'resynchronize' });
    expectRejected(p, () => A.startActivity(bytes('act')), 'ERR_UNIT_NOT_SELECTED', { unit: 'activities' });
    expectRejected(p, () => A.giveControl(), 'ERR_UNIT_NOT_SELECTED', { unit: 'activities' });
    expectRejected(p, () => A.giveTokens(['data']), 'ERR_UNIT_NOT_SELECTED', { unit: 'halfDuplex', token: 'data' });
    expectRejected(p, () => A.requestTokens(['release']), 'ERR_UNIT_NOT_SELECTED', {
      unit: 'negotiatedRelease',
      token: 'release',
    });

    // What was selected works.
    const m = mark(p);
    A.sendTyped(bytes('t'));
    p.settle();
    expect(ladderSince(p, m)).toEqual(['A>TYPED']);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'typed', payload: 't' }]);
  });

  it('settles on the smaller frame size and resume window and the smaller non-zero heartbeat', () => {
    const p = established({
      a: { maxFrameSize: 4096, heartbeatMs: 0, resumeWindowMs: 60_000 },
      b: { maxFrameSize: 2048, heartbeatMs: 5000, resumeWindowMs: 90_000 },
    });
    expect(p.A.machine.negotiated).toMatchObject({ maxFrameSize: 2048, heartbeatMs: 5000, resumeWindowMs: 60_000 });
    expect(p.B.machine.negotiated).toMatchObject({ maxFrameSize: 2048, heartbeatMs: 5000, resumeWindowMs: 60_000 });
    expect(p.A.machine.maxFrameSize).toBe(2048);
    expectRejected(p, () => p.A.machine.sendData(new Uint8Array(2049)), 'ERR_PAYLOAD_TOO_LARGE', { limit: 2048 });

    const q = established({ a: { heartbeatMs: 4000 }, b: { heartbeatMs: 3000 } });
    expect(q.A.machine.negotiated?.heartbeatMs).toBe(3000);
  });

  it('the acceptor refuses: CONNECT, REFUSE; both sides closed', () => {
    const p = new Pair({ trace: true });
    p.B.onEvent = (e) => {
      if (e.type === 'connect-request') p.B.machine.refuse(RefuseReason.unauthorized, 'who are you', bytes('bye'));
    };
    p.connectTransport();
    p.settle();

    expect(ladderSince(p, START, { acks: true })).toEqual(['A>CONNECT', 'B>REFUSE']);
    expect(framesSince(p, START)[1]).toEqual({
      type: 'REFUSE',
      reason: RefuseReason.unauthorized,
      message: 'who are you',
      userData: bytes('bye'),
    });
    expect(eventsSince(p.A, START)).toEqual([{ type: 'closed', error: { code: 'ERR_REFUSED', origin: 'remote' } }]);
    expect(p.eventsOf(p.A, 'closed')[0]).toMatchObject({ error: { details: { reason: RefuseReason.unauthorized } } });
    expect(eventsSince(p.B, START).map((e) => e.type)).toEqual(['connect-request', 'closed']);
    expect(eventsSince(p.B, START)[1]).toEqual({ type: 'closed', error: { code: 'ERR_REFUSED', origin: 'local' } });
    expect(view(p.A)).toEqual({ state: 'closed', tokens: [], serial: undefined, activity: null });
    expect(view(p.B)).toEqual({ state: 'closed', tokens: [], serial: undefined, activity: null });

    expectRejected(p, () => p.A.machine.sendData(bytes('x')), 'ERR_INVALID_STATE', { state: 'closed' });
    expectRejected(p, () => p.B.machine.accept(), 'ERR_INVALID_STATE', { state: 'closed' });
  });

  it('no dialogue mode in common: the acceptor refuses by itself (units unsupported)', () => {
    const p = new Pair({ trace: true, a: { modes: ['simplex'] }, b: { modes: ['fullDuplex', 'halfDuplex'] } });
    p.connectTransport();
    p.settle();

    expect(ladderSince(p, START, { acks: true })).toEqual(['A>CONNECT', 'B>REFUSE']);
    expect(framesSince(p, START)[1]).toMatchObject({ type: 'REFUSE', reason: RefuseReason.unitsUnsupported });
    expect(eventsSince(p.B, START)).toEqual([
      { type: 'closed', error: { code: 'ERR_NEGOTIATION_FAILED', origin: 'local' } },
    ]);
    expect(eventsSince(p.A, START)).toEqual([{ type: 'closed', error: { code: 'ERR_REFUSED', origin: 'remote' } }]);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['closed', 'closed']);
  });

  it('commands before the session exists fail with ERR_INVALID_STATE naming the state', () => {
    const p = new Pair({ trace: true });
    expectRejected(p, () => p.A.machine.sendData(bytes('x')), 'ERR_INVALID_STATE', { state: 'idle' });
    expectRejected(p, () => p.B.machine.accept(), 'ERR_INVALID_STATE', { state: 'idle' });
    expectRejected(p, () => p.B.machine.refuse(), 'ERR_INVALID_STATE', { state: 'idle' });

    p.connectTransport();
    expect(ladderSince(p, START)).toEqual(['A>CONNECT']);
    expectRejected(p, () => p.A.machine.syncMinor(), 'ERR_INVALID_STATE', { state: 'connecting' });
    p.settle();
    expect(eventsSince(p.B, START).map((e) => e.type)).toEqual(['connect-request']);
    expectRejected(p, () => p.B.machine.sendData(bytes('x')), 'ERR_INVALID_STATE', { state: 'accepting' });
    expectRejected(p, () => p.B.machine.accept({ userData: new Uint8Array(300 * 1024) }), 'ERR_PAYLOAD_TOO_LARGE');

    // The failed attempts left the connect untouched: the answer still goes through.
    p.B.machine.accept();
    p.settle();
    expect(ladderSince(p, START)).toEqual(['A>CONNECT', 'B>ACCEPT']);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['established', 'established']);
  });
});
