// SPDU codec: the libiec61850 capture decoded and re-encoded byte for byte, every SPDU of the
// table round-tripped, the length forms, the SI disambiguation, and what the decoder refuses.

import { describe, expect, it } from 'vitest';
import { ProtocolError, SessionError } from '../../src/engine/errors.js';
import { decodeTsdu, encodeSpdu, encodeTsdu, tsduOf } from '../../src/iso/spdu.js';
import type { Spdu } from '../../src/iso/spdu.js';
import { decodeTpdu } from '../../src/iso/tpkt-cotp.js';
import { ascii, bytes, concat, hex, LIBIEC61850, si42Of, SPDU_TABLE, TSDU_TABLE } from './cases.js';

/** The TSDU inside a one-TPKT DT. */
function tsduOfTpkt(tpkt: Uint8Array): Uint8Array {
  const t = decodeTpdu(tpkt.subarray(4));
  if (t.type !== 'DT' || !t.eot) throw new Error('not a whole DT');
  return t.data;
}

function protocolError(fn: () => unknown, code = 'ERR_MALFORMED_FRAME', text?: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ProtocolError);
  expect((error as ProtocolError).code).toBe(code);
  if (text) expect((error as Error).message).toMatch(text);
}

describe('libiec61850 capture (facts file §2.2)', () => {
  it('CN: decodes to the parameters the facts file lists and re-encodes identically', () => {
    const tsdu = tsduOfTpkt(LIBIEC61850.cn);
    const [cn, ...rest] = decodeTsdu(tsdu);
    expect(rest).toEqual([]);
    expect(cn).toMatchObject({
      type: 'CN',
      connectAccept: { protocolOptions: 0, versions: 2 },
      requirements: 0x0002,
      callingSsel: bytes(0, 1),
      calledSsel: bytes(0, 1),
    });
    expect(cn!.userData).toHaveLength(156);
    expect(cn!.userData![0]).toBe(0x31); // presentation CP-type
    expect(encodeTsdu([cn!], { shortOnly: true })).toEqual(tsdu);
    expect(encodeTsdu([cn!])).toEqual(tsdu);
  });

  it('AC header: options 0, version 2, requirements 0x0002, responding selector 0001, 116 octets of user data', () => {
    const tsdu = concat([LIBIEC61850.acHeader.subarray(7), new Uint8Array(116).fill(0x31)]);
    const [ac] = decodeTsdu(tsdu);
    expect(ac).toMatchObject({
      type: 'AC',
      connectAccept: { protocolOptions: 0, versions: 2 },
      requirements: 2,
      calledSsel: bytes(0, 1),
    });
    expect(ac!.userData).toHaveLength(116);
    expect(encodeTsdu([ac!])).toEqual(tsdu);
  });

  it('GT+DT ("01 00 01 00"): an empty GT, then a DT whose user information is the PPDU', () => {
    for (const tsdu of [tsduOfTpkt(LIBIEC61850.concludeRequest), LIBIEC61850.readResponseTsdu]) {
      const spdus = decodeTsdu(tsdu);
      expect(spdus.map((s) => s.type)).toEqual(['GT', 'DT']);
      expect(spdus[0]).toEqual({ type: 'GT' });
      expect(spdus[1]!.userInfo).toEqual(tsdu.subarray(4));
      expect(encodeTsdu(spdus)).toEqual(tsdu);
      expect(tsduOf({ type: 'DT', userInfo: tsdu.subarray(4) })).toEqual(tsdu);
    }
  });

  it('FN, DN and AB: user data in PGI 193; the AB Transport Disconnect is 0x0b', () => {
    const fn = tsduOfTpkt(LIBIEC61850.fn);
    const dn = tsduOfTpkt(LIBIEC61850.dn);
    const ab = tsduOfTpkt(LIBIEC61850.ab);
    expect(decodeTsdu(fn)).toEqual([{ type: 'FN', userData: fn.subarray(4) }]);
    expect(decodeTsdu(dn)).toEqual([{ type: 'DN', userData: dn.subarray(4) }]);
    expect(decodeTsdu(ab)).toEqual([{ type: 'AB', transportDisconnect: 0x0b, userData: ab.subarray(7) }]);
    for (const t of [fn, dn, ab]) expect(encodeTsdu(decodeTsdu(t), { shortOnly: true })).toEqual(t);
  });
});

