// Shared codec test data: one representative instance of every frame type, edge values, and small
// byte helpers. Tests build on these; none of the bytes here come from the encoder.

import { encodeFrame, FrameDecoder } from '../../../src/engine/codec/index.js';
import { ENGINE_ERROR_CODES, ProtocolError } from '../../../src/engine/errors.js';
import {
  EMPTY,
  FrameType,
  MAX_EXPEDITED,
  MAX_SERIAL,
  type Frame,
  type FrameTypeName,
} from '../../../src/engine/frames.js';
import { concat } from '../../support/bytes.js';
import { canonical, WIRE_CODES, type Codec } from '../../support/codec-harness.js';

export const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
export const fill = (length: number, value: number): Uint8Array => new Uint8Array(length).fill(value);
export const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

export { concat, hex } from '../../support/bytes.js';
export function toHex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** FrameDecoder for the codec harness: ProtocolErrors with a wire code, frames re-encoding canonically. */
export const FRAME_CODEC: Codec<Frame> = {
  decoder: () => new FrameDecoder(),
  isProtocolError: (error) =>
    error instanceof ProtocolError && error.code in ENGINE_ERROR_CODES && WIRE_CODES.includes(error.code),
  verify: canonical((f: Frame) => encodeFrame(f)),
};

/** A frame on the wire from its type and raw body, with the length varint written by hand. */
export function wire(type: FrameTypeName, body: Uint8Array): Uint8Array {
  const length: number[] = [];
  let n = body.length;
  while (n >= 0x80) {
    length.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  length.push(n);
  return concat([bytes(FrameType[type], ...length), body]);
}

const id = (first: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => first + i);
const ud = ascii('ud');

/** One instance per frame type, in FrameType order. */
export const TABLE: readonly Frame[] = [
  {
    type: 'CONNECT',
    minVersion: 1,
    maxVersion: 3,
    units: 0x07ff,
    modes: 0b111,
    simplexSender: 'acceptor',
    tokenSetting: 0x86,
    initialSerial: 42,
    maxFrameSize: 262_144,
    heartbeatMs: 15_000,
    resumeWindowMs: 60_000,
    credentials: ascii('token'),
    userData: ud,
  },
  {
    type: 'ACCEPT',
    version: 1,
    units: 0x0013,
    mode: 2,
    simplexSender: 'initiator',
    tokenSetting: 0x45,
    initialSerial: MAX_SERIAL,
    maxFrameSize: 65_536,
    heartbeatMs: 0,
    resumeWindowMs: 0xffff_ffff,
    sessionId: id(0),
    resumeSecret: id(0x80),
    userData: ud,
  },
  { type: 'REFUSE', reason: 3, message: 'version 2 only', userData: ud },
  { type: 'RESUME', sessionId: id(0x10), resumeSecret: id(0x20), received: 123_456_789 },
  { type: 'RESUMED', received: Number.MAX_SAFE_INTEGER },
  { type: 'RESUME_REFUSED', reason: 1, message: 'expired' },
  { type: 'ACK', received: 300 },
  { type: 'HEARTBEAT' },
  { type: 'ABORT', reason: 7, message: 'boom \u00e9\u{1f600}', userData: ud },
  { type: 'DATA', payload: ascii('hello') },
  { type: 'EXPEDITED', payload: fill(MAX_EXPEDITED, 0xee) },
  { type: 'TYPED', payload: bytes(1, 2, 3) },
  { type: 'CAPABILITY', payload: ascii('cap') },
  { type: 'CAPABILITY_ACK', payload: EMPTY },
  { type: 'GIVE_TOKENS', tokens: 0x55 },
  { type: 'PLEASE_TOKENS', tokens: 0x01, userData: ud },
  { type: 'GIVE_CONTROL' },
  { type: 'GIVE_CONTROL_ACK' },
  { type: 'MINOR_SYNC', serial: 7, confirm: true, userData: ud },
  { type: 'MINOR_SYNC_ACK', serial: 7, userData: EMPTY },
  { type: 'MAJOR_SYNC', serial: 8, userData: ud },
  { type: 'MAJOR_SYNC_ACK', serial: 8, userData: EMPTY },
  { type: 'RESYNC', resyncType: 2, serial: 3, tokenSetting: 0x55, userData: ud },
  { type: 'RESYNC_ACK', serial: 3, tokenSetting: 0x10, userData: EMPTY },
  { type: 'ACTIVITY_START', activityId: ascii('act-1'), userData: ud },
  { type: 'ACTIVITY_RESUME', activityId: ascii('act-2'), oldActivityId: ascii('act-1'), serial: 9, userData: ud },
  { type: 'ACTIVITY_INTERRUPT', reason: 255 },
  { type: 'ACTIVITY_INTERRUPT_ACK' },
  { type: 'ACTIVITY_DISCARD', reason: 0 },
  { type: 'ACTIVITY_DISCARD_ACK' },
  { type: 'ACTIVITY_END', serial: 10, userData: ud },
  { type: 'ACTIVITY_END_ACK', serial: 10, userData: EMPTY },
  { type: 'EXCEPTION_REPORT', reason: 2, message: 'no token' },
  { type: 'EXCEPTION_DATA', reason: 9, userData: ud },
  { type: 'FINISH', userData: ud },
  { type: 'DISCONNECT', userData: EMPTY },
  { type: 'NOT_FINISHED', userData: ascii('wait') },
  { type: 'REAUTH', credentials: ascii('token-2') },
  { type: 'REAUTH_RESULT', accepted: false, message: 'expired' },
];

/** Edge values: empty payloads and user data, limits of every bounded field. */
export const EDGES: readonly Frame[] = [
  { type: 'DATA', payload: EMPTY },
  { type: 'DATA', payload: fill(127, 1) },
  { type: 'DATA', payload: fill(128, 2) },
  { type: 'DATA', payload: fill(16_383, 3) },
  { type: 'DATA', payload: fill(16_384, 4) },
  { type: 'EXPEDITED', payload: EMPTY },
  { type: 'EXPEDITED', payload: fill(MAX_EXPEDITED, 0xff) },
  {
    type: 'CONNECT',
    minVersion: 255,
    maxVersion: 255,
    units: 0,
    modes: 1,
    simplexSender: 'initiator',
    tokenSetting: 0xaa,
    initialSerial: MAX_SERIAL,
    maxFrameSize: 0xffff_ffff,
    heartbeatMs: 0xffff_ffff,
    resumeWindowMs: 0,
    credentials: EMPTY,
    userData: EMPTY,
  },
  {
    type: 'ACCEPT',
    version: 0,
    units: 0x07ff,
    mode: 4,
    simplexSender: 'acceptor',
    tokenSetting: 0,
    initialSerial: 0,
    maxFrameSize: 0,
    heartbeatMs: 0,
    resumeWindowMs: 0,
    sessionId: fill(16, 0xff),
    resumeSecret: fill(16, 0),
    userData: EMPTY,
  },
  { type: 'REFUSE', reason: 0, message: '', userData: EMPTY },
  { type: 'REFUSE', reason: 6, message: 'x'.repeat(1024), userData: EMPTY },
  { type: 'ABORT', reason: 0, message: '\u00e9'.repeat(512), userData: EMPTY },
  { type: 'RESUME_REFUSED', reason: 5, message: '' },
  { type: 'RESUME_REFUSED', reason: 0, message: '\ufeffbom kept' },
  { type: 'EXCEPTION_REPORT', reason: 255, message: 'y'.repeat(1024) },
  { type: 'RESUME', sessionId: fill(16, 0), resumeSecret: fill(16, 0xff), received: 0 },
  { type: 'RESUME', sessionId: fill(16, 0), resumeSecret: fill(16, 0xff), received: 0, acked: Number.MAX_SAFE_INTEGER },
  { type: 'RESUME', sessionId: fill(16, 1), resumeSecret: fill(16, 2), received: 123_456_789, acked: 98_765 },
  { type: 'RESUME_REFUSED', reason: 6, message: 'stale-state: the newest state of the session was lost' },
  { type: 'ACK', received: 127 },
  { type: 'ACK', received: 128 },
  { type: 'ACK', received: 2 ** 32 },
  { type: 'ACK', received: Number.MAX_SAFE_INTEGER },
  { type: 'GIVE_TOKENS', tokens: 0 },
  { type: 'PLEASE_TOKENS', tokens: 0x55, userData: EMPTY },
  { type: 'MINOR_SYNC', serial: 0, confirm: false, userData: EMPTY },
  { type: 'MINOR_SYNC', serial: MAX_SERIAL, confirm: true, userData: fill(300, 9) },
  { type: 'MAJOR_SYNC', serial: MAX_SERIAL, userData: EMPTY },
  { type: 'RESYNC', resyncType: 0, serial: 0, tokenSetting: 0, userData: EMPTY },
  { type: 'RESYNC', resyncType: 1, serial: MAX_SERIAL, tokenSetting: 0x55, userData: EMPTY },
  { type: 'ACTIVITY_START', activityId: bytes(0), userData: EMPTY },
  { type: 'ACTIVITY_START', activityId: fill(64, 0x61), userData: EMPTY },
  { type: 'ACTIVITY_RESUME', activityId: fill(64, 1), oldActivityId: bytes(2), serial: MAX_SERIAL, userData: EMPTY },
  { type: 'ACTIVITY_END', serial: MAX_SERIAL, userData: EMPTY },
  { type: 'EXCEPTION_DATA', reason: 0, userData: EMPTY },
  { type: 'FINISH', userData: EMPTY },
  { type: 'NOT_FINISHED', userData: fill(1000, 0x7f) },
  { type: 'REAUTH', credentials: EMPTY },
  { type: 'REAUTH_RESULT', accepted: true, message: '' },
];
