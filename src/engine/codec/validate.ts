// Field rules shared by the encoder and the decoder, so that both sides of the codec agree on
// what a valid frame is (docs/protocol.md §4). The decoder reports a broken rule as a malformed
// frame (ProtocolError), the encoder as an invalid argument (SessionError, origin local).
//
// Only rules about values live here. Rules about bytes (truncation, leftovers, varint form, UTF-8,
// flag bits, the simplexSender byte) belong to the reader; integer ranges of u8/u16/u32/count
// fields to the writer (the reader cannot produce out-of-range values).

import {
  ALL_TOKENS,
  ALL_UNITS,
  AbortReason,
  MAX_EXPEDITED,
  MAX_SERIAL,
  RefuseReason,
  ResumeRefuseReason,
  RESUME_SECRET_LENGTH,
  SESSION_ID_LENGTH,
  type Frame,
  type FrameTypeName,
} from '../frames.js';
import { MAX_ACTIVITY_ID_LENGTH, MIN_ACTIVITY_ID_LENGTH } from './limits.js';

/** Throws: the encoder's and the decoder's way of reporting a broken rule. */
export type Fail = (frame: FrameTypeName, field: string, why: string) => never;

const REFUSE_REASONS: ReadonlySet<number> = new Set(Object.values(RefuseReason));
const RESUME_REFUSE_REASONS: ReadonlySet<number> = new Set(Object.values(ResumeRefuseReason));
const ABORT_REASONS: ReadonlySet<number> = new Set(Object.values(AbortReason));

// Token setting: four 2-bit pairs (data, minor sync, major/activity, release), X.225 PI 26.
// Pair value 3 is undefined. Pair value 2 ("acceptor chooses") is a proposal, only valid in CONNECT.
const LOW_BITS = 0x55;
const HIGH_BITS = 0xaa;

function check(ok: boolean, fail: Fail, frame: FrameTypeName, field: string, why: string): void {
  if (!ok) fail(frame, field, why);
}

function serial(value: number, fail: Fail, frame: FrameTypeName, field = 'serial'): void {
  check(value <= MAX_SERIAL, fail, frame, field, `must be at most ${MAX_SERIAL} (got ${value})`);
}

function proposedTokenSetting(value: number, fail: Fail, frame: FrameTypeName): void {
  check(
    (value & (value >>> 1) & LOW_BITS) === 0,
    fail,
    frame,
    'tokenSetting',
    `a token position is 3 (undefined) in 0x${value.toString(16)}`,
  );
}

function finalTokenSetting(value: number, fail: Fail, frame: FrameTypeName): void {
  check(
    (value & HIGH_BITS) === 0,
    fail,
    frame,
    'tokenSetting',
    `every token must be placed at initiator (0) or acceptor (1), got 0x${value.toString(16)}`,
  );
}

function units(value: number, fail: Fail, frame: FrameTypeName): void {
  check((value & ~ALL_UNITS) === 0, fail, frame, 'units', `unknown unit bits 0x${(value & ~ALL_UNITS).toString(16)}`);
}

function tokens(value: number, fail: Fail, frame: FrameTypeName): void {
  check(
    (value & ~ALL_TOKENS) === 0,
    fail,
    frame,
    'tokens',
    `unknown token bits 0x${(value & ~ALL_TOKENS).toString(16)}`,
  );
}

function length(bytes: Uint8Array, min: number, max: number, fail: Fail, frame: FrameTypeName, field: string): void {
  const n = bytes.length;
  check(
    n >= min && n <= max,
    fail,
    frame,
    field,
    min === max ? `must be exactly ${min} bytes (got ${n})` : `must be ${min}..${max} bytes (got ${n})`,
  );
}

function reason(value: number, table: ReadonlySet<number>, fail: Fail, frame: FrameTypeName): void {
  check(table.has(value), fail, frame, 'reason', `unknown reason code ${value}`);
}

