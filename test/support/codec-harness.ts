// The codec harness: one set of cases that every codec here (the Colloquy frames, ISO 8327 over
// TPKT/COTP, NetBIOS, PPTP) runs through the same push/next decoder shape:
//
//   - fixtureCases: a table of hand-written octets, each encoded to and decoded from them;
//   - splitCases: a stream of known units decoded in one chunk, one octet at a time, split at
//     every position and at every pair of positions (coarsely), and pushed whole before draining;
//   - fuzzCases: whatever octets arrive (noise, and valid streams under mutation), in whatever
//     chunks, the decoder gives units or one of the codec's typed protocol errors, nothing else;
//     and what it gives passes the codec's own check (a canonical re-encoding, as a rule).
//
// Fuzz runs: COLLOQUY_FUZZ_RUNS, else the codec's own default (more on CI).
// Replay a failure with COLLOQUY_SEED=<seed printed by fast-check>.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concat, toHex } from './bytes.js';

/** The decoder shape every codec here has: push octets, pull whole units, count what is held. */
export interface StreamDecoder<T> {
  push(chunk: Uint8Array): void;
  /** The next whole unit, undefined when more octets are needed; throws on bad input. */
  next(): T | undefined;
  readonly bufferedBytes: number;
}

export interface Codec<T, V = undefined> {
  /** A fresh decoder; `variant` is one the fuzz drew from `variants` (undefined without). */
  decoder(variant: V): StreamDecoder<T>;
  /** True for the codec's typed protocol errors only (class and code). */
  isProtocolError(error: unknown): boolean;
  /** Checks the units decoded from `input`; throws when they are wrong. */
  verify?(input: Uint8Array, units: readonly T[], end: { failed: boolean; bufferedBytes: number }): void;
  /** What the fuzz draws a decoder variant from (e.g. how ISO reads SI 42). */
  variants?: fc.Arbitrary<V>;
}

/** The three codes a decoder may answer bad wire input with. */
export const WIRE_CODES: readonly string[] = ['ERR_MALFORMED_FRAME', 'ERR_UNKNOWN_FRAME_TYPE', 'ERR_FRAME_TOO_LARGE'];

/** A `verify` for a canonical encoding: the units re-encode to exactly the prefix they came from. */
export function canonical<T>(encode: (unit: T) => Uint8Array): NonNullable<Codec<T, never>['verify']> {
  return (input, units, end) => {
    const again = concat(units.map(encode));
    if (!end.failed && again.length !== input.length - end.bufferedBytes) {
      throw new Error(`consumed ${again.length} octets but ${end.bufferedBytes} of ${input.length} are buffered`);
    }
    for (let i = 0; i < again.length; i++) {
      if (again[i] !== input[i]) throw new Error(`re-encoding differs at octet ${i}`);
    }
  };
}

function drain<T>(decoder: StreamDecoder<T>, out: T[]): void {
  for (let u = decoder.next(); u !== undefined; u = decoder.next()) out.push(u);
}

/** Feeds `chunks` to a fresh decoder, draining after each; nothing may stay buffered. */
export function decodeChunks<T, V>(codec: Codec<T, V>, chunks: readonly Uint8Array[], variant?: V): T[] {
  const decoder = codec.decoder(variant as V);
  const out: T[] = [];
  for (const c of chunks) {
    decoder.push(c);
    drain(decoder, out);
  }
  expect(decoder.bufferedBytes).toBe(0);
  return out;
}

/**
 * Feeds `input` cut by cycling through `cuts` and holds the codec to its contract: units or a
 * typed protocol error, nothing else, and the units pass `verify`. Returns how many it decoded.
 */
export function decodeFuzzed<T, V>(
  codec: Codec<T, V>,
  input: Uint8Array,
  cuts: readonly number[],
  variant?: V,
): number {
  const decoder = codec.decoder(variant as V);
  const units: T[] = [];
  let failure: unknown;
  try {
    for (let at = 0, i = 0; at < input.length; i++) {
      const end = Math.min(input.length, at + cuts[i % cuts.length]!);
      decoder.push(input.subarray(at, end));
      at = end;
      drain(decoder, units);
    }
  } catch (error) {
    failure = error;
  }
  if (failure !== undefined && !codec.isProtocolError(failure)) throw failure;
  codec.verify?.(input, units, { failed: failure !== undefined, bufferedBytes: decoder.bufferedBytes });
  return units.length;
}

export interface Fixture<T> {
  name: string;
  unit: T;
  wire: Uint8Array;
}

/** Each fixture encodes to its octets and decodes from them. */
export function fixtureCases<T>(
  fixtures: readonly Fixture<T>[],
  encode: (unit: T) => Uint8Array,
  decode: (wire: Uint8Array) => T,
): void {
  describe.each(fixtures)('$name', ({ unit, wire }) => {
    it('encodes to the fixture octets', () => {
      expect(toHex(encode(unit))).toBe(toHex(wire));
    });
    it('decodes from the fixture octets', () => {
      expect(decode(wire)).toEqual(unit);
    });
  });
}

