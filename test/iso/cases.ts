// Shared ISO test material: byte fixtures from a real libiec61850 exchange (the facts file §2.2,
// captured with dumpcap on loopback), and a table with every SPDU this profile speaks, each in
// the canonical form the encoder writes (X.225 parameter order, minimal lengths).

import { parseHex } from '../../src/iso/octets.js';
import fc from 'fast-check';
import { expect } from 'vitest';
import { ProtocolError } from '../../src/engine/errors.js';
import { CATEGORY } from '../../src/iso/spdu-codes.js';
import { decodeTsdu, encodeTsdu, type Spdu } from '../../src/iso/spdu.js';
import type { Tpdu } from '../../src/iso/tpkt-cotp.js';
import { TpktDecoder, TsduAssembler } from '../../src/iso/tpkt-decoder.js';
import { concat } from '../support/bytes.js';
import { WIRE_CODES, type Codec, type StreamDecoder } from '../support/codec-harness.js';

export const hex = (s: string): Uint8Array => parseHex(s);
export const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

export { concat } from '../support/bytes.js';

/** libiec61850 client <-> server_example_basic_io, TPKT by TPKT (facts file §2.2). */
export const LIBIEC61850 = {
  cr: hex('03 00 00 16 11 e0 00 00 00 01 00 c0 01 0d c2 02 00 01 c1 02 00 01'),
  cc: hex('03 00 00 16 11 d0 00 01 00 01 00 c0 01 0d c2 02 00 01 c1 02 00 01'),
  cn: hex(`03 00 00 bb 02 f0 80 0d b2 05 06 13 01 00 16 01 02 14 02 00 02 33 02 00 01 34 02 00 01 c1 9c
    31 81 99 a0 03 80 01 01 a2 81 91 81 04 00 00 00 01 82 04 00 00 00 01 a4 23 30 0f 02 01 01 06 04 52
    01 00 01 30 04 06 02 51 01 30 10 02 01 03 06 05 28 ca 22 02 01 30 04 06 02 51 01 61 5e 30 5c 02
    01 01 a0 57 60 55 a1 07 06 05 28 ca 22 02 03 a2 07 06 05 29 01 87 67 01 a3 03 02 01 0c a6 06 06
    04 29 01 87 67 a7 03 02 01 0c be 2f 28 2d 02 01 03 a0 28 a8 26 80 03 00 fd e8 81 01 05 82 01 05
    83 01 0a a4 16 80 01 01 81 03 05 f1 00 82 0c 03 ee 1c 00 00 04 08 00 00 79 ef 18`),
  /** The AC header as captured (its 116 octets of CPA-PPDU are not in the facts file; ours are a stand-in). */
  acHeader: hex('03 00 00 8f 02 f0 80 0e 86 05 06 13 01 00 16 01 02 14 02 00 02 34 02 00 01 c1 74'),
  /** The read response's TSDU (the capture's TPKT/COTP header is not in the facts file). */
  readResponseTsdu: hex('01 00 01 00 61 17 30 15 02 01 03 a0 10 a1 0e 02 01 01 a4 09 a1 07 87 05 08 3f 64 26 2b'),
  concludeRequest: hex('03 00 00 16 02 f0 80 01 00 01 00 61 09 30 07 02 01 03 a0 02 8b 00'),
  fn: hex('03 00 00 19 02 f0 80 09 10 c1 0e 61 0c 30 0a 02 01 01 a0 05 62 03 80 01 00'),
  dn: hex('03 00 00 16 02 f0 80 0a 0d c1 0b 61 09 30 07 02 01 01 a0 02 63 00'),
  ab: hex('03 00 00 1e 02 f0 80 19 15 11 01 0b c1 10 a0 0e 61 0c 30 0a 02 01 01 a0 05 64 03 80 01 00'),
};

/** The AC with a 116-octet stand-in for the CPA-PPDU, so that it is one whole TPKT. */
export const LIBIEC61850_AC = concat([LIBIEC61850.acHeader, new Uint8Array(116).fill(0x31)]);

