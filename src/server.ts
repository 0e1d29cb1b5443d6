// The package's `colloquy/server` entry: accepting sessions on any mix of endpoints, with
// authentication, limits, durable sessions in a shared store, shutdown and diagnostics channels.
// Every protocol profile's endpoint is registered here (listen({ iso }), src/iso/profile.ts), as
// src/server/ itself cannot import the profiles above it.
import './iso/profile.js';
export { listen, createServer, Server, Refusal } from './server/server.js';
export type { AuthRequest, CloseOptions, CloseReport, ServerEvents, ServerOptions, StopMode } from './server/server.js';
export type { DurabilityOptions } from './server/durable.js';
export { CHANNELS } from './server/diagnostics.js';
export type {
  HandshakeRefusedMessage,
  SessionClosedMessage,
  SessionInterruptedMessage,
  SessionOpenedMessage,
  SessionResumedMessage,
  SessionResumeRefusedMessage,
  StoreCallMessage,
} from './server/diagnostics.js';
export { SERVER_ERROR_CODES } from './server/errors.js';
