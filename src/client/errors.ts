// The client's codes (SessionError): the URL given to connect(). ERR_CONNECT_FAILED, which the
// mux and the ISO runtime raise too, is the driver's (src/driver/errors.ts), the lowest layer raising it.

import type { ErrorTable } from '../util/colloquy-error.js';

export const CLIENT_ERROR_CODES = {
  ERR_INVALID_URL: {
    what: 'The URL given to connect() has a scheme Colloquy does not speak or lacks a host or port (`details.url`).',
    todo: 'Use tcp://host:port, tls://host:port, ws://host:port/path, wss://host:port/path or memory://name.',
  },
} as const satisfies ErrorTable;

declare module '../engine/errors.js' {
  interface SessionErrorTables {
    client: typeof CLIENT_ERROR_CODES;
  }
}
