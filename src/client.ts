// The package's `colloquy/client` entry: dialing a server (tcp, tls, ws, memory and iso URLs),
// reconnecting with backoff and resuming the session; several sessions over one connection
// (ConnectionPool). Every protocol profile's URL scheme is registered here (iso://,
// src/iso/profile.ts), as src/client/ itself cannot import the profiles above it.
import './iso/profile.js';
export { connect, ClientSession, NODE_GONE_MESSAGE } from './client/connect.js';
export type { ClientEvents, ConnectOptions, ReconnectOptions } from './client/connect.js';
export { ConnectionPool } from './client/pool.js';
export type { PoolOptions } from './client/pool.js';
export { CLIENT_ERROR_CODES } from './client/errors.js';
