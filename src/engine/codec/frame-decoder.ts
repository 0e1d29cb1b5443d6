// FrameDecoder: bytes from a stream, in chunks of any size, to frames.
//
// The decoder never sees a socket: the runtime push()es what arrived and calls next() until it
// returns undefined. Theory of operation:
//
//   push(chunk) --> [current chunk | queued chunks ...]
//                        |
//   next():  header  <---+  type + length read in place; if the header is split across chunks its
//                        |  (at most 5) bytes are gathered in a small fixed buffer
//            body    <---+  if the whole body lies in one chunk it is decoded in place and `rest`
//                           fields are views into that chunk (zero copy); if it spans chunks that
//                           are adjacent in one ArrayBuffer (a runtime that reads a socket into
//                           consecutive parts of one slab) it is ONE view across them (zero copy);
//                           otherwise ONE buffer of exactly the body length is allocated (by
//                           `allocate`, which may skip zero-filling: every byte is written) and
//                           filled as bytes arrive
//
// Rules:
//   - The length is checked against maxFrameSize as soon as the varint ends, before any body byte
//     is awaited, so one frame never holds more than maxFrameSize + 5 bytes. Chunks the caller
//     pushes stay referenced until consumed: drain next() after each push to keep that bound.
//   - Payload views alias pushed chunks: do not reuse or mutate a chunk after pushing it.
//   - next() throws only ProtocolError. After a throw the decoder is failed for good: buffers are
//     released, push() is ignored and next() throws the same error again.
//   - Lowering maxFrameSize applies from the next header read; a frame whose header was already
//     accepted completes under the old limit.

import type { ProtocolError } from '../errors.js';
import { EMPTY, FrameType, type Frame, type FrameTypeName } from '../frames.js';
import { CODE_NAMES } from './frame-types.js';
import { checkMaxFrameSize, readHeader } from './decode.js';
import { decodeBody } from './decode-body.js';
import { DEFAULT_MAX_FRAME_SIZE, MAX_HEADER_LENGTH } from './limits.js';

export interface FrameDecoderOptions {
  /** Largest body accepted, in bytes. Default DEFAULT_MAX_FRAME_SIZE (256 KiB); 1 KiB..16 MiB. */
  maxFrameSize?: number;
  /**
   * Fresh bytes for a body that spans chunks. Default: a zero-filled Uint8Array. Every byte of
   * it is written before the frame is returned, so a runtime may pass an allocator that does not
   * zero (Node: Buffer.allocUnsafe).
   */
  allocate?: (length: number) => Uint8Array;
}

const WAIT = 0;

