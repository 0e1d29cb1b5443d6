// Frame bodies, field by field in wire order, as the frame schema (./schema.ts) lists them: the
// mirror of decode-body.ts, which walks the same lists.

import type { Frame, FrameTypeName } from '../frames.js';
import { MAGIC } from './limits.js';
import { FRAME_SCHEMA, type FieldSpec } from './schema.js';
import { invalid, type Writer } from './writer.js';

function writeField(w: Writer, frame: FrameTypeName, s: FieldSpec, value: unknown): void {
  switch (s.type) {
    case 'magic':
      return w.raw(MAGIC);
    case 'u8':
      return w.u8(value as number, s.name);
    case 'u16':
      return w.u16(value as number, s.name);
    case 'u32':
      return w.u32(value as number, s.name);
    case 'count':
      return w.count(value as number, s.name);
    case 'id16':
    case 'rest':
      return w.raw(value as Uint8Array);
    case 'bytes':
      return w.bytes(value as Uint8Array);
    case 'string':
      return w.string(value as string, s.name);
    case 'rest-string':
      return w.restString(value as string, s.name);
    case 'sender':
      if (value !== 'initiator' && value !== 'acceptor')
        invalid(frame, s.name, `must be 'initiator' or 'acceptor' (got ${String(value)})`);
      return w.u8(value === 'initiator' ? 0 : 1, s.name);
    case 'flag':
      if (s.strict && typeof value !== 'boolean') invalid(frame, s.name, 'must be a boolean');
      return w.u8(value ? 1 : 0, s.wire ?? s.name);
  }
}

/** Writes (or measures) the body of `frame`; the caller has run validateFrame on it. */
export function writeBody(w: Writer, f: Frame): void {
  if (!Object.hasOwn(FRAME_SCHEMA, f.type))
    return invalid(String((f as { type: unknown }).type), 'type', 'unknown frame type');
  const fields = FRAME_SCHEMA[f.type];
  const values = f as unknown as Record<string, unknown>;
  for (const s of fields) {
    if (s.optional && values[s.name] === undefined) break;
    writeField(w, f.type, s, values[s.name]);
  }
}
