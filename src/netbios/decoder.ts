// NetbiosDecoder: octets from a stream, in chunks of any size, to session packets.
//
// The decoder never sees a socket: push() what arrived, then call next() until it returns
// undefined. Theory of operation:
//
//   push(chunk) --> queue of chunks
//   next():  header  4 octets, gathered across chunks if need be, checked at once (checkHeader):
//                    unknown type, reserved flags, a LENGTH wrong for the type or beyond
//                    maxMessageSize fail before any body octet is awaited
//            body    decoded in place when it lies in one chunk (a SESSION MESSAGE's data is then a
//                    view into that chunk: zero copy); otherwise ONE buffer of exactly LENGTH
//                    octets is allocated and filled as chunks arrive
//
// Rules:
//   - One packet never holds more than 4 + maxMessageSize octets of our memory. Chunks the caller
//     pushes stay referenced until consumed: drain next() after each push to keep that bound.
//   - Data views alias pushed chunks: do not reuse or mutate a chunk after pushing it.
//   - next() throws only NetbiosProtocolError. After a throw the decoder is failed for good:
//     buffers are released, push() is ignored and next() throws the same error again.

import { StreamDecoder } from '../engine/stream-decoder.js';
import { checkHeader, checkMaxMessageSize, decodeBody } from './codec.js';
import { HEADER_LENGTH, MAX_MESSAGE_SIZE, type NetbiosPacket } from './packets.js';

export interface NetbiosDecoderOptions {
  /** Largest SESSION MESSAGE accepted, in octets: 0..0x1FFFF, default 0x1FFFF (the 17-bit maximum). */
  maxMessageSize?: number;
}

export class NetbiosDecoder extends StreamDecoder<NetbiosPacket> {
  readonly maxMessageSize: number;
  private readonly header = new Uint8Array(HEADER_LENGTH);
  private headerFill = 0;
  private code = 0;
  /** < 0 while reading a header. */
  private bodyLength = -1;
  private body: Uint8Array | null = null;
  private bodyFill = 0;

  constructor(options: NetbiosDecoderOptions = {}) {
    super();
    this.maxMessageSize = checkMaxMessageSize(options.maxMessageSize ?? MAX_MESSAGE_SIZE);
  }

  /** After a NetbiosProtocolError: the partial body is released with the queue. */
  protected override discard(): void {
    this.body = null;
  }

  protected step(): NetbiosPacket | undefined {
    // At most HEADER_LENGTH passes gather a split header; then bodyLength >= 0 ends the loop.
    while (this.bodyLength < 0) {
      if (!this.advance()) return undefined;
      const c = this.chunk;
      if (this.headerFill === 0 && c.length - this.pos >= HEADER_LENGTH) {
        // Usual case: the header lies in one chunk; check it there.
        this.startBody(c, this.pos);
        this.pos += HEADER_LENGTH;
      } else {
        this.header[this.headerFill++] = c[this.pos++]!;
        if (this.headerFill === HEADER_LENGTH) this.startBody(this.header, 0);
      }
    }
    return this.readBody();
  }

  private startBody(buf: Uint8Array, at: number): void {
    this.bodyLength = checkHeader(buf, at, this.maxMessageSize);
    this.code = buf[at]!;
    this.headerFill = 0;
    this.bodyFill = 0;
  }

  private readBody(): NetbiosPacket | undefined {
    const length = this.bodyLength;
    if (this.body === null) {
      if (length > 0 && !this.advance()) return undefined;
      const c = this.chunk;
      const start = this.pos;
      if (c.length - start >= length) {
        this.pos = start + length;
        return this.finish(c, start);
      }
      this.body = new Uint8Array(length);
    }
    const body = this.body;
    while (this.bodyFill < length) {
      if (!this.advance()) return undefined;
      const c = this.chunk;
      const n = Math.min(length - this.bodyFill, c.length - this.pos);
      body.set(c.subarray(this.pos, this.pos + n), this.bodyFill);
      this.bodyFill += n;
      this.pos += n;
    }
    this.body = null;
    return this.finish(body, 0);
  }

  private finish(buf: Uint8Array, start: number): NetbiosPacket {
    const length = this.bodyLength;
    this.bodyLength = -1;
    this.buffered -= HEADER_LENGTH + length;
    return decodeBody(this.code, buf, start, start + length);
  }
}
