// Frames <-> SPDUs: every session frame the machine sends survives the trip through X.225 bytes;
// what X.225 cannot carry is refused or dropped, never faked; the per-version limits.

import { describe, expect, it } from 'vitest';
import { SessionError } from '../../src/engine/errors.js';
import { AbortReason, EMPTY, RefuseReason } from '../../src/engine/frames.js';
import type { Frame } from '../../src/engine/frames.js';
import { acceptToAc, acToAccept, cnToConnect, connectToCn, refuseToRf, rfToRefuse } from '../../src/iso/connect-map.js';
import { checkLimits, frameToSpdu, spduToFrame, userDataLimit } from '../../src/iso/frame-map.js';
import { decodeTsdu, encodeSpdu, tsduOf } from '../../src/iso/spdu.js';
import { ascii, bytes } from './cases.js';

const ctx = { version: 2 as const, compat: false };
const ud = ascii('ud');

const FRAMES: Frame[] = [
  { type: 'DATA', payload: ascii('data') },
  { type: 'EXPEDITED', payload: ascii('x') },
  { type: 'TYPED', payload: ascii('typed') },
  { type: 'CAPABILITY', payload: ud },
  { type: 'CAPABILITY_ACK', payload: EMPTY },
  { type: 'GIVE_TOKENS', tokens: 0x55 },
  { type: 'PLEASE_TOKENS', tokens: 0x01, userData: ud },
  { type: 'GIVE_CONTROL' },
  { type: 'GIVE_CONTROL_ACK' },
  { type: 'MINOR_SYNC', serial: 5, confirm: true, userData: ud },
  { type: 'MINOR_SYNC', serial: 6, confirm: false, userData: EMPTY },
  { type: 'MINOR_SYNC_ACK', serial: 5, userData: ud },
  { type: 'MAJOR_SYNC', serial: 7, userData: ud },
  { type: 'MAJOR_SYNC_ACK', serial: 7, userData: EMPTY },
  { type: 'RESYNC', resyncType: 0, serial: 3, tokenSetting: 0x10, userData: ud },
  { type: 'RESYNC', resyncType: 1, serial: 9, tokenSetting: 0, userData: EMPTY },
  { type: 'RESYNC', resyncType: 2, serial: 999_999, tokenSetting: 0x55, userData: EMPTY },
  { type: 'RESYNC_ACK', serial: 3, tokenSetting: 0x10, userData: ud },
  { type: 'ACTIVITY_START', activityId: ascii('a1'), userData: ud },
  { type: 'ACTIVITY_RESUME', activityId: ascii('a2'), oldActivityId: ascii('a1'), serial: 4, userData: EMPTY },
  { type: 'ACTIVITY_INTERRUPT', reason: 1 },
  { type: 'ACTIVITY_INTERRUPT_ACK' },
  { type: 'ACTIVITY_DISCARD', reason: 128 },
  { type: 'ACTIVITY_DISCARD_ACK' },
  { type: 'ACTIVITY_END', serial: 8, userData: ud },
  { type: 'ACTIVITY_END_ACK', serial: 8, userData: EMPTY },
  { type: 'EXCEPTION_DATA', reason: 3, userData: ud },
  { type: 'FINISH', userData: ud },
  { type: 'DISCONNECT', userData: EMPTY },
  { type: 'NOT_FINISHED', userData: ud },
];

function trip(f: Frame): Frame | null {
  const s = frameToSpdu(f, ctx);
  if (!s) return null;
  const spdus = decodeTsdu(tsduOf(s), { si42: f.type === 'ACTIVITY_END_ACK' ? 'AEA' : 'MAA' });
  const last = spdus[spdus.length - 1]!;
  return spduToFrame(last);
}

