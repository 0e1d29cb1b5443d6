// colloquy/apps: the services `colloquy serve` offers, and their clients.
// The apps' clients dial through connect(): the protocol profiles register their schemes there
// (iso://), as the package's root entry does.
import '../iso/profile.js';
export * from './service.js';
export * from './host.js';
export * from './rpc.js';
export * from './files.js';
export * from './chat.js';
export * from './chat-client.js';
export * from './chat-protocol.js';
export { APPS_ERROR_CODES } from './errors.js';
