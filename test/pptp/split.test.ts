// Every split point for PptpDecoder, and its early refusals: the Length is judged from 2 octets,
// the rest of the header from 12, before the body is awaited.

import { describe, expect, it } from 'vitest';
import { PptpDecoder, PptpProtocolError } from '../../src/pptp/index.js';
import { splitCases } from '../support/codec-harness.js';
import { concat, FIXTURES, hex, PPTP_CODEC, PPTPD_SCCRP } from './cases.js';

const MESSAGES = FIXTURES.map((f) => f.message);
const stream = concat(FIXTURES.map((f) => f.wire));

describe('PptpDecoder chunking', () => {
  splitCases(PPTP_CODEC, stream, MESSAGES, { pairSteps: [11, 7] });

  it('counts a partial message in bufferedBytes', () => {
    const decoder = new PptpDecoder();
    decoder.push(PPTPD_SCCRP.subarray(0, 100));
    expect(decoder.next()).toBeUndefined();
    expect(decoder.bufferedBytes).toBe(100);
    decoder.push(PPTPD_SCCRP.subarray(100));
    expect(decoder.next()?.type).toBe('START_CONTROL_CONNECTION_REPLY');
    expect(decoder.bufferedBytes).toBe(0);
  });
});

describe('PptpDecoder refuses early', () => {
  it('a Length past 220 from its 2 octets', () => {
    const decoder = new PptpDecoder();
    decoder.push(hex('0100'));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });

  it('a bad magic cookie from the 12-octet header, before the body', () => {
    const decoder = new PptpDecoder();
    decoder.push(hex('009c 0001 1a2b3c4e 0002 0000'));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ reason: 'bad-magic' }));
  });

  it('a Length that does not match the type from the header, before the body', () => {
    const decoder = new PptpDecoder();
    decoder.push(hex('0020 0001 1a2b3c4d 0002 0000'));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ reason: 'bad-length' }));
  });

  it('a Length of 12 (no control message is that short)', () => {
    const decoder = new PptpDecoder();
    decoder.push(hex('000c 0001 1a2b3c4d 0005 0000'));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ reason: 'bad-length' }));
  });

  it('stays failed and throws the same error', () => {
    const decoder = new PptpDecoder();
    decoder.push(concat([PPTPD_SCCRP, hex('0000')]));
    expect(decoder.next()?.type).toBe('START_CONTROL_CONNECTION_REPLY');
    let first: unknown;
    try {
      decoder.next();
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(PptpProtocolError);
    decoder.push(PPTPD_SCCRP);
    for (let i = 0; i < 3; i++) expect(() => decoder.next()).toThrow(first as Error);
    expect(decoder.bufferedBytes).toBe(0);
  });
});
