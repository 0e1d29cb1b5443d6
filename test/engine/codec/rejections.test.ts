// One case per validation rule of docs/protocol.md §5, on both sides of the codec: the decoder
// refuses the bytes with a ProtocolError and its code, the encoder refuses the frame with
// SessionError('ERR_INVALID_ARGUMENT') (origin local, not a ProtocolError).

import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameDecoder } from '../../../src/engine/codec/index.js';
import { ProtocolError, SessionError, type ErrorCode } from '../../../src/engine/errors.js';
import { EMPTY, type Frame } from '../../../src/engine/frames.js';
import { ascii, bytes, concat, fill, hex, TABLE, wire } from './cases.js';

// A valid CONNECT body, and one with a single byte replaced: offsets as in docs/protocol.md.
const CONNECT_BODY = hex(
  '43 4c 51 59  01 01  00 07  03  00  82  00 00 00 01  00 04 00 00  00 00 3a 98  00 00 ea 60  02 70 77',
);
const ACCEPT_BODY = concat([
  hex('01  00 03  01  01  41  00 00 00 00  00 01 00 00  00 00 00 00  00 00 00 00'),
  fill(32, 1),
]);

function patch(body: Uint8Array, offset: number, ...values: number[]): Uint8Array {
  const copy = body.slice();
  copy.set(values, offset);
  return copy;
}

const MAX_SAFE_PLUS_ONE = hex('80 80 80 80 80 80 80 10'); // 2^53

interface Rejection {
  rule: string;
  bytes: Uint8Array;
  code: ErrorCode;
  field?: string;
}