/** Checks the value rules of `frame`; calls `fail` (which throws) on the first broken one. */
export function validateFrame(frame: Frame, fail: Fail): void {
  const t = frame.type;
  switch (frame.type) {
    case 'CONNECT':
      check(
        frame.minVersion >= 1 && frame.minVersion <= frame.maxVersion,
        fail,
        t,
        'minVersion',
        `need 1 <= minVersion <= maxVersion (got ${frame.minVersion}..${frame.maxVersion})`,
      );
      units(frame.units, fail, t);
      check(
        frame.modes !== 0 && (frame.modes & ~0b111) === 0,
        fail,
        t,
        'modes',
        `must be a non-empty subset of 0b111 (got ${frame.modes})`,
      );
      proposedTokenSetting(frame.tokenSetting, fail, t);
      serial(frame.initialSerial, fail, t, 'initialSerial');
      return;
    case 'ACCEPT':
      units(frame.units, fail, t);
      check(
        frame.mode === 1 || frame.mode === 2 || frame.mode === 4,
        fail,
        t,
        'mode',
        `must be exactly one of 1, 2, 4 (got ${frame.mode})`,
      );
      proposedTokenSetting(frame.tokenSetting, fail, t);
      finalTokenSetting(frame.tokenSetting, fail, t);
      serial(frame.initialSerial, fail, t, 'initialSerial');
      length(frame.sessionId, SESSION_ID_LENGTH, SESSION_ID_LENGTH, fail, t, 'sessionId');
      length(frame.resumeSecret, RESUME_SECRET_LENGTH, RESUME_SECRET_LENGTH, fail, t, 'resumeSecret');
      return;
    case 'REFUSE':
      return reason(frame.reason, REFUSE_REASONS, fail, t);
    case 'RESUME':
      length(frame.sessionId, SESSION_ID_LENGTH, SESSION_ID_LENGTH, fail, t, 'sessionId');
      length(frame.resumeSecret, RESUME_SECRET_LENGTH, RESUME_SECRET_LENGTH, fail, t, 'resumeSecret');
      return;
    case 'RESUME_REFUSED':
      return reason(frame.reason, RESUME_REFUSE_REASONS, fail, t);
    case 'ABORT':
      return reason(frame.reason, ABORT_REASONS, fail, t);
    case 'EXPEDITED':
      return length(frame.payload, 0, MAX_EXPEDITED, fail, t, 'payload');
    case 'GIVE_TOKENS':
    case 'PLEASE_TOKENS':
      return tokens(frame.tokens, fail, t);
    case 'MINOR_SYNC':
    case 'MINOR_SYNC_ACK':
    case 'MAJOR_SYNC':
    case 'MAJOR_SYNC_ACK':
    case 'ACTIVITY_END':
    case 'ACTIVITY_END_ACK':
      return serial(frame.serial, fail, t);
    case 'RESYNC':
      check(
        frame.resyncType === 0 || frame.resyncType === 1 || frame.resyncType === 2,
        fail,
        t,
        'resyncType',
        `must be 0, 1 or 2 (got ${frame.resyncType})`,
      );
      serial(frame.serial, fail, t);
      proposedTokenSetting(frame.tokenSetting, fail, t);
      return finalTokenSetting(frame.tokenSetting, fail, t);
    case 'RESYNC_ACK':
      serial(frame.serial, fail, t);
      proposedTokenSetting(frame.tokenSetting, fail, t);
      return finalTokenSetting(frame.tokenSetting, fail, t);
    case 'ACTIVITY_START':
      return length(frame.activityId, MIN_ACTIVITY_ID_LENGTH, MAX_ACTIVITY_ID_LENGTH, fail, t, 'activityId');
    case 'ACTIVITY_RESUME':
      length(frame.activityId, MIN_ACTIVITY_ID_LENGTH, MAX_ACTIVITY_ID_LENGTH, fail, t, 'activityId');
      length(frame.oldActivityId, MIN_ACTIVITY_ID_LENGTH, MAX_ACTIVITY_ID_LENGTH, fail, t, 'oldActivityId');
      return serial(frame.serial, fail, t);
    default:
      return;
  }
}