describe('session frames through X.225', () => {
  it.each(FRAMES.map((f) => [f.type, f] as const))('%s comes back as it went', (_t, f) => {
    expect(trip(f)).toEqual(f);
  });

  it('ABORT: the reason becomes Transport Disconnect bits (released + user abort / protocol error / restriction / no reason)', () => {
    const bits = (reason: number): number | undefined =>
      frameToSpdu({ type: 'ABORT', reason: reason as 0, message: 'm', userData: EMPTY }, ctx)!.transportDisconnect;
    expect(bits(AbortReason.user)).toBe(0x0b);
    expect(bits(AbortReason.protocolError)).toBe(0x05);
    expect(bits(AbortReason.frameTooLarge)).toBe(0x11);
    expect(bits(AbortReason.timeout)).toBe(0x09);
    const back = (b: number): Frame | null => spduToFrame({ type: 'AB', transportDisconnect: b, userData: ud });
    expect(back(0x0b)).toMatchObject({
      type: 'ABORT',
      reason: AbortReason.user,
      userData: ud,
      message: expect.stringContaining('user abort'),
    });
    expect(back(0x05)).toMatchObject({ reason: AbortReason.protocolError });
    expect(back(0x11)).toMatchObject({
      reason: AbortReason.internalError,
      message: expect.stringContaining('implementation restriction'),
    });
  });

  it('ACK and HEARTBEAT are not carried; REAUTH and RESUME are unavailable', () => {
    expect(frameToSpdu({ type: 'ACK', received: 3 }, ctx)).toBeNull();
    expect(frameToSpdu({ type: 'HEARTBEAT' }, ctx)).toBeNull();
    for (const f of [
      { type: 'REAUTH', credentials: EMPTY },
      { type: 'RESUMED', received: 0 },
    ] as Frame[]) {
      expect(() => frameToSpdu(f, ctx)).toThrow(
        expect.objectContaining({
          code: 'ERR_UNIT_NOT_SELECTED',
          origin: 'local',
          details: expect.objectContaining({ profile: 'iso8327' }),
        }),
      );
    }
  });

  it('an empty GT, AA and PR change nothing; a lone PT without tokens asks for none', () => {
    expect(spduToFrame({ type: 'GT' })).toBeNull();
    expect(spduToFrame({ type: 'AA' })).toBeNull();
    expect(spduToFrame({ type: 'PR', prepareType: 1 })).toBeNull();
    expect(spduToFrame({ type: 'PT' })).toEqual({ type: 'PLEASE_TOKENS', tokens: 0, userData: EMPTY });
  });

  it('MIA user data is read from PI 46 (ISODE) or PGI 193', () => {
    expect(spduToFrame({ type: 'MIA', serial: 1, userData: ud })).toEqual({
      type: 'MINOR_SYNC_ACK',
      serial: 1,
      userData: ud,
    });
    expect(encodeSpdu(frameToSpdu({ type: 'MINOR_SYNC_ACK', serial: 1, userData: ud }, ctx)!)[5]).toBe(46);
  });

  it('SPDUs without what the machine needs are protocol errors', () => {
    for (const s of [
      { type: 'MIP' },
      { type: 'RS', serial: 1 },
      { type: 'RS', serial: 1, resyncType: 3 },
      { type: 'AR', activityId: bytes(1) },
      { type: 'AS' },
      { type: 'CN' },
    ] as const) {
      expect(() => spduToFrame(s), s.type).toThrow(
        expect.objectContaining({ code: 'ERR_MALFORMED_FRAME', origin: 'remote' }),
      );
    }
  });

  it('an RA without a Token Setting Item takes the RS setting', () => {
    expect(spduToFrame({ type: 'RA', serial: 2 }, 0x14)).toMatchObject({ tokenSetting: 0x14 });
  });
});

describe('limits', () => {
  it('version 1: 512 octets of user data, 9 in AB; EX 14 and CD 512 in both versions', () => {
    const v1 = { version: 1 as const, compat: false };
    expect(userDataLimit('MAP', v1)).toBe(512);
    expect(userDataLimit('AB', v1)).toBe(9);
    expect(userDataLimit('EX', ctx)).toBe(14);
    expect(userDataLimit('CD', ctx)).toBe(512);
    expect(userDataLimit('MAP', ctx)).toBeGreaterThan(65_000);
    expect(userDataLimit('MAP', { version: 2, compat: true })).toBeLessThan(254);
    expect(userDataLimit('DT', v1)).toBe(Infinity);
    expect(() => checkLimits({ type: 'MAP', userData: new Uint8Array(513) }, v1, false)).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE', origin: 'local' }),
    );
    expect(() => checkLimits({ type: 'MAP', userData: new Uint8Array(513) }, v1, true)).toThrow(
      expect.objectContaining({ code: 'ERR_MALFORMED_FRAME', origin: 'remote' }),
    );
    expect(() => checkLimits({ type: 'EX', userInfo: new Uint8Array(15) }, ctx, false)).toThrow(SessionError);
    expect(() => checkLimits({ type: 'MAP', userData: new Uint8Array(512) }, v1, false)).not.toThrow();
  });
});