const REJECTIONS: Rejection[] = [
  // framing
  { rule: 'unknown type code', bytes: hex('ff 00'), code: 'ERR_UNKNOWN_FRAME_TYPE' },
  { rule: 'type code 0 is reserved', bytes: hex('00 00'), code: 'ERR_UNKNOWN_FRAME_TYPE' },
  { rule: 'length beyond maxFrameSize', bytes: hex('10 81 80 10'), code: 'ERR_FRAME_TOO_LARGE' },
  { rule: 'length varint not minimal', bytes: hex('10 80 00'), code: 'ERR_MALFORMED_FRAME', field: 'length' },
  { rule: 'length varint of 5 bytes', bytes: hex('10 80 80 80 80 00'), code: 'ERR_MALFORMED_FRAME', field: 'length' },
  // CONNECT
  { rule: 'magic', bytes: wire('CONNECT', patch(CONNECT_BODY, 3, 0x5a)), code: 'ERR_MALFORMED_FRAME', field: 'magic' },
  {
    rule: 'minVersion 0',
    bytes: wire('CONNECT', patch(CONNECT_BODY, 4, 0)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'minVersion',
  },
  {
    rule: 'minVersion > maxVersion',
    bytes: wire('CONNECT', patch(CONNECT_BODY, 4, 2, 1)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'minVersion',
  },
  {
    rule: 'unknown unit bit',
    bytes: wire('CONNECT', patch(CONNECT_BODY, 6, 0x08, 0x00)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'units',
  },
  {
    rule: 'modes empty',
    bytes: wire('CONNECT', patch(CONNECT_BODY, 8, 0)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'modes',
  },
  {
    rule: 'modes beyond 0b111',
    bytes: wire('CONNECT', patch(CONNECT_BODY, 8, 0x09)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'modes',
  },
  {
    rule: 'simplexSender 2',
    bytes: wire('CONNECT', patch(CONNECT_BODY, 9, 2)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'simplexSender',
  },
  {
    rule: 'token position 3',
    bytes: wire('CONNECT', patch(CONNECT_BODY, 10, 0x0c)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'tokenSetting',
  },
  {
    rule: 'initialSerial > MAX_SERIAL',
    bytes: wire('CONNECT', patch(CONNECT_BODY, 11, 0x00, 0x0f, 0x42, 0x40)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'initialSerial',
  },
  {
    rule: 'credentials truncated',
    bytes: wire('CONNECT', patch(CONNECT_BODY, 27, 3)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'credentials',
  },
  {
    rule: 'CONNECT truncated mid-field',
    bytes: wire('CONNECT', CONNECT_BODY.subarray(0, 13)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'initialSerial',
  },
  // ACCEPT
  { rule: 'mode 3', bytes: wire('ACCEPT', patch(ACCEPT_BODY, 3, 3)), code: 'ERR_MALFORMED_FRAME', field: 'mode' },
  { rule: 'mode 0', bytes: wire('ACCEPT', patch(ACCEPT_BODY, 3, 0)), code: 'ERR_MALFORMED_FRAME', field: 'mode' },
  {
    rule: 'ACCEPT unknown unit bit',
    bytes: wire('ACCEPT', patch(ACCEPT_BODY, 1, 0x80, 0x00)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'units',
  },
  {
    rule: 'ACCEPT simplexSender 255',
    bytes: wire('ACCEPT', patch(ACCEPT_BODY, 4, 0xff)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'simplexSender',
  },
  {
    rule: 'ACCEPT token position 2',
    bytes: wire('ACCEPT', patch(ACCEPT_BODY, 5, 0x20)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'tokenSetting',
  },
  {
    rule: 'ACCEPT token position 3',
    bytes: wire('ACCEPT', patch(ACCEPT_BODY, 5, 0xc0)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'tokenSetting',
  },
  {
    rule: 'ACCEPT initialSerial',
    bytes: wire('ACCEPT', patch(ACCEPT_BODY, 6, 0xff)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'initialSerial',
  },
  {
    rule: 'ACCEPT resumeSecret truncated',
    bytes: wire('ACCEPT', ACCEPT_BODY.subarray(0, 50)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'resumeSecret',
  },
  // reasons
  {
    rule: 'REFUSE reason out of table',
    bytes: wire('REFUSE', hex('07 00')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'reason',
  },
  {
    rule: 'RESUME_REFUSED reason out of table',
    bytes: wire('RESUME_REFUSED', hex('07')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'reason',
  },
  {
    rule: 'ABORT reason out of table',
    bytes: wire('ABORT', hex('09 00')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'reason',
  },
  { rule: 'REFUSE reason missing', bytes: wire('REFUSE', EMPTY), code: 'ERR_MALFORMED_FRAME', field: 'reason' },
  // strings
  {
    rule: 'string not UTF-8',
    bytes: wire('REFUSE', hex('00 02 c3 28')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'message',
  },
  { rule: 'string truncated', bytes: wire('ABORT', hex('00 05 61')), code: 'ERR_MALFORMED_FRAME', field: 'message' },
  {
    rule: 'string over 1024 bytes',
    bytes: wire('ABORT', concat([hex('00 81 08'), fill(1025, 0x61)])),
    code: 'ERR_MALFORMED_FRAME',
    field: 'message',
  },
  {
    rule: 'rest-string not UTF-8',
    bytes: wire('EXCEPTION_REPORT', hex('00 ed a0 80')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'message',
  },
  {
    rule: 'rest-string over 1024 bytes',
    bytes: wire('RESUME_REFUSED', concat([hex('00'), fill(1025, 0x61)])),
    code: 'ERR_MALFORMED_FRAME',
    field: 'message',
  },
  // counts
  { rule: 'count not minimal', bytes: wire('ACK', hex('80 00')), code: 'ERR_MALFORMED_FRAME', field: 'received' },
  {
    rule: 'count over 2^53 - 1',
    bytes: wire('RESUMED', MAX_SAFE_PLUS_ONE),
    code: 'ERR_MALFORMED_FRAME',
    field: 'received',
  },
  {
    rule: 'count of 9 bytes',
    bytes: wire('ACK', hex('80 80 80 80 80 80 80 80 01')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'received',
  },
  { rule: 'count truncated', bytes: wire('ACK', hex('80')), code: 'ERR_MALFORMED_FRAME', field: 'received' },
  { rule: 'count missing', bytes: wire('RESUMED', EMPTY), code: 'ERR_MALFORMED_FRAME', field: 'received' },
  {
    rule: 'RESUME id truncated',
    bytes: wire('RESUME', fill(20, 0)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'resumeSecret',
  },
  // leftovers
  { rule: 'ACK leftover', bytes: wire('ACK', hex('01 00')), code: 'ERR_MALFORMED_FRAME', field: 'body' },
  // 32 bytes of IDs, received 0, acked 0, then one byte too many.
  { rule: 'RESUME leftover', bytes: wire('RESUME', fill(35, 0)), code: 'ERR_MALFORMED_FRAME', field: 'body' },
  {
    rule: 'RESUME acked not minimal',
    bytes: wire('RESUME', concat([fill(33, 0), hex('80 00')])),
    code: 'ERR_MALFORMED_FRAME',
    field: 'acked',
  },
  { rule: 'HEARTBEAT non-empty', bytes: wire('HEARTBEAT', hex('00')), code: 'ERR_MALFORMED_FRAME', field: 'body' },
  {
    rule: 'GIVE_CONTROL non-empty',
    bytes: wire('GIVE_CONTROL', hex('01')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'body',
  },
  {
    rule: 'GIVE_CONTROL_ACK non-empty',
    bytes: wire('GIVE_CONTROL_ACK', hex('01')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'body',
  },
  {
    rule: 'ACTIVITY_INTERRUPT_ACK non-empty',
    bytes: wire('ACTIVITY_INTERRUPT_ACK', hex('01')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'body',
  },
  {
    rule: 'ACTIVITY_DISCARD_ACK non-empty',
    bytes: wire('ACTIVITY_DISCARD_ACK', hex('01')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'body',
  },
  {
    rule: 'GIVE_TOKENS leftover',
    bytes: wire('GIVE_TOKENS', hex('01 00')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'body',
  },
  {
    rule: 'ACTIVITY_DISCARD leftover',
    bytes: wire('ACTIVITY_DISCARD', hex('01 00')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'body',
  },
  // payloads and tokens
  {
    rule: 'EXPEDITED over MAX_EXPEDITED',
    bytes: wire('EXPEDITED', fill(65, 0)),
    code: 'ERR_MALFORMED_FRAME',
    field: 'payload',
  },
  {
    rule: 'GIVE_TOKENS unknown token bit',
    bytes: wire('GIVE_TOKENS', hex('02')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'tokens',
  },
  {
    rule: 'PLEASE_TOKENS unknown token bit',
    bytes: wire('PLEASE_TOKENS', hex('80')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'tokens',
  },
  { rule: 'GIVE_TOKENS missing', bytes: wire('GIVE_TOKENS', EMPTY), code: 'ERR_MALFORMED_FRAME', field: 'tokens' },
  // sync points
  {
    rule: 'MINOR_SYNC reserved flag bit',
    bytes: wire('MINOR_SYNC', hex('02 00 00 00 01')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'flags',
  },
  {
    rule: 'MINOR_SYNC serial > MAX_SERIAL',
    bytes: wire('MINOR_SYNC', hex('00 00 0f 42 40')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'serial',
  },
  {
    rule: 'MINOR_SYNC_ACK serial',
    bytes: wire('MINOR_SYNC_ACK', hex('ff ff ff ff')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'serial',
  },
  {
    rule: 'MAJOR_SYNC serial',
    bytes: wire('MAJOR_SYNC', hex('00 0f 42 40')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'serial',
  },
  {
    rule: 'MAJOR_SYNC_ACK serial truncated',
    bytes: wire('MAJOR_SYNC_ACK', hex('00 00 01')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'serial',
  },
  {
    rule: 'ACTIVITY_END serial',
    bytes: wire('ACTIVITY_END', hex('00 0f 42 40')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'serial',
  },
  {
    rule: 'ACTIVITY_END_ACK serial',
    bytes: wire('ACTIVITY_END_ACK', hex('00 0f 42 40')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'serial',
  },
  {
    rule: 'resyncType 3',
    bytes: wire('RESYNC', hex('03 00 00 00 01 00')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'resyncType',
  },
  {
    rule: 'RESYNC serial',
    bytes: wire('RESYNC', hex('00 00 0f 42 40 00')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'serial',
  },
  {
    rule: 'RESYNC token position 2',
    bytes: wire('RESYNC', hex('00 00 00 00 01 02')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'tokenSetting',
  },
  {
    rule: 'RESYNC_ACK token position 2',
    bytes: wire('RESYNC_ACK', hex('00 00 00 01 80')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'tokenSetting',
  },
  {
    rule: 'RESYNC_ACK token position 3',
    bytes: wire('RESYNC_ACK', hex('00 00 00 01 30')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'tokenSetting',
  },
  {
    rule: 'RESYNC_ACK serial',
    bytes: wire('RESYNC_ACK', hex('00 0f 42 40 00')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'serial',
  },
  // activities
  {
    rule: 'activityId empty',
    bytes: wire('ACTIVITY_START', hex('00')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'activityId',
  },
  {
    rule: 'activityId 65 bytes',
    bytes: wire('ACTIVITY_START', concat([hex('41'), fill(65, 0x61)])),
    code: 'ERR_MALFORMED_FRAME',
    field: 'activityId',
  },
  {
    rule: 'activityId truncated',
    bytes: wire('ACTIVITY_START', hex('05 61')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'activityId',
  },
  {
    rule: 'oldActivityId empty',
    bytes: wire('ACTIVITY_RESUME', hex('01 61 00 00 00 00 01')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'oldActivityId',
  },
  {
    rule: 'ACTIVITY_RESUME serial',
    bytes: wire('ACTIVITY_RESUME', hex('01 61 01 62 00 0f 42 40')),
    code: 'ERR_MALFORMED_FRAME',
    field: 'serial',
  },
  {
    rule: 'ACTIVITY_INTERRUPT reason missing',
    bytes: wire('ACTIVITY_INTERRUPT', EMPTY),
    code: 'ERR_MALFORMED_FRAME',
    field: 'reason',
  },
  {
    rule: 'EXCEPTION_DATA reason missing',
    bytes: wire('EXCEPTION_DATA', EMPTY),
    code: 'ERR_MALFORMED_FRAME',
    field: 'reason',
  },
];

function decodeError(data: Uint8Array): unknown {
  try {
    decodeFrame(data);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('decoder rejections', () => {
  it.each(REJECTIONS.map((r) => [r.rule, r] as const))('%s', (_, { bytes: data, code, field }) => {
    const error = decodeError(data);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code, origin: 'remote' });
    if (field !== undefined) expect((error as ProtocolError).details).toMatchObject({ field });
    // The streaming decoder agrees, whole and byte by byte.
    for (const chunks of [[data], Array.from(data, (b) => bytes(b))]) {
      const decoder = new FrameDecoder();
      for (const c of chunks) decoder.push(c);
      expect(() => decoder.next()).toThrow(expect.objectContaining({ code }));
    }
  });

  it('names the frame and the field in the message', () => {
    const error = decodeError(wire('MINOR_SYNC', hex('00 00 0f 42 40')));
    expect((error as Error).message).toMatch(/MINOR_SYNC.*serial/);
    expect((error as ProtocolError).details).toMatchObject({ frame: 'MINOR_SYNC', field: 'serial' });
  });

  it('decodeFrame wants exactly one frame', () => {
    for (const data of [EMPTY, hex('10'), hex('10 02 61'), hex('10 01 61 62'), hex('10 00 08 00')]) {
      expect(decodeError(data)).toMatchObject({ code: 'ERR_MALFORMED_FRAME' });
    }
  });

  it('honours the maxFrameSize argument of decodeFrame', () => {
    const data = concat([hex('10 81 08'), fill(1025, 0)]);
    expect(decodeFrame(data, 1025).type).toBe('DATA');
    expect(() => decodeFrame(data, 1024)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });
});

const CONNECT = TABLE[0] as Extract<Frame, { type: 'CONNECT' }>;
const ACCEPT = TABLE[1] as Extract<Frame, { type: 'ACCEPT' }>;
const big = fill(1025, 0x61);

const INVALID: [string, Frame][] = [
  ['minVersion 0', { ...CONNECT, minVersion: 0 }],
  ['minVersion > maxVersion', { ...CONNECT, minVersion: 3, maxVersion: 2 }],
  ['maxVersion 256', { ...CONNECT, maxVersion: 256 }],
  ['unknown unit', { ...CONNECT, units: 0x0800 }],
  ['units beyond u16', { ...CONNECT, units: 0x10000 }],
  ['modes empty', { ...CONNECT, modes: 0 }],
  ['modes beyond 0b111', { ...CONNECT, modes: 8 }],
  ['simplexSender', { ...CONNECT, simplexSender: 'both' as 'initiator' }],
  ['token position 3', { ...CONNECT, tokenSetting: 0x03 }],
  ['tokenSetting beyond u8', { ...CONNECT, tokenSetting: 0x100 }],
  ['initialSerial', { ...CONNECT, initialSerial: 1_000_000 }],
  ['heartbeatMs negative', { ...CONNECT, heartbeatMs: -1 }],
  ['maxFrameSize beyond u32', { ...CONNECT, maxFrameSize: 2 ** 32 }],
  ['resumeWindowMs fractional', { ...CONNECT, resumeWindowMs: 1.5 }],
  ['ACCEPT mode 3', { ...ACCEPT, mode: 3 as 1 }],
  ['ACCEPT token position 2', { ...ACCEPT, tokenSetting: 0x02 }],
  ['ACCEPT sessionId 15 bytes', { ...ACCEPT, sessionId: fill(15, 0) }],
  ['ACCEPT resumeSecret 17 bytes', { ...ACCEPT, resumeSecret: fill(17, 0) }],
  ['RESUME sessionId empty', { type: 'RESUME', sessionId: EMPTY, resumeSecret: fill(16, 0), received: 0 }],
  ['REFUSE reason', { type: 'REFUSE', reason: 7 as 0, message: '', userData: EMPTY }],
  ['REFUSE message over 1024 bytes', { type: 'REFUSE', reason: 0, message: '\u00e9'.repeat(513), userData: EMPTY }],
  ['RESUME_REFUSED reason', { type: 'RESUME_REFUSED', reason: 7 as 0, message: '' }],
  [
    'RESUME acked negative',
    { type: 'RESUME', sessionId: fill(16, 0), resumeSecret: fill(16, 0), received: 0, acked: -1 },
  ],
  ['ABORT reason', { type: 'ABORT', reason: 9 as 0, message: '', userData: EMPTY }],
  ['EXCEPTION_REPORT message over 1024 bytes', { type: 'EXCEPTION_REPORT', reason: 0, message: 'x'.repeat(1025) }],
  ['ACK negative', { type: 'ACK', received: -1 }],
  ['ACK beyond 2^53 - 1', { type: 'ACK', received: 2 ** 53 }],
  ['RESUMED fractional', { type: 'RESUMED', received: 0.5 }],
  ['EXPEDITED over MAX_EXPEDITED', { type: 'EXPEDITED', payload: fill(65, 0) }],
  ['GIVE_TOKENS unknown token', { type: 'GIVE_TOKENS', tokens: 0x02 }],
  ['PLEASE_TOKENS unknown token', { type: 'PLEASE_TOKENS', tokens: 0x100, userData: EMPTY }],
  ['MINOR_SYNC serial', { type: 'MINOR_SYNC', serial: 1_000_000, confirm: false, userData: EMPTY }],
  [
    'MINOR_SYNC confirm not boolean',
    { type: 'MINOR_SYNC', serial: 1, confirm: 1 as unknown as boolean, userData: EMPTY },
  ],
  ['MAJOR_SYNC_ACK serial', { type: 'MAJOR_SYNC_ACK', serial: -1, userData: EMPTY }],
  ['RESYNC type', { type: 'RESYNC', resyncType: 3 as 0, serial: 0, tokenSetting: 0, userData: EMPTY }],
  ['RESYNC token position 2', { type: 'RESYNC', resyncType: 0, serial: 0, tokenSetting: 0x08, userData: EMPTY }],
  ['RESYNC_ACK token position 2', { type: 'RESYNC_ACK', serial: 0, tokenSetting: 0x20, userData: EMPTY }],
  ['ACTIVITY_START empty id', { type: 'ACTIVITY_START', activityId: EMPTY, userData: EMPTY }],
  [
    'ACTIVITY_RESUME old id 65 bytes',
    { type: 'ACTIVITY_RESUME', activityId: ascii('a'), oldActivityId: fill(65, 0), serial: 0, userData: EMPTY },
  ],
  ['ACTIVITY_INTERRUPT reason 256', { type: 'ACTIVITY_INTERRUPT', reason: 256 }],
  ['EXCEPTION_DATA reason -1', { type: 'EXCEPTION_DATA', reason: -1, userData: big }],
  ['unknown type', { type: 'NOPE' } as unknown as Frame],
];

describe('encoder rejections', () => {
  it.each(INVALID)('%s', (_, frame) => {
    let error: unknown;
    try {
      encodeFrame(frame);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SessionError);
    expect(error).not.toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', origin: 'local' });
  });
});
