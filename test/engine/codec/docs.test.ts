// docs/protocol.md stays true: its type codes match FrameType, every frame with a body has a field
// table generated from the frame schema (test/docs/generated.test.ts checks they are current), and
// its worked examples decode to the frames the fixtures say (and re-encode to the same bytes).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame } from '../../../src/engine/codec/index.js';
import { FRAME_SCHEMA } from '../../../src/engine/codec/schema.js';
import { FrameType, type FrameTypeName } from '../../../src/engine/frames.js';
import { hex, toHex } from './cases.js';
import { FIXTURES } from './fixtures.js';

const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');

describe('docs/protocol.md', () => {
  it('gives every frame its FrameType code, in headings and in the code table', () => {
    const headings = new Map<string, number>();
    for (const m of doc.matchAll(/\b([A-Z][A-Z_]+) \((0x[0-9a-f]{2})\)/g)) headings.set(m[1]!, Number(m[2]));
    const table = new Map<string, number>();
    for (const m of doc.matchAll(/\| (0x[0-9a-f]{2}) \| ([A-Z_]+) \|/g)) table.set(m[2]!, Number(m[1]));
    for (const [name, code] of Object.entries(FrameType)) {
      expect(headings.get(name), name).toBe(code);
      expect(table.get(name), name).toBe(code);
    }
    expect([...table.keys()].sort()).toEqual((Object.keys(FrameType) as FrameTypeName[]).sort());
  });

  it('gives every frame with a body a field table generated from the frame schema (FRAME_SCHEMA)', () => {
    const tabled = [
      ...doc.matchAll(/<!-- fields: ([A-Z_ ]+) \(generated from src\/engine\/codec\/schema\.ts\) -->/g),
    ].flatMap((m) => m[1]!.split(' '));
    const withBody = (Object.keys(FRAME_SCHEMA) as FrameTypeName[]).filter((name) => FRAME_SCHEMA[name].length > 0);
    expect([...tabled].sort()).toEqual([...withBody].sort());
  });

  it('has worked examples that decode to the fixture frames', () => {
    const examples = [...doc.matchAll(/On the wire: `([0-9a-f ]+)`/g)].map((m) => m[1]!);
    expect(examples.length).toBeGreaterThanOrEqual(2);
    for (const text of examples) {
      const fixture = FIXTURES.find((f) => toHex(hex(f.hex)) === toHex(hex(text)));
      expect(fixture, text).toBeDefined();
      expect(decodeFrame(hex(text))).toEqual(fixture!.frame);
      expect(toHex(encodeFrame(fixture!.frame))).toBe(toHex(hex(text)));
    }
  });
});
