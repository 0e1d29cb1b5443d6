// Every split point: the stream of all table frames fed whole, byte by byte, and split at every
// position, must give the same frames. Plus the decoder's limits and its failed state.

import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_FRAME_SIZE,
  encodeFrame,
  FrameDecoder,
  MAX_MAX_FRAME_SIZE,
  MIN_MAX_FRAME_SIZE,
} from '../../../src/engine/codec/index.js';
import { ProtocolError, SessionError } from '../../../src/engine/errors.js';
import { splitCases } from '../../support/codec-harness.js';
import { bytes, concat, FRAME_CODEC, hex, TABLE } from './cases.js';

const stream = concat(TABLE.map((f) => encodeFrame(f)));

describe('FrameDecoder chunking', () => {
  splitCases(FRAME_CODEC, stream, TABLE, { pairSteps: [7, 5] });

  it('counts a partial frame in bufferedBytes', () => {
    const decoder = new FrameDecoder();
    decoder.push(hex('10 05 01 02'));
    expect(decoder.next()).toBeUndefined();
    expect(decoder.bufferedBytes).toBe(4);
    decoder.push(hex('03 04 05 08'));
    expect(decoder.next()).toEqual({ type: 'DATA', payload: bytes(1, 2, 3, 4, 5) });
    expect(decoder.bufferedBytes).toBe(1);
    decoder.push(hex('00'));
    expect(decoder.next()).toEqual({ type: 'HEARTBEAT' });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('keeps payloads that lie in one chunk as views into it', () => {
    const decoder = new FrameDecoder();
    const chunk = hex('10 01 aa  10 02 bb cc');
    decoder.push(chunk);
    const a = decoder.next();
    const b = decoder.next();
    expect(a?.type === 'DATA' && a.payload.buffer).toBe(chunk.buffer);
    expect(b?.type === 'DATA' && b.payload.buffer).toBe(chunk.buffer);
  });

  it('decodes a body in place when only its header was split', () => {
    const decoder = new FrameDecoder();
    decoder.push(hex('10 81'));
    expect(decoder.next()).toBeUndefined();
    const rest = concat([bytes(0x01), new Uint8Array(129).fill(7)]);
    decoder.push(rest);
    const f = decoder.next();
    expect(f?.type === 'DATA' && f.payload.buffer).toBe(rest.buffer);
    expect(f?.type === 'DATA' && f.payload.length).toBe(129);
  });
});

describe('FrameDecoder bodies across chunks', () => {
  const decode = (chunks: readonly Uint8Array[]) => {
    const decoder = new FrameDecoder();
    const out = [];
    for (const c of chunks) {
      decoder.push(c);
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) out.push(f);
    }
    expect(decoder.bufferedBytes).toBe(0);
    return out;
  };

  it('copies pieces that are not adjacent in memory, split at every position', () => {
    for (let at = 0; at <= stream.length; at++) expect(decode([stream.slice(0, at), stream.slice(at)])).toEqual(TABLE);
  });

  it('falls back to a copy when adjacent pieces are followed by one that is not', () => {
    for (let a = 0; a <= stream.length; a += 5)
      for (let b = a; b <= stream.length; b += 7)
        expect(decode([stream.subarray(0, a), stream.subarray(a, b), stream.slice(b)])).toEqual(TABLE);
  });

  it('makes one view of a body spanning pieces adjacent in one buffer', () => {
    const body = new Uint8Array(200_000).map((_, i) => i % 251);
    const wire = concat([encodeFrame({ type: 'DATA', payload: body }), encodeFrame({ type: 'HEARTBEAT' })]);
    const cuts = [0, 2, 70_000, 140_001, 199_999, wire.length - 1, wire.length];
    const frames = decode(cuts.slice(1).map((end, i) => wire.subarray(cuts[i], end)));
    expect(frames).toEqual([{ type: 'DATA', payload: body }, { type: 'HEARTBEAT' }]);
    const data = frames[0];
    expect(data?.type === 'DATA' && data.payload.buffer).toBe(wire.buffer);
  });
});

describe('FrameDecoder limits', () => {
  it('refuses an oversized length before any body byte arrives', () => {
    const decoder = new FrameDecoder({ maxFrameSize: 1024 });
    decoder.push(hex('10 81 08')); // 1025
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });

  it('accepts a body of exactly maxFrameSize', () => {
    const decoder = new FrameDecoder({ maxFrameSize: 1024 });
    decoder.push(hex('10 80 08'));
    decoder.push(new Uint8Array(1024));
    expect(decoder.next()).toEqual({ type: 'DATA', payload: new Uint8Array(1024) });
  });

  it('applies a lowered maxFrameSize to the next header', () => {
    const decoder = new FrameDecoder();
    expect(decoder.maxFrameSize).toBe(DEFAULT_MAX_FRAME_SIZE);
    decoder.push(encodeFrame({ type: 'DATA', payload: new Uint8Array(2000) }));
    expect(decoder.next()?.type).toBe('DATA');
    decoder.maxFrameSize = MIN_MAX_FRAME_SIZE;
    decoder.push(encodeFrame({ type: 'DATA', payload: new Uint8Array(2000) }));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });

  it('refuses maxFrameSize outside 1 KiB..16 MiB', () => {
    for (const bad of [0, MIN_MAX_FRAME_SIZE - 1, MAX_MAX_FRAME_SIZE + 1, 1.5, Number.NaN]) {
      expect(() => new FrameDecoder({ maxFrameSize: bad })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', origin: 'local' }),
      );
      const decoder = new FrameDecoder();
      expect(() => {
        decoder.maxFrameSize = bad;
      }).toThrow(SessionError);
    }
    expect(new FrameDecoder({ maxFrameSize: MAX_MAX_FRAME_SIZE }).maxFrameSize).toBe(MAX_MAX_FRAME_SIZE);
  });

  it('detects an unknown type from its first byte', () => {
    const decoder = new FrameDecoder();
    decoder.push(bytes(0x7f));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_FRAME_TYPE' }));
  });

  it('stays failed and throws the same error', () => {
    const decoder = new FrameDecoder();
    decoder.push(hex('10 01 aa  ff 00  10 00'));
    expect(decoder.next()).toEqual({ type: 'DATA', payload: bytes(0xaa) });
    let first: unknown;
    try {
      decoder.next();
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(ProtocolError);
    decoder.push(hex('08 00'));
    for (let i = 0; i < 3; i++) {
      expect(() => decoder.next()).toThrow(first as Error);
      try {
        decoder.next();
      } catch (error) {
        expect(error).toBe(first);
      }
    }
  });
});
