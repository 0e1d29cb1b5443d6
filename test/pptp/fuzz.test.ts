// Fuzz: whatever octets arrive, in whatever chunks, PptpDecoder yields messages or throws a
// PptpProtocolError with one of the three wire codes, nothing else. Every message it yields
// re-encodes to the octets it came from, except where RFC 2637 lets a receiver ignore them
// (reserved fields, text after the first NUL), and decodes again to the same message
// (PPTP_CODEC in cases.ts). The runs are the codec harness's (test/support/codec-harness.ts).
//
// Runs: COLLOQUY_FUZZ_RUNS, else 20k per property. Replay with COLLOQUY_SEED=<seed>.

import fc from 'fast-check';
import { describe } from 'vitest';
import { LAYOUTS } from '../../src/pptp/index.js';
import { fuzzCases, fuzzRuns, mutatedStreams } from '../support/codec-harness.js';
import { concat, FIXTURES, hex, PPTP_CODEC } from './cases.js';

const VALID = FIXTURES.map((f) => f.wire);

/** A plausible header (right cookie, a known or near type, a right or near length) then noise. */
const noise = fc
  .tuple(
    fc.constantFrom(...Object.values(LAYOUTS).map((l) => l.length), 0, 11, 12, 221, 0x1a2b),
    fc.constantFrom(1, 1, 1, 2, 0),
    fc.constantFrom(0x1a2b3c4d, 0x1a2b3c4d, 0x1a2b3c4d, 0x4d3c2b1a),
    fc.integer({ min: 0, max: 17 }),
    fc.uint8Array({ maxLength: 230 }),
    fc.boolean(),
  )
  .map(([length, messageType, magic, control, body, framed]) => {
    if (!framed) return body;
    const h = hex(
      `${length.toString(16).padStart(4, '0')} ${messageType.toString(16).padStart(4, '0')} ${magic.toString(16).padStart(8, '0')} ${control.toString(16).padStart(4, '0')} 0000`,
    );
    return concat([h, body]);
  });

describe('fuzz: PptpDecoder', () => {
  fuzzCases(PPTP_CODEC, {
    runs: fuzzRuns(20_000),
    maxCut: 40,
    properties: [
      { name: 'arbitrary octets give messages or a PptpProtocolError', input: noise, decodes: true },
      {
        name: 'mutated valid streams give messages or a PptpProtocolError',
        input: mutatedStreams(VALID, 3),
        decodes: true,
      },
    ],
  });
});
