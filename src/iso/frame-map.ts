// Colloquy frames <-> X.225 SPDUs for an established session (the connect exchange is in
// ./connect-map.ts). The machine speaks frames; this file says which SPDU each one is.
//
//   DATA -> GT+DT            EXPEDITED -> EX           TYPED -> TD
//   CAPABILITY(_ACK) -> GT+CD / GT+CDA                 GIVE_TOKENS -> GT(tokens)   PLEASE_TOKENS -> PT
//   GIVE_CONTROL(_ACK) -> GTC / GTA                    MINOR_SYNC(_ACK) -> GT+MIP / GT+MIA
//   MAJOR_SYNC(_ACK) -> GT+MAP / GT+MAA                RESYNC(_ACK) -> GT+RS / GT+RA
//   ACTIVITY_START/RESUME/INTERRUPT(_ACK)/DISCARD(_ACK)/END(_ACK) -> GT+AS/AR/AI/AIA/AD/ADA/AE/AEA
//   EXCEPTION_DATA -> GT+ED  EXCEPTION_REPORT -> GT+ER  FINISH/DISCONNECT/NOT_FINISHED -> FN/DN/NF
//   ABORT -> AB
//   ACK, HEARTBEAT: not carried (no loss-free resume: the transport is the only copy of the data;
//     no heartbeats: X.225 has no keep-alive)
//   REAUTH, REAUTH_RESULT, RESUME*, CONNECT/ACCEPT/REFUSE here: unavailable (a local error)
//
// Values map one to one where X.225 has them (token bits, token settings, resync types,
// functional units: frames.ts follows X.225). Where X.225 carries less, what is lost is said:
// an ABORT's reason becomes Transport Disconnect bits and its message is not carried; an
// EXCEPTION_REPORT's message is not carried.

import { SessionError } from '../engine/errors.js';
import { AbortReason, EMPTY } from '../engine/frames.js';
import type { AbortReasonValue, Frame, ResyncTypeValue } from '../engine/frames.js';
import { malformed } from './octets.js';
import {
  MAX_CAPABILITY_DATA,
  MAX_EXPEDITED_DATA,
  MAX_LI,
  MAX_SHORT_LI,
  SYNC_TYPE_BIT,
  TransportDisconnect,
  V1_ABORT_USER_DATA,
  V1_USER_DATA,
} from './spdu-codes.js';
import type { SpduType } from './spdu-codes.js';
import type { Spdu } from './spdu.js';

type Bytes = Uint8Array;

/** What an encoder or decoder needs to know about the session it works for. */
export interface MapContext {
  /** The X.225 protocol version agreed at connect. */
  version: 1 | 2;
  /** libiec61850 mode: one-octet lengths, PGI 193 always present in FN/DN. */
  compat: boolean;
}

/** Frames X.225 cannot carry; a command that needs one is refused. */
export function unavailable(what: string): SessionError {
  return new SessionError(
    'ERR_UNIT_NOT_SELECTED',
    `${what} is not available over ISO 8327 (X.225 has no such service)`,
    'local',
    { unit: what, profile: 'iso8327' },
  );
}

const ABORT_BITS: Record<AbortReasonValue, number> = {
  // As libiec61850 writes a user abort (0x0b with "released"): user abort, no reason.
  [AbortReason.user]: TransportDisconnect.userAbort | TransportDisconnect.noReason,
  [AbortReason.protocolError]: TransportDisconnect.protocolError,
  [AbortReason.frameTooLarge]: TransportDisconnect.implementationRestriction,
  [AbortReason.bufferOverflow]: TransportDisconnect.implementationRestriction,
  [AbortReason.timeout]: TransportDisconnect.noReason,
  [AbortReason.resumeExpired]: TransportDisconnect.noReason,
  [AbortReason.shuttingDown]: TransportDisconnect.noReason,
  [AbortReason.internalError]: TransportDisconnect.implementationRestriction,
  [AbortReason.revoked]: TransportDisconnect.noReason,
};

