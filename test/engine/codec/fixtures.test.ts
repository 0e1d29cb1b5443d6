import { describe, expect, it } from 'vitest';
import { decodeFrame, encodedLength, encodeFrame } from '../../../src/engine/codec/index.js';
import type { Frame } from '../../../src/engine/frames.js';
import { fixtureCases } from '../../support/codec-harness.js';
import { hex } from './cases.js';
import { FIXTURES } from './fixtures.js';

/** encodeFrame, holding encodedLength to the length it writes. */
function encode(frame: Frame): Uint8Array {
  const wire = encodeFrame(frame);
  expect(encodedLength(frame)).toBe(wire.length);
  return wire;
}

describe('hex fixtures', () => {
  it('has at least 12 fixtures', () => {
    expect(FIXTURES.length).toBeGreaterThanOrEqual(12);
  });

  fixtureCases(
    FIXTURES.map(({ name, frame, hex: text }) => ({ name, unit: frame, wire: hex(text) })),
    encode,
    (wire) => decodeFrame(wire),
  );
});
