// Every split point for DecnetDecoder, and its early refusals: the Ethernet type and LENGTH are
// judged from the first 16 octets, before the rest of the frame is awaited.

import { describe, expect, it } from 'vitest';
import { DecnetDecoder, DecnetProtocolError } from '../../src/decnet/index.js';
import { splitCases } from '../support/codec-harness.js';
import { concat, DECNET_CODEC, FIXTURES, hex } from './cases.js';

const FRAMES = FIXTURES.map((f) => f.frame);
const stream = concat(FIXTURES.map((f) => f.wire));

describe('DecnetDecoder chunking', () => {
  splitCases(DECNET_CODEC, stream, FRAMES, { pairSteps: [37, 23] });

  it('counts a partial frame in bufferedBytes', () => {
    const decoder = new DecnetDecoder();
    const wire = FIXTURES[0]!.wire;
    decoder.push(wire.subarray(0, 50));
    expect(decoder.next()).toBeUndefined();
    expect(decoder.bufferedBytes).toBe(50);
    decoder.push(wire.subarray(50));
    expect(decoder.next()?.nsp.type).toBe('CONNECT_INITIATE');
    expect(decoder.bufferedBytes).toBe(0);
  });
});

describe('DecnetDecoder refuses early', () => {
  const prefix = 'aa0004001404 aa0004000a04';
  it('a foreign Ethernet type from 16 octets', () => {
    const decoder = new DecnetDecoder();
    decoder.push(hex(`${prefix} 86dd 0000`));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ reason: 'not-decnet' }));
  });

  it('a LENGTH past 1498 from 16 octets', () => {
    const decoder = new DecnetDecoder();
    decoder.push(hex(`${prefix} 6003 db05`));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });

  it('stays failed and throws the same error', () => {
    const decoder = new DecnetDecoder();
    decoder.push(concat([FIXTURES[2]!.wire, hex(`${prefix} 6003 0000`)]));
    expect(decoder.next()?.nsp.type).toBe('CONNECT_ACK');
    let first: unknown;
    try {
      decoder.next();
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(DecnetProtocolError);
    decoder.push(FIXTURES[2]!.wire);
    for (let i = 0; i < 3; i++) expect(() => decoder.next()).toThrow(first as Error);
    expect(decoder.bufferedBytes).toBe(0);
  });
});