/** Other COTP TPDUs seen on the wire (facts file §3.3). */
export const COTP = {
  dr: hex('03 00 00 0b 06 80 00 01 00 02 80'),
  er: hex('03 00 00 0d 08 70 00 01 02 c1 02 02 f0'),
  /** iec61850bean's close: DR with reason 0. */
  drBean: hex('03 00 00 0b 06 80 00 01 00 01 00'),
};

const ud = ascii('user data');
const ref = {
  called: ascii('called'),
  calling: ascii('calling'),
  common: ascii('common'),
  additional: bytes(1, 2, 3, 4),
};

/** One of every SPDU (category 2 ones are sent behind an empty GT; see TSDU_TABLE). */
export const SPDU_TABLE: readonly Spdu[] = [
  {
    type: 'CN',
    reference: { calling: ascii('me') },
    connectAccept: {
      protocolOptions: 0,
      tsduMaxSize: [0, 4096],
      versions: 3,
      initialSerial: 123456,
      tokenSetting: 0x95,
    },
    requirements: 0x0fff,
    callingSsel: bytes(0, 1),
    calledSsel: bytes(0, 2),
    userData: ud,
  },
  { type: 'CN', connectAccept: { versions: 2 }, requirements: 0x0002, extendedUserData: new Uint8Array(600).fill(7) },
  { type: 'CN' },
  {
    type: 'AC',
    reference: { called: ascii('you') },
    connectAccept: { protocolOptions: 0, versions: 2, initialSerial: 0, tokenSetting: 0x55 },
    tokens: 0x41,
    requirements: 0x0349,
    callingSsel: bytes(0, 1),
    calledSsel: bytes(0, 1),
    enclosure: 3,
    userData: ud,
  },
  {
    type: 'RF',
    reference: ref,
    transportDisconnect: 1,
    requirements: 2,
    versions: 2,
    enclosure: 3,
    reason: 2,
    userData: ud,
  },
  { type: 'RF', reason: 129 },
  { type: 'FN', transportDisconnect: 1, enclosure: 3, userData: ud },
  { type: 'FN' },
  { type: 'DN', userData: new Uint8Array(0) },
  { type: 'NF', enclosure: 3, userData: ud },
  { type: 'AB', transportDisconnect: 0x0b, reflect: bytes(1, 2, 3), enclosure: 3, userData: ud },
  { type: 'AA' },
  { type: 'GT', tokens: 0x55 },
  { type: 'GT' },
  { type: 'PT', tokens: 0x01, enclosure: 3, userData: ud },
  { type: 'EX', userInfo: ascii('urgent') },
  { type: 'TD', enclosure: 3, userInfo: ascii('typed') },
  { type: 'GTC' },
  { type: 'GTA' },
  { type: 'PR', prepareType: 2 },
];

/** Category 2 SPDUs, each of which travels behind a GT (or a PT). */
export const CATEGORY2_TABLE: readonly Spdu[] = [
  { type: 'DT', enclosure: 1, userInfo: ascii('first part') },
  { type: 'DT', userInfo: new Uint8Array(0) },
  { type: 'CD', enclosure: 3, userData: ud },
  { type: 'CDA', userData: ud },
  { type: 'MIP', syncType: 1, serial: 5, enclosure: 3, userData: ud },
  { type: 'MIP', serial: 999999 },
  { type: 'MIA', serial: 5, enclosure: 3, miaUserData: ud },
  { type: 'MIA', serial: 0, userData: ud },
  { type: 'MAP', syncType: 1, serial: 6, userData: ud },
  { type: 'MAA', serial: 6, userData: ud },
  { type: 'RS', tokenSetting: 0x11, resyncType: 1, serial: 7, enclosure: 3, userData: ud },
  { type: 'RA', tokenSetting: 0x11, serial: 7, userData: ud },
  { type: 'AS', activityId: ascii('act1'), enclosure: 3, userData: ud },
  { type: 'AR', linking: { ...ref, oldActivityId: ascii('old'), serial: 41 }, activityId: ascii('new'), userData: ud },
  { type: 'AI', reason: 3 },
  { type: 'AIA' },
  { type: 'AD', reason: 128 },
  { type: 'ADA' },
  { type: 'AE', serial: 9, userData: ud },
  { type: 'AE', syncType: 0, serial: 10 },
  { type: 'AEA', serial: 9, userData: ud },
  { type: 'ER', reflect: bytes(9, 8, 7) },
  { type: 'ED', reason: 1, enclosure: 3, userData: ud },
];

