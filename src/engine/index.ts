// colloquy/engine: the pure session engine (frames, codec, protocol machine). No I/O, no clock.
export * from './frames.js';
export { SessionError, ProtocolError, ERROR_CODES, isSessionError } from './errors.js';
export type { ErrorCode, ErrorOrigin } from './errors.js';
export * from './machine/index.js';
export { WireSession, DEFAULT_WRITE_BATCH } from './wire-session.js';
export * as codec from './codec/index.js';
