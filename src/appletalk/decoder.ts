// AppletalkDecoder: a byte stream of whole EtherTalk Phase 2 frames (as a memory link or a pcap
// body carries them, frame after frame) to EtherTalkFrames. A frame is max(60, 14 + LENGTH)
// octets (frame.ts), so the decoder reads 14 octets, checks the 802.3 length, then gathers the
// rest into one buffer of at most MAX_FRAME_LENGTH (1514) octets: it never holds more
// (src/engine/measured-decoder.ts). Rules as for the other decoders (src/engine/stream-decoder.ts):
// push() then next() until undefined; next() throws only AppletalkProtocolError and then stays
// failed with it.

import { MeasuredFrameDecoder } from '../engine/measured-decoder.js';
import { decodeEtherTalk, FRAME_PREFIX_LENGTH, frameLength, MAX_FRAME_LENGTH, type EtherTalkFrame } from './frame.js';

export class AppletalkDecoder extends MeasuredFrameDecoder<EtherTalkFrame> {
  constructor() {
    super({
      prefixLength: FRAME_PREFIX_LENGTH,
      maxLength: MAX_FRAME_LENGTH,
      measure: frameLength,
      decode: decodeEtherTalk,
    });
  }
}