/** What the AB's Transport Disconnect bits say, in words (the ABORT's message on receipt). */
export function describeAbortBits(bits: number | undefined): string {
  if (bits === undefined) return 'no Transport Disconnect parameter';
  const words = [bits & TransportDisconnect.released ? 'transport released' : 'transport kept'];
  if (bits & TransportDisconnect.userAbort) words.push('user abort');
  if (bits & TransportDisconnect.protocolError) words.push('protocol error');
  if (bits & TransportDisconnect.noReason) words.push('no reason');
  if (bits & TransportDisconnect.implementationRestriction) words.push('implementation restriction');
  return words.join(', ');
}

function userData(u: Bytes, keepEmpty = false): Bytes | undefined {
  return u.length > 0 || keepEmpty ? u : undefined;
}

/** The SPDU for one frame; null for frames X.225 does not carry. Throws a local SessionError. */
export function frameToSpdu(f: Frame, ctx: MapContext): Spdu | null {
  switch (f.type) {
    case 'DATA':
      return { type: 'DT', userInfo: f.payload };
    case 'EXPEDITED':
      return { type: 'EX', userInfo: f.payload };
    case 'TYPED':
      return { type: 'TD', userInfo: f.payload };
    case 'CAPABILITY':
      return { type: 'CD', userData: userData(f.payload) };
    case 'CAPABILITY_ACK':
      return { type: 'CDA', userData: userData(f.payload) };
    case 'GIVE_TOKENS':
      return { type: 'GT', tokens: f.tokens };
    case 'PLEASE_TOKENS':
      return { type: 'PT', tokens: f.tokens, userData: userData(f.userData) };
    case 'GIVE_CONTROL':
      return { type: 'GTC' };
    case 'GIVE_CONTROL_ACK':
      return { type: 'GTA' };
    case 'MINOR_SYNC':
      return {
        type: 'MIP',
        syncType: f.confirm ? undefined : SYNC_TYPE_BIT,
        serial: f.serial,
        userData: userData(f.userData),
      };
    case 'MINOR_SYNC_ACK':
      return { type: 'MIA', serial: f.serial, miaUserData: userData(f.userData) };
    case 'MAJOR_SYNC':
      return { type: 'MAP', syncType: SYNC_TYPE_BIT, serial: f.serial, userData: userData(f.userData) };
    case 'MAJOR_SYNC_ACK':
      return { type: 'MAA', serial: f.serial, userData: userData(f.userData) };
    case 'RESYNC':
      return {
        type: 'RS',
        tokenSetting: f.tokenSetting,
        resyncType: f.resyncType,
        serial: f.serial,
        userData: userData(f.userData),
      };
    case 'RESYNC_ACK':
      return { type: 'RA', tokenSetting: f.tokenSetting, serial: f.serial, userData: userData(f.userData) };
    case 'ACTIVITY_START':
      return { type: 'AS', activityId: f.activityId, userData: userData(f.userData) };
    case 'ACTIVITY_RESUME':
      return {
        type: 'AR',
        linking: { oldActivityId: f.oldActivityId, serial: f.serial },
        activityId: f.activityId,
        userData: userData(f.userData),
      };
    case 'ACTIVITY_INTERRUPT':
      return { type: 'AI', reason: f.reason };
    case 'ACTIVITY_INTERRUPT_ACK':
      return { type: 'AIA' };
    case 'ACTIVITY_DISCARD':
      return { type: 'AD', reason: f.reason };
    case 'ACTIVITY_DISCARD_ACK':
      return { type: 'ADA' };
    case 'ACTIVITY_END':
      return { type: 'AE', serial: f.serial, userData: userData(f.userData) };
    case 'ACTIVITY_END_ACK':
      return { type: 'AEA', serial: f.serial, userData: userData(f.userData) };
    case 'EXCEPTION_REPORT':
      return { type: 'ER' };
    case 'EXCEPTION_DATA':
      return { type: 'ED', reason: f.reason, userData: userData(f.userData) };
    case 'FINISH':
      return { type: 'FN', userData: userData(f.userData, ctx.compat) };
    case 'DISCONNECT':
      return { type: 'DN', userData: userData(f.userData, ctx.compat) };
    case 'NOT_FINISHED':
      return { type: 'NF', userData: userData(f.userData) };
    case 'ABORT':
      return {
        type: 'AB',
        transportDisconnect: TransportDisconnect.released | (ABORT_BITS[f.reason] ?? TransportDisconnect.noReason),
        userData: userData(f.userData),
      };
    case 'ACK':
    case 'HEARTBEAT':
      return null;
    case 'REAUTH':
    case 'REAUTH_RESULT':
      throw unavailable('credentials refresh (REAUTH)');
    case 'RESUME':
    case 'RESUMED':
    case 'RESUME_REFUSED':
      throw unavailable('session resume');
    case 'CONNECT':
    case 'ACCEPT':
    case 'REFUSE':
      throw new SessionError('ERR_INVALID_STATE', `${f.type} is mapped by the connect exchange`, 'local');
  }
}

