// Fuzz: whatever octets arrive, in whatever chunks, DecnetDecoder yields frames or throws a
// DecnetProtocolError with one of the three wire codes, nothing else; every frame it yields
// re-encodes to a frame of the same length that decodes to it again (DECNET_CODEC in cases.ts).
// The connect data decoder is held to the same contract on its own. The runs are the codec
// harness's (test/support/codec-harness.ts).
//
// Runs: COLLOQUY_FUZZ_RUNS, else 10k per property (20k on CI). Replay with COLLOQUY_SEED=<seed>.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeConnectData, DecnetProtocolError, encodeConnectData } from '../../src/decnet/index.js';
import { fuzzCases, fuzzRuns, mutate, mutatedStreams } from '../support/codec-harness.js';
import { concat, CONNECT_DATA_WIRE, DECNET_CODEC, FIXTURES, hex } from './cases.js';

const VALID = FIXTURES.map((f) => f.wire);

/** A plausible prefix (DECnet type or not, a LENGTH near the body's), a long header or noise, then an NSP-ish body. */
const noise = fc
  .tuple(
    fc.constantFrom(0x6003, 0x6003, 0x6003, 0x0800),
    fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 80 })),
    fc.constantFrom(0x26, 0x26, 0x81, 0x0d, 0x02, 0x2e),
    fc.constantFrom(0x60, 0x20, 0x40, 0x00, 0x30, 0x10, 0x04, 0x14, 0x24, 0x18, 0x68, 0x28, 0x38, 0x48, 0x08, 0x58),
    fc.uint8Array({ maxLength: 70 }),
    fc.boolean(),
  )
  .map(([type, chosen, flags, msgflg, body, framed]) => {
    if (!framed) return body;
    // -1: the LENGTH that fits the body exactly (long header, MSGFLG, body).
    const length = chosen === -1 ? 22 + body.length : chosen;
    const header = hex(
      `aa0004001404 aa0004000a04 ${type.toString(16).padStart(4, '0')} ${(length & 0xff).toString(16).padStart(2, '0')}00 ` +
        `${flags.toString(16).padStart(2, '0')} 0000 aa0004001404 0000 aa0004000a04 00000000 ${msgflg.toString(16).padStart(2, '0')}`,
    );
    // Ethernet padding up to the 60-octet minimum, so that short frames end.
    return concat([header, body, new Uint8Array(Math.max(0, 60 - header.length - body.length))]);
  });

describe('fuzz: DecnetDecoder', () => {
  fuzzCases(DECNET_CODEC, {
    runs: fuzzRuns(10_000, 20_000),
    maxCut: 80,
    properties: [
      { name: 'arbitrary octets give frames or a DecnetProtocolError', input: noise, decodes: true },
      {
        name: 'mutated valid streams give frames or a DecnetProtocolError',
        input: mutatedStreams(VALID, 3),
        decodes: true,
      },
    ],
  });
});

describe('fuzz: connect data', () => {
  const runs = fuzzRuns(10_000, 20_000);
  it(`mutated connect data decodes canonically or throws a DecnetProtocolError (${runs} runs)`, () => {
    const mutation = fc.tuple(fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3), fc.nat(), fc.integer({ min: 0, max: 255 }));
    let decoded = 0;
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 3 }), (ms) => {
        const input = mutate(CONNECT_DATA_WIRE, ms);
        try {
          const data = decodeConnectData(input);
          expect(encodeConnectData(data)).toEqual(input);
          decoded++;
        } catch (error) {
          if (!(error instanceof DecnetProtocolError)) throw error;
        }
      }),
      { numRuns: runs },
    );
    expect(decoded).toBeGreaterThan(0);
  });
});