describe('connect exchange', () => {
  const connect = {
    type: 'CONNECT',
    minVersion: 1,
    maxVersion: 1,
    units: 0x0001 | 0x0008 | 0x0080,
    modes: 2,
    simplexSender: 'initiator',
    tokenSetting: 0x02 | (0x02 << 2),
    initialSerial: 42,
    maxFrameSize: 4096,
    heartbeatMs: 0,
    resumeWindowMs: 0,
    credentials: EMPTY,
    userData: ud,
  } as const;

  it('CN carries versions, requirements, token settings (only of existing tokens), the ISN and the selectors', () => {
    const cn = connectToCn(
      { ...connect, tokenSetting: 0xff },
      { versions: 3, callingSsel: bytes(0, 1), calledSsel: bytes(0, 2), compat: false },
    );
    expect(cn).toMatchObject({
      type: 'CN',
      connectAccept: { protocolOptions: 0, versions: 3, initialSerial: 42, tokenSetting: 0xcf },
      requirements: 0x0089,
      callingSsel: bytes(0, 1),
      calledSsel: bytes(0, 2),
      userData: ud,
    });
  });

  it('the ISN is left out when activities are proposed, and when no sync unit is', () => {
    expect(
      connectToCn({ ...connect, units: 0x0049 }, { versions: 3, compat: false }).connectAccept?.initialSerial,
    ).toBeUndefined();
    expect(
      connectToCn({ ...connect, units: 0x0002 }, { versions: 3, compat: false }).connectAccept?.initialSerial,
    ).toBeUndefined();
  });

  it('CN user data over 512 goes in PGI 194 (version 2), over 10240 is refused', () => {
    const big = connectToCn({ ...connect, userData: new Uint8Array(600) }, { versions: 3, compat: false });
    expect(big.userData).toBeUndefined();
    expect(big.extendedUserData).toHaveLength(600);
    expect(() => connectToCn({ ...connect, userData: new Uint8Array(600) }, { versions: 1, compat: false })).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE' }),
    );
    expect(() => connectToCn({ ...connect, userData: new Uint8Array(10_241) }, { versions: 3, compat: false })).toThrow(
      SessionError,
    );
  });

  it('acceptor: CN -> CONNECT -> (machine) -> AC keeps the chosen version and settles "called SS-user\'s choice"', () => {
    const cn = connectToCn(connect, { versions: 3, compat: false });
    const { frame, version } = cnToConnect(cn, 3, 8192);
    expect(version).toBe(2);
    expect(frame).toMatchObject({
      minVersion: 1,
      maxVersion: 1,
      units: 0x0089,
      modes: 2,
      tokenSetting: 0x0a,
      initialSerial: 42,
      userData: ud,
      maxFrameSize: 8192,
    });
    const ac = acceptToAc(
      {
        type: 'ACCEPT',
        version: 1,
        units: 0x0089,
        mode: 2,
        simplexSender: 'initiator',
        tokenSetting: 0x04,
        initialSerial: 42,
        maxFrameSize: 8192,
        heartbeatMs: 0,
        resumeWindowMs: 0,
        sessionId: EMPTY,
        resumeSecret: EMPTY,
        userData: EMPTY,
      },
      cn,
      2,
      false,
    );
    expect(ac).toMatchObject({
      connectAccept: { versions: 2, tokenSetting: 0x04, initialSerial: 42 },
      requirements: 0x0089,
      userData: undefined,
    });
    const back = acToAccept(ac, connect, 3);
    expect(back.version).toBe(2);
    expect(back.frame).toMatchObject({
      units: 0x0089,
      mode: 2,
      tokenSetting: 0x04,
      initialSerial: 42,
      maxFrameSize: 4096,
      heartbeatMs: 0,
      resumeWindowMs: 0,
    });
  });

  it('no common version: a CONNECT the machine will refuse; defaults when PI 20 and PI 22 are absent', () => {
    expect(cnToConnect({ type: 'CN', connectAccept: { versions: 1 } }, 2, 8192)).toMatchObject({
      version: 0,
      frame: { minVersion: 0, maxVersion: 0 },
    });
    expect(cnToConnect({ type: 'CN' }, 3, 8192)).toMatchObject({ version: 1, frame: { units: 0x0349 } });
    expect(cnToConnect({ type: 'CN', extendedUserData: new Uint8Array(600) }, 3, 8192).version).toBe(2);
  });

  it('an AC outside the proposal is a negotiation failure', () => {
    expect(() => acToAccept({ type: 'AC', connectAccept: { versions: 3 }, requirements: 2 }, connect, 3)).toThrow(
      expect.objectContaining({ code: 'ERR_NEGOTIATION_FAILED' }),
    );
    expect(() => acToAccept({ type: 'AC', connectAccept: { versions: 2 }, requirements: 3 }, connect, 3)).toThrow(
      /exactly one/,
    );
    expect(() =>
      acToAccept({ type: 'AC', connectAccept: { versions: 2, tokenSetting: 0x02 }, requirements: 0x0001 }, connect, 3),
    ).toThrow(/chosen/);
    expect(() => acToAccept({ type: 'AC', connectAccept: { versions: 2 }, requirements: 2 }, connect, 1)).toThrow(
      expect.objectContaining({ code: 'ERR_NEGOTIATION_FAILED' }),
    );
  });

  it('REFUSE <-> RF reasons', () => {
    expect(refuseToRf({ type: 'REFUSE', reason: RefuseReason.rejected, message: 'no', userData: EMPTY }, 3)).toEqual({
      type: 'RF',
      transportDisconnect: 1,
      reason: 0,
      versions: undefined,
      userData: undefined,
    });
    expect(refuseToRf({ type: 'REFUSE', reason: RefuseReason.rejected, message: 'no', userData: ud }, 3)).toMatchObject(
      { reason: 2, userData: ud },
    );
    expect(
      refuseToRf({ type: 'REFUSE', reason: RefuseReason.versionUnsupported, message: '', userData: EMPTY }, 2),
    ).toMatchObject({ reason: 132, versions: 2 });
    expect(rfToRefuse({ type: 'RF', reason: 129 })).toMatchObject({
      reason: RefuseReason.rejected,
      message: expect.stringContaining('session selector unknown'),
    });
    expect(rfToRefuse({ type: 'RF', reason: 132 })).toMatchObject({ reason: RefuseReason.versionUnsupported });
    expect(rfToRefuse({ type: 'RF', reason: 1, userData: ud })).toMatchObject({
      reason: RefuseReason.congested,
      userData: ud,
    });
  });
});