function need<T>(v: T | undefined, s: Spdu, what: string): T {
  return v ?? malformed('SPDU', `${s.type} without ${what}`, { spdu: s.type });
}

/**
 * The frame one received SPDU stands for; null for SPDUs that change nothing (an empty GT, AA,
 * PR). `resyncSetting` stands in for a Token Setting Item an RA leaves out (the RS's own).
 * CN, AC and RF belong to the connect exchange and are refused here. Throws ProtocolError.
 */
export function spduToFrame(s: Spdu, resyncSetting = 0): Frame | null {
  const ud = s.userData ?? EMPTY;
  switch (s.type) {
    case 'DT':
      return { type: 'DATA', payload: s.userInfo ?? EMPTY };
    case 'EX':
      return { type: 'EXPEDITED', payload: s.userInfo ?? EMPTY };
    case 'TD':
      return { type: 'TYPED', payload: s.userInfo ?? EMPTY };
    case 'CD':
      return { type: 'CAPABILITY', payload: ud };
    case 'CDA':
      return { type: 'CAPABILITY_ACK', payload: ud };
    case 'GT':
      return s.tokens ? { type: 'GIVE_TOKENS', tokens: s.tokens } : null;
    case 'PT':
      return { type: 'PLEASE_TOKENS', tokens: s.tokens ?? 0, userData: ud };
    case 'GTC':
      return { type: 'GIVE_CONTROL' };
    case 'GTA':
      return { type: 'GIVE_CONTROL_ACK' };
    case 'MIP':
      return {
        type: 'MINOR_SYNC',
        serial: need(s.serial, s, 'a serial number'),
        confirm: ((s.syncType ?? 0) & SYNC_TYPE_BIT) === 0,
        userData: ud,
      };
    case 'MIA':
      return { type: 'MINOR_SYNC_ACK', serial: need(s.serial, s, 'a serial number'), userData: s.miaUserData ?? ud };
    case 'MAP':
      return { type: 'MAJOR_SYNC', serial: need(s.serial, s, 'a serial number'), userData: ud };
    case 'MAA':
      return { type: 'MAJOR_SYNC_ACK', serial: need(s.serial, s, 'a serial number'), userData: ud };
    case 'RS': {
      const t = need(s.resyncType, s, 'a Resync Type');
      if (t > 2) malformed('SPDU', `RS with Resync Type ${t} (0 restart, 1 abandon, 2 set)`);
      return {
        type: 'RESYNC',
        resyncType: t as ResyncTypeValue,
        serial: need(s.serial, s, 'a serial number'),
        tokenSetting: s.tokenSetting ?? 0,
        userData: ud,
      };
    }
    case 'RA':
      return {
        type: 'RESYNC_ACK',
        serial: need(s.serial, s, 'a serial number'),
        tokenSetting: s.tokenSetting ?? resyncSetting,
        userData: ud,
      };
    case 'AS':
      return { type: 'ACTIVITY_START', activityId: need(s.activityId, s, 'an Activity Identifier'), userData: ud };
    case 'AR': {
      const l = need(s.linking, s, 'Linking Information');
      return {
        type: 'ACTIVITY_RESUME',
        activityId: need(s.activityId, s, 'an Activity Identifier'),
        oldActivityId: need(l.oldActivityId, s, 'the old Activity Identifier'),
        serial: need(l.serial, s, 'a serial number'),
        userData: ud,
      };
    }
    case 'AI':
      return { type: 'ACTIVITY_INTERRUPT', reason: s.reason ?? 0 };
    case 'AIA':
      return { type: 'ACTIVITY_INTERRUPT_ACK' };
    case 'AD':
      return { type: 'ACTIVITY_DISCARD', reason: s.reason ?? 0 };
    case 'ADA':
      return { type: 'ACTIVITY_DISCARD_ACK' };
    case 'AE':
      return { type: 'ACTIVITY_END', serial: need(s.serial, s, 'a serial number'), userData: ud };
    case 'AEA':
      return { type: 'ACTIVITY_END_ACK', serial: need(s.serial, s, 'a serial number'), userData: ud };
    case 'ER':
      return {
        type: 'EXCEPTION_REPORT',
        reason: 0,
        message: s.reflect?.length
          ? `X.225 EXCEPTION REPORT (${s.reflect.length} octets of reflected parameters)`
          : 'X.225 EXCEPTION REPORT',
      };
    case 'ED':
      return { type: 'EXCEPTION_DATA', reason: s.reason ?? 0, userData: ud };
    case 'FN':
      return { type: 'FINISH', userData: ud };
    case 'DN':
      return { type: 'DISCONNECT', userData: ud };
    case 'NF':
      return { type: 'NOT_FINISHED', userData: ud };
    case 'AB': {
      const bits = s.transportDisconnect;
      const reason =
        bits === undefined || bits & TransportDisconnect.userAbort
          ? AbortReason.user
          : bits & TransportDisconnect.protocolError
            ? AbortReason.protocolError
            : AbortReason.internalError;
      return {
        type: 'ABORT',
        reason,
        message: `the peer aborted the session (X.225 AB: ${describeAbortBits(bits)})`,
        userData: ud,
      };
    }
    case 'AA':
    case 'PR':
      return null;
    case 'CN':
    case 'AC':
    case 'RF':
      return malformed('SPDU', `${s.type} after the session was set up`, { spdu: s.type });
  }
}

