// TPKT and class 0 COTP: the captured TPDUs decoded and re-encoded byte for byte, the stream of
// all of them fed whole, byte by byte and split at every point, DT segmentation and reassembly,
// and the decoder's refusals.

import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/engine/errors.js';
import { decodeTpdu, encodeDataTpkts, encodeTpdu, encodeTpkt } from '../../src/iso/tpkt-cotp.js';
import { TpktDecoder, TsduAssembler } from '../../src/iso/tpkt-decoder.js';
import type { Tpdu } from '../../src/iso/tpkt-cotp.js';
import { decodeChunks, splitCases } from '../support/codec-harness.js';
import { bytes, concat, COTP, hex, LIBIEC61850, LIBIEC61850_AC, TPKT_CODEC } from './cases.js';

const FIXTURES = [
  LIBIEC61850.cr,
  LIBIEC61850.cc,
  LIBIEC61850.cn,
  LIBIEC61850_AC,
  LIBIEC61850.concludeRequest,
  LIBIEC61850.fn,
  LIBIEC61850.dn,
  LIBIEC61850.ab,
  COTP.dr,
  COTP.er,
  COTP.drBean,
];
const STREAM = concat(FIXTURES);

const feed = (chunks: readonly Uint8Array[]): Tpdu[] => decodeChunks(TPKT_CODEC, chunks);

const whole = feed([STREAM]);

describe('captured TPDUs (facts file §2.2, §3.3)', () => {
  it('CR: class 0, SRC-REF 1, TPDU size 8192, called and calling TSAP 0001', () => {
    expect(decodeTpdu(LIBIEC61850.cr.subarray(4))).toEqual({
      type: 'CR',
      credit: 0,
      dstRef: 0,
      srcRef: 1,
      classOptions: 0,
      tpduSize: 13,
      calledTsap: bytes(0, 1),
      callingTsap: bytes(0, 1),
      other: [],
    });
  });

  it('CC: DST-REF = the CR SRC-REF, sizes and TSAPs echoed', () => {
    expect(decodeTpdu(LIBIEC61850.cc.subarray(4))).toMatchObject({ type: 'CC', dstRef: 1, srcRef: 1, tpduSize: 13 });
  });

  it('DT with EOT; DR with reason 128 and 0; ER with cause 2 and the invalid TPDU', () => {
    expect(decodeTpdu(LIBIEC61850.fn.subarray(4))).toMatchObject({ type: 'DT', eot: true });
    expect(decodeTpdu(COTP.dr.subarray(4))).toEqual({ type: 'DR', dstRef: 1, srcRef: 2, reason: 0x80 });
    expect(decodeTpdu(COTP.drBean.subarray(4))).toEqual({ type: 'DR', dstRef: 1, srcRef: 1, reason: 0 });
    expect(decodeTpdu(COTP.er.subarray(4))).toEqual({ type: 'ER', dstRef: 1, cause: 2, invalidTpdu: hex('02 f0') });
  });

  it('every one re-encodes to the same bytes', () => {
    expect(whole).toHaveLength(FIXTURES.length);
    whole.forEach((t, i) => expect(encodeTpkt(encodeTpdu(t))).toEqual(FIXTURES[i]));
  });

  it('keeps unknown CR parameters in order and writes them back', () => {
    const cr = hex('03 00 00 19 14 e0 00 00 00 07 00 c0 01 0b c2 02 00 01 c1 02 00 01 c6 01 01');
    const t = decodeTpdu(cr.subarray(4));
    expect(t).toMatchObject({ type: 'CR', other: [{ code: 0xc6, value: bytes(1) }] });
    expect(encodeTpkt(encodeTpdu(t))).toEqual(cr);
  });
});

describe('TpktDecoder chunking', () => {
  splitCases(TPKT_CODEC, STREAM, whole, { pairSteps: [11, 7] });

  it('DT data lying in one chunk is a view into it', () => {
    const d = new TpktDecoder();
    d.push(LIBIEC61850.fn);
    const t = d.next();
    expect(t?.type === 'DT' && t.data.buffer).toBe(LIBIEC61850.fn.buffer);
  });
});

