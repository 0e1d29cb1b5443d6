// Fuzz: whatever bytes arrive, in whatever chunks, FrameDecoder yields frames or throws a
// ProtocolError with a documented code, nothing else; and every frame it yields re-encodes to
// exactly the bytes it came from (the encoding is canonical).
//
// Runs: COLLOQUY_FUZZ_RUNS, else 100k on CI and 20k locally (`npm run fuzz` runs 1M).
// Replay a failure with COLLOQUY_SEED=<seed printed by fast-check>.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../../src/engine/codec/index.js';
import { ENGINE_ERROR_CODES, ProtocolError } from '../../../src/engine/errors.js';
import { FrameType, type Frame } from '../../../src/engine/frames.js';
import { concat, EDGES, TABLE } from './cases.js';

const RUNS = Number(process.env.COLLOQUY_FUZZ_RUNS ?? (process.env.CI ? 100_000 : 20_000));
const SEED = process.env.COLLOQUY_SEED === undefined ? undefined : Number(process.env.COLLOQUY_SEED);
const PARAMS: fc.Parameters<unknown> = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };
// ~5 µs per run on a laptop core; leave a wide margin for slow CI machines and 1M-run fuzzing.
const TIMEOUT = 60_000 + RUNS;

const CODES = Object.values(FrameType);
const VALID = [...TABLE, ...EDGES.filter((f) => frameBytes(f) < 600)].map((f) => encodeFrame(f));

function frameBytes(f: Frame): number {
  return encodeFrame(f).length;
}

/** Feeds `input` cut by cycling through `cuts`; checks the invariant; returns frames decoded. */
function check(input: Uint8Array, cuts: readonly number[]): number {
  const decoder = new FrameDecoder({ maxFrameSize: 1024 });
  const frames: Frame[] = [];
  let failure: unknown;
  try {
    for (let at = 0, i = 0; at < input.length; i++) {
      const end = Math.min(input.length, at + cuts[i % cuts.length]!);
      decoder.push(input.subarray(at, end));
      at = end;
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) frames.push(f);
    }
  } catch (error) {
    failure = error;
  }
  if (failure !== undefined) {
    if (!(failure instanceof ProtocolError) || !(failure.code in ENGINE_ERROR_CODES)) throw failure;
    expect(['ERR_MALFORMED_FRAME', 'ERR_UNKNOWN_FRAME_TYPE', 'ERR_FRAME_TOO_LARGE']).toContain(failure.code);
  }
  // Canonical: the frames re-encode to exactly the prefix of the input they came from.
  const again = concat(frames.map((f) => encodeFrame(f)));
  if (failure === undefined && again.length !== input.length - decoder.bufferedBytes) {
    throw new Error(`consumed ${again.length} bytes but ${decoder.bufferedBytes} of ${input.length} are buffered`);
  }
  for (let i = 0; i < again.length; i++) {
    if (again[i] !== input[i]) throw new Error(`re-encoding differs at byte ${i}`);
  }
  return frames.length;
}

// Cheap arbitraries: short byte strings; cuts are 1..17 bytes so chunk edges land everywhere.
const cuts = fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 6 });

/** Random bytes, mostly starting with a known type and a small length so that bodies get parsed. */
const noise = fc.tuple(
  fc.constantFrom(...CODES, 0x00, 0xff),
  fc.integer({ min: 0, max: 40 }),
  fc.uint8Array({ maxLength: 48 }),
  fc.boolean(),
).map(([code, length, body, framed]) => (framed ? concat([Uint8Array.of(code, length), body]) : body));

type Mutation = [kind: 0 | 1 | 2 | 3, at: number, value: number];
const mutation = fc.tuple(
  fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3),
  fc.nat(),
  fc.integer({ min: 0, max: 255 }),
) as fc.Arbitrary<Mutation>;

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = input;
  for (const [kind, at, value] of mutations) {
    const i = out.length === 0 ? 0 : at % out.length;
    if (kind === 0) {
      out = out.slice();
      out[i] = out[i]! ^ (1 << (value & 7)); // flip a bit
    } else if (kind === 1) {
      out = out.slice();
      out[i] = value; // replace a byte
    } else if (kind === 2) {
      out = out.subarray(0, i); // truncate
    } else {
      out = concat([out.subarray(0, i), Uint8Array.of(value), out.subarray(i)]); // insert
    }
  }
  return out;
}

/** One to four valid frames back to back, then up to three mutations. */
const mutated = fc.tuple(
  fc.array(fc.integer({ min: 0, max: VALID.length - 1 }), { minLength: 1, maxLength: 4 }),
  fc.array(mutation, { maxLength: 3 }),
).map(([picks, mutations]) => mutate(concat(picks.map((i) => VALID[i]!)), mutations));

describe('fuzz: FrameDecoder', () => {
  it(`arbitrary bytes give frames or a ProtocolError (${RUNS} runs)`, () => {
    fc.assert(fc.property(noise, cuts, (input, c) => {
      check(input, c);
    }), PARAMS);
  }, TIMEOUT);

  it(`mutated valid streams give frames or a ProtocolError, canonically (${RUNS} runs)`, () => {
    let decoded = 0;
    fc.assert(fc.property(mutated, cuts, (input, c) => {
      decoded += check(input, c);
    }), PARAMS);
    expect(decoded).toBeGreaterThan(0);
  }, TIMEOUT);
});