describe('every SPDU', () => {
  it.each(TSDU_TABLE.map((t) => [t.map((s) => s.type).join('+'), t] as const))(
    '%s: encode, decode, same SPDUs and same bytes again',
    (_name, spdus) => {
      const wire = encodeTsdu(spdus);
      const back = decodeTsdu(wire, { si42: si42Of(spdus) });
      expect(back).toEqual(spdus);
      expect(encodeTsdu(back)).toEqual(wire);
    },
  );

  it('covers every SPDU type the profile speaks', () => {
    const types = new Set(TSDU_TABLE.flat().map((s) => s.type));
    for (const t of [
      'CN',
      'AC',
      'RF',
      'FN',
      'DN',
      'NF',
      'AB',
      'AA',
      'DT',
      'GT',
      'PT',
      'EX',
      'TD',
      'CD',
      'CDA',
      'MIP',
      'MIA',
      'MAP',
      'MAA',
      'RS',
      'RA',
      'AS',
      'AR',
      'AI',
      'AIA',
      'AD',
      'ADA',
      'AE',
      'AEA',
      'ER',
      'ED',
      'GTC',
      'GTA',
      'PR',
    ]) {
      expect(types, t).toContain(t);
    }
  });

  it('writes the SI codes X.225 assigns', () => {
    const si = (s: Spdu): number => encodeSpdu(s)[0]!;
    expect(Object.fromEntries(TSDU_TABLE.flat().map((s) => [s.type, si(s)]))).toEqual({
      CN: 13,
      AC: 14,
      RF: 12,
      FN: 9,
      DN: 10,
      NF: 8,
      AB: 25,
      AA: 26,
      GT: 1,
      PT: 2,
      EX: 5,
      TD: 33,
      GTC: 21,
      GTA: 22,
      PR: 7,
      DT: 1,
      CD: 61,
      CDA: 62,
      MIP: 49,
      MIA: 50,
      MAP: 41,
      MAA: 42,
      RS: 53,
      RA: 34,
      AS: 45,
      AR: 29,
      AI: 25,
      AIA: 26,
      AD: 57,
      ADA: 58,
      AE: 41,
      AEA: 42,
      ER: 0,
      ED: 48,
    });
  });

  it('gives byte-exact layouts for a few by hand', () => {
    expect(tsduOf({ type: 'MIP', syncType: 1, serial: 5 })).toEqual(hex('01 00 31 06 0f 01 01 2a 01 35'));
    expect(tsduOf({ type: 'MAP', syncType: 1, serial: 123 })).toEqual(hex('01 00 29 08 0f 01 01 2a 03 31 32 33'));
    expect(tsduOf({ type: 'AE', serial: 7 })).toEqual(hex('01 00 29 03 2a 01 37'));
    expect(encodeSpdu({ type: 'GT', tokens: 0x41 })).toEqual(hex('01 03 10 01 41'));
    expect(tsduOf({ type: 'RS', tokenSetting: 0, resyncType: 1, serial: 10 })).toEqual(
      hex('01 00 35 0a 1a 01 00 1b 01 01 2a 02 31 30'),
    );
    expect(tsduOf({ type: 'AI', reason: 3 })).toEqual(hex('01 00 19 03 32 01 03'));
    expect(encodeSpdu({ type: 'RF', transportDisconnect: 1, reason: 2, userData: bytes(0xaa) })).toEqual(
      hex('0c 07 11 01 01 32 02 02 aa'),
    );
    expect(tsduOf({ type: 'AR', linking: { oldActivityId: ascii('a'), serial: 4 }, activityId: ascii('b') })).toEqual(
      hex('01 00 1d 0b 21 06 29 01 61 2a 01 34 29 01 62'),
    );
  });
});

