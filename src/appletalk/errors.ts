// AppleTalk errors.
//
// Two kinds, as in the other protocol folders:
//   - AppletalkProtocolError: the octets broke the EtherTalk (802.2 LLC/SNAP), LLAP, DDP, ATP, ZIP
//     or ASP layouts of Inside AppleTalk, 2nd ed. It IS a ProtocolError (origin 'remote') with one
//     of the three wire codes of src/engine/errors.ts; `layer` says which protocol, `reason` which
//     rule broke, as stable strings a program may test.
//   - AppletalkError: a transaction or session failed (no answer, refused, closed, a bound
//     crossed). Codes in APPLETALK_ERROR_CODES, listed one by one in docs/appletalk.md.

import { ColloquyError, ProtocolError, type ErrorOrigin, type ErrorTable } from '../engine/errors.js';

export type AppletalkWireCode = 'ERR_MALFORMED_FRAME' | 'ERR_FRAME_TOO_LARGE' | 'ERR_UNKNOWN_FRAME_TYPE';

/** Why a decoder refused octets (AppletalkProtocolError.reason); docs/appletalk.md explains each. */
export const APPLETALK_MALFORMED_REASONS = [
  'not-appletalk', // an 802.3 frame whose LLC/SNAP header is not AA-AA-03 08-00-07 80-9B (AARP included)
  'bad-length', // the 802.3 length or the DDP datagram length disagrees with the octets
  'too-large', // past 1500 octets of 802.3 payload or 586 octets of DDP datagram
  'bad-checksum', // a non-zero DDP checksum that is not the checksum of the datagram
  'reserved-bits', // a reserved bit or field is not zero
  'unknown-llap-type', // an LLAP type other than 1 (short DDP) and 2 (long DDP): control frames
  'unknown-function', // an ATP function code 0, a ZIP or ASP function this codec does not define
  'truncated', // the message ends inside a field
  'trailing-bytes', // octets after the last field of a message that has no data part
  'field-too-long', // a zone name past 32 octets, ATP data past 578 octets
  'bad-count', // a count field disagrees with the entries that follow
] as const;
export type AppletalkMalformedReason = (typeof APPLETALK_MALFORMED_REASONS)[number];

export type AppletalkLayer = 'ethernet' | 'llap' | 'ddp' | 'atp' | 'zip' | 'asp';

export class AppletalkProtocolError extends ProtocolError {
  override name = 'AppletalkProtocolError';
  readonly layer: AppletalkLayer;
  readonly reason: AppletalkMalformedReason;

  constructor(
    code: AppletalkWireCode,
    reason: AppletalkMalformedReason,
    layer: AppletalkLayer,
    why: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, `AppleTalk ${layer}: ${why}`, { protocol: 'appletalk', layer, reason, ...details });
    this.layer = layer;
    this.reason = reason;
  }
}

/** Throws the usual malformed-frame error of a layer. */
export function malformed(
  layer: AppletalkLayer,
  reason: AppletalkMalformedReason,
  why: string,
  details: Record<string, unknown> = {},
): never {
  throw new AppletalkProtocolError('ERR_MALFORMED_FRAME', reason, layer, why, details);
}

export const APPLETALK_ERROR_CODES = {
  ERR_ATP_TIMEOUT: {
    what: 'An ATP transaction request went unanswered (or its response incomplete) through every retry (`details.tid`, `details.retries`, `details.retryMs`).',
    todo: 'The peer is gone or the link is cut; raise `retryMs` / `maxRetries` for a lossy or slow link.',
  },
  ERR_ZIP_TIMEOUT: {
    what: 'A ZIP GetNetInfo or Query sent over DDP got no answer after `maxRetries` tries (`details.request`).',
    todo: 'No router (ZIP responder) answers on this network; check that one runs, or raise the retries.',
  },
  ERR_ASP_REFUSED: {
    what: 'The server answered OpenSession with an error (`details.error`, `details.errorName`: -1066 bad version, -1068 no more sessions, -1071 server busy).',
    todo: 'Retry later, or speak the ASP version the server knows (0x0100).',
  },
  ERR_ASP_SESSION_LOST: {
    what: 'The session ended without a CloseSession: no tickle nor other packet from the peer for `sessionTimeoutMs` (`details.silentMs`), or a request the peer no longer answers (`details.cause`).',
    todo: 'The peer is gone or the link is cut; open a new session.',
  },
  ERR_ASP_CLOSED: {
    what: 'A command, write, attention or close on a session that is not open (`details.state`).',
    todo: 'Wait for the `opened` event; after `closed` or `failed`, open a new session.',
  },
  ERR_ASP_LIMIT: {
    what: 'A bound was crossed (`details.limit`: `maxCommandSize` for a command block or reply, `maxWriteSize` for write data, `maxPending` for commands in flight, the 8 response packets of one ATP transaction).',
    todo: 'Send less at once, or raise the named option.',
  },
  ERR_ASP_UNEXPECTED: {
    what: 'A well-formed ASP packet arrived that the session does not allow in its state (`details.message`, `details.state`), e.g. a WriteContinue for no write in progress.',
    todo: 'The peer does not follow ASP; the session was closed.',
  },
} as const satisfies ErrorTable;

export type AppletalkErrorCode = keyof typeof APPLETALK_ERROR_CODES;

export class AppletalkError extends ColloquyError<AppletalkErrorCode> {
  override name = 'AppletalkError';

  constructor(code: AppletalkErrorCode, message: string, origin: ErrorOrigin, details: Record<string, unknown> = {}) {
    super(code, message, origin, details);
  }
}
