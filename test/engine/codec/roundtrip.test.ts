import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodedLength,
  encodeFrame,
  encodeFrameInto,
  encodeFrames,
  FrameDecoder,
} from '../../../src/engine/codec/index.js';
import { FrameType, type FrameTypeName } from '../../../src/engine/frames.js';
import { concat, EDGES, TABLE } from './cases.js';

describe('frame table', () => {
  it('covers every frame type once, in FrameType order', () => {
    expect(TABLE.map((f) => f.type)).toEqual(Object.keys(FrameType) as FrameTypeName[]);
    expect(TABLE).toHaveLength(39);
  });

  it.each(TABLE.map((f) => [f.type, f] as const))('%s round-trips', (_, frame) => {
    const wire = encodeFrame(frame);
    expect(wire[0]).toBe(FrameType[frame.type]);
    expect(encodedLength(frame)).toBe(wire.length);
    expect(decodeFrame(wire)).toEqual(frame);
  });
});

describe('edge values', () => {
  it.each(EDGES.map((f, i) => [i, f.type, f] as const))('#%i %s round-trips', (_, __, frame) => {
    const wire = encodeFrame(frame);
    expect(encodedLength(frame)).toBe(wire.length);
    expect(decodeFrame(wire, 16 * 1024 * 1024)).toEqual(frame);
  });

  it('gives DATA under 16 KiB a 3-byte header at most, 2 bytes under 128', () => {
    expect(encodeFrame({ type: 'DATA', payload: new Uint8Array(127) }).length).toBe(127 + 2);
    expect(encodeFrame({ type: 'DATA', payload: new Uint8Array(128) }).length).toBe(128 + 3);
    expect(encodeFrame({ type: 'DATA', payload: new Uint8Array(16_383) }).length).toBe(16_383 + 3);
    expect(encodeFrame({ type: 'DATA', payload: new Uint8Array(16_384) }).length).toBe(16_384 + 4);
  });

  it('decodes rest fields as views into the input (no copy)', () => {
    const wire = encodeFrame({ type: 'DATA', payload: new Uint8Array([1, 2, 3]) });
    const frame = decodeFrame(wire);
    expect(frame.type === 'DATA' && frame.payload.buffer).toBe(wire.buffer);
  });
});

describe('encode variants agree', () => {
  const all = [...TABLE, ...EDGES];
  const joined = concat(all.map((f) => encodeFrame(f)));

  it('encodeFrames equals the concatenation of encodeFrame', () => {
    expect(encodeFrames(all)).toEqual(joined);
    expect(encodeFrames([])).toEqual(new Uint8Array(0));
  });

  it('encodeFrameInto writes at an offset and returns the end', () => {
    const target = new Uint8Array(joined.length + 10).fill(0xcc);
    let at = 5;
    for (const f of all) at = encodeFrameInto(f, target, at);
    expect(at).toBe(joined.length + 5);
    expect(target.subarray(5, at)).toEqual(joined);
    expect(target.subarray(0, 5)).toEqual(new Uint8Array(5).fill(0xcc));
    expect(target.subarray(at)).toEqual(new Uint8Array(5).fill(0xcc));
  });

  it('encodeFrameInto refuses a target without room, writing nothing', () => {
    const target = new Uint8Array(4);
    expect(() => encodeFrameInto({ type: 'DATA', payload: new Uint8Array(3) }, target, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', origin: 'local' }),
    );
    expect(target).toEqual(new Uint8Array(4));
  });

  it('FrameDecoder decodes the whole stream in one chunk', () => {
    const decoder = new FrameDecoder({ maxFrameSize: 16 * 1024 * 1024 });
    decoder.push(joined);
    const out = [];
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) out.push(f);
    expect(out).toEqual(all);
    expect(decoder.bufferedBytes).toBe(0);
  });
});
