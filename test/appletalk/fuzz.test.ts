// Fuzz: whatever octets arrive, in whatever chunks, AppletalkDecoder yields frames or throws an
// AppletalkProtocolError with one of the three wire codes, nothing else; every frame it yields
// re-encodes to a frame of the same length that decodes to it again (APPLETALK_CODEC in
// cases.ts). The layers above DDP (ATP, ZIP, ASP) and LLAP are held to the same contract on
// their own: decode canonically or throw an AppletalkProtocolError.
//
// Runs: COLLOQUY_FUZZ_RUNS, else 10k per property (20k on CI). Replay with COLLOQUY_SEED=<seed>.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AppletalkProtocolError,
  decodeAspReply,
  decodeAspRequest,
  decodeAtp,
  decodeLlap,
  decodeZip,
  decodeZipAtpReply,
  decodeZipAtpRequest,
  encodeAspReply,
  encodeAspRequest,
  encodeAtp,
  encodeLlap,
  encodeZip,
  encodeZipAtpReply,
  encodeZipAtpRequest,
  type AspFunction,
} from '../../src/appletalk/index.js';
import { fuzzCases, fuzzRuns, mutatedStreams } from '../support/codec-harness.js';
import { APPLETALK_CODEC, concat, FIXTURES, hex } from './cases.js';

const VALID = FIXTURES.map((f) => f.wire);

/** A plausible prefix (802.3 length near the body's, or an Ethernet II type), SNAP or noise, a DDP-ish body. */
const noise = fc
  .tuple(
    fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 90 }), fc.constant(0x809b)),
    fc.boolean(),
    fc.constantFrom(3, 3, 6, 4, 2),
    fc.uint8Array({ maxLength: 70 }),
    fc.boolean(),
  )
  .map(([chosen, snap, type, body, framed]) => {
    if (!framed) return body;
    const ddpLength = 13 + body.length;
    const length = chosen === -1 ? 8 + ddpLength : chosen;
    const h = (n: number, w: number): string => n.toString(16).padStart(w, '0');
    const header = hex(
      `080007123414 08000712340a ${h(length, 4)} ${snap ? 'aaaa03080007809b' : 'aaaa0300000080f3'} ` +
        `${h(ddpLength & 0x3ff, 4)} 0000 03e8 03e8 14 0a 80 c8 ${h(type, 2)}`,
    );
    return concat([header, body, new Uint8Array(Math.max(0, 60 - header.length - body.length))]);
  });

describe('fuzz: AppletalkDecoder', () => {
  fuzzCases(APPLETALK_CODEC, {
    runs: fuzzRuns(10_000, 20_000),
    maxCut: 80,
    properties: [
      { name: 'arbitrary octets give frames or an AppletalkProtocolError', input: noise, decodes: true },
      {
        name: 'mutated valid streams give frames or an AppletalkProtocolError',
        input: mutatedStreams(VALID, 3),
        decodes: true,
      },
    ],
  });
});

describe('fuzz: the layers above DDP', () => {
  const runs = fuzzRuns(10_000, 20_000);
  const octets = fc.uint8Array({ maxLength: 40 });
  const word = fc.oneof(
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.constantFrom(0x04c80100, 0x02010007, 0x08000001, 0x01000001, 0x07010002),
  );
  const fns = fc.constantFrom<AspFunction>(
    'CloseSession',
    'Command',
    'GetStatus',
    'OpenSession',
    'Tickle',
    'Write',
    'WriteContinue',
    'Attention',
  );

  /** `decode` either throws an AppletalkProtocolError or gives what `again` re-encodes to the input. */
  const contract = (
    name: string,
    input: fc.Arbitrary<unknown[]>,
    decode: (...a: never[]) => unknown,
    again: (v: never, ...a: never[]) => void,
  ): void => {
    it(`${name}: canonical or an AppletalkProtocolError (${runs} runs)`, () => {
      let decoded = 0;
      fc.assert(
        fc.property(input, (args) => {
          let value: unknown;
          try {
            value = decode(...(args as never[]));
          } catch (error) {
            if (!(error instanceof AppletalkProtocolError)) throw error;
            expect(['ERR_MALFORMED_FRAME', 'ERR_FRAME_TOO_LARGE', 'ERR_UNKNOWN_FRAME_TYPE']).toContain(error.code);
            return;
          }
          decoded++;
          again(value as never, ...(args as never[]));
        }),
        { numRuns: runs },
      );
      expect(decoded).toBeGreaterThan(0);
    });
  };

  const zipish = fc.tuple(fc.constantFrom(1, 2, 5, 6, 8, 7), octets).map(([f, b]) => [concat([Uint8Array.of(f), b])]);
  contract('ZIP over DDP', zipish, decodeZip as never, (m: never, wire: Uint8Array) =>
    expect(encodeZip(m)).toEqual(wire),
  );
  const atpish = fc
    .tuple(
      fc.constantFrom(0x40, 0x60, 0x62, 0x64, 0x90, 0x88, 0xc0, 0x00, 0x65),
      fc.integer({ min: 0, max: 9 }),
      octets,
    )
    .map(([control, bitmap, rest]) => [concat([Uint8Array.of(control, bitmap), rest])]);
  contract('ATP', atpish, decodeAtp as never, (p: never, wire: Uint8Array) => expect(encodeAtp(p)).toEqual(wire));
  contract(
    'ATP headers',
    fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 12 })),
    decodeAtp as never,
    (p: never, wire: Uint8Array) => expect(encodeAtp(p)).toEqual(wire),
  );
  contract(
    'ZIP ATP requests',
    fc.tuple(word, fc.uint8Array({ maxLength: 2 })),
    decodeZipAtpRequest as never,
    (m: never, user: number) => expect(encodeZipAtpRequest(m)).toBe(user),
  );
  contract(
    'ZIP ATP replies',
    fc.tuple(word, octets),
    decodeZipAtpReply as never,
    (m: never, user: number, data: Uint8Array) => expect(encodeZipAtpReply(m)).toEqual({ user, data }),
  );
  contract(
    'ASP requests',
    fc.tuple(word, fc.uint8Array({ maxLength: 4 })),
    decodeAspRequest as never,
    (m: never, user: number, data: Uint8Array) => expect(encodeAspRequest(m)).toEqual({ user, data }),
  );
  contract(
    'ASP replies',
    fc.tuple(fns, word, fc.uint8Array({ maxLength: 4 })),
    decodeAspReply as never,
    (m: never, _fn: AspFunction, user: number, data: Uint8Array) => expect(encodeAspReply(m)).toEqual({ user, data }),
  );
  const llapish = fc
    .tuple(fc.constantFrom(1, 1, 2, 0x81), fc.uint8Array({ maxLength: 24 }), fc.boolean())
    .map(([type, body, fit]) => {
      const header = type === 2 ? 13 : 5;
      const length = fit ? Math.max(header, body.length + 2) : (body[0] ?? 0);
      return [concat([Uint8Array.of(0x14, 0x0a, type, length >> 8, length & 0xff), body])];
    });
  contract('LLAP', llapish, decodeLlap as never, (f: never, wire: Uint8Array) => expect(encodeLlap(f)).toEqual(wire));
});
