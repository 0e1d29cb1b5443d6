// Frame headers, and decodeFrame() for a buffer that holds exactly one frame.
//
// readHeader() is shared with the streaming FrameDecoder. It checks the type byte as soon as it is
// there and the length as soon as the varint ends, so an unknown type or an oversized length is
// refused before any body byte is awaited or buffered.

import { ProtocolError, SessionError } from '../errors.js';
import type { Frame } from '../frames.js';
import { CODE_NAMES, hex } from './frame-types.js';
import { decodeBody } from './decode-body.js';
import { DEFAULT_MAX_FRAME_SIZE, MAX_LENGTH_VARINT_BYTES, MAX_MAX_FRAME_SIZE, MIN_MAX_FRAME_SIZE } from './limits.js';
import { malformed } from './reader.js';

/**
 * Parses `type | length` at buf[pos..end). Returns -1 while the header is incomplete, otherwise
 * `headerLength + 8 * bodyLength` (header length is 2..5, body length < 2^28: one number, no
 * allocation on the hot path). Throws ProtocolError.
 */
export function readHeader(buf: Uint8Array, pos: number, end: number, maxFrameSize: number): number {
  if (pos >= end) return -1;
  const code = buf[pos]!;
  const type = CODE_NAMES[code];
  if (type === undefined) {
    throw new ProtocolError('ERR_UNKNOWN_FRAME_TYPE', `unknown frame type ${hex(code)}`, { code });
  }
  let length = 0;
  for (let i = 0; i < MAX_LENGTH_VARINT_BYTES; i++) {
    const at = pos + 1 + i;
    if (at >= end) return -1;
    const b = buf[at]!;
    length |= (b & 0x7f) << (7 * i);
    if (b < 0x80) {
      if (b === 0 && i > 0) malformed(type, 'length', 'varint not minimal');
      if (length > maxFrameSize) {
        throw new ProtocolError(
          'ERR_FRAME_TOO_LARGE',
          `${type} frame of ${length} bytes exceeds the maximum frame size ${maxFrameSize}`,
          { frame: type, length, limit: maxFrameSize },
        );
      }
      return length * 8 + i + 2;
    }
  }
  return malformed(type, 'length', `varint longer than ${MAX_LENGTH_VARINT_BYTES} bytes`);
}

/** Throws ERR_INVALID_ARGUMENT unless MIN_MAX_FRAME_SIZE <= value <= MAX_MAX_FRAME_SIZE. */
export function checkMaxFrameSize(value: number): number {
  if (!Number.isInteger(value) || value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `maxFrameSize must be an integer in ${MIN_MAX_FRAME_SIZE}..${MAX_MAX_FRAME_SIZE} (got ${String(value)})`,
      'local',
      { maxFrameSize: value },
    );
  }
  return value;
}

/** Decodes `bytes`, which must hold exactly one whole frame. Throws ProtocolError otherwise. */
export function decodeFrame(bytes: Uint8Array, maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE): Frame {
  const h = readHeader(bytes, 0, bytes.length, checkMaxFrameSize(maxFrameSize));
  if (h < 0) {
    if (bytes.length === 0) {
      throw new ProtocolError('ERR_MALFORMED_FRAME', 'malformed frame: no bytes', { field: 'type' });
    }
    malformed(CODE_NAMES[bytes[0]!]!, 'length', 'truncated');
  }
  const headerLength = h & 7;
  const end = headerLength + (h - headerLength) / 8;
  const code = bytes[0]!;
  const type = CODE_NAMES[code]!;
  if (end > bytes.length) malformed(type, 'body', `truncated (needs ${end} bytes, has ${bytes.length})`);
  if (end < bytes.length) malformed(type, 'body', `${bytes.length - end} bytes after the frame`);
  return decodeBody(type, code, bytes, headerLength, end);
}
