// colloquy in a browser: what the package's "browser" condition gives a bundler (Vite, webpack,
// esbuild) for `import ... from 'colloquy'`. The engine and the client, which dials ws:// and
// wss:// on the browser's native WebSocket and resumes across dropped connections. The server,
// the stores and the Node-only transports are not here (they need node:net, node:crypto, ...).
//
// The build bundles this file into dist/browser/colloquy.js (scripts/bundle-browser.ts), with
// node:* and `ws` stubbed: a bundler then meets no Node built-in, and only dialing tcp:// or
// tls:// in a page fails, with an error that says so. The protocol profiles are not loaded here,
// so iso:// is refused as a scheme this bundle does not speak (ERR_INVALID_URL).
export * from './engine/index.js';
export { connect, ClientSession } from './client/connect.js';
export type { ConnectOptions, ReconnectOptions, ClientEvents } from './client/connect.js';
export { Session } from './driver/session.js';
export type { SessionOptions, SessionEvents, IndicationHandlers } from './driver/session.js';
