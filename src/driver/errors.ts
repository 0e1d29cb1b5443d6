// The session runtime's codes (SessionError): a wait that ended without its result, and a peer
// that could not be reached (raised by the client, the mux and the ISO runtime above the driver).

import type { ErrorTable } from '../util/colloquy-error.js';

export const DRIVER_ERROR_CODES = {
  ERR_CONNECT_FAILED: {
    what: 'The client could not reach the server (`details.cause`), the server closed the connection before accepting the session (`details.cause` is `closed-before-accept`: it is full or shutting down), or the client gave up reconnecting after `reconnect.maxAttempts` attempts.',
    todo: 'Check the URL, that the server listens, and the network; a full server: retry later; raise `reconnect.maxAttempts` for flaky links.',
  },
  ERR_CANCELLED: {
    what: 'A wait ended without its result: the confirmed service was superseded (`details.by`: a resynchronize or an activity interrupt) or the `signal` passed to the call was aborted.',
    todo: 'Nothing was undone on the wire; check the session state and retry the service if it still makes sense.',
  },
} as const satisfies ErrorTable;

declare module '../engine/errors.js' {
  interface SessionErrorTables {
    driver: typeof DRIVER_ERROR_CODES;
  }
}
