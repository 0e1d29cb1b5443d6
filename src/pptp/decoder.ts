// PptpDecoder: octets from the control connection, in chunks of any size, to control messages.
//
// Every control message is at most MAX_MESSAGE_LENGTH (220) octets, so the decoder gathers each
// into one fixed buffer of that size: it never holds more, whatever the peer sends. The Length is
// checked once 2 octets are in, the rest of the header once 12 are (codec.ts), before the body
// is awaited. Rules as for the other decoders: push() then next() until undefined; next()
// throws only PptpProtocolError, and after a throw the decoder stays failed with that error.

import { StreamDecoder } from '../engine/stream-decoder.js';
import { checkHeader, checkLength, decodeBody } from './codec.js';
import { MAX_MESSAGE_LENGTH, PPTP_HEADER_LENGTH, type PptpMessage, type PptpMessageType } from './messages.js';

export class PptpDecoder extends StreamDecoder<PptpMessage> {
  private readonly message = new Uint8Array(MAX_MESSAGE_LENGTH);
  private fill = 0;
  /** 2 until the Length is read, then the Length. */
  private want = 2;
  private type: PptpMessageType | null = null;

  protected step(): PptpMessage | undefined {
    // Each pass copies at least one octet, and `want` never exceeds MAX_MESSAGE_LENGTH.
    for (;;) {
      if (!this.advance()) return undefined;
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
