import { describe, expect, it } from 'vitest';
import { decodeFrame, encodedLength, encodeFrame } from '../../../src/engine/codec/index.js';
import { hex, toHex } from './cases.js';
import { FIXTURES } from './fixtures.js';

describe('hex fixtures', () => {
  it('has at least 12 fixtures', () => {
    expect(FIXTURES.length).toBeGreaterThanOrEqual(12);
  });

  describe.each(FIXTURES)('$name', ({ frame, hex: text }) => {
    const wire = hex(text);
    it('encodes to the fixture bytes', () => {
      expect(toHex(encodeFrame(frame))).toBe(toHex(wire));
      expect(encodedLength(frame)).toBe(wire.length);
    });
    it('decodes from the fixture bytes', () => {
      expect(decodeFrame(wire)).toEqual(frame);
    });
  });
});
