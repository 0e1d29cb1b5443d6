// PPTP codec by table: hex fixtures both ways (pptpd's own replies among them), the layout table
// against RFC 2637's lengths, every header rejection with its code and reason, encoder refusals.

import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/engine/errors.js';
import {
  bearerNames,
  decodeMessage,
  encodeMessage,
  formatVersion,
  framingNames,
  generalErrorName,
  LAYOUTS,
  MAX_MESSAGE_LENGTH,
  PptpProtocolError,
  resultName,
  stopReasonName,
  type PptpMessage,
} from '../../src/pptp/index.js';
import { concat, FIXTURES, header, hex, PPTPD_SCCRP, text } from './cases.js';
import { fixtureCases } from '../support/codec-harness.js';

describe('hex fixtures', () => {
  fixtureCases(
    FIXTURES.map(({ name, message, wire }) => ({ name, unit: message, wire })),
    encodeMessage,
    (wire) => decodeMessage(wire),
  );

  it('covers all 15 control message types', () => {
    expect(new Set(FIXTURES.map((f) => f.message.type)).size).toBe(15);
  });
});

describe('the layout table', () => {
  const size = { u8: 1, u16: 2, u32: 4, reserved8: 1, reserved16: 2, text64: 64, text128: 128 } as const;
  // RFC 2637 §2.1..§2.15: the fixed Length of each control message.
  const rfc: Record<string, [number, number]> = {
    START_CONTROL_CONNECTION_REQUEST: [1, 156],
    START_CONTROL_CONNECTION_REPLY: [2, 156],
    STOP_CONTROL_CONNECTION_REQUEST: [3, 16],
    STOP_CONTROL_CONNECTION_REPLY: [4, 16],
    ECHO_REQUEST: [5, 16],
    ECHO_REPLY: [6, 20],
    OUTGOING_CALL_REQUEST: [7, 168],
    OUTGOING_CALL_REPLY: [8, 32],
    INCOMING_CALL_REQUEST: [9, 220],
    INCOMING_CALL_REPLY: [10, 24],
    INCOMING_CALL_CONNECTED: [11, 28],
    CALL_CLEAR_REQUEST: [12, 16],
    CALL_DISCONNECT_NOTIFY: [13, 148],
    WAN_ERROR_NOTIFY: [14, 40],
    SET_LINK_INFO: [15, 24],
  };
  it.each(Object.entries(LAYOUTS))('%s: code and Length as in RFC 2637, fields add up', (name, layout) => {
    expect([layout.code, layout.length]).toEqual(rfc[name]);
    expect(12 + layout.fields.reduce((n, [, kind]) => n + size[kind], 0)).toBe(layout.length);
  });
  it('the longest message is 220 octets', () => {
    expect(MAX_MESSAGE_LENGTH).toBe(220);
  });
});

describe('decoding is lenient where RFC 2637 asks nothing of receivers', () => {
  it('ignores reserved fields and text after the first NUL', () => {
    const wire = PPTPD_SCCRP.slice();
    wire[10] = 0xff; // Reserved0
    wire[12 + 16 + 10] = 0x41; // after "local\0"
    expect(decodeMessage(wire)).toEqual(decodeMessage(PPTPD_SCCRP));
  });
  it('reads a 64-octet text field without a NUL', () => {
    const m = decodeMessage(
      concat([header(156, 1), hex('0100 0000 00000000 00000000 0000 0000'), text('a'.repeat(64), 64), text('', 64)]),
    );
    expect(m.type === 'START_CONTROL_CONNECTION_REQUEST' && m.hostName).toBe('a'.repeat(64));
  });
});

