// PptpDecoder: octets from the control connection, in chunks of any size, to control messages.
//
// Every control message is at most MAX_MESSAGE_LENGTH (220) octets, so the decoder gathers each
// into one fixed buffer of that size: it never holds more, whatever the peer sends. The Length is
// checked once 2 octets are in, the rest of the header once 12 are (codec.ts), before the body
// is awaited. Rules as for the other decoders: push() then next() until undefined; next()
// throws only PptpProtocolError, and after a throw the decoder stays failed with that error.

import { checkHeader, checkLength, decodeBody } from './codec.js';
import type { PptpProtocolError } from './errors.js';
import { MAX_MESSAGE_LENGTH, PPTP_HEADER_LENGTH, type PptpMessage, type PptpMessageType } from './messages.js';

const EMPTY = new Uint8Array(0);

export class PptpDecoder {
  private readonly queue: Uint8Array[] = [];
  private chunk: Uint8Array = EMPTY;
  private pos = 0;
  private buffered = 0;
  private readonly message = new Uint8Array(MAX_MESSAGE_LENGTH);
  private fill = 0;
  /** 2 until the Length is read, then the Length. */
  private want = 2;
  private type: PptpMessageType | null = null;
  private failure: PptpProtocolError | null = null;

  /** Octets pushed and not yet returned as messages (a partial message included). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.failure !== null) return;
    this.buffered += chunk.length;
    this.queue.push(chunk);
  }

  next(): PptpMessage | undefined {
    if (this.failure !== null) throw this.failure;
    try {
      return this.step();
    } catch (error) {
      this.failure = error as PptpProtocolError;
      this.queue.length = 0;
      this.chunk = EMPTY;
      this.buffered = 0;
      throw error;
    }
  }

  private step(): PptpMessage | undefined {
    // Each pass copies at least one octet, and `want` never exceeds MAX_MESSAGE_LENGTH.
    for (;;) {
      while (this.pos === this.chunk.length) {
        const next = this.queue.shift();
        if (next === undefined) {
          this.chunk = EMPTY;
          this.pos = 0;
          return undefined;
        }
        this.chunk = next;
        this.pos = 0;
      }
      // Gather the Length, then the rest of the header, then the body: each checked when complete.
      const target = this.want === 2 ? 2 : this.type === null ? PPTP_HEADER_LENGTH : this.want;
      const n = Math.min(target - this.fill, this.chunk.length - this.pos);
      this.message.set(this.chunk.subarray(this.pos, this.pos + n), this.fill);
      this.fill += n;
      this.pos += n;
      if (this.fill < target) continue;
      if (this.want === 2) {
        this.want = checkLength(this.message, 0);
        continue;
      }
      if (this.type === null) {
        this.type = checkHeader(this.message, 0);
        if (this.fill < this.want) continue;
      }
      const message = decodeBody(this.type!, this.message, 0);
      this.buffered -= this.want;
      this.fill = 0;
      this.want = 2;
      this.type = null;
      return message;
    }
  }
}
