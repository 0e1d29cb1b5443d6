// PPTP control connection errors.
//
//   - PptpProtocolError: the octets broke RFC 2637 framing (length, magic cookie, message type).
//     It IS a ProtocolError (origin 'remote') with one of the three wire codes of
//     src/engine/errors.ts; `reason` says which rule broke, as a stable string.
//   - PptpError: the control connection itself failed (refused, unexpected message, no reply in
//     time, closed or stopped by the peer). Codes in PPTP_ERROR_CODES, listed in docs/pptp.md.

import { ColloquyError, ProtocolError, type ErrorOrigin, type ErrorTable } from '../engine/errors.js';

export type PptpWireCode = 'ERR_MALFORMED_FRAME' | 'ERR_FRAME_TOO_LARGE' | 'ERR_UNKNOWN_FRAME_TYPE';

/** Why the decoder refused octets (PptpProtocolError.reason); docs/pptp.md explains each. */
export const PPTP_MALFORMED_REASONS = [
  'bad-length', // Length below 12, or not the fixed length of the control message type
  'too-large', // Length beyond the longest control message (220 octets)
  'bad-magic', // Magic Cookie is not 0x1A2B3C4D
  'unknown-message-type', // PPTP Message Type is not 1 (control)
  'unknown-control-type', // Control Message Type is not 1..15
] as const;
export type PptpMalformedReason = (typeof PPTP_MALFORMED_REASONS)[number];

export class PptpProtocolError extends ProtocolError {
  override name = 'PptpProtocolError';
  readonly reason: PptpMalformedReason;

  constructor(code: PptpWireCode, reason: PptpMalformedReason, message: string, details: Record<string, unknown> = {}) {
    super(code, `PPTP: ${message}`, { protocol: 'pptp', reason, ...details });
    this.reason = reason;
  }
}

export const PPTP_ERROR_CODES = {
  ERR_PPTP_START_REFUSED: {
    what: 'The peer answered Start-Control-Connection-Request with a Result Code other than 1; `details.resultCode`, `details.errorCode`, their names, and `details.reply` (the whole reply).',
    todo: '3: a control connection from this host already exists; 4: not authorized (pptpd: check its access rules); 5: protocol version not supported.',
  },
  ERR_PPTP_CALL_REFUSED: {
    what: 'The peer answered Outgoing-Call-Request with a Result Code other than 1 (connected); `details.reply` has the result, error and cause codes.',
    todo: 'Read the result: busy, no carrier, do not accept... pptpd refuses when it cannot start pppd.',
  },
  ERR_PPTP_UNEXPECTED_MESSAGE: {
    what: 'A well-formed control message arrived that this side does not allow now (`details.message`, `details.state`), e.g. an Echo-Reply in answer to a Start-Control-Connection-Request.',
    todo: 'The peer does not follow RFC 2637; the connection was closed.',
  },
  ERR_PPTP_TIMEOUT: {
    what: 'No reply within `timeoutMs` (`details.waitingFor` names the reply awaited).',
    todo: 'Check that the peer speaks PPTP on that port (pptpd drops a connection silent for its `stimeout`), or raise `timeoutMs`.',
  },
  ERR_PPTP_CLOSED: {
    what: 'The connection ended while a reply was awaited (`details.waitingFor`); `cause` is the transport error, if any.',
    todo: 'The peer hung up: a PPTP server may close at once when it refuses the client (pptpd with tcp wrappers or a connection limit).',
  },
  ERR_PPTP_STOPPED: {
    what: 'The peer sent Stop-Control-Connection-Request (`details.reason`); it was answered and the connection closed.',
    todo: 'The peer is shutting down or does not support our protocol version (reason 2).',
  },
} as const satisfies ErrorTable;

export type PptpErrorCode = keyof typeof PPTP_ERROR_CODES;

export class PptpError extends ColloquyError<PptpErrorCode> {
  override name = 'PptpError';

  constructor(
    code: PptpErrorCode,
    message: string,
    origin: ErrorOrigin,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super(code, message, origin, details, cause === undefined ? undefined : { cause });
  }
}