/** TSDUs: every SPDU in a TSDU of its own kind (category 2 behind GT; a few behind PT or a GT with tokens). */
export const TSDU_TABLE: readonly Spdu[][] = [
  ...SPDU_TABLE.map((s) => [s]),
  ...CATEGORY2_TABLE.map((s) => [{ type: 'GT' } as Spdu, s]),
  [
    { type: 'GT', tokens: 0x01 },
    { type: 'DT', userInfo: ascii('data with the token') },
  ],
  [
    { type: 'PT', tokens: 0x04 },
    { type: 'MIA', serial: 3 },
  ],
];

/** What SI 42 means for each TSDU of the table (AEA needs the caller to say so). */
export function si42Of(spdus: readonly Spdu[]): 'MAA' | 'AEA' {
  return spdus.some((s) => s.type === 'AEA') ? 'AEA' : 'MAA';
}

/** True for the ISO decoders' typed errors: a ProtocolError with a wire code. */
export const isProtocolError = (error: unknown): boolean =>
  error instanceof ProtocolError && WIRE_CODES.includes(error.code);

/** TpktDecoder for the codec harness: TPKTs in, TPDUs out. */
export const TPKT_CODEC: Codec<Tpdu> = { decoder: () => new TpktDecoder(), isProtocolError };

/**
 * The ISO receive path for the codec harness: TpktDecoder -> TsduAssembler(maxTsdu) ->
 * decodeTsdu, one unit per TSDU. With `skipBadTsdu`, a TSDU that fails to decode with a typed
 * error is passed over (the TPKT stream stays in step); any other error ends the run.
 */
export function isoReceivePath(
  maxTsdu: number,
  si42: 'MAA' | 'AEA' | undefined,
  skipBadTsdu: boolean,
): StreamDecoder<Spdu[]> {
  const tpkt = new TpktDecoder();
  const tsdus = new TsduAssembler(maxTsdu);
  return {
    push: (chunk) => tpkt.push(chunk),
    next: () => {
      for (let t = tpkt.next(); t; t = tpkt.next()) {
        if (t.type !== 'DT') continue;
        const tsdu = tsdus.push(t);
        if (!tsdu) continue;
        try {
          return decodeTsdu(tsdu, si42 === undefined ? {} : { si42 });
        } catch (error) {
          if (!skipBadTsdu || !isProtocolError(error)) throw error;
        }
      }
      return undefined;
    },
    get bufferedBytes() {
      return tpkt.bufferedBytes + tsdus.bufferedBytes;
    },
  };
}

/** Decoded SPDUs re-encode (a lone category 2 SPDU behind a GT) and decode to themselves. */
function checkSpdus(spdus: Spdu[]): void {
  const canonical = spdus.length === 1 && CATEGORY[spdus[0]!.type] === 2 ? [{ type: 'GT' } as Spdu, ...spdus] : spdus;
  expect(decodeTsdu(encodeTsdu(canonical), { si42: si42Of(spdus) })).toEqual(canonical);
}

/** The receive path under fuzz: both readings of SI 42, bad TSDUs passed over, every TSDU checked. */
export const ISO_FUZZ_CODEC: Codec<Spdu[], 'MAA' | 'AEA'> = {
  decoder: (si42) => isoReceivePath(4096, si42, true),
  isProtocolError,
  verify: (_input, tsdus) => tsdus.forEach(checkSpdus),
  variants: fc.constantFrom<'MAA' | 'AEA'>('MAA', 'AEA'),
};
