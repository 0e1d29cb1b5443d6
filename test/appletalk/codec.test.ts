// AppleTalk codecs by table: hand-written EtherTalk frames both ways, then each layer's messages
// (ATP, ZIP over DDP and over ATP, ASP requests and replies, LLAP with the short DDP header),
// every decoder refusal with its code and reason, encoder refusals, the DDP checksum.

import { describe, expect, it } from 'vitest';
import {
  AppletalkProtocolError,
  aspErrorName,
  ddpChecksum,
  decodeAspReply,
  decodeAspRequest,
  decodeAtp,
  decodeDdp,
  decodeEtherTalk,
  decodeLlap,
  decodeZip,
  decodeZipAtpReply,
  decodeZipAtpRequest,
  encodeAspReply,
  encodeAspRequest,
  encodeAtp,
  encodeDdp,
  encodeEtherTalk,
  encodeLlap,
  encodeZip,
  encodeZipAtpReply,
  encodeZipAtpRequest,
  type AspReply,
  type AspRequest,
  type AtpPacket,
  type LlapFrame,
  type ZipMessage,
} from '../../src/appletalk/index.js';
import { fixtureCases } from '../support/codec-harness.js';
import { FIXTURES, hex, text, toHex } from './cases.js';

const ZONE = '08 436f6c6c6f717579';

describe('hex fixtures (EtherTalk frames)', () => {
  fixtureCases(
    FIXTURES.map(({ name, frame, wire }) => ({ name, unit: frame, wire })),
    encodeEtherTalk,
    decodeEtherTalk,
  );
});

const atp = (p: Partial<AtpPacket> & Pick<AtpPacket, 'fn'>): AtpPacket => ({
  xo: false,
  eom: false,
  sts: false,
  trel: 0,
  bitmap: 0,
  tid: 0,
  user: 0,
  data: new Uint8Array(0),
  ...p,
});

