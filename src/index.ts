// colloquy: the OSI session layer for TypeScript.
// The protocol profiles register their URL schemes and server endpoints (connect('iso://…'), listen({ iso })).
import './iso/profile.js';
export * from './engine/index.js';
export { ERROR_CODES, ERROR_TABLES } from './errors.js';
export type { AnyErrorCode, ErrorTableSource } from './errors.js';
export { connect, ClientSession } from './client/connect.js';
export type { ConnectOptions, ReconnectOptions, ClientEvents } from './client/connect.js';
export { ConnectionPool } from './client/pool.js';
export type { PoolOptions } from './client/pool.js';
export { listen, createServer, Server, Refusal } from './server/server.js';
export type { ServerOptions, AuthRequest, ServerEvents } from './server/server.js';
export { CHANNELS } from './server/diagnostics.js';
export type { SessionOpenedMessage, SessionInterruptedMessage, SessionResumedMessage, SessionResumeRefusedMessage, SessionClosedMessage, HandshakeRefusedMessage, StoreCallMessage } from './server/diagnostics.js';
export { Session } from './driver/session.js';
export type { SessionOptions, SessionEvents, IndicationHandlers } from './driver/session.js';
export * from './store/index.js';
export type { DurabilityOptions } from './server/durable.js';
