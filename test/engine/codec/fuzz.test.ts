// Fuzz: whatever bytes arrive, in whatever chunks, FrameDecoder yields frames or throws a
// ProtocolError with a documented code, nothing else; and every frame it yields re-encodes to
// exactly the bytes it came from (the encoding is canonical). The runs are the codec harness's
// (test/support/codec-harness.ts).
//
// Runs: COLLOQUY_FUZZ_RUNS, else 100k on CI and 20k locally (`npm run fuzz` runs 1M).
// Replay a failure with COLLOQUY_SEED=<seed printed by fast-check>.

import fc from 'fast-check';
import { describe } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../../src/engine/codec/index.js';
import { FrameType } from '../../../src/engine/frames.js';
import { fuzzCases, fuzzRuns, mutatedStreams } from '../../support/codec-harness.js';
import { concat, EDGES, FRAME_CODEC, TABLE } from './cases.js';

const CODES = Object.values(FrameType);
const VALID = [...TABLE, ...EDGES.filter((f) => encodeFrame(f).length < 600)].map((f) => encodeFrame(f));

/** Random bytes, mostly starting with a known type and a small length so that bodies get parsed. */
const noise = fc
  .tuple(
    fc.constantFrom(...CODES, 0x00, 0xff),
    fc.integer({ min: 0, max: 40 }),
    fc.uint8Array({ maxLength: 48 }),
    fc.boolean(),
  )
  .map(([code, length, body, framed]) => (framed ? concat([Uint8Array.of(code, length), body]) : body));

describe('fuzz: FrameDecoder', () => {
  fuzzCases(
    { ...FRAME_CODEC, decoder: () => new FrameDecoder({ maxFrameSize: 1024 }) },
    {
      runs: fuzzRuns(20_000, 100_000),
      maxCut: 17,
      properties: [
        { name: 'arbitrary bytes give frames or a ProtocolError', input: noise },
        {
          name: 'mutated valid streams give frames or a ProtocolError, canonically',
          input: mutatedStreams(VALID, 4),
          decodes: true,
        },
      ],
    },
  );
});