describe('ATP packets', () => {
  const table: Array<[string, AtpPacket, string]> = [
    [
      'TReq, bitmap 0xff (8 packets), TID 0xbeef',
      atp({ fn: 'TReq', bitmap: 0xff, tid: 0xbeef, user: 0x01020304 }),
      '40 ff beef 01020304',
    ],
    ['TReq XO, TRel 8 min (4)', atp({ fn: 'TReq', xo: true, trel: 4, bitmap: 1, tid: 1 }), '64 01 0001 00000000'],
    [
      'TResp seq 7, EOM, 3 octets',
      atp({ fn: 'TResp', eom: true, bitmap: 7, tid: 9, data: hex('aabbcc') }),
      '90 07 0009 00000000 aabbcc',
    ],
    ['TResp STS, no EOM', atp({ fn: 'TResp', sts: true, bitmap: 0, tid: 9 }), '88 00 0009 00000000'],
    ['TRel, bitmap kept', atp({ fn: 'TRel', bitmap: 3, tid: 0xffff }), 'c0 03 ffff 00000000'],
  ];
  it.each(table)('%s', (_, packet, wire) => {
    expect(toHex(encodeAtp(packet))).toBe(toHex(hex(wire)));
    expect(decodeAtp(hex(wire))).toEqual(packet);
  });

  it('carries 578 octets of data, not 579', () => {
    const full = atp({ fn: 'TResp', eom: true, data: new Uint8Array(578) });
    expect(decodeAtp(encodeAtp(full))).toEqual(full);
    expect(() => encodeAtp({ ...full, data: new Uint8Array(579) })).toThrow(/at most 578/);
  });

  const refusals: Array<[string, string, string, string]> = [
    ['function 0', '00 01 0001 00000000', 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-function'],
    ['7 octets', '40 01 0001 000000', 'ERR_MALFORMED_FRAME', 'truncated'],
    ['TRel timeout 5', '65 01 0001 00000000', 'ERR_MALFORMED_FRAME', 'reserved-bits'],
    ['TResp sequence 8', '90 08 0001 00000000', 'ERR_MALFORMED_FRAME', 'reserved-bits'],
    ['data after a TRel', 'c0 01 0001 00000000 00', 'ERR_MALFORMED_FRAME', 'trailing-bytes'],
    ['579 octets of data', `90 00 0001 00000000 ${'00'.repeat(579)}`, 'ERR_MALFORMED_FRAME', 'field-too-long'],
  ];
  it.each(refusals)('refuses %s', (_, wire, code, reason) => {
    expect(() => decodeAtp(hex(wire))).toThrow(expect.objectContaining({ code, reason, layer: 'atp' }));
  });
});

describe('ZIP over DDP', () => {
  const table: Array<[string, ZipMessage, string]> = [
    ['Query, no networks', { fn: 'query', networks: [] }, '01 00'],
    ['Query, three networks', { fn: 'query', networks: [1, 0x03e8, 0xfffe] }, '01 03 0001 03e8 fffe'],
    [
      'Reply, two networks',
      {
        fn: 'reply',
        zones: [
          { network: 1000, zone: 'Colloquy' },
          { network: 1001, zone: 'B' },
        ],
      },
      `02 02 03e8 ${ZONE} 03e9 01 42`,
    ],
    [
      'Extended Reply, 1 of 3 zones',
      { fn: 'extended-reply', count: 3, zones: [{ network: 1000, zone: 'Colloquy' }] },
      `08 03 03e8 ${ZONE}`,
    ],
    ['GetNetInfo request, no zone yet', { fn: 'getnetinfo-request', zone: '' }, '05 00 00000000 00'],
    [
      'GetNetInfo reply, zone invalid, use broadcast, default zone "B"',
      {
        fn: 'getnetinfo-reply',
        zoneInvalid: true,
        useBroadcast: true,
        onlyOneZone: false,
        rangeStart: 1000,
        rangeEnd: 1009,
        zone: 'Old',
        multicast: new Uint8Array(0),
        defaultZone: 'B',
      },
      '06 c0 03e8 03f1 03 4f6c64 00 01 42',
    ],
    [
      'GetNetInfo reply, a zone name of 32 octets and octets past 0x7f',
      {
        fn: 'getnetinfo-reply',
        zoneInvalid: false,
        useBroadcast: false,
        onlyOneZone: true,
        rangeStart: 1,
        rangeEnd: 1,
        zone: `${'Z'.repeat(31)}\u00a5`,
        multicast: hex('090007000001'),
      },
      `06 20 0001 0001 20 ${'5a'.repeat(31)}a5 06 090007000001`,
    ],
  ];
  it.each(table)('%s', (_, message, wire) => {
    expect(toHex(encodeZip(message))).toBe(toHex(hex(wire)));
    expect(decodeZip(hex(wire))).toEqual(message);
  });

  const refusals: Array<[string, string, string, string]> = [
    ['no function', '', 'ERR_MALFORMED_FRAME', 'truncated'],
    ['function 3 (Takedown, obsolete)', '03 00', 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-function'],
    ['function 7 (Notify)', '07 00', 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-function'],
    ['a Query with fewer networks than its count', '01 02 0001', 'ERR_MALFORMED_FRAME', 'bad-count'],
    ['a Reply whose count is not its tuples', `02 02 03e8 ${ZONE}`, 'ERR_MALFORMED_FRAME', 'bad-count'],
    ['an Extended Reply with more tuples than its count', `08 00 03e8 ${ZONE}`, 'ERR_MALFORMED_FRAME', 'bad-count'],
    ['a zone name that runs past the end', '02 01 03e8 08 4142', 'ERR_MALFORMED_FRAME', 'truncated'],
    ['a zone name of 33 octets', `02 01 03e8 21 ${'41'.repeat(33)}`, 'ERR_MALFORMED_FRAME', 'field-too-long'],
    ['a GetNetInfo request with a non-zero range', '05 00 00010000 00', 'ERR_MALFORMED_FRAME', 'reserved-bits'],
    [
      'a GetNetInfo request with octets after the zone',
      '05 00 00000000 00 00',
      'ERR_MALFORMED_FRAME',
      'trailing-bytes',
    ],
    ['GetNetInfo reply flags 0x10', '06 10 0001 0001 00 00', 'ERR_MALFORMED_FRAME', 'reserved-bits'],
    ['a GetNetInfo reply, zone invalid, no default zone', '06 80 0001 0001 00 00', 'ERR_MALFORMED_FRAME', 'truncated'],
  ];
  it.each(refusals)('refuses %s', (_, wire, code, reason) => {
    expect(() => decodeZip(hex(wire))).toThrow(expect.objectContaining({ code, reason, layer: 'zip' }));
  });

  it('refuses to encode a default zone without zone invalid, and a zone of 33 octets', () => {
    const reply = {
      fn: 'getnetinfo-reply',
      zoneInvalid: false,
      useBroadcast: false,
      onlyOneZone: false,
      rangeStart: 1,
      rangeEnd: 1,
      zone: 'A',
      multicast: new Uint8Array(0),
    } as const;
    expect(() => encodeZip({ ...reply, defaultZone: 'B' })).toThrow(/exactly when the zone is invalid/);
    expect(() => encodeZip({ fn: 'getnetinfo-request', zone: 'x'.repeat(33) })).toThrow(/at most 32/);
    expect(() => encodeZip({ fn: 'getnetinfo-request', zone: '\u0100' })).toThrow(/not 0\.\.255/);
  });
});

describe('ZIP over ATP', () => {
  it('requests: GetMyZone, GetZoneList, GetLocalZones', () => {
    expect(encodeZipAtpRequest({ fn: 'GetMyZone', startIndex: 0 })).toBe(0x07000000);
    expect(encodeZipAtpRequest({ fn: 'GetZoneList', startIndex: 1 })).toBe(0x08000001);
    expect(encodeZipAtpRequest({ fn: 'GetLocalZones', startIndex: 0x1234 })).toBe(0x09001234);
    expect(decodeZipAtpRequest(0x08000005, new Uint8Array(0))).toEqual({ fn: 'GetZoneList', startIndex: 5 });
  });

  it('replies: last flag, count, zone names', () => {
    const reply = { last: true, zones: ['Colloquy', 'B'] };
    const wire = encodeZipAtpReply(reply);
    expect(wire.user).toBe(0x01000002);
    expect(toHex(wire.data)).toBe(toHex(hex(`${ZONE} 01 42`)));
    expect(decodeZipAtpReply(wire.user, wire.data)).toEqual(reply);
    expect(decodeZipAtpReply(0x00000000, new Uint8Array(0))).toEqual({ last: false, zones: [] });
  });

  const refusals: Array<[string, number, string, string]> = [
    ['request function 6', 0x06000000, '', 'unknown-function'],
    ['request second byte', 0x08010000, '', 'reserved-bits'],
    ['request with data', 0x08000001, '00', 'trailing-bytes'],
  ];
  it.each(refusals)('refuses a %s', (_, user, data, reason) => {
    expect(() => decodeZipAtpRequest(user, hex(data))).toThrow(expect.objectContaining({ reason }));
  });
  it('refuses replies: LastFlag 2, second byte, a count that is not the names', () => {
    expect(() => decodeZipAtpReply(0x02000000, new Uint8Array(0))).toThrow(
      expect.objectContaining({ reason: 'reserved-bits' }),
    );
    expect(() => decodeZipAtpReply(0x00010000, new Uint8Array(0))).toThrow(
      expect.objectContaining({ reason: 'reserved-bits' }),
    );
    expect(() => decodeZipAtpReply(0x01000002, hex(ZONE))).toThrow(expect.objectContaining({ reason: 'bad-count' }));
  });
});

describe('ASP requests and replies', () => {
  const requests: Array<[AspRequest, number, string]> = [
    [{ fn: 'CloseSession', session: 1 }, 0x01010000, ''],
    [{ fn: 'Command', session: 1, seq: 0xfffe, data: text('cmd') }, 0x0201fffe, '636d64'],
    [{ fn: 'GetStatus' }, 0x03000000, ''],
    [{ fn: 'OpenSession', wss: 0xc8, version: 0x0100 }, 0x04c80100, ''],
    [{ fn: 'Tickle', session: 7 }, 0x05070000, ''],
    [{ fn: 'Write', session: 1, seq: 2, data: text('w') }, 0x06010002, '77'],
    [{ fn: 'WriteContinue', session: 1, seq: 2, bufferSize: 4624 }, 0x07010002, '1210'],
    [{ fn: 'Attention', session: 1, code: 0x8001 }, 0x08018001, ''],
  ];
  it.each(requests)('request %o', (m, user, data) => {
    const wire = encodeAspRequest(m);
    expect(wire.user).toBe(user);
    expect(toHex(wire.data)).toBe(data);
    expect(decodeAspRequest(user, hex(data))).toEqual(m);
  });

  const replies: Array<[AspReply, number, string]> = [
    [{ fn: 'OpenSession', sss: 0x81, session: 1, error: 0 }, 0x81010000, ''],
    [{ fn: 'OpenSession', sss: 0, session: 0, error: -1068 }, 0x0000fbd4, ''],
    [{ fn: 'Command', result: 0, data: text('reply') }, 0, '7265706c79'],
    [{ fn: 'Write', result: -5019, data: new Uint8Array(0) }, 0xffffec65, ''],
    [{ fn: 'GetStatus', status: text('st') }, 0, '7374'],
    [{ fn: 'WriteContinue', data: text('data') }, 0, '64617461'],
    [{ fn: 'CloseSession' }, 0, ''],
    [{ fn: 'Attention' }, 0, ''],
  ];
  it.each(replies)('reply %o', (m, user, data) => {
    const wire = encodeAspReply(m);
    expect(wire.user).toBe(user);
    expect(toHex(wire.data)).toBe(data);
    expect(decodeAspReply(m.fn, user, hex(data))).toEqual(m);
  });

  const refusals: Array<[string, () => unknown, string]> = [
    ['function 0', () => decodeAspRequest(0x00000000, new Uint8Array(0)), 'unknown-function'],
    ['function 9', () => decodeAspRequest(0x09000000, new Uint8Array(0)), 'unknown-function'],
    ['CloseSession with a non-zero pad', () => decodeAspRequest(0x01010001, new Uint8Array(0)), 'reserved-bits'],
    ['Tickle with data', () => decodeAspRequest(0x05010000, hex('00')), 'trailing-bytes'],
    ['GetStatus with a session', () => decodeAspRequest(0x03010000, new Uint8Array(0)), 'reserved-bits'],
    ['WriteContinue with 1 octet', () => decodeAspRequest(0x07010002, hex('12')), 'truncated'],
    ['WriteContinue with 3 octets', () => decodeAspRequest(0x07010002, hex('121000')), 'trailing-bytes'],
    ['an OpenSession reply with data', () => decodeAspReply('OpenSession', 0, hex('00')), 'trailing-bytes'],
    [
      'a CloseSession reply with user bytes',
      () => decodeAspReply('CloseSession', 1, new Uint8Array(0)),
      'reserved-bits',
    ],
    ['a reply to a Tickle', () => decodeAspReply('Tickle', 0, new Uint8Array(0)), 'unknown-function'],
  ];
  it.each(refusals)('refuses %s', (_, fn, reason) => {
    expect(fn).toThrow(expect.objectContaining({ reason, layer: 'asp' }));
  });

  it('names the SPError codes', () => {
    expect(aspErrorName(-1068)).toBe('NoMoreSessions');
    expect(aspErrorName(-1)).toBe('error -1');
  });
});

describe('DDP', () => {
  it('checksum: the §4-17 procedure, and 0 sent as 0xffff', () => {
    expect(ddpChecksum(hex('01'))).toBe(0x0002);
    // 0x80 rotated is 0x0100; adding 0x00 and rotating again gives 0x0200.
    expect(ddpChecksum(hex('8000'))).toBe(0x0200);
    // A sum of 0 means "no checksum" on the wire, so it is sent as 0xffff.
    expect(ddpChecksum(new Uint8Array(0))).toBe(0xffff);
  });

  it('round-trips a checksummed datagram and refuses a wrong checksum', () => {
    const d = {
      hops: 15,
      checksum: true,
      destination: { network: 1, node: 2, socket: 3 },
      source: { network: 4, node: 5, socket: 6 },
      type: 3,
      data: text('x'),
    };
    const wire = encodeDdp(d);
    expect(decodeDdp(wire)).toEqual(d);
    wire[13] = wire[13]! ^ 1; // the data octet
    expect(() => decodeDdp(wire)).toThrow(expect.objectContaining({ reason: 'bad-checksum' }));
  });

  const refusals: Array<[string, string, string, string]> = [
    ['12 octets', '000c 0000 0000 0000 00 00 00 00', 'ERR_MALFORMED_FRAME', 'truncated'],
    ['bits 15..14 of the length word', '400d 0000 0000 0000 00 00 00 00 00', 'ERR_MALFORMED_FRAME', 'reserved-bits'],
    ['a length that is not the datagram', '000e 0000 0000 0000 00 00 00 00 00', 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['a length past 599', '0258 0000 0000 0000 00 00 00 00 00', 'ERR_FRAME_TOO_LARGE', 'too-large'],
  ];
  it.each(refusals)('refuses %s', (_, wire, code, reason) => {
    expect(() => decodeDdp(hex(wire))).toThrow(expect.objectContaining({ code, reason, layer: 'ddp' }));
  });

  it('refuses to encode out-of-range fields and 587 octets of data', () => {
    const d = {
      hops: 0,
      checksum: false,
      destination: { network: 1, node: 2, socket: 3 },
      source: { network: 4, node: 5, socket: 6 },
      type: 3,
      data: new Uint8Array(0),
    };
    expect(() => encodeDdp({ ...d, hops: 16 })).toThrow(/hop count/);
    expect(() => encodeDdp({ ...d, destination: { network: 0x10000, node: 0, socket: 0 } })).toThrow(/network/);
    expect(() => encodeDdp({ ...d, data: new Uint8Array(587) })).toThrow(/at most 586/);
    expect(decodeDdp(encodeDdp({ ...d, data: new Uint8Array(586) })).data).toHaveLength(586);
  });
});

describe('LLAP and the short DDP header', () => {
  const table: Array<[string, LlapFrame, string]> = [
    [
      'short header: ZIP Query from node 10 to node 20, socket 6',
      {
        destinationNode: 0x14,
        sourceNode: 0x0a,
        type: 1,
        ddp: { destinationSocket: 6, sourceSocket: 6, type: 6, data: hex('01 01 03e8') },
      },
      '14 0a 01 0009 06 06 06 01 01 03e8',
    ],
    [
      'long header behind LLAP type 2',
      {
        destinationNode: 0xff,
        sourceNode: 0x0a,
        type: 2,
        ddp: {
          hops: 0,
          checksum: false,
          destination: { network: 0, node: 255, socket: 6 },
          source: { network: 0, node: 10, socket: 6 },
          type: 6,
          data: hex('01 00'),
        },
      },
      'ff 0a 02 000f 0000 0000 0000 ff 0a 06 06 06 01 00',
    ],
  ];
  it.each(table)('%s', (_, frame, wire) => {
    expect(toHex(encodeLlap(frame))).toBe(toHex(hex(wire)));
    expect(decodeLlap(hex(wire))).toEqual(frame);
  });

  it('refuses control frames, a short frame, a short header with reserved bits or a wrong length', () => {
    expect(() => decodeLlap(hex('14 0a 81'))).toThrow(
      expect.objectContaining({ reason: 'unknown-llap-type', code: 'ERR_UNKNOWN_FRAME_TYPE' }),
    );
    expect(() => decodeLlap(hex('14 0a'))).toThrow(expect.objectContaining({ reason: 'truncated' }));
    expect(() => decodeLlap(hex('14 0a 01 0409 06 06 06 01 01 03e8'))).toThrow(
      expect.objectContaining({ reason: 'reserved-bits' }),
    );
    expect(() => decodeLlap(hex('14 0a 01 000a 06 06 06 01 01 03e8'))).toThrow(
      expect.objectContaining({ reason: 'bad-length' }),
    );
  });
});

describe('EtherTalk refusals', () => {
  const good = FIXTURES[2]!.wire;
  const with_ = (at: number, octets: string): Uint8Array => {
    const w = good.slice();
    w.set(hex(octets), at);
    return w;
  };
  const refusals: Array<[string, Uint8Array, string, string]> = [
    [
      'an Ethernet II frame (type 0x809b, LLAP-in-Ethernet)',
      with_(12, '809b'),
      'ERR_UNKNOWN_FRAME_TYPE',
      'not-appletalk',
    ],
    ['AARP (SNAP 00-00-00 80-f3)', with_(17, '000000 80f3'), 'ERR_UNKNOWN_FRAME_TYPE', 'not-appletalk'],
    ['an 802.3 length past 1500', with_(12, '05dd'), 'ERR_FRAME_TOO_LARGE', 'too-large'],
    ['an 802.3 length with no room for DDP', with_(12, '0014'), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['a frame longer than its length says', new Uint8Array([...good, 0]), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['a DDP length that is not the 802.3 length less 8', with_(23, '14'), 'ERR_MALFORMED_FRAME', 'bad-length'],
  ];
  it.each(refusals)('refuses %s', (_, wire, code, reason) => {
    let error: unknown;
    try {
      decodeEtherTalk(wire);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppletalkProtocolError);
    expect(error).toMatchObject({ code, reason });
  });

  it('refuses to encode a bad MAC', () => {
    expect(() => encodeEtherTalk({ ...FIXTURES[0]!.frame, ethSource: '08:00:07' })).toThrow(/not a MAC/);
  });
});