export interface SplitOptions<V> {
  /** Steps of the coarse every-pair-of-positions walk: [first cut, second cut]. */
  pairSteps: readonly [number, number];
  variant?: V;
}

/** `stream` gives `expected` however it is cut. */
export function splitCases<T, V>(
  codec: Codec<T, V>,
  stream: Uint8Array,
  expected: readonly T[],
  options: SplitOptions<V>,
): void {
  const feed = (chunks: readonly Uint8Array[]): T[] => decodeChunks(codec, chunks, options.variant);
  const [stepA, stepB] = options.pairSteps;

  it('one chunk', () => {
    expect(feed([stream])).toEqual(expected);
  });

  it('one octet at a time', () => {
    expect(feed(Array.from(stream, (b) => Uint8Array.of(b)))).toEqual(expected);
  });

  it('split at every position', () => {
    for (let at = 0; at <= stream.length; at++) {
      expect(feed([stream.subarray(0, at), stream.subarray(at)])).toEqual(expected);
    }
  });

  it('split at every pair of positions (coarse)', () => {
    for (let a = 0; a <= stream.length; a += stepA) {
      for (let b = a; b <= stream.length; b += stepB) {
        expect(feed([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)])).toEqual(expected);
      }
    }
  });

  it('all octets pushed before draining', () => {
    const decoder = codec.decoder(options.variant as V);
    for (const b of stream) decoder.push(Uint8Array.of(b));
    expect(decoder.bufferedBytes).toBe(stream.length);
    const out: T[] = [];
    drain(decoder, out);
    expect(out).toEqual(expected);
    expect(decoder.bufferedBytes).toBe(0);
  });
}

/** Fuzz runs per property: COLLOQUY_FUZZ_RUNS, else `ci` on CI and `local` elsewhere. */
export function fuzzRuns(local: number, ci = local): number {
  return Number(process.env.COLLOQUY_FUZZ_RUNS ?? (process.env.CI ? ci : local));
}

/** Cut sizes, cycled through while feeding: 1..`max` octets so chunk edges land everywhere. */
export const cutsUpTo = (max: number): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 1, max }), { minLength: 1, maxLength: 6 });

type Mutation = [kind: 0 | 1 | 2 | 3, at: number, value: number];
const mutation = fc.tuple(
  fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3),
  fc.nat(),
  fc.integer({ min: 0, max: 255 }),
) as fc.Arbitrary<Mutation>;

/** `input` after each mutation in turn: a bit flipped, an octet replaced, truncated, an octet inserted. */
export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
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

/** One to `maxPicks` of the `valid` streams back to back, then up to three mutations. */
export function mutatedStreams(valid: readonly Uint8Array[], maxPicks: number): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.array(fc.integer({ min: 0, max: valid.length - 1 }), { minLength: 1, maxLength: maxPicks }),
      fc.array(mutation, { maxLength: 3 }),
    )
    .map(([picks, mutations]) => mutate(concat(picks.map((i) => valid[i]!)), mutations));
}

export interface FuzzProperty {
  /** What the property claims; the run count is appended. */
  name: string;
  input: fc.Arbitrary<Uint8Array>;
  /** When set, the runs together must decode at least one unit (the inputs reach the bodies). */
  decodes?: boolean;
}

export interface FuzzOptions {
  runs: number;
  /** The largest cut (see cutsUpTo). */
  maxCut: number;
  properties: readonly FuzzProperty[];
}

/** One test per property: each input, in random cuts, holds the codec to its contract. */
export function fuzzCases<T, V>(codec: Codec<T, V>, options: FuzzOptions): void {
  const seed = process.env.COLLOQUY_SEED === undefined ? undefined : Number(process.env.COLLOQUY_SEED);
  const params: fc.Parameters<unknown> = { numRuns: options.runs, ...(seed === undefined ? {} : { seed }) };
  // A few µs per run; leave a wide margin for slow CI machines and 1M-run fuzzing.
  const timeout = 60_000 + options.runs;
  const cuts = cutsUpTo(options.maxCut);
  const variants = codec.variants ?? fc.constant(undefined as V);
  for (const property of options.properties) {
    it(
      `${property.name} (${options.runs} runs)`,
      () => {
        let decoded = 0;
        fc.assert(
          fc.property(property.input, cuts, variants, (input, c, v) => {
            decoded += decodeFuzzed(codec, input, c, v);
          }),
          params,
        );
        if (property.decodes === true) expect(decoded).toBeGreaterThan(0);
      },
      timeout,
    );
  }
}
