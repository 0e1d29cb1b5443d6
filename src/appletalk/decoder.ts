// AppletalkDecoder: a byte stream of whole EtherTalk Phase 2 frames (as a memory link or a pcap
// body carries them, frame after frame) to EtherTalkFrames. A frame is max(60, 14 + LENGTH)
// octets (frame.ts), so the decoder reads 14 octets, checks the 802.3 length, then gathers the
// rest into one buffer of at most MAX_FRAME_LENGTH (1514) octets: it never holds more.
// Rules as for the other decoders (src/engine/stream-decoder.ts): push() then next() until
// undefined; next() throws only AppletalkProtocolError and then stays failed with it.

import { StreamDecoder } from '../engine/stream-decoder.js';
import { decodeEtherTalk, FRAME_PREFIX_LENGTH, frameLength, MAX_FRAME_LENGTH, type EtherTalkFrame } from './frame.js';

export class AppletalkDecoder extends StreamDecoder<EtherTalkFrame> {
  private readonly frame = new Uint8Array(MAX_FRAME_LENGTH);
  private fill = 0;
  /** FRAME_PREFIX_LENGTH until the prefix is read, then the frame's whole length. */
  private want = FRAME_PREFIX_LENGTH;
  private measured = false;

  protected step(): EtherTalkFrame | undefined {
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
      const frame = decodeEtherTalk(this.frame.subarray(0, this.want));
      this.buffered -= this.want;
      this.fill = 0;
      this.want = FRAME_PREFIX_LENGTH;
      this.measured = false;
      return frame;
    }
  }
}
