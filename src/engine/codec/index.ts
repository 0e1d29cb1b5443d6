// The native wire codec: Frame objects <-> bytes (format: docs/protocol.md). Pure: no I/O, no
// Node APIs; only Uint8Array and the WHATWG TextEncoder/TextDecoder.

export { encodeFrame, encodeFrameInto, encodeFrames, encodedLength } from './encode.js';
export { decodeFrame } from './decode.js';
export { FrameDecoder, type FrameDecoderOptions } from './frame-decoder.js';
export {
  DEFAULT_MAX_FRAME_SIZE,
  MAX_BODY_LENGTH,
  MAX_MAX_FRAME_SIZE,
  MAX_STRING_BYTES,
  MIN_MAX_FRAME_SIZE,
  MAX_ACTIVITY_ID_LENGTH,
} from './limits.js';
