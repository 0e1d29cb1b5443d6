// Reader: the decoder's cursor over one frame body, buf[pos..end). Each method reads one field
// type of docs/protocol.md §3 and throws ProtocolError('ERR_MALFORMED_FRAME') naming the frame and
// the field when the bytes do not hold one. Integers are read with shifts (no DataView).

import { ProtocolError } from '../errors.js';
import type { FrameTypeName } from '../frames.js';
import { MAX_COUNT_VARINT_BYTES, MAX_LENGTH_VARINT_BYTES, MAX_STRING_BYTES } from './limits.js';
import { readUtf8 } from './utf8.js';

/** The decoder's report of a broken rule (also the Fail passed to validateFrame). */
export function malformed(frame: FrameTypeName, field: string, why: string): never {
  throw new ProtocolError('ERR_MALFORMED_FRAME', `malformed frame ${frame}.${field}: ${why}`, { frame, field });
}

export class Reader {
  constructor(
    private readonly buf: Uint8Array,
    private pos: number,
    private readonly end: number,
    readonly frame: FrameTypeName,
  ) {}

  private need(n: number, field: string): number {
    const at = this.pos;
    const left = this.end - at;
    if (left < n) malformed(this.frame, field, `truncated (needs ${n} bytes, ${left} left)`);
    this.pos = at + n;
    return at;
  }

  u8(field: string): number {
    return this.buf[this.need(1, field)]!;
  }

  u16(field: string): number {
    const at = this.need(2, field);
    return (this.buf[at]! << 8) | this.buf[at + 1]!;
  }

  u32(field: string): number {
    const b = this.buf;
    const at = this.need(4, field);
    return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  }

  /** Unsigned LEB128, minimal, at most `maxBytes` bytes and Number.MAX_SAFE_INTEGER. */
  varint(field: string, maxBytes: number = MAX_COUNT_VARINT_BYTES): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.u8(field);
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (b === 0 && i > 0) malformed(this.frame, field, 'varint not minimal');
        // Doubles round monotonically, so anything at or past 2^53 lands above the limit.
        if (value > Number.MAX_SAFE_INTEGER) malformed(this.frame, field, 'larger than 2^53 - 1');
        return value;
      }
      scale *= 0x80;
    }
    return malformed(this.frame, field, `varint longer than ${maxBytes} bytes`);
  }

  count(field: string): number {
    return this.varint(field);
  }

  /** Exactly `n` bytes, as a view (no copy). */
  fixed(n: number, field: string): Uint8Array {
    const at = this.need(n, field);
    return this.buf.subarray(at, at + n);
  }

  /** varint length + bytes, as a view. */
  bytes(field: string): Uint8Array {
    return this.fixed(this.varint(field, MAX_LENGTH_VARINT_BYTES), field);
  }

  string(field: string): string {
    return this.text(this.bytes(field), field);
  }

  /** Everything left in the body, as a view. */
  rest(): Uint8Array {
    const at = this.pos;
    this.pos = this.end;
    return this.buf.subarray(at, this.end);
  }

  restString(field: string): string {
    return this.text(this.rest(), field);
  }

  private text(bytes: Uint8Array, field: string): string {
    if (bytes.length > MAX_STRING_BYTES) {
      malformed(this.frame, field, `${bytes.length} bytes, more than ${MAX_STRING_BYTES}`);
    }
    const s = readUtf8(bytes);
    return s ?? malformed(this.frame, field, 'not valid UTF-8');
  }

  /** Whether the body has no bytes left (an optional trailing field is absent). */
  get atEnd(): boolean {
    return this.pos === this.end;
  }

  /** The body must end here. */
  done(): void {
    const left = this.end - this.pos;
    if (left !== 0) malformed(this.frame, 'body', `${left} bytes left over`);
  }
}
