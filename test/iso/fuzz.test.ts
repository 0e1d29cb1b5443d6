// Fuzz: whatever bytes arrive, in whatever chunks, the ISO receive path (TpktDecoder ->
// TsduAssembler -> decodeTsdu) yields TPDUs and SPDUs or throws a ProtocolError with one of the
// three wire codes, nothing else; and every SPDU it yields re-encodes and decodes to itself.
//
// Runs: COLLOQUY_FUZZ_RUNS, else 50k on CI and 20k locally. Replay with COLLOQUY_SEED=<seed>.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/engine/errors.js';
import { CATEGORY } from '../../src/iso/spdu-codes.js';
import { decodeTsdu, encodeTsdu } from '../../src/iso/spdu.js';
import type { Spdu } from '../../src/iso/spdu.js';
import { encodeDataTpkts } from '../../src/iso/tpkt-cotp.js';
import { TpktDecoder, TsduAssembler } from '../../src/iso/tpkt-decoder.js';
import { concat, COTP, LIBIEC61850, LIBIEC61850_AC, si42Of, TSDU_TABLE } from './cases.js';

const RUNS = Number(process.env.COLLOQUY_FUZZ_RUNS ?? (process.env.CI ? 50_000 : 20_000));
const SEED = process.env.COLLOQUY_SEED === undefined ? undefined : Number(process.env.COLLOQUY_SEED);
const PARAMS: fc.Parameters<unknown> = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };
const TIMEOUT = 60_000 + RUNS;
const CODES = ['ERR_MALFORMED_FRAME', 'ERR_UNKNOWN_FRAME_TYPE', 'ERR_FRAME_TOO_LARGE'];

const VALID: Uint8Array[] = [
  LIBIEC61850.cr, LIBIEC61850.cc, LIBIEC61850.cn, LIBIEC61850_AC, LIBIEC61850.concludeRequest, LIBIEC61850.fn, LIBIEC61850.dn, LIBIEC61850.ab,
  COTP.dr, COTP.er,
  ...TSDU_TABLE.filter((t) => !t.some((s) => s.type === 'AEA')).map((t) => encodeDataTpkts(encodeTsdu(t), 128)),
];

function expectCoded(e: unknown): void {
  if (!(e instanceof ProtocolError) || !CODES.includes(e.code)) throw e;
}

/** Decoded SPDUs re-encode (a lone category 2 SPDU behind a GT) and decode to themselves. */
function checkSpdus(spdus: Spdu[]): void {
  const canonical = spdus.length === 1 && CATEGORY[spdus[0]!.type] === 2 ? [{ type: 'GT' } as Spdu, ...spdus] : spdus;
  const si42 = si42Of(spdus);
  expect(decodeTsdu(encodeTsdu(canonical), { si42 })).toEqual(canonical);
}

/** Feeds `input` cut by cycling through `cuts`; returns how many SPDUs were decoded. */
function run(input: Uint8Array, cuts: readonly number[], si42: 'MAA' | 'AEA'): number {
  const tpkt = new TpktDecoder();
  const tsdus = new TsduAssembler(4096);
  let spdus = 0;
  try {
    for (let at = 0, i = 0; at < input.length; i++) {
      const end = Math.min(input.length, at + cuts[i % cuts.length]!);
      tpkt.push(input.subarray(at, end));
      at = end;
      for (let t = tpkt.next(); t; t = tpkt.next()) {
        if (t.type !== 'DT') continue;
        const tsdu = tsdus.push(t);
        if (!tsdu) continue;
        let decoded: Spdu[];
        try {
          decoded = decodeTsdu(tsdu, { si42 });
        } catch (e) {
          expectCoded(e);
          continue; // a bad TSDU leaves the TPKT stream in step
        }
        checkSpdus(decoded);
        spdus += decoded.length;
      }
    }
  } catch (e) {
    expectCoded(e);
  }
  return spdus;
}

