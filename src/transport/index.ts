// Transports: the byte pipes under a session connection, each a short mapping onto the
// Transport contract (transport.ts). tcp and tls need Node; ws (except attachWs), ws-transport
// and memory also run in a browser.
export * from './transport.js';
export * from './errors.js';
export { TransportBase, type TransportListener } from './base.js';
export * from './tcp.js';
export * from './tls.js';
export * from './ws.js';
export * from './memory.js';
