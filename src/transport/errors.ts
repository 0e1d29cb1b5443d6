// Transport errors: the failures a transport itself detects, each with a stable code.
//
// Errors that come from below are passed through unchanged: Node system errors (`ECONNRESET`,
// `ECONNREFUSED`, TLS verification codes such as `DEPTH_ZERO_SELF_SIGNED_CERT`), `ws` errors
// (`WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`) and `signal.reason` for an aborted connect. They already
// carry a `code`. TransportError is a ColloquyError (src/util/colloquy-error.ts); src/errors.ts
// merges this table with the others into docs/errors.md.

import { ColloquyError, type ErrorOrigin, type ErrorTable } from '../util/colloquy-error.js';

export const TRANSPORT_ERROR_CODES = {
  ERR_TRANSPORT_RESET: {
    what: 'The connection ended without an orderly close: the peer destroyed it (memory), or a WebSocket closed without a closing handshake (status 1006).',
    todo: 'Treat it as a dropped connection: the session runtime reconnects and resumes.',
  },
  ERR_TRANSPORT_PEER_ERROR: {
    what: 'The peer closed the WebSocket with an error status; `details.code` and `details.reason` are what it sent (1002 protocol error, 1003 unsupported data, 1009 too big, 1011 internal error...).',
    todo: "Read the status: 1009 means a frame exceeded the peer's `maxPayload`; 1003 that it expected binary frames.",
  },
  ERR_TRANSPORT_TEXT_FRAME: {
    what: 'A WebSocket text frame arrived; Colloquy carries binary frames only. The transport was closed with status 1003.',
    todo: 'The peer is not a Colloquy endpoint, or sends strings: send ArrayBuffer / Uint8Array data.',
  },
  ERR_TRANSPORT_RECEIVE_OVERFLOW: {
    what: 'While paused, a transport that cannot stop its peer (a browser WebSocket) held more than `maxHeldBytes` received bytes (`details.limit`).',
    todo: 'Resume sooner, or raise `maxHeldBytes` in the wrapWebSocket options.',
  },
  ERR_TRANSPORT_REFUSED: {
    what: 'Nothing accepted the connection: no listener under that memory name, or the WebSocket handshake failed without a reason the platform exposes.',
    todo: 'Check the address, and that the listener was started first.',
  },
  ERR_TRANSPORT_ADDRESS_IN_USE: {
    what: 'A memory listener with that name already exists (`details.address`).',
    todo: 'Close the other listener first, or pick another name.',
  },
} as const satisfies ErrorTable;

export type TransportErrorCode = keyof typeof TRANSPORT_ERROR_CODES;

export class TransportError extends ColloquyError<TransportErrorCode> {
  override name = 'TransportError';

  constructor(code: TransportErrorCode, message: string, origin: ErrorOrigin, details: Record<string, unknown> = {}) {
    super(code, message, origin, details);
  }
}

export function isTransportError(value: unknown): value is TransportError {
  return value instanceof TransportError;
}