export class FrameDecoder {
  private max: number;
  private chunk: Uint8Array = EMPTY;
  private pos = 0;
  // Chunks behind `chunk`: made when one arrives while another is unread, let go when drained.
  private queue: Uint8Array[] | null = null;
  private queueHead = 0;
  private buffered = 0;
  // A header split across chunks; made the first time one is (~200 bytes with its ArrayBuffer,
  // which most decoders, an idle session's among them, never need).
  private header: Uint8Array | null = null;
  private headerFill = 0;
  // The frame whose header has been read; bodyLength < 0 while reading a header.
  private type: FrameTypeName = 'DATA';
  private code = 0;
  private headerLength = 0;
  private bodyLength = -1;
  private body: Uint8Array | null = null;
  private bodyFill = 0;
  // A body that spans chunks adjacent in memory, while it waits for its end: the queued chunks
  // (from queueHead) found to continue the current one, and the body bytes they and it hold.
  private spanChunks = 0;
  private spanBytes = 0;
  private failure: ProtocolError | null = null;
  // Undefined unless given: the default (zero-filled) needs no function field, so a decoder's state
  // stays plain data (the explorer copies machine state and refuses closures).
  private readonly allocate: ((length: number) => Uint8Array) | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.max = checkMaxFrameSize(options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE);
    this.allocate = options.allocate;
  }

  get maxFrameSize(): number {
    return this.max;
  }

  set maxFrameSize(value: number) {
    this.max = checkMaxFrameSize(value);
  }

  /** Bytes pushed and not yet returned as frames (a partial frame included). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.failure !== null) return;
    this.buffered += chunk.length;
    if (this.pos === this.chunk.length && this.queue === null) {
      this.chunk = chunk;
      this.pos = 0;
    } else {
      (this.queue ??= []).push(chunk);
    }
  }

  /** The next whole frame, or undefined until more bytes are pushed. Throws ProtocolError. */
  next(): Frame | undefined {
    return this.nextOf(false) as Frame | undefined;
  }

  /**
   * As next(), but a DATA frame comes as its payload alone, with no frame object (a runtime's
   * receive path: tell them apart by `instanceof Uint8Array`).
   */
  nextBare(): Frame | Uint8Array | undefined {
    return this.nextOf(true);
  }

  private nextOf(bare: boolean): Frame | Uint8Array | undefined {
    if (this.failure !== null) throw this.failure;
    try {
      return this.step(bare);
    } catch (error) {
      this.fail(error as ProtocolError);
      throw error;
    }
  }

  private fail(error: ProtocolError): void {
    this.failure = error;
    this.chunk = EMPTY;
    this.pos = 0;
    this.queue = null;
    this.queueHead = 0;
    this.body = null;
    this.spanChunks = 0;
    this.buffered = 0;
  }

  /** Moves to the next queued chunk; false if there is none. */
  private advance(): boolean {
    const q = this.queue;
    if (q === null) {
      this.chunk = EMPTY;
      this.pos = 0;
      return false;
    }
    this.chunk = q[this.queueHead]!;
    q[this.queueHead++] = EMPTY;
    if (this.queueHead === q.length) {
      this.queue = null;
      this.queueHead = 0;
    }
    this.pos = 0;
    return true;
  }

  private step(bare: boolean): Frame | Uint8Array | undefined {
    for (;;) {
      if (this.bodyLength >= 0) return this.readBody(bare);
      if (this.pos === this.chunk.length && !this.advance()) return undefined;
      const c = this.chunk;
      const p = this.pos;
      if (this.headerFill === 0) {
        // Hot path: the header lies in this chunk, and usually the body too.
        const h = readHeader(c, p, c.length, this.max);
        if (h >= 0) {
          const headerLength = h & 7;
          const start = p + headerLength;
          const stop = start + (h - headerLength) / 8;
          const code = c[p]!;
          if (stop <= c.length) {
            this.pos = stop;
            this.buffered -= stop - p;
            if (bare && code === FrameType.DATA) return c.subarray(start, stop);
            return decodeBody(CODE_NAMES[code]!, code, c, start, stop);
          }
          this.pos = start;
          this.startBody(code, headerLength, stop - start);
          continue;
        }
      }
      // The header runs past this chunk: gather it byte by byte (at most 5 bytes).
      const header = (this.header ??= new Uint8Array(MAX_HEADER_LENGTH));
      header[this.headerFill++] = c[p]!;
      this.pos = p + 1;
      const h = readHeader(header, 0, this.headerFill, this.max);
      if (h >= 0) {
        this.headerFill = 0;
        const headerLength = h & 7;
        this.startBody(header[0]!, headerLength, (h - headerLength) / 8);
      }
    }
  }

  private startBody(code: number, headerLength: number, bodyLength: number): void {
    this.code = code;
    this.type = CODE_NAMES[code]!;
    this.headerLength = headerLength;
    this.bodyLength = bodyLength;
    this.bodyFill = 0;
  }

  private readBody(bare: boolean): Frame | Uint8Array | undefined {
    const length = this.bodyLength;
    let body = this.body;
    if (body === null) {
      if (length > 0 && this.pos === this.chunk.length && !this.advance()) return undefined;
      const c = this.chunk;
      const start = this.pos;
      if (c.length - start >= length) {
        this.pos = start + length;
        return this.finish(c, start, bare);
      }
      const span = this.span(c, start, length);
      if (span === WAIT) return undefined;
      if (span !== null) return this.finish(span, 0, bare);
      body = this.body = this.allocate ? this.allocate(length) : new Uint8Array(length);
    }
    while (this.bodyFill < length) {
      if (this.pos === this.chunk.length && !this.advance()) return undefined;
      const c = this.chunk;
      const start = this.pos;
      const n = Math.min(length - this.bodyFill, c.length - start);
      body.set(c.subarray(start, start + n), this.bodyFill);
      this.bodyFill += n;
      this.pos = start + n;
    }
    this.body = null;
    return this.finish(body, 0, bare);
  }

  /**
   * The body of `length` bytes from `start` in the current chunk `c` as one view, when it and the
   * queued chunks after it are adjacent in one ArrayBuffer (consumed then); WAIT while they are
   * and the body's end has not arrived; null as soon as one is not (the body is copied then).
   */
  private span(c: Uint8Array, start: number, length: number): Uint8Array | typeof WAIT | null {
    const q = this.queue;
    if (this.spanChunks === 0) this.spanBytes = c.length - start;
    let last = this.spanChunks === 0 || q === null ? c : q[this.queueHead + this.spanChunks - 1]!;
    while (this.spanBytes < length) {
      const next = q?.[this.queueHead + this.spanChunks];
      if (next === undefined) return WAIT;
      if (next.buffer !== c.buffer || next.byteOffset !== last.byteOffset + last.length) {
        this.spanChunks = 0;
        return null;
      }
      this.spanChunks++;
      this.spanBytes += next.length;
      last = next;
    }
    const view = new Uint8Array(c.buffer, c.byteOffset + start, length);
    // The body ends in `last`, this many bytes before its end.
    const over = this.spanBytes - length;
    for (let i = this.spanChunks; i > 0; i--) this.advance();
    this.pos = this.chunk.length - over;
    this.spanChunks = 0;
    return view;
  }

  private finish(buf: Uint8Array, start: number, bare: boolean): Frame | Uint8Array {
    const length = this.bodyLength;
    this.bodyLength = -1;
    this.buffered -= this.headerLength + length;
    if (bare && this.code === FrameType.DATA) return buf.subarray(start, start + length);
    return decodeBody(this.type, this.code, buf, start, start + length);
  }
}
