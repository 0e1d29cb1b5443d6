// NetBIOS codec by table: hex fixtures both ways, names, and every rejection with its code.

import { describe, expect, it } from 'vitest';
import {
  decodeName,
  decodePacket,
  encodeName,
  encodePacket,
  formatNetbiosName,
  NetbiosProtocolError,
  negativeReason,
  parseNetbiosName,
  WILDCARD_NAME,
  type NetbiosName,
  type NetbiosPacket,
} from '../../src/netbios/index.js';
import { ProtocolError } from '../../src/engine/errors.js';
import {
  ascii,
  concat,
  FACTS_MALFORMED_F,
  FIXTURES,
  hex,
  label,
  NODECLIENT_00,
  SMBSERVER_20,
  TESTSRV_20,
  toHex,
  WILDCARD_00,
} from './cases.js';
import { fixtureCases } from '../support/codec-harness.js';

describe('hex fixtures', () => {
  fixtureCases(
    FIXTURES.map(({ name, packet, wire }) => ({ name, unit: packet, wire })),
    encodePacket,
    (wire) => decodePacket(wire),
  );
});

describe('first-level encoded names (RFC 1001 §14.1)', () => {
  const cases: Array<[string, NetbiosName, string]> = [
    ['*SMBSERVER<20>', { name: '*SMBSERVER', suffix: 0x20, scope: '' }, SMBSERVER_20],
    ['TESTSRV<20>', { name: 'TESTSRV', suffix: 0x20, scope: '' }, TESTSRV_20],
    ['NODECLIENT<00>', { name: 'NODECLIENT', suffix: 0x00, scope: '' }, NODECLIENT_00],
    ['the wildcard', WILDCARD_NAME, WILDCARD_00],
    ['15 characters', { name: 'ABCDEFGHIJKLMNO', suffix: 0x1b, scope: '' }, 'EBECEDEEEFEGEHEIEJEKELEMENEOEPBL'],
    ['all-octet name', { name: '\xff\x00\x7f', suffix: 0xff, scope: '' }, `PPAAHP${'CA'.repeat(12)}PP`],
  ];
  it.each(cases)('%s', (_, name, chars) => {
    expect(toHex(encodeName(name))).toBe(toHex(label(chars)));
    expect(decodeName(label(chars))).toEqual(name);
  });

  it('adds scope labels before the final zero', () => {
    const name = { name: 'TESTSRV', suffix: 0x20, scope: 'a.bc.example' };
    const wire = concat([Uint8Array.of(0x20), ascii(TESTSRV_20), hex('01 61 02 6263 07 6578616d706c65 00')]);
    expect(toHex(encodeName(name))).toBe(toHex(wire));
    expect(decodeName(wire)).toEqual(name);
  });

  it('parses what people type', () => {
    expect(parseNetbiosName('testsrv', 0x20)).toEqual({ name: 'TESTSRV', suffix: 0x20, scope: '' });
    expect(parseNetbiosName('ws<00>', 0x20)).toEqual({ name: 'WS', suffix: 0x00, scope: '' });
    expect(parseNetbiosName('DOMAIN#1b', 0x20, 'corp')).toEqual({ name: 'DOMAIN', suffix: 0x1b, scope: 'corp' });
    expect(parseNetbiosName('*', 0x20)).toEqual(WILDCARD_NAME);
    expect(parseNetbiosName('*SMBSERVER', 0x20)).toEqual({ name: '*SMBSERVER', suffix: 0x20, scope: '' });
    expect(parseNetbiosName('keep', 0x20, '', false).name).toBe('keep');
    for (const bad of ['', '<20>', 'SIXTEENCHARSLONG', 'ŁÓDŹ']) {
      expect(() => parseNetbiosName(bad, 0x20)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', origin: 'local' }),
      );
    }
  });

  it('formats names for people', () => {
    expect(formatNetbiosName({ name: '*SMBSERVER', suffix: 0x20, scope: '' })).toBe('*SMBSERVER<20>');
    expect(formatNetbiosName(WILDCARD_NAME)).toBe('*<00>');
    expect(formatNetbiosName({ name: 'A\x01', suffix: 0x1b, scope: 'x.y' })).toBe('A\\x01<1b>.x.y');
  });

  it('refuses names it cannot encode', () => {
    const bad: NetbiosName[] = [
      { name: 'SIXTEENCHARSLONG', suffix: 0, scope: '' },
      { name: 'Ā', suffix: 0, scope: '' },
      { name: 'A', suffix: 256, scope: '' },
      { name: 'A', suffix: -1, scope: '' },
      { name: 'A', suffix: 0, scope: 'a..b' },
      { name: 'A', suffix: 0, scope: 'has space' },
      { name: 'A', suffix: 0, scope: 'x'.repeat(64) },
      { name: 'A', suffix: 0, scope: Array.from({ length: 6 }, () => 'y'.repeat(40)).join('.') }, // 34 + 246 > 255
    ];
    for (const name of bad) {
      expect(() => encodeName(name), JSON.stringify(name)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
      );
    }
  });

  it('accepts a name of exactly 255 octets', () => {
    // 34 + 221 = 255: scope labels 63+63+63+28 with their length octets (64+64+64+29 = 221).
    const scope = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(28)].join('.');
    const name = { name: 'X', suffix: 0, scope };
    expect(encodeName(name).length).toBe(255);
    expect(decodeName(encodeName(name))).toEqual(name);
  });

  it('names the RFC 1002 negative response codes', () => {
    expect(negativeReason(0x80)).toBe('not listening on called name');
    expect(negativeReason(0x81)).toBe('not listening for calling name');
    expect(negativeReason(0x82)).toBe('called name not present');
    expect(negativeReason(0x83)).toBe('called name present, but insufficient resources');
    expect(negativeReason(0x8f)).toBe('unspecified error');
    expect(negativeReason(0x42)).toBe('unknown error code 0x42');
  });
});

