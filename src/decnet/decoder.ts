// DecnetDecoder: a byte stream of whole Ethernet frames (as a memory link or a pcap body carries
// them, frame after frame) to DecnetFrames. A frame is max(60, 16 + LENGTH) octets (frame.ts),
// so the decoder reads 16 octets, checks the type and LENGTH, then gathers the rest into one
// buffer of at most MAX_FRAME_LENGTH (1514) octets: it never holds more, whatever arrives
// (src/engine/measured-decoder.ts). Rules as for the other decoders (src/engine/stream-decoder.ts):
// push() then next() until undefined; next() throws only DecnetProtocolError and then stays failed
// with it.

import { MeasuredFrameDecoder } from '../engine/measured-decoder.js';
import { decodeFrame, FRAME_PREFIX_LENGTH, frameLength, MAX_FRAME_LENGTH, type DecnetFrame } from './frame.js';

export class DecnetDecoder extends MeasuredFrameDecoder<DecnetFrame> {
  constructor() {
    super({
      prefixLength: FRAME_PREFIX_LENGTH,
      maxLength: MAX_FRAME_LENGTH,
      measure: frameLength,
      decode: decodeFrame,
    });
  }
}
