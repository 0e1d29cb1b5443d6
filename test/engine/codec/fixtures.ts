// Hex fixtures: exact wire bytes worked out by hand from docs/protocol.md, never by running the
// encoder. The fixture test asserts them both ways (encode -> hex, hex -> decode).

import { EMPTY, type Frame } from '../../../src/engine/frames.js';
import { ascii, bytes, fill } from './cases.js';

export interface Fixture {
  name: string;
  frame: Frame;
  hex: string;
}

const seq = (first: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => first + i);

export const FIXTURES: readonly Fixture[] = [
  { name: 'HEARTBEAT', frame: { type: 'HEARTBEAT' }, hex: '08 00' },
  // DATA "hi": type 0x10, length 2, payload.
  { name: 'DATA "hi"', frame: { type: 'DATA', payload: ascii('hi') }, hex: '10 02 68 69' },
  { name: 'DATA empty', frame: { type: 'DATA', payload: EMPTY }, hex: '10 00' },
  // 200 = 0b1_1001000: low 7 bits 0x48 | 0x80 = 0xc8, then 0x01.
  { name: 'DATA 200 bytes', frame: { type: 'DATA', payload: fill(200, 0xab) }, hex: `10 c8 01 ${'ab '.repeat(200)}` },
  // 300 = 0b10_0101100: 0x2c | 0x80 = 0xac, then 0x02. Body is the 2-byte varint.
  { name: 'ACK 300', frame: { type: 'ACK', received: 300 }, hex: '07 02 ac 02' },
  // 2^53 - 1 = 53 one bits: seven bytes 0xff, then 0x0f (4 bits).
  {
    name: 'RESUMED max count',
    frame: { type: 'RESUMED', received: Number.MAX_SAFE_INTEGER },
    hex: '05 08 ff ff ff ff ff ff ff 0f',
  },
  // tokens data (0x01) | release (0x40).
  { name: 'GIVE_TOKENS', frame: { type: 'GIVE_TOKENS', tokens: 0x41 }, hex: '20 01 41' },
  // flags 0x01 (confirm), serial 999999 = 0x000f423f.
  {
    name: 'MINOR_SYNC confirm max serial',
    frame: { type: 'MINOR_SYNC', serial: 999_999, confirm: true, userData: EMPTY },
    hex: '30 05 01 00 0f 42 3f',
  },
  // reason 1 (unauthorized), message "no" (varint 2 + 6e 6f), no user data.
  {
    name: 'REFUSE',
    frame: { type: 'REFUSE', reason: 1, message: 'no', userData: EMPTY },
    hex: '03 04 01 02 6e 6f',
  },
  // reason 1 (expired), rest-string "gone" (no length prefix).
  {
    name: 'RESUME_REFUSED',
    frame: { type: 'RESUME_REFUSED', reason: 1, message: 'gone' },
    hex: '06 05 01 67 6f 6e 65',
  },
  // reason 6 (stale-state), message "old".
  {
    name: 'RESUME_REFUSED stale-state',
    frame: { type: 'RESUME_REFUSED', reason: 6, message: 'old' },
    hex: '06 04 06 6f 6c 64',
  },
  // reason 4 (timeout), empty message (varint 0), user data ff.
  {
    name: 'ABORT',
    frame: { type: 'ABORT', reason: 4, message: '', userData: bytes(0xff) },
    hex: '09 03 04 00 ff',
  },
  // type 2 (set), serial 7, token setting 0x05 (data and minor sync at the acceptor).
  {
    name: 'RESYNC',
    frame: { type: 'RESYNC', resyncType: 2, serial: 7, tokenSetting: 0x05, userData: EMPTY },
    hex: '34 06 02 00 00 00 07 05',
  },
  // activity id "a1" (varint 2 + 61 31), user data "x".
  {
    name: 'ACTIVITY_START',
    frame: { type: 'ACTIVITY_START', activityId: ascii('a1'), userData: ascii('x') },
    hex: '40 04 02 61 31 78',
  },
  { name: 'ACTIVITY_INTERRUPT', frame: { type: 'ACTIVITY_INTERRUPT', reason: 3 }, hex: '42 01 03' },
  // "é" is c3 a9 in UTF-8.
  {
    name: 'EXCEPTION_REPORT',
    frame: { type: 'EXCEPTION_REPORT', reason: 0x80, message: '\u00e9' },
    hex: '50 03 80 c3 a9',
  },
  // 16 + 16 + 1 = 33 = 0x21 body bytes; count 0.
  {
    name: 'RESUME',
    frame: { type: 'RESUME', sessionId: seq(0x00), resumeSecret: seq(0x10), received: 0 },
    hex: `04 21 ${'00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f'} ${'10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f'} 00`,
  },
  // With the optional trailing `acked` (docs/protocol.md §4.1): received 300 = ac 02, acked 7.
  {
    name: 'RESUME with acked',
    frame: { type: 'RESUME', sessionId: seq(0x00), resumeSecret: seq(0x10), received: 300, acked: 7 },
    hex: `04 23 ${'00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f'} ${'10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f'} ac 02 07`,
  },
  // The worked example of docs/protocol.md: body 4+1+1+2+1+1+1+4*4+3 = 30 = 0x1e bytes.
  {
    name: 'CONNECT',
    frame: {
      type: 'CONNECT',
      minVersion: 1,
      maxVersion: 1,
      units: 0x0007,
      modes: 0b011,
      simplexSender: 'initiator',
      tokenSetting: 0x82,
      initialSerial: 1,
      maxFrameSize: 262_144,
      heartbeatMs: 15_000,
      resumeWindowMs: 60_000,
      credentials: ascii('pw'),
      userData: EMPTY,
    },
    hex: '01 1e  43 4c 51 59  01 01  00 07  03  00  82  00 00 00 01  00 04 00 00  00 00 3a 98  00 00 ea 60  02 70 77',
  },
  // body 1+2+1+1+1+4+4+4+4+16+16 = 54 = 0x36 bytes.
  {
    name: 'ACCEPT',
    frame: {
      type: 'ACCEPT',
      version: 1,
      units: 0x0003,
      mode: 1,
      simplexSender: 'acceptor',
      tokenSetting: 0x41,
      initialSerial: 0,
      maxFrameSize: 65_536,
      heartbeatMs: 0,
      resumeWindowMs: 0,
      sessionId: fill(16, 0x11),
      resumeSecret: fill(16, 0x22),
      userData: EMPTY,
    },
    hex: `02 36  01  00 03  01  01  41  00 00 00 00  00 01 00 00  00 00 00 00  00 00 00 00 ${'11 '.repeat(16)} ${'22 '.repeat(16)}`,
  },
];
