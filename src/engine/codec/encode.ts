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

/** Encodes `frames` back to back into one buffer (the runtime coalesces writes with it). */
export function encodeFrames(frames: readonly Frame[]): Uint8Array {
  const count = frames.length;
  const lengths = new Array<number>(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const n = measureBody(frames[i]!);
    lengths[i] = n;
    total += 1 + varintLength(n) + n;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < count; i++) offset = writeFrame(frames[i]!, lengths[i]!, out, offset);
  return out;
}
