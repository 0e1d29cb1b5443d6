// colloquy/engine: the pure session engine (frames, codec, protocol machine). No I/O, no clock.
export * from './frames.js';
export {
  ColloquyError,
  SessionError,
  ProtocolError,
  ENGINE_ERROR_CODES,
  isColloquyError,
  isSessionError,
} from './errors.js';
export type { ErrorCode, ErrorEntry, ErrorOrigin, ErrorTable, SessionErrorTables } from './errors.js';
export * from './machine/index.js';
export { WireSession, DEFAULT_WRITE_BATCH } from './wire-session.js';
export * as codec from './codec/index.js';