// ---- user data limits -------------------------------------------------------------------

/** Worst-case octets of an SPDU's other parameters, to leave room in the parameter field. */
const OVERHEAD: Partial<Record<SpduType, number>> = {
  AC: 160,
  RF: 16,
  FN: 8,
  DN: 8,
  NF: 8,
  AB: 16,
  PT: 8,
  CD: 8,
  CDA: 8,
  MIP: 16,
  MIA: 16,
  MAP: 16,
  MAA: 16,
  RS: 24,
  RA: 20,
  AS: 16,
  AR: 48,
  AE: 16,
  AEA: 16,
  ED: 12,
};

/**
 * The most user data `type` may carry under `ctx` (X.225 limits by version; with one-octet
 * lengths, what fits in 254 octets). DT and TD are bounded only by the TSDU limit.
 */
export function userDataLimit(type: SpduType, ctx: MapContext): number {
  if (type === 'DT' || type === 'TD') return Infinity;
  if (type === 'EX') return MAX_EXPEDITED_DATA;
  const field = (ctx.compat ? MAX_SHORT_LI : MAX_LI) - (OVERHEAD[type] ?? 16);
  if (type === 'CD' || type === 'CDA') return Math.min(MAX_CAPABILITY_DATA, field);
  if (ctx.version === 1) return Math.min(type === 'AB' ? V1_ABORT_USER_DATA : V1_USER_DATA, field);
  return field;
}

/** The user data an SPDU carries (whichever field holds it). */
export function userDataOf(s: Spdu): Bytes {
  return s.userInfo ?? s.userData ?? s.miaUserData ?? s.extendedUserData ?? EMPTY;
}

/** Checks an SPDU against the limits; `remote` says who is at fault (ProtocolError vs local error). */
export function checkLimits(s: Spdu, ctx: MapContext, remote: boolean): void {
  if (s.type === 'CN') return; // checked by the connect mapping, before the version is known
  const n = userDataOf(s).length;
  const limit = userDataLimit(s.type, ctx);
  if (n <= limit) return;
  const what = `${s.type} with ${n} octets of user data (X.225 version ${ctx.version}${ctx.compat ? ', one-octet lengths' : ''} allows ${limit})`;
  if (remote) malformed('SPDU', what, { spdu: s.type, limit });
  throw new SessionError('ERR_PAYLOAD_TOO_LARGE', what, 'local', { limit, spdu: s.type });
}
