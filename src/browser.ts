// colloquy in a browser: what the package's "browser" condition gives a bundler (Vite, webpack,
// esbuild) for `import ... from 'colloquy'`. The sessions and the client, which dials ws:// and
// wss:// on the browser's native WebSocket and resumes across dropped connections. The server,
// the stores and the Node-only transports are not here (they need node:net, node:crypto, ...).
//
// The build bundles this file into dist/browser/colloquy.js (scripts/bundle-browser.ts), with
// node:* and `ws` stubbed: a bundler then meets no Node built-in, and only dialing tcp:// or
// tls:// in a page fails, with an error that says so. The protocol profiles are not loaded here,
// so iso:// is refused as a scheme this bundle does not speak (ERR_INVALID_URL).
//
// The same names as the root's client half (src/index.ts) and colloquy/client: the session,
// dialing, the pool, and the errors.
export { connect, ClientSession } from './client/connect.js';
export type { ClientEvents, ConnectOptions, ReconnectOptions } from './client/connect.js';
export { ConnectionPool } from './client/pool.js';
export type { PoolOptions } from './client/pool.js';
export { Session } from './driver/session.js';
export type { IndicationHandlers, SessionEvents, SessionOptions } from './driver/session.js';
export type { DialogueModeName, TokenName, UnitName } from './engine/frames.js';
export type { LifecycleState, Negotiated, SessionStats } from './engine/machine/index.js';
export { ColloquyError, SessionError, ProtocolError, isColloquyError, isSessionError } from './engine/errors.js';
export type { ErrorCode, ErrorOrigin } from './engine/errors.js';
export { TransportError } from './transport/errors.js';
export { ERROR_CODES } from './errors.js';
export type { AnyErrorCode } from './errors.js';
export { CLIENT_ERROR_CODES } from './client/errors.js';