describe('length indicators', () => {
  it('uses three octets from 255 on, and decodes them', () => {
    for (const n of [250, 251, 252, 253, 254, 255, 256, 1000, 65_000]) {
      const s: Spdu = { type: 'FN', userData: new Uint8Array(n) };
      const wire = encodeSpdu(s);
      const paramLength = n + (n > 254 ? 4 : 2);
      expect(wire[1]).toBe(paramLength > 254 ? 0xff : paramLength);
      expect(decodeTsdu(wire)).toEqual([s]);
    }
  });

  it('refuses the long form for a length below 255', () => {
    protocolError(() => decodeTsdu(hex('09 ff 00 02 c1 00')), 'ERR_MALFORMED_FRAME', /one-octet form is mandatory/);
    protocolError(() => decodeTsdu(hex('09 04 c1 ff 00 00')), 'ERR_MALFORMED_FRAME', /one-octet form/);
  });

  it('with shortOnly (libiec61850), refuses what needs a long form', () => {
    expect(() => encodeSpdu({ type: 'FN', userData: new Uint8Array(253) }, { shortOnly: true })).toThrow(SessionError);
    expect(() => encodeSpdu({ type: 'FN', userData: new Uint8Array(252) }, { shortOnly: true })).not.toThrow();
    try {
      encodeSpdu({ type: 'CN', userData: new Uint8Array(300) }, { shortOnly: true });
    } catch (e) {
      expect(e).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE', origin: 'local' });
    }
  });

  it('refuses a parameter field larger than 65535', () => {
    expect(() => encodeSpdu({ type: 'FN', userData: new Uint8Array(65_532) })).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE' }),
    );
  });
});

describe('shared SI codes', () => {
  it('SI 1 is GT first and DT after a category 0 SPDU; 25/26 are AB/AA first and AI/AIA after', () => {
    expect(decodeTsdu(hex('01 00')).map((s) => s.type)).toEqual(['GT']);
    expect(decodeTsdu(hex('01 00 01 00')).map((s) => s.type)).toEqual(['GT', 'DT']);
    expect(decodeTsdu(hex('19 00')).map((s) => s.type)).toEqual(['AB']);
    expect(decodeTsdu(hex('01 00 19 00')).map((s) => s.type)).toEqual(['GT', 'AI']);
    expect(decodeTsdu(hex('1a 00')).map((s) => s.type)).toEqual(['AA']);
    expect(decodeTsdu(hex('02 00 1a 00')).map((s) => s.type)).toEqual(['PT', 'AIA']);
  });

  it('SI 41 is MAP with Sync Type bit 1, AE without; SI 42 is MAA unless an AEA is awaited', () => {
    expect(decodeTsdu(hex('01 00 29 06 0f 01 01 2a 01 31'))[1]!.type).toBe('MAP');
    expect(decodeTsdu(hex('01 00 29 03 2a 01 31'))[1]!.type).toBe('AE');
    expect(decodeTsdu(hex('01 00 29 06 0f 01 00 2a 01 31'))[1]).toEqual({ type: 'AE', syncType: 0, serial: 1 });
    expect(decodeTsdu(hex('01 00 2a 03 2a 01 31'))[1]!.type).toBe('MAA');
    expect(decodeTsdu(hex('01 00 2a 03 2a 01 31'), { si42: 'AEA' })[1]!.type).toBe('AEA');
  });

  it('tolerates a category 2 SPDU alone when its SI is not shared', () => {
    expect(decodeTsdu(hex('31 03 2a 01 35'))).toEqual([{ type: 'MIP', serial: 5 }]);
  });
});

