// DECnet codec by table: hand-written frames both ways, Session Control's connect data, every
// decoder refusal with its code and reason, encoder refusals, addresses.

import { describe, expect, it } from 'vitest';
import {
  decodeConnectData,
  decodeFrame,
  decodeNsp,
  DecnetProtocolError,
  describeEndUser,
  encodeConnectData,
  encodeFrame,
  encodeNsp,
  formatAddress,
  nodeMac,
  parseAddress,
  reasonName,
  DECNET_MALFORMED_REASONS,
  type ConnectData,
} from '../../src/decnet/index.js';
import { fixtureCases } from '../support/codec-harness.js';
import { A, B, CONNECT_DATA, CONNECT_DATA_WIRE, FIXTURES, hex, LA, LB, toHex } from './cases.js';

describe('hex fixtures', () => {
  fixtureCases(
    FIXTURES.map(({ name, frame, wire }) => ({ name, unit: frame, wire })),
    encodeFrame,
    decodeFrame,
  );

  it('cover every NSP message type, BOM/EOM combination and retransmitted CI', () => {
    const kinds = new Set(
      FIXTURES.map(({ frame: { nsp: m } }) =>
        m.type === 'DATA'
          ? `DATA${m.bom ? '+BOM' : ''}${m.eom ? '+EOM' : ''}`
          : m.type === 'CONNECT_INITIATE' && m.retransmitted
            ? 'RCI'
            : m.type,
      ),
    );
    expect([...kinds].sort()).toEqual(
      [
        'CONNECT_ACK',
        'CONNECT_CONFIRM',
        'CONNECT_INITIATE',
        'DATA',
        'DATA+BOM',
        'DATA+BOM+EOM',
        'DATA+EOM',
        'DATA_ACK',
        'DISCONNECT_CONFIRM',
        'DISCONNECT_INITIATE',
        'INTERRUPT',
        'LINK_SERVICE',
        'NOP',
        'OTHER_DATA_ACK',
        'RCI',
      ].sort(),
    );
  });
});

describe('Session Control connect data', () => {
  it('decodes the 41 octets of the first Connect Initiate', () => {
    expect(CONNECT_DATA_WIRE.length).toBe(41);
    expect(decodeConnectData(CONNECT_DATA_WIRE)).toEqual(CONNECT_DATA);
    expect(toHex(encodeConnectData(CONNECT_DATA))).toBe(toHex(CONNECT_DATA_WIRE));
  });

  const table: Array<[string, ConnectData, string]> = [
    [
      'format 0 both ways, no access control, no user data',
      { destination: { format: 0, objectType: 25 }, source: { format: 0, objectType: 17 } },
      '0019 0011 00',
    ],
    [
      'format 1 with an object number, user data only',
      {
        destination: { format: 1, objectType: 27, name: 'MAIL' },
        source: { format: 1, objectType: 0, name: '' },
        userData: hex('ff00'),
      },
      '01 1b 04 4d41494c 01 00 00 02 02 ff00',
    ],
    [
      'format 2 with 16-bit codes, empty access fields, MENUVER version bits kept',
      {
        destination: { format: 2, objectType: 0, group: 0x1234, user: 0xfffe, name: 'TASK' },
        source: { format: 0, objectType: 1 },
        access: { user: '', password: '', account: '' },
        menuFlags: 0x20,
      },
      '02 00 3412 feff 04 5441534b 00 01 21 00 00 00',
    ],
    [
      'access fields of 39 characters',
      {
        destination: { format: 0, objectType: 1 },
        source: { format: 0, objectType: 1 },
        access: { user: 'u'.repeat(39), password: 'p'.repeat(39), account: 'a'.repeat(39) },
      },
      `0001 0001 01 27${'75'.repeat(39)} 27${'70'.repeat(39)} 27${'61'.repeat(39)}`,
    ],
  ];
  it.each(table)('%s', (_name, data, wire) => {
    expect(toHex(encodeConnectData(data))).toBe(toHex(hex(wire)));
    expect(decodeConnectData(hex(wire))).toEqual(data);
  });

  const refusals: Array<[string, string, string]> = [
    ['format 3', '03 00 0001 00', 'bad-descriptor'],
    ['format 0 with object 0', '00 00 0001 00', 'bad-descriptor'],
    ['a format 1 name of 17 octets', `01 00 11 ${'41'.repeat(17)} 0001 00`, 'field-too-long'],
    ['a format 2 name of 13 octets', `02 00 0000 0000 0d ${'41'.repeat(13)} 0001 00`, 'field-too-long'],
    ['RQSTRID of 40 octets', `0001 0001 01 28 ${'41'.repeat(40)} 00 00`, 'field-too-long'],
    ['USRDATA of 17 octets', `0001 0001 02 11 ${'41'.repeat(17)}`, 'field-too-long'],
    ['no MENUVER', '0001 0001', 'truncated'],
    ['PASSWRD cut short', '0001 0001 01 00 05 4142', 'truncated'],
    ['octets after USRDATA', '0001 0001 02 01 41 42', 'trailing-bytes'],
  ];
  it.each(refusals)('refuses %s', (_name, wire, reason) => {
    let error: unknown;
    try {
      decodeConnectData(hex(wire));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecnetProtocolError);
    expect(error).toMatchObject({ code: 'ERR_MALFORMED_FRAME', reason, layer: 'session' });
  });

  it('describes end-users', () => {
    expect(describeEndUser({ format: 0, objectType: 25 })).toBe('#25');
    expect(describeEndUser({ format: 1, objectType: 0, name: 'COLLOQUY' })).toBe('COLLOQUY');
    expect(describeEndUser({ format: 2, objectType: 0, group: 1, user: 4, name: 'ADA' })).toBe('[1,4]ADA');
  });

  it('names the reject reasons', () => {
    expect(reasonName(34)).toMatch(/access control rejected/);
    expect(reasonName(42)).toBe('disconnect complete');
    expect(reasonName(200)).toBe('reason 200');
  });
});

