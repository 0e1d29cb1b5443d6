// Frame bodies from bytes, field by field in wire order (docs/protocol.md §4): the mirror of
// encode-body.ts. Byte-level problems are caught by the Reader as fields are read; value rules
// run afterwards in validateFrame, the same function the encoder uses. `rest` fields are views
// into the caller's buffer, not copies.

import {
  FrameType, type AbortReasonValue, type DialogueModeValue, type Frame, type FrameTypeName,
  type RefuseReasonValue, type ResumeRefuseReasonValue, type ResyncTypeValue,
} from '../frames.js';
import { MAGIC } from './limits.js';
import { malformed, Reader } from './reader.js';
import { validateFrame } from './validate.js';

const ID_LENGTH = 16;

function magic(r: Reader): void {
  const m = r.fixed(MAGIC.length, 'magic');
  if (m[0] !== MAGIC[0] || m[1] !== MAGIC[1] || m[2] !== MAGIC[2] || m[3] !== MAGIC[3]) {
    malformed(r.frame, 'magic', 'is not "CLQY"');
  }
}

function sender(r: Reader): 'initiator' | 'acceptor' {
  const v = r.u8('simplexSender');
  if (v > 1) malformed(r.frame, 'simplexSender', `must be 0 or 1 (got ${v})`);
  return v === 0 ? 'initiator' : 'acceptor';
}

function confirmFlag(r: Reader): boolean {
  const flags = r.u8('flags');
  if (flags > 1) malformed(r.frame, 'flags', `reserved bits set (0x${flags.toString(16)})`);
  return flags === 1;
}

/** Fields read in order, into the shape of frames.ts; ranges are checked afterwards. */
function readFields(r: Reader, type: FrameTypeName): Frame {
  switch (type) {
    case 'CONNECT':
      magic(r);
      return {
        type, minVersion: r.u8('minVersion'), maxVersion: r.u8('maxVersion'), units: r.u16('units'),
        modes: r.u8('modes'), simplexSender: sender(r), tokenSetting: r.u8('tokenSetting'),
        initialSerial: r.u32('initialSerial'), maxFrameSize: r.u32('maxFrameSize'),
        heartbeatMs: r.u32('heartbeatMs'), resumeWindowMs: r.u32('resumeWindowMs'),
        credentials: r.bytes('credentials'), userData: r.rest(),
      };
    case 'ACCEPT':
      return {
        type, version: r.u8('version'), units: r.u16('units'), mode: r.u8('mode') as DialogueModeValue,
        simplexSender: sender(r), tokenSetting: r.u8('tokenSetting'), initialSerial: r.u32('initialSerial'),
        maxFrameSize: r.u32('maxFrameSize'), heartbeatMs: r.u32('heartbeatMs'),
        resumeWindowMs: r.u32('resumeWindowMs'), sessionId: r.fixed(ID_LENGTH, 'sessionId'),
        resumeSecret: r.fixed(ID_LENGTH, 'resumeSecret'), userData: r.rest(),
      };
    case 'REFUSE':
      return { type, reason: r.u8('reason') as RefuseReasonValue, message: r.string('message'), userData: r.rest() };
    case 'ABORT':
      return { type, reason: r.u8('reason') as AbortReasonValue, message: r.string('message'), userData: r.rest() };
    case 'RESUME': {
      const frame = {
        type, sessionId: r.fixed(ID_LENGTH, 'sessionId'), resumeSecret: r.fixed(ID_LENGTH, 'resumeSecret'),
        received: r.count('received'),
      };
      r.done();
      return frame;
    }
    case 'RESUMED':
    case 'ACK': {
      const received = r.count('received');
      r.done();
      return { type, received };
    }
    case 'RESUME_REFUSED':
      return { type, reason: r.u8('reason') as ResumeRefuseReasonValue, message: r.restString('message') };
    case 'EXCEPTION_REPORT':
      return { type, reason: r.u8('reason'), message: r.restString('message') };
    case 'HEARTBEAT':
    case 'GIVE_CONTROL':
    case 'GIVE_CONTROL_ACK':
    case 'ACTIVITY_INTERRUPT_ACK':
    case 'ACTIVITY_DISCARD_ACK':
      r.done();
      return { type };
    case 'DATA':
    case 'EXPEDITED':
    case 'TYPED':
    case 'CAPABILITY':
    case 'CAPABILITY_ACK':
      return { type, payload: r.rest() };
    case 'GIVE_TOKENS': {
      const tokens = r.u8('tokens');
      r.done();
      return { type, tokens };
    }
    case 'PLEASE_TOKENS':
      return { type, tokens: r.u8('tokens'), userData: r.rest() };
    case 'MINOR_SYNC':
      // Wire order is flags, serial; the object lists serial first as frames.ts does.
      return { type, confirm: confirmFlag(r), serial: r.u32('serial'), userData: r.rest() };
    case 'MINOR_SYNC_ACK':
    case 'MAJOR_SYNC':
    case 'MAJOR_SYNC_ACK':
    case 'ACTIVITY_END':
    case 'ACTIVITY_END_ACK':
      return { type, serial: r.u32('serial'), userData: r.rest() };
    case 'RESYNC':
      return {
        type, resyncType: r.u8('resyncType') as ResyncTypeValue, serial: r.u32('serial'),
        tokenSetting: r.u8('tokenSetting'), userData: r.rest(),
      };
    case 'RESYNC_ACK':
      return { type, serial: r.u32('serial'), tokenSetting: r.u8('tokenSetting'), userData: r.rest() };
    case 'ACTIVITY_START':
      return { type, activityId: r.bytes('activityId'), userData: r.rest() };
    case 'ACTIVITY_RESUME':
      return {
        type, activityId: r.bytes('activityId'), oldActivityId: r.bytes('oldActivityId'),
        serial: r.u32('serial'), userData: r.rest(),
      };
    case 'ACTIVITY_INTERRUPT':
    case 'ACTIVITY_DISCARD': {
      const reason = r.u8('reason');
      r.done();
      return { type, reason };
    }
    case 'EXCEPTION_DATA':
      return { type, reason: r.u8('reason'), userData: r.rest() };
    case 'FINISH':
    case 'DISCONNECT':
    case 'NOT_FINISHED':
      return { type, userData: r.rest() };
    case 'REAUTH':
      return { type, credentials: r.rest() };
    case 'REAUTH_RESULT': {
      const flag = r.u8('accepted');
      if (flag > 1) malformed(type, 'accepted', `must be 0 or 1 (got ${flag})`);
      return { type, accepted: flag === 1, message: r.restString('message') };
    }
  }
}

/**
 * Decodes the body buf[start..end) of a frame whose type the header check already resolved.
 * Throws ProtocolError('ERR_MALFORMED_FRAME').
 */
export function decodeBody(type: FrameTypeName, code: number, buf: Uint8Array, start: number, end: number): Frame {
  if (code === FrameType.DATA) return { type: 'DATA', payload: buf.subarray(start, end) };
  const frame = readFields(new Reader(buf, start, end, type), type);
  validateFrame(frame, malformed);
  return frame;
}
