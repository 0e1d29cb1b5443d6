// Frame bodies from bytes, field by field in wire order as the frame schema (./schema.ts) lists
// them: the mirror of encode-body.ts. Byte-level problems are caught by the Reader as fields are
// read; value rules run afterwards in validateFrame, the same function the encoder uses. `rest`
// fields are views into the caller's buffer, not copies.

import { FrameType, type Frame, type FrameTypeName } from '../frames.js';
import { MAGIC } from './limits.js';
import { malformed, Reader } from './reader.js';
import { endsAtLastField, FRAME_SCHEMA, type FieldSpec } from './schema.js';
import { validateFrame } from './validate.js';

const ID_LENGTH = 16;

function readField(r: Reader, s: FieldSpec): unknown {
  switch (s.type) {
    case 'magic': {
      const m = r.fixed(MAGIC.length, 'magic');
      if (m[0] !== MAGIC[0] || m[1] !== MAGIC[1] || m[2] !== MAGIC[2] || m[3] !== MAGIC[3])
        malformed(r.frame, 'magic', 'is not "CLQY"');
      return undefined;
    }
    case 'u8':
      return r.u8(s.name);
    case 'u16':
      return r.u16(s.name);
    case 'u32':
      return r.u32(s.name);
    case 'count':
      return r.count(s.name);
    case 'id16':
      return r.fixed(ID_LENGTH, s.name);
    case 'bytes':
      return r.bytes(s.name);
    case 'string':
      return r.string(s.name);
    case 'rest':
      return r.rest();
    case 'rest-string':
      return r.restString(s.name);
    case 'sender': {
      const v = r.u8(s.name);
      if (v > 1) malformed(r.frame, s.name, `must be 0 or 1 (got ${v})`);
      return v === 0 ? 'initiator' : 'acceptor';
    }
    case 'flag': {
      const field = s.wire ?? s.name;
      const v = r.u8(field);
      if (v > 1) malformed(r.frame, field, s.badFlag ? s.badFlag(v) : `must be 0 or 1 (got ${v})`);
      return v === 1;
    }
  }
}

/** Fields read in order, into the shape of frames.ts; ranges are checked afterwards. */
function readFields(r: Reader, type: FrameTypeName): Frame {
  const fields = FRAME_SCHEMA[type];
  const frame: Record<string, unknown> = { type };
  for (const s of fields) {
    if (s.optional && r.atEnd) break;
    const value = readField(r, s);
    if (s.type !== 'magic') frame[s.name] = value;
  }
  if (endsAtLastField(fields)) r.done();
  return frame as unknown as Frame;
}

/**
 * Decodes the body buf[start..end) of a frame whose type the header check already resolved.
 * Throws ProtocolError('ERR_MALFORMED_FRAME').
 */
export function decodeBody(type: FrameTypeName, code: number, buf: Uint8Array, start: number, end: number): Frame {
  if (code === FrameType.DATA) return { type: 'DATA', payload: buf.subarray(start, end) };
  const frame = readFields(new Reader(buf, start, end, type), type);
  validateFrame(frame, malformed);
  return frame;
}
