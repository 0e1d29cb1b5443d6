// Every split point for AppletalkDecoder, and its early refusals: the 802.3 length is judged from
// the first 14 octets, before the rest of the frame is awaited.

import { describe, expect, it } from 'vitest';
import { AppletalkDecoder, AppletalkProtocolError } from '../../src/appletalk/index.js';
import { splitCases } from '../support/codec-harness.js';
import { APPLETALK_CODEC, concat, FIXTURES, hex, STREAM } from './cases.js';

describe('AppletalkDecoder chunking', () => {
  splitCases(
    APPLETALK_CODEC,
    STREAM,
    FIXTURES.map((f) => f.frame),
    { pairSteps: [41, 29] },
  );

  it('counts a partial frame in bufferedBytes', () => {
    const decoder = new AppletalkDecoder();
    const wire = FIXTURES[1]!.wire;
    decoder.push(wire.subarray(0, 30));
    expect(decoder.next()).toBeUndefined();
    expect(decoder.bufferedBytes).toBe(30);
    decoder.push(wire.subarray(30));
    expect(decoder.next()?.ddp.type).toBe(6);
    expect(decoder.bufferedBytes).toBe(0);
  });
});

describe('AppletalkDecoder refuses early', () => {
  const prefix = '080007123414 08000712340a';
  it('an Ethernet II type from 14 octets', () => {
    const decoder = new AppletalkDecoder();
    decoder.push(hex(`${prefix} 0800`));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ reason: 'not-appletalk' }));
  });

  it('an 802.3 length past 1500 from 14 octets', () => {
    const decoder = new AppletalkDecoder();
    decoder.push(hex(`${prefix} 05dd`));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });

  it('stays failed and throws the same error', () => {
    const decoder = new AppletalkDecoder();
    decoder.push(concat([FIXTURES[2]!.wire, hex(`${prefix} 0000`)]));
    expect(decoder.next()?.ddp.data[0]).toBe(1);
    let first: unknown;
    try {
      decoder.next();
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(AppletalkProtocolError);
    decoder.push(FIXTURES[2]!.wire);
    for (let i = 0; i < 3; i++) expect(() => decoder.next()).toThrow(first as Error);
    expect(decoder.bufferedBytes).toBe(0);
  });
});