const MAC_A = 'aa0004000a04';
const MAC_B = 'aa0004001404';
const LONG = `26 0000 ${MAC_B} 0000 ${MAC_A} 00 00 00 00`;
/** A frame A to B around `body` (the octets after LENGTH), LENGTH as given, padded to 60. */
function frameOf(length: number, body: string): Uint8Array {
  const b = hex(body);
  const total = Math.max(60, 16 + Math.max(length, b.length));
  const out = new Uint8Array(total);
  out.set(hex(`${MAC_B} ${MAC_A} 6003`), 0);
  out[14] = length & 0xff;
  out[15] = length >> 8;
  out.set(b, 16);
  return out;
}
const withNsp = (nsp: string): Uint8Array => frameOf(21 + hex(nsp).length, `${LONG} ${nsp}`);

describe('decoder refusals', () => {
  const cases: Array<[string, () => Uint8Array, string, string, string]> = [
    [
      'an IPv4 frame',
      () => hex(`${MAC_B} ${MAC_A} 0800 ${'00'.repeat(46)}`),
      'ERR_UNKNOWN_FRAME_TYPE',
      'not-decnet',
      'ethernet',
    ],
    ['LENGTH 0', () => frameOf(0, ''), 'ERR_MALFORMED_FRAME', 'bad-length', 'routing'],
    ['LENGTH 1499', () => frameOf(1499, ''), 'ERR_FRAME_TOO_LARGE', 'too-large', 'routing'],
    ['a pad count of 0', () => frameOf(30, `80 ${LONG} 24 014a`), 'ERR_MALFORMED_FRAME', 'bad-padding', 'routing'],
    ['a pad past the message', () => frameOf(4, '85000000'), 'ERR_MALFORMED_FRAME', 'bad-padding', 'routing'],
    ['a pad behind a pad', () => frameOf(24, `81 81 ${LONG} 24`), 'ERR_MALFORMED_FRAME', 'bad-padding', 'routing'],
    [
      'an endnode hello (routing control)',
      () => frameOf(30, '0d 020000'),
      'ERR_UNKNOWN_FRAME_TYPE',
      'routing-control',
      'routing',
    ],
    [
      'a short data header',
      () => frameOf(9, '02 1404 0a04 00 24 014a'),
      'ERR_UNKNOWN_FRAME_TYPE',
      'short-header',
      'routing',
    ],
    [
      'FLAGS bit 6 (VERS)',
      () => frameOf(24, `66 0000 ${MAC_B} 0000 ${MAC_A} 00000000 24 014a`),
      'ERR_MALFORMED_FRAME',
      'reserved-bits',
      'routing',
    ],
    [
      'a non-zero D-AREA',
      () => frameOf(24, `26 0100 ${MAC_B} 0000 ${MAC_A} 00000000 24 014a`),
      'ERR_MALFORMED_FRAME',
      'reserved-bits',
      'routing',
    ],
    [
      'a non-zero protocol type',
      () => frameOf(24, `26 0000 ${MAC_B} 0000 ${MAC_A} 00000001 24 014a`),
      'ERR_MALFORMED_FRAME',
      'reserved-bits',
      'routing',
    ],
    [
      'a D-ID outside HIORD',
      () => frameOf(24, `26 0000 0800201404 04 0000 ${MAC_A} 00000000 24 014a`),
      'ERR_MALFORMED_FRAME',
      'bad-address',
      'routing',
    ],
    [
      'a long header cut short',
      () => frameOf(10, `26 0000 ${MAC_B} 00`),
      'ERR_MALFORMED_FRAME',
      'truncated',
      'routing',
    ],
    ['no NSP message', () => frameOf(21, LONG), 'ERR_MALFORMED_FRAME', 'truncated', 'nsp'],
    ['MSGFLG 0x58 (Phase II node init)', () => withNsp('58 0000'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-message', 'nsp'],
    ['MSGFLG 0x0c', () => withNsp('0c 027c 014a'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-message', 'nsp'],
    ['a data segment cut inside SEGNUM', () => withNsp('60 027c 014a 01'), 'ERR_MALFORMED_FRAME', 'truncated', 'nsp'],
    ['SEGNUM bit 13', () => withNsp('60 027c 014a 0120'), 'ERR_MALFORMED_FRAME', 'reserved-bits', 'nsp'],
    ['an interrupt with DLY', () => withNsp('30 027c 014a 0110'), 'ERR_MALFORMED_FRAME', 'reserved-bits', 'nsp'],
    ['ACKNUM after ACKOTH', () => withNsp('60 027c 014a 01a0 0180 0100'), 'ERR_MALFORMED_FRAME', 'bad-ack', 'nsp'],
    ['two ACKOTH', () => withNsp('60 027c 014a 01a0 01a0 0100'), 'ERR_MALFORMED_FRAME', 'bad-ack', 'nsp'],
    [
      'an acknowledgement with bit 14',
      () => withNsp('60 027c 014a 01c0 0100'),
      'ERR_MALFORMED_FRAME',
      'reserved-bits',
      'nsp',
    ],
    ['a Data Ack without ACKNUM', () => withNsp('04 014a 027c 0100'), 'ERR_MALFORMED_FRAME', 'bad-ack', 'nsp'],
    [
      'a Data Ack whose ACKNUM is cross-subchannel',
      () => withNsp('04 014a 027c 01a0'),
      'ERR_MALFORMED_FRAME',
      'bad-ack',
      'nsp',
    ],
    [
      'a Data Ack whose second field is not cross',
      () => withNsp('04 014a 027c 0180 0180'),
      'ERR_MALFORMED_FRAME',
      'bad-ack',
      'nsp',
    ],
    [
      'a Data Ack with trailing octets',
      () => withNsp('04 014a 027c 0180 02a0 00'),
      'ERR_MALFORMED_FRAME',
      'trailing-bytes',
      'nsp',
    ],
    [
      '17 octets of interrupt data',
      () => withNsp(`30 027c 014a 0100 ${'41'.repeat(17)}`),
      'ERR_MALFORMED_FRAME',
      'field-too-long',
      'nsp',
    ],
    ['LSFLAGS FC MOD 3', () => withNsp('10 027c 014a 0100 03 00'), 'ERR_MALFORMED_FRAME', 'reserved-bits', 'nsp'],
    ['LSFLAGS FCVAL INT 2', () => withNsp('10 027c 014a 0100 08 00'), 'ERR_MALFORMED_FRAME', 'reserved-bits', 'nsp'],
    ['LSFLAGS bit 4', () => withNsp('10 027c 014a 0100 10 00'), 'ERR_MALFORMED_FRAME', 'reserved-bits', 'nsp'],
    ['a Link Service without FCVAL', () => withNsp('10 027c 014a 0100 00'), 'ERR_MALFORMED_FRAME', 'truncated', 'nsp'],
    [
      'a Connect Initiate to link 5',
      () => withNsp('18 0500 014a 05 02 0004'),
      'ERR_MALFORMED_FRAME',
      'reserved-bits',
      'nsp',
    ],
    [
      'SERVICES bits 1..0 = 00',
      () => withNsp('18 0000 014a 04 02 0004'),
      'ERR_MALFORMED_FRAME',
      'reserved-bits',
      'nsp',
    ],
    ['SERVICES FCOPT 3', () => withNsp('18 0000 014a 0d 02 0004'), 'ERR_MALFORMED_FRAME', 'reserved-bits', 'nsp'],
    ['INFO bit 2', () => withNsp('28 014a 027c 05 06 0004 00'), 'ERR_MALFORMED_FRAME', 'reserved-bits', 'nsp'],
    [
      'Connect Confirm data of 17 octets',
      () => withNsp(`28 014a 027c 05 02 0004 11 ${'41'.repeat(17)}`),
      'ERR_MALFORMED_FRAME',
      'field-too-long',
      'nsp',
    ],
    [
      'a Disconnect Initiate whose data runs past the message',
      () => withNsp('38 027c 014a 0000 05 4142'),
      'ERR_MALFORMED_FRAME',
      'truncated',
      'nsp',
    ],
    [
      'a Disconnect Confirm with trailing octets',
      () => withNsp('48 027c 014a 2a00 00'),
      'ERR_MALFORMED_FRAME',
      'trailing-bytes',
      'nsp',
    ],
    ['a Connect Ack with trailing octets', () => withNsp('24 014a 00'), 'ERR_MALFORMED_FRAME', 'trailing-bytes', 'nsp'],
  ];
  it.each(cases)('%s', (_name, wire, code, reason, layer) => {
    let error: unknown;
    try {
      decodeFrame(wire());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecnetProtocolError);
    expect(error).toMatchObject({ code, reason, layer });
  });

  it('every reason is tested here or in the connect data table', () => {
    const here = new Set([...cases.map((c) => c[3]), 'bad-descriptor']);
    for (const r of DECNET_MALFORMED_REASONS) expect(here.has(r), r).toBe(true);
  });

  it('a frame whose length does not match LENGTH', () => {
    const wire = FIXTURES[0]!.wire;
    expect(() => decodeFrame(wire.subarray(0, wire.length - 1))).toThrow(
      expect.objectContaining({ reason: 'bad-length' }),
    );
  });
});

describe('encoder refusals', () => {
  const nsp = {
    type: 'DATA',
    dst: LB,
    src: LA,
    bom: true,
    eom: true,
    segNum: 1,
    delay: false,
    data: new Uint8Array(0),
  } as const;
  it.each([
    ['SEGNUM 4096', { ...nsp, segNum: 4096 }],
    ['an ACKNUM of -1', { ...nsp, ackNum: { number: -1, nak: false } }],
    ['a link address past 16 bits', { ...nsp, dst: 0x10000 }],
    ['17 octets of interrupt data', { type: 'INTERRUPT', dst: LB, src: LA, segNum: 1, data: new Uint8Array(17) }],
    ['FCVAL 128', { type: 'LINK_SERVICE', dst: LB, src: LA, segNum: 1, fcMod: 0, interrupt: false, fcVal: 128 }],
    ['FC MOD 3', { type: 'LINK_SERVICE', dst: LB, src: LA, segNum: 1, fcMod: 3, interrupt: false, fcVal: 0 }],
    [
      'a Connect Initiate to link 1',
      {
        type: 'CONNECT_INITIATE',
        retransmitted: false,
        dst: 1,
        src: LA,
        flowControl: 0,
        version: 2,
        segSize: 1,
        data: new Uint8Array(0),
      },
    ],
    [
      'Disconnect Initiate data of 17 octets',
      { type: 'DISCONNECT_INITIATE', dst: LB, src: LA, reason: 0, data: new Uint8Array(17) },
    ],
  ])('%s', (_name, message) => {
    expect(() => encodeNsp(message as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('a frame past 1514 octets', () => {
    expect(() => encodeFrame({ ...FIXTURES[4]!.frame, nsp: { ...nsp, data: new Uint8Array(1471) } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', details: expect.objectContaining({ field: 'LENGTH' }) }),
    );
    // LENGTH 1498 = 21 (long header) + 7 (MSGFLG, DSTADDR, SRCADDR, SEGNUM) + 1470 octets of data.
    expect(encodeFrame({ ...FIXTURES[4]!.frame, nsp: { ...nsp, data: new Uint8Array(1470) } }).length).toBe(1514);
  });

  it('connect data fields past their maximum, format 0 with object 0, non-Latin-1 text', () => {
    const base = CONNECT_DATA;
    for (const bad of [
      { ...base, destination: { format: 1, objectType: 0, name: 'X'.repeat(17) } },
      { ...base, source: { format: 2, objectType: 0, group: 0, user: 0, name: 'X'.repeat(13) } },
      { ...base, destination: { format: 0, objectType: 0 } },
      { ...base, access: { user: 'x'.repeat(40), password: '', account: '' } },
      { ...base, userData: new Uint8Array(17) },
      { ...base, access: { user: 'Ω', password: '', account: '' } },
      { ...base, menuFlags: 1 },
    ] as ConnectData[])
      expect(() => encodeConnectData(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('addresses', () => {
  it('area.node to the word, the word to HIORD', () => {
    expect(parseAddress('1.10')).toBe(A);
    expect(parseAddress('1.20')).toBe(B);
    expect(parseAddress('63.1023')).toBe(0xffff);
    expect(formatAddress(0x040a)).toBe('1.10');
    expect(nodeMac(A)).toBe('aa:00:04:00:0a:04');
    for (const bad of ['0.1', '64.1', '1.0', '1.1024', '1', 'a.b'])
      expect(() => parseAddress(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('decodeNsp alone reads what the routing layer bounds', () => {
    expect(decodeNsp(hex('24 014a'))).toEqual({ type: 'CONNECT_ACK', dst: LA });
  });
});