describe('segmentation', () => {
  it('cuts a TSDU into DTs of at most the TPDU size, EOT on the last, and the assembler joins them', () => {
    for (const size of [128, 256, 2048, 8192]) {
      for (const n of [0, 1, size - 4, size - 3, size - 2, 3 * (size - 3), 3 * (size - 3) + 1, 20_000]) {
        const tsdu = Uint8Array.from({ length: n }, (_, i) => i & 0xff);
        const wire = encodeDataTpkts(tsdu, size);
        const tpdus = feed([wire]);
        expect(tpdus.length).toBe(Math.max(1, Math.ceil(n / (size - 3))));
        tpdus.forEach((t, i) => {
          expect(t.type).toBe('DT');
          if (t.type === 'DT') {
            expect(t.eot).toBe(i === tpdus.length - 1);
            expect(t.data.length + 3).toBeLessThanOrEqual(size);
          }
        });
        const a = new TsduAssembler(1 << 20);
        const got = tpdus.map((t) => (t.type === 'DT' ? a.push(t) : undefined)).filter(Boolean);
        expect(got).toEqual([tsdu]);
      }
    }
  });

  it('refuses a TSDU past the bound while it grows, before the end arrives', () => {
    const a = new TsduAssembler(1000);
    expect(a.push({ type: 'DT', eot: false, data: new Uint8Array(600) })).toBeUndefined();
    expect(() => a.push({ type: 'DT', eot: false, data: new Uint8Array(401) })).toThrow(
      expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }),
    );
  });
});

describe('refusals', () => {
  const bad: [string, string, string][] = [
    ['TPKT version 2', '02 00 00 07 02 f0 80', 'ERR_MALFORMED_FRAME'],
    ['TPKT length below 7', '03 00 00 06 02 f0', 'ERR_MALFORMED_FRAME'],
    ['LI 0', '03 00 00 07 00 f0 80', 'ERR_MALFORMED_FRAME'],
    ['LI past the TPDU', '03 00 00 07 05 f0 80', 'ERR_MALFORMED_FRAME'],
    ['DT with LI 4 (extended format)', '03 00 00 09 04 f0 00 00 80', 'ERR_MALFORMED_FRAME'],
    ['DT with a TPDU-NR', '03 00 00 07 02 f0 81', 'ERR_MALFORMED_FRAME'],
    ['AK is not class 0', '03 00 00 07 02 60 00', 'ERR_UNKNOWN_FRAME_TYPE'],
    ['DC is not class 0', '03 00 00 0a 05 c0 00 01 00 01', 'ERR_UNKNOWN_FRAME_TYPE'],
    ['CR parameter past the header', '03 00 00 0e 09 e0 00 00 00 01 00 c0 05 0d', 'ERR_MALFORMED_FRAME'],
    ['CR TPDU size 2^14', '03 00 00 0e 09 e0 00 00 00 01 00 c0 01 0e', 'ERR_MALFORMED_FRAME'],
    ['CR TPDU size twice', '03 00 00 11 0c e0 00 00 00 01 00 c0 01 0b c0 01 0b', 'ERR_MALFORMED_FRAME'],
    ['CR with user data', '03 00 00 0c 06 e0 00 00 00 01 00 aa', 'ERR_MALFORMED_FRAME'],
    ['CR with LI 5', '03 00 00 0a 05 e0 00 00 00 01', 'ERR_MALFORMED_FRAME'],
    ['DR with an unknown parameter', '03 00 00 0e 09 80 00 01 00 02 00 c1 01 00', 'ERR_MALFORMED_FRAME'],
    ['ER with LI 3', '03 00 00 08 03 70 00 01', 'ERR_MALFORMED_FRAME'],
  ];
  it.each(bad)('%s', (_name, h, code) => {
    const d = new TpktDecoder();
    d.push(hex(h));
    let error: unknown;
    try {
      d.next();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code });
    // Failed for good: the same error again, and pushes are ignored.
    d.push(LIBIEC61850.fn);
    expect(() => d.next()).toThrow(error as Error);
  });

  it('the encoder refuses what the TPDU cannot hold', () => {
    expect(() =>
      encodeTpdu({ type: 'CR', credit: 0, dstRef: 0, srcRef: 70_000, classOptions: 0, other: [] }),
    ).toThrow();
    expect(() =>
      encodeTpdu({ type: 'CR', credit: 0, dstRef: 0, srcRef: 1, classOptions: 0, tpduSize: 14, other: [] }),
    ).toThrow();
    expect(() =>
      encodeTpdu({
        type: 'CR',
        credit: 0,
        dstRef: 0,
        srcRef: 1,
        classOptions: 0,
        callingTsap: new Uint8Array(256),
        other: [],
      }),
    ).toThrow();
    expect(() => encodeTpkt(new Uint8Array(65_532))).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE' }),
    );
    expect(() => encodeDataTpkts(bytes(1), 3)).toThrow();
  });
});