describe('rejections: each a PptpProtocolError with a wire code', () => {
  const withLength = (wire: Uint8Array, length: number): Uint8Array => {
    const out = wire.slice();
    out[0] = length >> 8;
    out[1] = length & 0xff;
    return out;
  };
  const patched = (at: number, bytes: string): Uint8Array => {
    const out = PPTPD_SCCRP.slice();
    out.set(hex(bytes), at);
    return out;
  };
  const cases: Array<[string, Uint8Array, string, string]> = [
    ['Length below the header (11)', withLength(PPTPD_SCCRP, 11).subarray(0, 11), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['Length 0', hex('0000 0001 1a2b3c4d 0001 0000'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    [
      'Length 221, past the longest message',
      concat([withLength(PPTPD_SCCRP, 221), new Uint8Array(65)]),
      'ERR_FRAME_TOO_LARGE',
      'too-large',
    ],
    ['Length 0xffff', hex('ffff 0001 1a2b3c4d 0002 0000'), 'ERR_FRAME_TOO_LARGE', 'too-large'],
    [
      'an HTTP answer instead of PPTP',
      Uint8Array.from('HTTP/1.1 400 Bad Request\r\n', (c) => c.charCodeAt(0)),
      'ERR_FRAME_TOO_LARGE',
      'too-large',
    ],
    ['a wrong Magic Cookie', patched(4, '1a2b3c4e'), 'ERR_MALFORMED_FRAME', 'bad-magic'],
    ['a zero Magic Cookie', patched(4, '00000000'), 'ERR_MALFORMED_FRAME', 'bad-magic'],
    ['PPTP Message Type 2 (management)', patched(2, '0002'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-message-type'],
    ['PPTP Message Type 0', patched(2, '0000'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-message-type'],
    ['Control Message Type 0', patched(8, '0000'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-control-type'],
    ['Control Message Type 16', patched(8, '0010'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-control-type'],
    [
      'a Start-Control-Connection-Reply of Length 150',
      withLength(PPTPD_SCCRP, 150).subarray(0, 150),
      'ERR_MALFORMED_FRAME',
      'bad-length',
    ],
    [
      'an Echo-Request of Length 20',
      concat([header(20, 5), hex('00000001 00000000')]),
      'ERR_MALFORMED_FRAME',
      'bad-length',
    ],
    ['fewer octets than Length', PPTPD_SCCRP.subarray(0, 155), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['more octets than Length', concat([PPTPD_SCCRP, hex('00')]), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['a header cut short', PPTPD_SCCRP.subarray(0, 11), 'ERR_MALFORMED_FRAME', 'bad-length'],
  ];
  it.each(cases)('%s', (_, wire, code, reason) => {
    let error: unknown;
    try {
      decodeMessage(wire);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PptpProtocolError);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code, reason, origin: 'remote', details: { protocol: 'pptp', reason } });
  });

  it('checks the magic cookie before the message type', () => {
    const wire = PPTPD_SCCRP.slice();
    wire.set(hex('0002 deadbeef'), 2);
    expect(() => decodeMessage(wire)).toThrow(
      expect.objectContaining({ reason: 'bad-magic', details: expect.objectContaining({ magic: 0xdeadbeef }) }),
    );
  });
});

describe('encoder refusals (origin local)', () => {
  const base = FIXTURES[0]!.message as Extract<PptpMessage, { type: 'START_CONTROL_CONNECTION_REQUEST' }>;
  const bad: Array<[string, unknown]> = [
    ['a host name of 65 octets', { ...base, hostName: 'h'.repeat(65) }],
    ['a NUL in the vendor', { ...base, vendor: 'a\0b' }],
    ['a character above 0xFF', { ...base, vendor: 'Ā' }],
    ['a text field that is not a string', { ...base, vendor: 7 }],
    ['a u16 of 65536', { ...base, maximumChannels: 65536 }],
    ['a negative u32', { ...base, framingCapabilities: -1 }],
    ['a fractional number', { ...base, firmwareRevision: 1.5 }],
    ['a missing field', { type: 'ECHO_REQUEST' }],
    ['an unknown type', { type: 'HELLO' }],
  ];
  it.each(bad)('%s', (_, message) => {
    expect(() => encodeMessage(message as PptpMessage)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', origin: 'local' }),
    );
  });
});

describe('names of codes (RFC 2637)', () => {
  it('result codes by message type', () => {
    expect(resultName('START_CONTROL_CONNECTION_REPLY', 1)).toBe('successful channel establishment');
    expect(resultName('START_CONTROL_CONNECTION_REPLY', 5)).toBe(
      'the protocol version of the requester is not supported',
    );
    expect(resultName('OUTGOING_CALL_REPLY', 4)).toBe('busy');
    expect(resultName('OUTGOING_CALL_REPLY', 7)).toBe('do not accept');
    expect(resultName('CALL_DISCONNECT_NOTIFY', 3)).toBe('admin shutdown');
    expect(resultName('ECHO_REPLY', 1)).toBe('OK');
    expect(resultName('STOP_CONTROL_CONNECTION_REPLY', 9)).toBe('unknown (9)');
    expect(generalErrorName(6)).toBe('PAC error');
    expect(stopReasonName(3)).toBe('stop local shutdown');
  });
  it('versions and capabilities', () => {
    expect(formatVersion(0x0100)).toBe('1.0');
    expect(framingNames(3)).toEqual(['asynchronous', 'synchronous']);
    expect(bearerNames(2)).toEqual(['digital']);
    expect(framingNames(0)).toEqual([]);
  });
});
