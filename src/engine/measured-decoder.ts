// MeasuredFrameDecoder: a StreamDecoder for frames whose fixed-size prefix says how long the
// whole frame is (Ethernet frames read from a memory link or a pcap body, one after another:
// DECnet's and EtherTalk's). It reads the prefix, measures the frame from it (`measure` checks
// the prefix and throws the protocol's error on a bad one), gathers the rest into one buffer of
// at most `maxLength` octets, and hands the whole frame to `decode`. It never holds more than
// one frame, whatever arrives. Rules as for StreamDecoder.

import { StreamDecoder } from './stream-decoder.js';

export interface MeasuredFrameFormat<T> {
  /** Octets that say how long the frame is. */
  readonly prefixLength: number;
  /** The longest frame `measure` may return. */
  readonly maxLength: number;
  /** The whole frame's length, from its prefix (at least prefixLength, at most maxLength). */
  measure(prefix: Uint8Array): number;
  decode(frame: Uint8Array): T;
}

export class MeasuredFrameDecoder<T> extends StreamDecoder<T> {
  private readonly frame: Uint8Array;
  private fill = 0;
  /** The prefix length until the prefix is read, then the frame's whole length. */
  private want: number;
  private measured = false;

  constructor(private readonly format: MeasuredFrameFormat<T>) {
    super();
    this.frame = new Uint8Array(format.maxLength);
    this.want = format.prefixLength;
  }

  protected step(): T | undefined {
    for (;;) {
      if (!this.advance()) return undefined;
      const n = Math.min(this.want - this.fill, this.chunk.length - this.pos);
      this.frame.set(this.chunk.subarray(this.pos, this.pos + n), this.fill);
      this.fill += n;
      this.pos += n;
      if (this.fill < this.want) continue;
      if (!this.measured) {
        this.want = this.format.measure(this.frame);
        this.measured = true;
        if (this.fill < this.want) continue;
      }
      const frame = this.format.decode(this.frame.subarray(0, this.want));
      this.buffered -= this.want;
      this.fill = 0;
      this.want = this.format.prefixLength;
      this.measured = false;
      return frame;
    }
  }
}
