// DecnetDecoder: a byte stream of whole Ethernet frames (as a memory link or a pcap body carries
// them, frame after frame) to DecnetFrames. A frame is max(60, 16 + LENGTH) octets (frame.ts),
// so the decoder reads 16 octets, checks the type and LENGTH, then gathers the rest into one
// buffer of at most MAX_FRAME_LENGTH (1514) octets: it never holds more, whatever arrives.
// Rules as for the other decoders (src/engine/stream-decoder.ts): push() then next() until
// undefined; next() throws only DecnetProtocolError and then stays failed with it.

import { StreamDecoder } from '../engine/stream-decoder.js';
import { decodeFrame, FRAME_PREFIX_LENGTH, frameLength, MAX_FRAME_LENGTH, type DecnetFrame } from './frame.js';

export class DecnetDecoder extends StreamDecoder<DecnetFrame> {
  private readonly frame = new Uint8Array(MAX_FRAME_LENGTH);
  private fill = 0;
  /** FRAME_PREFIX_LENGTH until the prefix is read, then the frame's whole length. */
  private want = FRAME_PREFIX_LENGTH;
  private measured = false;

  protected step(): DecnetFrame | undefined {
    for (;;) {
      if (!this.advance()) return undefined;
      const n = Math.min(this.want - this.fill, this.chunk.length - this.pos);
      this.frame.set(this.chunk.subarray(this.pos, this.pos + n), this.fill);
      this.fill += n;
      this.pos += n;
      if (this.fill < this.want) continue;
      if (!this.measured) {
        this.want = frameLength(this.frame);
        this.measured = true;
        if (this.fill < this.want) continue;
      }
      const frame = decodeFrame(this.frame.subarray(0, this.want));
      this.buffered -= this.want;
      this.fill = 0;
      this.want = FRAME_PREFIX_LENGTH;
      this.measured = false;
      return frame;
    }
  }
}
