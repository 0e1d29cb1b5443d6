// Fuzz: whatever octets arrive, in whatever chunks, NetbiosDecoder yields packets or throws a
// NetbiosProtocolError with one of the three wire codes, nothing else; and every packet it
// yields re-encodes to exactly the octets it came from (the encoding is canonical).
//
// Runs: COLLOQUY_FUZZ_RUNS, else 20k per property (locally and on CI).
// Replay a failure with COLLOQUY_SEED=<seed printed by fast-check>.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodePacket, NetbiosDecoder, NetbiosPacketType, NetbiosProtocolError, type NetbiosPacket } from '../../src/netbios/index.js';
import { concat, FIXTURES, label, NODECLIENT_00, TABLE, TESTSRV_20 } from './cases.js';

const RUNS = Number(process.env.COLLOQUY_FUZZ_RUNS ?? 20_000);
const SEED = process.env.COLLOQUY_SEED === undefined ? undefined : Number(process.env.COLLOQUY_SEED);
const PARAMS: fc.Parameters<unknown> = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };
const TIMEOUT = 60_000 + RUNS;
const WIRE_CODES = ['ERR_MALFORMED_FRAME', 'ERR_UNKNOWN_FRAME_TYPE', 'ERR_FRAME_TOO_LARGE'];

const VALID = [...TABLE.map((p) => encodePacket(p)), ...FIXTURES.filter((f) => f.wire.length < 200).map((f) => f.wire)];

function check(input: Uint8Array, cuts: readonly number[]): number {
  const decoder = new NetbiosDecoder({ maxMessageSize: 512 });
  const packets: NetbiosPacket[] = [];
  let failure: unknown;
  try {
    for (let at = 0, i = 0; at < input.length; i++) {
      const end = Math.min(input.length, at + cuts[i % cuts.length]!);
      decoder.push(input.subarray(at, end));
      at = end;
      for (let p = decoder.next(); p !== undefined; p = decoder.next()) packets.push(p);
    }
  } catch (error) {
    failure = error;
  }
  if (failure !== undefined) {
    if (!(failure instanceof NetbiosProtocolError)) throw failure;
    expect(WIRE_CODES).toContain(failure.code);
  }
  const again = concat(packets.map((p) => encodePacket(p)));
  if (failure === undefined && again.length !== input.length - decoder.bufferedBytes) {
    throw new Error(`consumed ${again.length} octets but ${decoder.bufferedBytes} of ${input.length} are buffered`);
  }
  for (let i = 0; i < again.length; i++) {
    if (again[i] !== input[i]) throw new Error(`re-encoding differs at octet ${i}`);
  }
  return packets.length;
}

const cuts = fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 6 });
const CODES = [...Object.values(NetbiosPacketType), 0x86, 0x89, 0xff];

/** Random octets, mostly behind a plausible header so that bodies get parsed. */
const noise = fc.tuple(
  fc.constantFrom(...CODES),
  fc.constantFrom(0, 0, 0, 1, 2),
  fc.integer({ min: 0, max: 80 }),
  fc.uint8Array({ maxLength: 90 }),
  fc.boolean(),
).map(([code, flags, length, body, framed]) => (framed ? concat([Uint8Array.of(code, flags, 0, length), body]) : body));

/** Session requests built from random name characters: exercises the name decoder. */
const nameish = fc.tuple(
  fc.array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQZa@'), { minLength: 32, maxLength: 32 }),
  fc.array(fc.uint8Array({ minLength: 0, maxLength: 6 }), { maxLength: 3 }),
).map(([chars, labels]) => {
  const scope = concat(labels.map((l) => concat([Uint8Array.of(l.length), l.map((b) => 0x21 + (b % 0x5e))])));
  const called = concat([Uint8Array.of(0x20), Uint8Array.from(chars, (c) => c.charCodeAt(0)), scope, Uint8Array.of(0)]);
  const body = concat([called, label(NODECLIENT_00)]);
  return concat([Uint8Array.of(0x81, 0, 0, body.length), body]);
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
  fc.array(fc.integer({ min: 0, max: VALID.length - 1 }), { minLength: 1, maxLength: 4 }),
  fc.array(mutation, { maxLength: 3 }),
).map(([picks, mutations]) => mutate(concat(picks.map((i) => VALID[i]!)), mutations));

describe('fuzz: NetbiosDecoder', () => {
  it(`arbitrary octets give packets or a NetbiosProtocolError (${RUNS} runs)`, () => {
    fc.assert(fc.property(noise, cuts, (input, c) => {
      check(input, c);
    }), PARAMS);
  }, TIMEOUT);

  it(`mutated valid streams give packets or a NetbiosProtocolError, canonically (${RUNS} runs)`, () => {
    let decoded = 0;
    fc.assert(fc.property(mutated, cuts, (input, c) => {
      decoded += check(input, c);
    }), PARAMS);
    expect(decoded).toBeGreaterThan(0);
  }, TIMEOUT);

  it(`session requests with random names decode or fail as bad-name (${RUNS} runs)`, () => {
    let decoded = 0;
    fc.assert(fc.property(nameish, cuts, (input, c) => {
      decoded += check(input, c);
    }), PARAMS);
    expect(decoded).toBeGreaterThan(0);
  }, TIMEOUT);
});

// TESTSRV_20 keeps the label helper honest: a known name decodes in the same harness.
it('the harness decodes a known request', () => {
  const body = concat([label(TESTSRV_20), label(NODECLIENT_00)]);
  expect(check(concat([Uint8Array.of(0x81, 0, 0, body.length), body]), [5])).toBe(1);
});
