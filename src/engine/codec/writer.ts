// Writer: the encoder's cursor. One body writer runs twice per frame: first measuring (no buffer,
// only `pos` advances, every value is checked), then writing into a buffer already sized. Sharing
// one code path for both passes is what keeps encodedLength() and the bytes written in step.
//
// Multi-byte integers are big-endian, written with shifts (no DataView per frame).

import { SessionError } from '../errors.js';
import type { FrameTypeName } from '../frames.js';
import { MAX_STRING_BYTES } from './limits.js';
import { utf8Length, writeUtf8 } from './utf8.js';

/** The encoder's report of a frame that cannot be encoded. */
export function invalid(frame: FrameTypeName | string, field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode ${frame}.${field}: ${why}`, 'local', { frame, field });
}

/** Bytes `value` takes as an unsigned LEB128 varint (value: a safe non-negative integer). */
export function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** Writes `value` as a minimal unsigned LEB128 varint; returns the new offset. */
export function writeVarint(target: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    target[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  target[offset++] = value;
  return offset;
}

export class Writer {
  frame: FrameTypeName = 'DATA';
  pos = 0;
  private buf: Uint8Array | null = null;

  /** Starts a measuring pass (buf null) or a writing pass at `target[offset]`. */
  begin(frame: FrameTypeName, target: Uint8Array | null, offset: number): void {
    this.frame = frame;
    this.buf = target;
    this.pos = offset;
  }

  /** Drops the reference to the target buffer once a pass is over. */
  end(): number {
    this.buf = null;
    return this.pos;
  }

  private uint(value: number, max: number, field: string): void {
    if (!Number.isInteger(value) || value < 0 || value > max) {
      invalid(this.frame, field, `must be an integer in 0..${max} (got ${String(value)})`);
    }
  }

  u8(value: number, field: string): void {
    this.uint(value, 0xff, field);
    if (this.buf !== null) this.buf[this.pos] = value;
    this.pos += 1;
  }

  u16(value: number, field: string): void {
    this.uint(value, 0xffff, field);
    const b = this.buf;
    if (b !== null) {
      b[this.pos] = value >>> 8;
      b[this.pos + 1] = value;
    }
    this.pos += 2;
  }

  u32(value: number, field: string): void {
    this.uint(value, 0xffff_ffff, field);
    const b = this.buf;
    if (b !== null) {
      const p = this.pos;
      b[p] = value >>> 24;
      b[p + 1] = value >>> 16;
      b[p + 2] = value >>> 8;
      b[p + 3] = value;
    }
    this.pos += 4;
  }

  count(value: number, field: string): void {
    this.uint(value, Number.MAX_SAFE_INTEGER, field);
    this.varint(value);
  }

  private varint(value: number): void {
    if (this.buf !== null) this.pos = writeVarint(this.buf, this.pos, value);
    else this.pos += varintLength(value);
  }

  /** The bytes of `value` as they are, no length: id16 (length checked by validateFrame), magic, rest. */
  raw(value: Uint8Array): void {
    if (this.buf !== null) this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** varint length + bytes. */
  bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.raw(value);
  }

  /** varint length + UTF-8 (at most MAX_STRING_BYTES). */
  string(value: string, field: string): void {
    const n = this.utf8(value, field);
    this.varint(n);
    this.text(value, n);
  }

  /** UTF-8 to the end of the body (at most MAX_STRING_BYTES). */
  restString(value: string, field: string): void {
    this.text(value, this.utf8(value, field));
  }

  private utf8(value: string, field: string): number {
    if (typeof value !== 'string') invalid(this.frame, field, 'must be a string');
    const n = utf8Length(value);
    if (n > MAX_STRING_BYTES) invalid(this.frame, field, `${n} UTF-8 bytes, more than ${MAX_STRING_BYTES}`);
    return n;
  }

  private text(value: string, n: number): void {
    if (this.buf !== null) writeUtf8(value, this.buf, this.pos);
    this.pos += n;
  }
}