const cuts = fc.array(fc.integer({ min: 1, max: 23 }), { minLength: 1, maxLength: 6 });
const si42 = fc.constantFrom<'MAA' | 'AEA'>('MAA', 'AEA');
const SIS = [0, 1, 2, 5, 7, 8, 9, 10, 12, 13, 14, 15, 21, 22, 25, 26, 29, 33, 34, 41, 42, 45, 48, 49, 50, 53, 57, 58, 61, 62, 99];
const PIS = [1, 5, 9, 10, 11, 12, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 33, 41, 42, 46, 49, 50, 51, 52, 53, 60, 193, 194, 255];

/** A random parameter: a known code, a plausible length, random value octets. */
const param = fc.tuple(fc.constantFrom(...PIS), fc.uint8Array({ maxLength: 8 }), fc.boolean())
  .map(([code, value, digits]) => concat([Uint8Array.of(code, value.length), digits ? value.map((b) => 0x30 + (b % 10)) : value]));
/** A random SPDU: a known SI and a parameter field of random parameters (or noise). */
const spdu = fc.tuple(fc.constantFrom(...SIS), fc.array(param, { maxLength: 4 }), fc.uint8Array({ maxLength: 6 }), fc.boolean())
  .map(([si, params, tail, withTail]) => {
    const field = concat(params);
    return concat([Uint8Array.of(si, field.length & 0xff), field, withTail ? tail : new Uint8Array(0)]);
  });
/** One or two SPDUs in DT TPKTs cut at a random TPDU size. */
const framed = fc.tuple(fc.array(spdu, { minLength: 1, maxLength: 2 }), fc.constantFrom(128, 256, 8192))
  .map(([s, size]) => encodeDataTpkts(concat(s), size));

type Mutation = [kind: 0 | 1 | 2 | 3, at: number, value: number];
const mutation = fc.tuple(fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3), fc.nat(), fc.integer({ min: 0, max: 255 })) as fc.Arbitrary<Mutation>;

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = input;
  for (const [kind, at, value] of mutations) {
    const i = out.length === 0 ? 0 : at % out.length;
    if (kind === 0) { out = out.slice(); out[i] = out[i]! ^ (1 << (value & 7)); }
    else if (kind === 1) { out = out.slice(); out[i] = value; }
    else if (kind === 2) out = out.subarray(0, i);
    else out = concat([out.subarray(0, i), Uint8Array.of(value), out.subarray(i)]);
  }
  return out;
}

const mutated = fc.tuple(fc.array(fc.integer({ min: 0, max: VALID.length - 1 }), { minLength: 1, maxLength: 4 }), fc.array(mutation, { maxLength: 3 }))
  .map(([picks, m]) => mutate(concat(picks.map((i) => VALID[i]!)), m));

describe('fuzz: the ISO receive path', () => {
  it(`random SPDUs in DT TPKTs give SPDUs or a coded ProtocolError (${RUNS} runs)`, () => {
    let decoded = 0;
    fc.assert(fc.property(fc.array(framed, { minLength: 1, maxLength: 3 }), cuts, si42, (parts, c, s) => {
      decoded += run(concat(parts), c, s);
    }), PARAMS);
    expect(decoded).toBeGreaterThan(0);
  }, TIMEOUT);

  it(`mutated valid streams give TPDUs/SPDUs or a coded ProtocolError (${RUNS} runs)`, () => {
    let decoded = 0;
    fc.assert(fc.property(mutated, cuts, si42, (input, c, s) => {
      decoded += run(input, c, s);
    }), PARAMS);
    expect(decoded).toBeGreaterThan(0);
  }, TIMEOUT);

  it(`arbitrary bytes give a coded ProtocolError or nothing (${RUNS} runs)`, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), cuts, (input, c) => {
      run(concat([Uint8Array.of(3, 0), input]), c, 'MAA');
    }), PARAMS);
  }, TIMEOUT);
});
