// Limits of the native wire format, and the receive limits a decoder enforces (docs/protocol.md §1).
//
// `maxFrameSize` bounds a frame's BODY (the `length` field), not counting the type byte and the
// length varint. A receiver refuses a longer frame as soon as it has read the length, so a peer can
// never make it buffer more than `maxFrameSize + MAX_HEADER_LENGTH` bytes for one frame.

import {
  DEFAULT_FRAME_SIZE,
  MAX_ACTIVITY_ID,
  MAX_FRAME_SIZE,
  MAX_MESSAGE_BYTES,
  MIN_ACTIVITY_ID,
  MIN_FRAME_SIZE,
} from '../frames.js';

/** Receive limit when none is configured: 256 KiB of body. */
export const DEFAULT_MAX_FRAME_SIZE = DEFAULT_FRAME_SIZE;
/** Smallest `maxFrameSize` a decoder accepts (room for a CONNECT with credentials). */
export const MIN_MAX_FRAME_SIZE = MIN_FRAME_SIZE;
/** Largest `maxFrameSize` a decoder accepts: 16 MiB. */
export const MAX_MAX_FRAME_SIZE = MAX_FRAME_SIZE;

/** The length varint has at most 4 bytes, so a body is shorter than 2^28 bytes on the wire. */
export const MAX_LENGTH_VARINT_BYTES = 4;
export const MAX_BODY_LENGTH = 2 ** 28 - 1;
/** type (1) + length varint (up to 4). */
export const MAX_HEADER_LENGTH = 1 + MAX_LENGTH_VARINT_BYTES;
/** `count` fields: up to 8 varint bytes, value at most Number.MAX_SAFE_INTEGER. */
export const MAX_COUNT_VARINT_BYTES = 8;

/** `string` and `rest-string` fields hold at most this many UTF-8 bytes. */
export const MAX_STRING_BYTES = MAX_MESSAGE_BYTES;
/** Activity identifiers are 1..64 bytes. */
export const MIN_ACTIVITY_ID_LENGTH = MIN_ACTIVITY_ID;
export const MAX_ACTIVITY_ID_LENGTH = MAX_ACTIVITY_ID;

/** CONNECT starts with ASCII "CLQY" so that a stray client of another protocol fails at once. */
export const MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x43, 0x4c, 0x51, 0x59);
