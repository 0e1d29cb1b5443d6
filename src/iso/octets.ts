// Octet helpers shared by the ISO codecs (TPKT/COTP and SPDU): coded errors and concatenation.
//
// The ISO decoders throw only ProtocolError (from the engine's error table), like the native
// codec: ERR_MALFORMED_FRAME for bytes that do not parse, ERR_FRAME_TOO_LARGE for a length past
// a bound in force, ERR_UNKNOWN_FRAME_TYPE for a TPDU or SPDU code this profile does not speak.
// Encoders throw a local SessionError (ERR_PAYLOAD_TOO_LARGE / ERR_INVALID_ARGUMENT) when asked
// to put on the wire what the format cannot hold.

import { ProtocolError, SessionError } from '../engine/errors.js';

export type Layer = 'TPKT' | 'COTP' | 'SPDU';

export function malformed(layer: Layer, what: string, details: Record<string, unknown> = {}): never {
  throw new ProtocolError('ERR_MALFORMED_FRAME', `malformed ${layer}: ${what}`, { layer, ...details });
}

export function unknownType(layer: Layer, what: string, details: Record<string, unknown> = {}): never {
  throw new ProtocolError('ERR_UNKNOWN_FRAME_TYPE', `${layer}: ${what}`, { layer, ...details });
}

export function tooLarge(layer: Layer, what: string, details: Record<string, unknown> = {}): never {
  throw new ProtocolError('ERR_FRAME_TOO_LARGE', `${layer}: ${what}`, { layer, ...details });
}

/** A local refusal to encode: the value does not fit the field or the limit in force. */
export function cannotEncode(what: string, limit?: number): never {
  throw new SessionError(
    limit === undefined ? 'ERR_INVALID_ARGUMENT' : 'ERR_PAYLOAD_TOO_LARGE',
    what,
    'local',
    limit === undefined ? {} : { limit },
  );
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Hex text (spaces, colons and a leading 0x allowed) to bytes; throws a local error otherwise. */
export function parseHex(text: string): Uint8Array {
  const clean = text.trim().replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) cannotEncode(`not hex: '${text}'`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
