// Fuzz: whatever octets arrive, in whatever chunks, NetbiosDecoder yields packets or throws a
// NetbiosProtocolError with one of the three wire codes, nothing else; and every packet it
// yields re-encodes to exactly the octets it came from (the encoding is canonical). The runs are
// the codec harness's (test/support/codec-harness.ts).
//
// Runs: COLLOQUY_FUZZ_RUNS, else 20k per property (locally and on CI).
// Replay a failure with COLLOQUY_SEED=<seed printed by fast-check>.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodePacket, NetbiosDecoder, NetbiosPacketType } from '../../src/netbios/index.js';
import { decodeFuzzed, fuzzCases, fuzzRuns, mutatedStreams } from '../support/codec-harness.js';
import { concat, FIXTURES, label, NETBIOS_CODEC, NODECLIENT_00, TABLE, TESTSRV_20 } from './cases.js';

const CODEC = { ...NETBIOS_CODEC, decoder: () => new NetbiosDecoder({ maxMessageSize: 512 }) };
const VALID = [...TABLE.map((p) => encodePacket(p)), ...FIXTURES.filter((f) => f.wire.length < 200).map((f) => f.wire)];

const CODES = [...Object.values(NetbiosPacketType), 0x86, 0x89, 0xff];

/** Random octets, mostly behind a plausible header so that bodies get parsed. */
const noise = fc
  .tuple(
    fc.constantFrom(...CODES),
    fc.constantFrom(0, 0, 0, 1, 2),
    fc.integer({ min: 0, max: 80 }),
    fc.uint8Array({ maxLength: 90 }),
    fc.boolean(),
  )
  .map(([code, flags, length, body, framed]) =>
    framed ? concat([Uint8Array.of(code, flags, 0, length), body]) : body,
  );

/** Session requests built from random name characters: exercises the name decoder. */
const nameish = fc
  .tuple(
    fc.array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQZa@'), { minLength: 32, maxLength: 32 }),
    fc.array(fc.uint8Array({ minLength: 0, maxLength: 6 }), { maxLength: 3 }),
  )
  .map(([chars, labels]) => {
    const scope = concat(labels.map((l) => concat([Uint8Array.of(l.length), l.map((b) => 0x21 + (b % 0x5e))])));
    const called = concat([
      Uint8Array.of(0x20),
      Uint8Array.from(chars, (c) => c.charCodeAt(0)),
      scope,
      Uint8Array.of(0),
    ]);
    const body = concat([called, label(NODECLIENT_00)]);
    return concat([Uint8Array.of(0x81, 0, 0, body.length), body]);
  });

describe('fuzz: NetbiosDecoder', () => {
  fuzzCases(CODEC, {
    runs: fuzzRuns(20_000),
    maxCut: 17,
    properties: [
      { name: 'arbitrary octets give packets or a NetbiosProtocolError', input: noise },
      {
        name: 'mutated valid streams give packets or a NetbiosProtocolError, canonically',
        input: mutatedStreams(VALID, 4),
        decodes: true,
      },
      { name: 'session requests with random names decode or fail as bad-name', input: nameish, decodes: true },
    ],
  });
});

// TESTSRV_20 keeps the label helper honest: a known name decodes in the same harness.
it('the harness decodes a known request', () => {
  const body = concat([label(TESTSRV_20), label(NODECLIENT_00)]);
  expect(decodeFuzzed(CODEC, concat([Uint8Array.of(0x81, 0, 0, body.length), body]), [5])).toBe(1);
});
