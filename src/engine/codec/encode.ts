// Encoder: Frame -> bytes (docs/protocol.md §1-4).
//
//   +------+----------------+------------------+
//   | type | length: varint | body (length B)  |
//   +------+----------------+------------------+
//     u8     1..4 bytes
//
// Every frame is checked before a byte is written: a frame that cannot be encoded throws
// SessionError('ERR_INVALID_ARGUMENT') (origin local) and leaves the target untouched.
// DATA takes a path of its own (no measuring pass, no validation beyond its size): it is most of
// the traffic. The module-level writer makes these functions non-reentrant, which is fine since
// nothing here calls out.

import { FrameType, type Frame } from '../frames.js';
import { MAX_BODY_LENGTH } from './limits.js';
import { validateFrame } from './validate.js';
import { invalid, varintLength, Writer, writeVarint } from './writer.js';
import { writeBody } from './encode-body.js';

const writer = new Writer();

/** Body length of `frame`, after checking every rule; throws if it cannot be encoded. */
function measureBody(frame: Frame): number {
  let n: number;
  if (frame.type === 'DATA') {
    n = frame.payload.length;
  } else {
    validateFrame(frame, invalid);
    writer.begin(frame.type, null, 0);
    writeBody(writer, frame);
    n = writer.end();
  }
  if (n > MAX_BODY_LENGTH) invalid(frame.type, 'length', `body of ${n} bytes exceeds ${MAX_BODY_LENGTH}`);
  return n;
}

/** Writes a frame whose body length is known and checked; returns the new offset. */
function writeFrame(frame: Frame, bodyLength: number, target: Uint8Array, offset: number): number {
  target[offset] = FrameType[frame.type];
  const start = writeVarint(target, offset + 1, bodyLength);
  if (frame.type === 'DATA') {
    target.set(frame.payload, start);
    return start + bodyLength;
  }
  writer.begin(frame.type, target, start);
  writeBody(writer, frame);
  return writer.end();
}

/** Bytes `frame` takes on the wire, header included. */
export function encodedLength(frame: Frame): number {
  const n = measureBody(frame);
  return 1 + varintLength(n) + n;
}

export function encodeFrame(frame: Frame): Uint8Array {
  const n = measureBody(frame);
  const out = new Uint8Array(1 + varintLength(n) + n);
  writeFrame(frame, n, out, 0);
  return out;
}

/** Encodes `frame` at `target[offset]`; returns the offset just past it. */
export function encodeFrameInto(frame: Frame, target: Uint8Array, offset: number): number {
  const n = measureBody(frame);
  const total = 1 + varintLength(n) + n;
  if (!Number.isInteger(offset) || offset < 0 || offset + total > target.length) {
    invalid(frame.type, 'target', `${total} bytes do not fit at offset ${offset} of a ${target.length}-byte buffer`);
  }
  return writeFrame(frame, n, target, offset);
}

/** Body lengths measured by encodeFrames (reused: these functions are not reentrant anyway). */
const lengths: number[] = [];

/**
 * Encodes `frames` back to back into one buffer (the runtime coalesces writes with it). A result
 * of up to SLAB_MAX_TAKE bytes is a view carved from a block shared by every caller (see
 * takeBytes): read it through its byteOffset and byteLength, never through its whole `.buffer`.
 *
 * With `lastPayloadApart`, the last frame must be DATA and the result ends with its header: its
 * payload is not copied, and the caller writes it next, as it is (a large payload then costs no
 * copy; a transport that gathers writes sends both in one system call).
 */
export function encodeFrames(frames: readonly Frame[], lastPayloadApart = false): Uint8Array {
  const count = frames.length;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const n = measureBody(frames[i]!);
    lengths[i] = n;
    total += 1 + varintLength(n) + n;
  }
  const last = frames[count - 1];
  const apart = lastPayloadApart && last?.type === 'DATA' ? last.payload.length : -1;
  const out = takeBytes(apart < 0 ? total : total - apart);
  let offset = 0;
  const whole = apart < 0 ? count : count - 1;
  for (let i = 0; i < whole; i++) offset = writeFrame(frames[i]!, lengths[i]!, out, offset);
  if (apart >= 0) {
    out[offset] = FrameType.DATA;
    writeVarint(out, offset + 1, apart);
  }
  lengths.length = 0;
  return out;
}

/**
 * One DATA frame around `payload` (encodeFrames of that one frame, without the frame object or
 * the measuring pass). The same shared-block rule as encodeFrames holds for the result.
 */
export function encodeData(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  if (n > MAX_BODY_LENGTH) invalid('DATA', 'length', `body of ${n} bytes exceeds ${MAX_BODY_LENGTH}`);
  const start = 1 + varintLength(n);
  const out = takeBytes(start + n);
  out[0] = FrameType.DATA;
  writeVarint(out, 1, n);
  out.set(payload, start);
  return out;
}

/** Size of the blocks small encodings are carved from. */
export const SLAB_BLOCK = 16 * 1024;
/** Encodings up to this size come from the shared block; larger ones get a buffer of their own. */
export const SLAB_MAX_TAKE = 2 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * `n` fresh bytes that nobody else holds or will be handed again. A typed array of more than 64
 * bytes lives outside the JS heap: allocating one costs about as much as encoding a small frame
 * (~1.5 us, mostly malloc and the GC's tracking of it), so small encodings are carved, never
 * reused, from a block shared by all sessions; a full block is left to the GC once its views are
 * gone. A view keeps its block (SLAB_BLOCK bytes) alive while it is held (in a socket's queue).
 */
function takeBytes(n: number): Uint8Array {
  if (n > SLAB_MAX_TAKE) return new Uint8Array(n);
  if (slabUsed + n > slab.length) {
    slab = new Uint8Array(SLAB_BLOCK);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return out;
}
