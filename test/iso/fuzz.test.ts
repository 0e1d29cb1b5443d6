// Fuzz: whatever bytes arrive, in whatever chunks, the ISO receive path (TpktDecoder ->
// TsduAssembler -> decodeTsdu) yields TPDUs and SPDUs or throws a ProtocolError with one of the
// three wire codes, nothing else; and every SPDU it yields re-encodes and decodes to itself
// (ISO_FUZZ_CODEC in cases.ts). The runs are the codec harness's (test/support/codec-harness.ts).
//
// Runs: COLLOQUY_FUZZ_RUNS, else 50k on CI and 20k locally. Replay with COLLOQUY_SEED=<seed>.

import fc from 'fast-check';
import { describe } from 'vitest';
import { encodeTsdu } from '../../src/iso/spdu.js';
import { encodeDataTpkts } from '../../src/iso/tpkt-cotp.js';
import { fuzzCases, fuzzRuns, mutatedStreams } from '../support/codec-harness.js';
import { concat, COTP, ISO_FUZZ_CODEC, LIBIEC61850, LIBIEC61850_AC, TSDU_TABLE } from './cases.js';

const VALID: Uint8Array[] = [
  LIBIEC61850.cr,
  LIBIEC61850.cc,
  LIBIEC61850.cn,
  LIBIEC61850_AC,
  LIBIEC61850.concludeRequest,
  LIBIEC61850.fn,
  LIBIEC61850.dn,
  LIBIEC61850.ab,
  COTP.dr,
  COTP.er,
  ...TSDU_TABLE.filter((t) => !t.some((s) => s.type === 'AEA')).map((t) => encodeDataTpkts(encodeTsdu(t), 128)),
];

const SIS = [
  0, 1, 2, 5, 7, 8, 9, 10, 12, 13, 14, 15, 21, 22, 25, 26, 29, 33, 34, 41, 42, 45, 48, 49, 50, 53, 57, 58, 61, 62, 99,
];
const PIS = [
  1, 5, 9, 10, 11, 12, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 33, 41, 42, 46, 49, 50, 51, 52, 53, 60, 193, 194,
  255,
];

/** A random parameter: a known code, a plausible length, random value octets. */
const param = fc
  .tuple(fc.constantFrom(...PIS), fc.uint8Array({ maxLength: 8 }), fc.boolean())
  .map(([code, value, digits]) =>
    concat([Uint8Array.of(code, value.length), digits ? value.map((b) => 0x30 + (b % 10)) : value]),
  );
/** A random SPDU: a known SI and a parameter field of random parameters (or noise). */
const spdu = fc
  .tuple(fc.constantFrom(...SIS), fc.array(param, { maxLength: 4 }), fc.uint8Array({ maxLength: 6 }), fc.boolean())
  .map(([si, params, tail, withTail]) => {
    const field = concat(params);
    return concat([Uint8Array.of(si, field.length & 0xff), field, withTail ? tail : new Uint8Array(0)]);
  });
/** One or two SPDUs in DT TPKTs cut at a random TPDU size. */
const framed = fc
  .tuple(fc.array(spdu, { minLength: 1, maxLength: 2 }), fc.constantFrom(128, 256, 8192))
  .map(([s, size]) => encodeDataTpkts(concat(s), size));

describe('fuzz: the ISO receive path', () => {
  fuzzCases(ISO_FUZZ_CODEC, {
    runs: fuzzRuns(20_000, 50_000),
    maxCut: 23,
    properties: [
      {
        name: 'random SPDUs in DT TPKTs give SPDUs or a coded ProtocolError',
        input: fc.array(framed, { minLength: 1, maxLength: 3 }).map(concat),
        decodes: true,
      },
      {
        name: 'mutated valid streams give TPDUs/SPDUs or a coded ProtocolError',
        input: mutatedStreams(VALID, 4),
        decodes: true,
      },
      {
        name: 'arbitrary bytes give a coded ProtocolError or nothing',
        input: fc.uint8Array({ maxLength: 64 }).map((b) => concat([Uint8Array.of(3, 0), b])),
      },
    ],
  });
});