describe('rejections: each a NetbiosProtocolError with a wire code', () => {
  const request = (called: Uint8Array, calling: Uint8Array = label(NODECLIENT_00)): Uint8Array => {
    const body = concat([called, calling]);
    return concat([Uint8Array.of(0x81, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff), body]);
  };
  const longScope = hex(Array.from({ length: 4 }, () => `3f ${'61'.repeat(63)}`).join(' ')); // 4 * 64 = 256 octets of scope
  const cases: Array<[string, Uint8Array, string, string, string?]> = [
    ['unknown type 0x86', hex('86 00 00 00'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-type'],
    ['legacy keep-alive request 0x89', hex('89 00 00 00'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-type'],
    [
      'SMB direct-hosting header on 445 style (type 0x00 with a 24-bit length)',
      hex('00 02 00 00'),
      'ERR_MALFORMED_FRAME',
      'reserved-flags',
    ],
    ['reserved flag bit 7', hex('82 80 00 00'), 'ERR_MALFORMED_FRAME', 'reserved-flags'],
    ['positive with a body', hex('82 00 00 01 00'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['keep-alive with a body', hex('85 00 00 01 00'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['negative without its code', hex('83 00 00 00'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['negative with two octets', hex('83 00 00 02 82 00'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['retarget of 5 octets', hex('84 00 00 05 7f 00 00 01 04'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['retarget with E set', hex('84 01 00 06 7f 00 00 01 04 73'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['facts probe F: session request of 4 octets', FACTS_MALFORMED_F, 'ERR_MALFORMED_FRAME', 'bad-length'],
    [
      'session request longer than two 255-octet names',
      concat([hex('81 00 01 ff'), new Uint8Array(0x1ff)]),
      'ERR_MALFORMED_FRAME',
      'bad-length',
    ],
    [
      'called name label of 16',
      request(
        concat([hex('10'), ascii(SMBSERVER_20), hex('00')]),
        concat([Uint8Array.of(0x20), ascii(NODECLIENT_00), hex('00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00')]),
      ),
      'ERR_MALFORMED_FRAME',
      'bad-name',
      'called',
    ],
    ['a character above P', request(label(`Q${SMBSERVER_20.slice(1)}`)), 'ERR_MALFORMED_FRAME', 'bad-name', 'called'],
    [
      'a lower-case character',
      request(label(`c${SMBSERVER_20.slice(1)}`)),
      'ERR_MALFORMED_FRAME',
      'bad-name',
      'called',
    ],
    [
      'a compression pointer in the scope',
      request(label(TESTSRV_20, 'c0 0c')),
      'ERR_MALFORMED_FRAME',
      'bad-name',
      'called',
    ],
    ['a scope label with a dot', request(label(TESTSRV_20, '03 612e62')), 'ERR_MALFORMED_FRAME', 'bad-name', 'called'],
    [
      'a scope label with a space',
      request(label(TESTSRV_20, '03 612062')),
      'ERR_MALFORMED_FRAME',
      'bad-name',
      'called',
    ],
    [
      'a name longer than 255 octets',
      request(label(TESTSRV_20, toHex(longScope))),
      'ERR_MALFORMED_FRAME',
      'bad-name',
      'called',
    ],
    [
      'a calling name cut short',
      concat([hex('81 00 00 44'), label(TESTSRV_20), label(NODECLIENT_00).subarray(0, 33), hex('41')]),
      'ERR_MALFORMED_FRAME',
      'bad-name',
      'calling',
    ],
    [
      'a calling name without its final zero',
      concat([hex('81 00 00 44'), label(TESTSRV_20), Uint8Array.of(0x20), ascii(NODECLIENT_00), hex('01')]),
      'ERR_MALFORMED_FRAME',
      'bad-name',
      'calling',
    ],
    [
      'octets after the calling name',
      concat([hex('81 00 00 46'), label(TESTSRV_20), label(NODECLIENT_00), hex('00 00')]),
      'ERR_MALFORMED_FRAME',
      'trailing-bytes',
      'body',
    ],
    ['a header cut short', hex('82 00 00'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['fewer octets than LENGTH says', hex('00 00 00 03 aa bb'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['more octets than LENGTH says', hex('00 00 00 01 aa bb'), 'ERR_MALFORMED_FRAME', 'bad-length'],
  ];
  it.each(cases)('%s', (_, wire, code, reason, field) => {
    let error: unknown;
    try {
      decodePacket(wire);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NetbiosProtocolError);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code, reason, origin: 'remote', details: { protocol: 'netbios', reason } });
    if (field !== undefined) expect((error as NetbiosProtocolError).field).toBe(field);
  });

  it('refuses a session message beyond maxMessageSize from its header alone', () => {
    expect(() => decodePacket(hex('00 00 04 01'), 1024)).toThrow(
      expect.objectContaining({
        code: 'ERR_FRAME_TOO_LARGE',
        reason: 'too-large',
        details: expect.objectContaining({ length: 1025, limit: 1024 }),
      }),
    );
    expect(decodePacket(concat([hex('00 00 04 00'), new Uint8Array(1024)]), 1024).type).toBe('SESSION_MESSAGE');
  });
});

describe('encoder refusals (origin local)', () => {
  const bad: Array<[string, NetbiosPacket, string]> = [
    [
      'message over 0x1FFFF octets',
      { type: 'SESSION_MESSAGE', data: new Uint8Array(0x20000) },
      'ERR_PAYLOAD_TOO_LARGE',
    ],
    [
      'message data not bytes',
      { type: 'SESSION_MESSAGE', data: 'text' as unknown as Uint8Array },
      'ERR_INVALID_ARGUMENT',
    ],
    ['negative code 256', { type: 'NEGATIVE_SESSION_RESPONSE', errorCode: 256 }, 'ERR_INVALID_ARGUMENT'],
    [
      'retarget to a host name',
      { type: 'RETARGET_SESSION_RESPONSE', address: 'example.com', port: 139 },
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'retarget to an IPv6 address',
      { type: 'RETARGET_SESSION_RESPONSE', address: '::1', port: 139 },
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'retarget to octet 256',
      { type: 'RETARGET_SESSION_RESPONSE', address: '10.0.0.256', port: 139 },
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'retarget to port 65536',
      { type: 'RETARGET_SESSION_RESPONSE', address: '10.0.0.1', port: 65536 },
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'request with a 16-octet name',
      { type: 'SESSION_REQUEST', called: { name: 'X'.repeat(16), suffix: 0x20, scope: '' }, calling: WILDCARD_NAME },
      'ERR_INVALID_ARGUMENT',
    ],
    ['unknown type', { type: 'BOGUS' } as unknown as NetbiosPacket, 'ERR_INVALID_ARGUMENT'],
  ];
  it.each(bad)('%s', (_, packet, code) => {
    expect(() => encodePacket(packet)).toThrow(expect.objectContaining({ code, origin: 'local' }));
  });
});
