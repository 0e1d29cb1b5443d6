// Every split point: the stream of all table packets fed whole, byte by byte, and split at every
// position (and every pair of positions, coarsely) must give the same packets. Plus the
// decoder's limits, its zero-copy views and its failed state.

import { describe, expect, it } from 'vitest';
import { encodePacket, NetbiosDecoder, NetbiosProtocolError, type NetbiosPacket } from '../../src/netbios/index.js';
import { decodeChunks, splitCases } from '../support/codec-harness.js';
import { concat, FIXTURES, hex, NETBIOS_CODEC, TABLE } from './cases.js';

const stream = concat(TABLE.map((p) => encodePacket(p)));

const feed = (chunks: readonly Uint8Array[]): NetbiosPacket[] => decodeChunks(NETBIOS_CODEC, chunks);

describe('NetbiosDecoder chunking', () => {
  splitCases(NETBIOS_CODEC, stream, TABLE, { pairSteps: [5, 3] });

  it('every fixture, the large ones included, in 3 uneven pieces', () => {
    for (const { packet, wire } of FIXTURES) {
      const a = Math.floor(wire.length / 3);
      const b = wire.length - 1;
      expect(feed([wire.subarray(0, a), wire.subarray(a, b), wire.subarray(b)])).toEqual([packet]);
    }
  });

  it('counts a partial packet in bufferedBytes', () => {
    const decoder = new NetbiosDecoder();
    decoder.push(hex('00 00 00 05 01 02'));
    expect(decoder.next()).toBeUndefined();
    expect(decoder.bufferedBytes).toBe(6);
    decoder.push(hex('03 04 05 85 00'));
    expect(decoder.next()).toEqual({ type: 'SESSION_MESSAGE', data: hex('01 02 03 04 05') });
    expect(decoder.next()).toBeUndefined();
    expect(decoder.bufferedBytes).toBe(2);
    decoder.push(hex('00 00'));
    expect(decoder.next()).toEqual({ type: 'SESSION_KEEP_ALIVE' });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('keeps message data that lies in one chunk as a view into it', () => {
    const decoder = new NetbiosDecoder();
    const chunk = hex('00 00 00 01 aa  00 00 00 02 bb cc');
    decoder.push(chunk);
    const a = decoder.next();
    const b = decoder.next();
    expect(a?.type === 'SESSION_MESSAGE' && a.data.buffer).toBe(chunk.buffer);
    expect(b?.type === 'SESSION_MESSAGE' && b.data.buffer).toBe(chunk.buffer);
  });

  it('decodes a body in place when only its header was split', () => {
    const decoder = new NetbiosDecoder();
    decoder.push(hex('00 00'));
    expect(decoder.next()).toBeUndefined();
    const rest = concat([hex('01 00'), new Uint8Array(256).fill(7)]);
    decoder.push(rest);
    const p = decoder.next();
    expect(p?.type === 'SESSION_MESSAGE' && p.data.buffer).toBe(rest.buffer);
    expect(p?.type === 'SESSION_MESSAGE' && p.data.length).toBe(256);
  });
});

describe('NetbiosDecoder limits and failure', () => {
  it('refuses an oversized message from its header, before any body octet', () => {
    const decoder = new NetbiosDecoder({ maxMessageSize: 1024 });
    decoder.push(hex('00 00 04 01'));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE', reason: 'too-large' }));
  });

  it('accepts a message of exactly maxMessageSize, in pieces', () => {
    const decoder = new NetbiosDecoder({ maxMessageSize: 1024 });
    decoder.push(hex('00 00 04'));
    decoder.push(hex('00'));
    decoder.push(new Uint8Array(1000));
    expect(decoder.next()).toBeUndefined();
    decoder.push(new Uint8Array(24));
    expect(decoder.next()).toEqual({ type: 'SESSION_MESSAGE', data: new Uint8Array(1024) });
  });

  it('refuses maxMessageSize outside 0..0x1FFFF', () => {
    for (const bad of [-1, 0x20000, 1.5, Number.NaN]) {
      expect(() => new NetbiosDecoder({ maxMessageSize: bad })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', origin: 'local' }),
      );
    }
    expect(new NetbiosDecoder().maxMessageSize).toBe(0x1ffff);
  });

  it('detects an unknown type from the header alone', () => {
    const decoder = new NetbiosDecoder();
    decoder.push(hex('89 00 00 00'));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_FRAME_TYPE' }));
  });

  it('stays failed and throws the same error', () => {
    const decoder = new NetbiosDecoder();
    decoder.push(hex('00 00 00 01 aa  82 00 00 01 00  85 00 00 00'));
    expect(decoder.next()).toEqual({ type: 'SESSION_MESSAGE', data: hex('aa') });
    let first: unknown;
    try {
      decoder.next();
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(NetbiosProtocolError);
    expect(decoder.bufferedBytes).toBe(0);
    decoder.push(hex('85 00 00 00'));
    for (let i = 0; i < 3; i++) expect(() => decoder.next()).toThrow(first as Error);
  });
});