describe('refusals', () => {
  const cases: [string, string, string, RegExp?][] = [
    ['empty TSDU', '', 'ERR_MALFORMED_FRAME'],
    ['unknown SI', '63 00', 'ERR_UNKNOWN_FRAME_TYPE'],
    ['CDO (v2 overflow) is not spoken', '0f 00', 'ERR_UNKNOWN_FRAME_TYPE', /CONNECT DATA OVERFLOW/],
    ['OA is not spoken', '10 00', 'ERR_UNKNOWN_FRAME_TYPE', /OVERFLOW ACCEPT/],
    ['unknown SI after GT', '01 00 63 00', 'ERR_UNKNOWN_FRAME_TYPE'],
    ['LI missing', '09', 'ERR_MALFORMED_FRAME'],
    ['parameter field past the TSDU', '09 05 c1 00', 'ERR_MALFORMED_FRAME'],
    ['parameter past its field', '09 02 c1 05 00', 'ERR_MALFORMED_FRAME'],
    ['parameter not allowed', '09 03 2a 01 31', 'ERR_MALFORMED_FRAME', /may not carry parameter 42/],
    ['repeated parameter', '09 06 11 01 01 11 01 01', 'ERR_MALFORMED_FRAME', /repeats/],
    ['Data Overflow', '0d 03 3c 01 00', 'ERR_MALFORMED_FRAME', /Data Overflow/],
    ['symmetric synchronization', '0d 05 05 03 37 01 31', 'ERR_MALFORMED_FRAME', /symmetric/],
    ['one-octet value of two octets', '01 04 10 02 01 01', 'ERR_MALFORMED_FRAME'],
    ['requirements of one octet', '0d 03 14 01 02', 'ERR_MALFORMED_FRAME'],
    ['serial number with a letter', '01 00 31 03 2a 01 41', 'ERR_MALFORMED_FRAME', /non-digit/],
    ['serial number of seven digits', '01 00 31 09 2a 07 31 32 33 34 35 36 37', 'ERR_MALFORMED_FRAME'],
    ['empty serial number', '01 00 31 02 2a 00', 'ERR_MALFORMED_FRAME'],
    ['activity identifier of seven octets', '01 00 2d 09 29 07 01 02 03 04 05 06 07', 'ERR_MALFORMED_FRAME'],
    ['session selector of 17 octets', `0d 13 33 11 ${'00 '.repeat(17)}`, 'ERR_MALFORMED_FRAME'],
    ['bytes after a category 1 SPDU', '09 00 01 00', 'ERR_MALFORMED_FRAME'],
    ['extended concatenation', '01 00 31 03 2a 01 31 32 03 2a 01 31', 'ERR_MALFORMED_FRAME', /extended concatenation/],
    ['a category 1 SPDU after GT', '01 00 09 00', 'ERR_UNKNOWN_FRAME_TYPE'],
    ['both 193 and 194 in CN', '0d 04 c1 00 c2 00', 'ERR_MALFORMED_FRAME'],
    ['RF reason field empty', '0c 02 32 00', 'ERR_MALFORMED_FRAME'],
    ['AI reason of two octets', '01 00 19 04 32 02 00 00', 'ERR_MALFORMED_FRAME'],
    ['a PGI inside PGI 5', '0d 04 05 02 01 00', 'ERR_MALFORMED_FRAME'],
    ['a PI 42 twice in PGI 33', '01 00 1d 08 21 06 2a 01 31 2a 01 31', 'ERR_MALFORMED_FRAME'],
  ];
  it.each(cases)('%s', (_name, bytesHex, code, text) => {
    protocolError(() => decodeTsdu(hex(bytesHex)), code, text);
  });

  it('the encoder refuses fields an SPDU does not have and values out of range', () => {
    const bad: Spdu[] = [
      { type: 'GT', serial: 1 },
      { type: 'AA', userData: bytes(1) },
      { type: 'FN', userInfo: bytes(1) },
      { type: 'MIP', serial: 1_000_000 },
      { type: 'MIP', serial: -1 },
      { type: 'AS', activityId: new Uint8Array(7) },
      { type: 'AS', activityId: new Uint8Array(0) },
      { type: 'CN', callingSsel: new Uint8Array(17) },
      { type: 'GT', tokens: 256 },
      { type: 'CN', requirements: 0x10000 },
      { type: 'CN', userData: bytes(1), extendedUserData: bytes(2) },
      { type: 'RF', userData: bytes(1) },
    ];
    for (const s of bad) expect(() => encodeSpdu(s), JSON.stringify(s)).toThrow(SessionError);
    expect(() => encodeTsdu([{ type: 'DT', userInfo: bytes() }])).toThrow(/basic concatenation/);
    expect(() => encodeTsdu([{ type: 'FN' }, { type: 'DT' }])).toThrow(/basic concatenation/);
    expect(() => encodeTsdu([{ type: 'GT' }, { type: 'GT' }])).toThrow(/basic concatenation/);
  });
});

describe('SPDU table material', () => {
  it('keeps each TSDU under its own rules (sanity of the table itself)', () => {
    for (const s of SPDU_TABLE) expect(() => encodeSpdu(s)).not.toThrow();
  });
});
