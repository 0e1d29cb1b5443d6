// Fuzz: whatever octets arrive, in whatever chunks, PptpDecoder yields messages or throws a
// PptpProtocolError with one of the three wire codes, nothing else. Every message it yields
// re-encodes to the octets it came from, except where RFC 2637 lets a receiver ignore them
// (reserved fields, text after the first NUL), and decodes again to the same message.
//
// Runs: COLLOQUY_FUZZ_RUNS, else 20k per property. Replay with COLLOQUY_SEED=<seed>.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, LAYOUTS, PptpDecoder, PptpProtocolError, type PptpMessage } from '../../src/pptp/index.js';
import { concat, FIXTURES, hex } from './cases.js';

const RUNS = Number(process.env.COLLOQUY_FUZZ_RUNS ?? 20_000);
const SEED = process.env.COLLOQUY_SEED === undefined ? undefined : Number(process.env.COLLOQUY_SEED);
const PARAMS: fc.Parameters<unknown> = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };
const TIMEOUT = 60_000 + RUNS;
const WIRE_CODES = ['ERR_MALFORMED_FRAME', 'ERR_UNKNOWN_FRAME_TYPE', 'ERR_FRAME_TOO_LARGE'];
const VALID = FIXTURES.map((f) => f.wire);

/** Offsets of `wire` (one message of `type`) whose value a receiver may ignore. */
function ignorable(type: PptpMessage['type'], wire: Uint8Array): Set<number> {
  const skip = new Set([10, 11]); // Reserved0
  let at = 12;
  for (const [, kind] of LAYOUTS[type].fields) {
    const size = { u8: 1, u16: 2, u32: 4, reserved8: 1, reserved16: 2, text64: 64, text128: 128 }[kind];
    if (kind === 'reserved8' || kind === 'reserved16') for (let i = 0; i < size; i++) skip.add(at + i);
    if (kind === 'text64' || kind === 'text128') {
      const nul = wire.subarray(at, at + size).indexOf(0);
      if (nul >= 0) for (let i = nul; i < size; i++) skip.add(at + i);
    }
    at += size;
  }
  return skip;
}

function check(input: Uint8Array, cuts: readonly number[]): number {
  const decoder = new PptpDecoder();
  const messages: PptpMessage[] = [];
  let failure: unknown;
  try {
    for (let at = 0, i = 0; at < input.length; i++) {
      const end = Math.min(input.length, at + cuts[i % cuts.length]!);
      decoder.push(input.subarray(at, end));
      at = end;
      for (let m = decoder.next(); m !== undefined; m = decoder.next()) messages.push(m);
    }
  } catch (error) {
    failure = error;
  }
  if (failure !== undefined) {
    if (!(failure instanceof PptpProtocolError)) throw failure;
    expect(WIRE_CODES).toContain(failure.code);
  }
  let at = 0;
  for (const m of messages) {
    const again = encodeMessage(m);
    const original = input.subarray(at, at + again.length);
    const skip = ignorable(m.type, original);
    for (let i = 0; i < again.length; i++) {
      if (!skip.has(i) && again[i] !== original[i]) throw new Error(`${m.type}: re-encoding differs at octet ${at + i}`);
    }
    expect(decodeMessage(again)).toEqual(m);
    at += again.length;
  }
  if (failure === undefined && at !== input.length - decoder.bufferedBytes) throw new Error('octets lost');
  return messages.length;
}

const cuts = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 });

/** A plausible header (right cookie, a known or near type, a right or near length) then noise. */
const noise = fc.tuple(
  fc.constantFrom(...Object.values(LAYOUTS).map((l) => l.length), 0, 11, 12, 221, 0x1a2b),
  fc.constantFrom(1, 1, 1, 2, 0),
  fc.constantFrom(0x1a2b3c4d, 0x1a2b3c4d, 0x1a2b3c4d, 0x4d3c2b1a),
  fc.integer({ min: 0, max: 17 }),
  fc.uint8Array({ maxLength: 230 }),
  fc.boolean(),
).map(([length, messageType, magic, control, body, framed]) => {
  if (!framed) return body;
  const h = hex(`${length.toString(16).padStart(4, '0')} ${messageType.toString(16).padStart(4, '0')} ${magic.toString(16).padStart(8, '0')} ${control.toString(16).padStart(4, '0')} 0000`);
  return concat([h, body]);
});

type Mutation = [kind: 0 | 1 | 2 | 3, at: number, value: number];
const mutation = fc.tuple(fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3), fc.nat(), fc.integer({ min: 0, max: 255 })) as fc.Arbitrary<Mutation>;

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = input;
  for (const [kind, at, value] of mutations) {
    const i = out.length === 0 ? 0 : at % out.length;
    if (kind === 0) {
      out = out.slice();
      out[i] = out[i]! ^ (1 << (value & 7));
    } else if (kind === 1) {
      out = out.slice();
      out[i] = value;
    } else if (kind === 2) {
      out = out.subarray(0, i);
    } else {
      out = concat([out.subarray(0, i), Uint8Array.of(value), out.subarray(i)]);
    }
  }
  return out;
}

const mutated = fc.tuple(
  fc.array(fc.integer({ min: 0, max: VALID.length - 1 }), { minLength: 1, maxLength: 3 }),
  fc.array(mutation, { maxLength: 3 }),
).map(([picks, mutations]) => mutate(concat(picks.map((i) => VALID[i]!)), mutations));

describe('fuzz: PptpDecoder', () => {
  it(`arbitrary octets give messages or a PptpProtocolError (${RUNS} runs)`, () => {
    let decoded = 0;
    fc.assert(fc.property(noise, cuts, (input, c) => {
      decoded += check(input, c);
    }), PARAMS);
    expect(decoded).toBeGreaterThan(0);
  }, TIMEOUT);

  it(`mutated valid streams give messages or a PptpProtocolError (${RUNS} runs)`, () => {
    let decoded = 0;
    fc.assert(fc.property(mutated, cuts, (input, c) => {
      decoded += check(input, c);
    }), PARAMS);
    expect(decoded).toBeGreaterThan(0);
  }, TIMEOUT);
});
