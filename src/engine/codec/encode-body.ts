// Frame bodies, field by field, in wire order (docs/protocol.md §4). The mirror of decode-body.ts:
// a field added here must be added there in the same position.

import type { Frame } from '../frames.js';
import { MAGIC } from './limits.js';
import { invalid, type Writer } from './writer.js';

function sender(w: Writer, value: 'initiator' | 'acceptor'): void {
  if (value !== 'initiator' && value !== 'acceptor') {
    invalid(w.frame, 'simplexSender', `must be 'initiator' or 'acceptor' (got ${String(value)})`);
  }
  w.u8(value === 'initiator' ? 0 : 1, 'simplexSender');
}

/** Writes (or measures) the body of `frame`; the caller has run validateFrame on it. */
export function writeBody(w: Writer, f: Frame): void {
  switch (f.type) {
    case 'CONNECT':
      w.raw(MAGIC);
      w.u8(f.minVersion, 'minVersion');
      w.u8(f.maxVersion, 'maxVersion');
      w.u16(f.units, 'units');
      w.u8(f.modes, 'modes');
      sender(w, f.simplexSender);
      w.u8(f.tokenSetting, 'tokenSetting');
      w.u32(f.initialSerial, 'initialSerial');
      w.u32(f.maxFrameSize, 'maxFrameSize');
      w.u32(f.heartbeatMs, 'heartbeatMs');
      w.u32(f.resumeWindowMs, 'resumeWindowMs');
      w.bytes(f.credentials);
      return w.raw(f.userData);
    case 'ACCEPT':
      w.u8(f.version, 'version');
      w.u16(f.units, 'units');
      w.u8(f.mode, 'mode');
      sender(w, f.simplexSender);
      w.u8(f.tokenSetting, 'tokenSetting');
      w.u32(f.initialSerial, 'initialSerial');
      w.u32(f.maxFrameSize, 'maxFrameSize');
      w.u32(f.heartbeatMs, 'heartbeatMs');
      w.u32(f.resumeWindowMs, 'resumeWindowMs');
      w.raw(f.sessionId);
      w.raw(f.resumeSecret);
      return w.raw(f.userData);
    case 'REFUSE':
    case 'ABORT':
      w.u8(f.reason, 'reason');
      w.string(f.message, 'message');
      return w.raw(f.userData);
    case 'RESUME':
      w.raw(f.sessionId);
      w.raw(f.resumeSecret);
      return w.count(f.received, 'received');
    case 'RESUMED':
    case 'ACK':
      return w.count(f.received, 'received');
    case 'RESUME_REFUSED':
    case 'EXCEPTION_REPORT':
      w.u8(f.reason, 'reason');
      return w.restString(f.message, 'message');
    case 'HEARTBEAT':
    case 'GIVE_CONTROL':
    case 'GIVE_CONTROL_ACK':
    case 'ACTIVITY_INTERRUPT_ACK':
    case 'ACTIVITY_DISCARD_ACK':
      return;
    case 'DATA':
    case 'EXPEDITED':
    case 'TYPED':
    case 'CAPABILITY':
    case 'CAPABILITY_ACK':
      return w.raw(f.payload);
    case 'GIVE_TOKENS':
      return w.u8(f.tokens, 'tokens');
    case 'PLEASE_TOKENS':
      w.u8(f.tokens, 'tokens');
      return w.raw(f.userData);
    case 'MINOR_SYNC':
      if (typeof f.confirm !== 'boolean') invalid(f.type, 'confirm', 'must be a boolean');
      w.u8(f.confirm ? 1 : 0, 'flags');
      w.u32(f.serial, 'serial');
      return w.raw(f.userData);
    case 'MINOR_SYNC_ACK':
    case 'MAJOR_SYNC':
    case 'MAJOR_SYNC_ACK':
    case 'ACTIVITY_END':
    case 'ACTIVITY_END_ACK':
      w.u32(f.serial, 'serial');
      return w.raw(f.userData);
    case 'RESYNC':
      w.u8(f.resyncType, 'resyncType');
      w.u32(f.serial, 'serial');
      w.u8(f.tokenSetting, 'tokenSetting');
      return w.raw(f.userData);
    case 'RESYNC_ACK':
      w.u32(f.serial, 'serial');
      w.u8(f.tokenSetting, 'tokenSetting');
      return w.raw(f.userData);
    case 'ACTIVITY_START':
      w.bytes(f.activityId);
      return w.raw(f.userData);
    case 'ACTIVITY_RESUME':
      w.bytes(f.activityId);
      w.bytes(f.oldActivityId);
      w.u32(f.serial, 'serial');
      return w.raw(f.userData);
    case 'ACTIVITY_INTERRUPT':
    case 'ACTIVITY_DISCARD':
      return w.u8(f.reason, 'reason');
    case 'EXCEPTION_DATA':
      w.u8(f.reason, 'reason');
      return w.raw(f.userData);
    case 'FINISH':
    case 'DISCONNECT':
    case 'NOT_FINISHED':
      return w.raw(f.userData);
    case 'REAUTH':
      return w.raw(f.credentials);
    case 'REAUTH_RESULT':
      w.u8(f.accepted ? 1 : 0, 'accepted');
      return w.restString(f.message, 'message');
    default:
      return invalid(String((f as { type: unknown }).type), 'type', 'unknown frame type');
  }
}
