// colloquy: the OSI session layer for TypeScript.
//
// The root holds what a user of sessions needs: connect() and listen(), the Session and Server
// they return, the session stores, and the errors. Everything else has a named subpath (package
// json `exports`): colloquy/engine (the pure protocol machine, frames), colloquy/codec,
// colloquy/transport, colloquy/client, colloquy/server, colloquy/store, colloquy/cluster,
// colloquy/web, colloquy/apps, colloquy/iso, colloquy/netbios, colloquy/pptp, colloquy/decnet, colloquy/appletalk. The surface is
// pinned by api/report.json (scripts/api-report.ts; test/package/api-report.test.ts).

// Sessions: open one, accept them, use them. ./client.js and ./server.js register the protocol
// profiles' URL schemes and endpoints (connect('iso://…'), listen({ iso })).
export { connect, ClientSession, ConnectionPool } from './client.js';
export type { ClientEvents, ConnectOptions, PoolOptions, ReconnectOptions } from './client.js';
export { listen, createServer, Server, Refusal, CHANNELS } from './server.js';
export type {
  AuthRequest,
  CloseOptions,
  CloseReport,
  DurabilityOptions,
  ServerEvents,
  ServerOptions,
  StopMode,
} from './server.js';
export { Session } from './driver/session.js';
export type { IndicationHandlers, SessionEvents, SessionOptions } from './driver/session.js';
export type { DialogueModeName, TokenName, UnitName } from './engine/frames.js';
export type { LifecycleState, Negotiated, SessionStats } from './engine/machine/index.js';

// Where sessions are kept between connections and across nodes.
export { MemoryStore, RedisStore, MemcachedStore, PostgresStore, updateSession } from './store/index.js';
export type { SessionStore, StoredSession, StoreEvents } from './store/index.js';

// The errors: one family, one code per failure (docs/errors.md).
export { ColloquyError, SessionError, ProtocolError, isColloquyError, isSessionError } from './engine/errors.js';
export type { ErrorCode, ErrorOrigin } from './engine/errors.js';
export { TransportError } from './transport/errors.js';
export { ERROR_CODES } from './errors.js';
export type { AnyErrorCode } from './errors.js';
