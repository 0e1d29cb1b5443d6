// The client's codes (SessionError): reaching the server and the URL given to connect().

import type { ErrorTable } from '../util/colloquy-error.js';

export const CLIENT_ERROR_CODES = {
  ERR_CONNECT_FAILED: {
    what: 'The client could not reach the server (`details.cause`), or gave up reconnecting after `reconnect.maxAttempts` attempts.',
    todo: 'Check the URL, that the server listens, and the network; raise `reconnect.maxAttempts` for flaky links.',
  },
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
