// DECnet Phase IV errors.
//
// Two kinds, as in the other protocol folders:
//   - DecnetProtocolError: the octets broke the Routing (v2.0.0), NSP (v4.0.1) or Session
//     Control (v1.0.0) layouts. It IS a ProtocolError (origin 'remote') with one of the three wire
//     codes of src/engine/errors.ts; `layer` says which specification, `reason` which rule broke,
//     as stable strings a program may test.
//   - DecnetError: the logical link itself failed (rejected, disconnected, no answer, a message
//     the state does not allow, a bound crossed). Codes in DECNET_ERROR_CODES, listed one by one
//     in docs/decnet.md.

import { ColloquyError, ProtocolError, type ErrorOrigin, type ErrorTable } from '../engine/errors.js';

export type DecnetWireCode = 'ERR_MALFORMED_FRAME' | 'ERR_FRAME_TOO_LARGE' | 'ERR_UNKNOWN_FRAME_TYPE';

/** Why the decoder refused octets (DecnetProtocolError.reason); docs/decnet.md explains each. */
export const DECNET_MALFORMED_REASONS = [
  'not-decnet', // the Ethernet type is not 0x6003
  'bad-length', // the 2-octet length is 0, or runs past the frame
  'too-large', // the length is past 1498 octets (a 1500-octet Ethernet payload)
  'bad-padding', // the routing pad count is 0 or runs past the message
  'routing-control', // a routing control message (hello, routing): not implemented
  'short-header', // a short data header: Phase IV on Ethernet uses the long one
  'reserved-bits', // a reserved bit or field is not zero
  'bad-address', // an ID of the long header is not AA-00-04-00-xx-xx
  'unknown-message', // the NSP MSGFLG is not a message NSP 4.0.1 defines
  'truncated', // the message ends inside a field
  'trailing-bytes', // octets after the last field of a message that has no data part
  'bad-ack', // an acknowledgement field has the wrong qualifier
  'field-too-long', // an image field is longer than its maximum
  'bad-descriptor', // an end-user descriptor with an unknown format, or format 0 with object 0
] as const;
export type DecnetMalformedReason = (typeof DECNET_MALFORMED_REASONS)[number];

export type DecnetLayer = 'ethernet' | 'routing' | 'nsp' | 'session';

export class DecnetProtocolError extends ProtocolError {
  override name = 'DecnetProtocolError';
  readonly layer: DecnetLayer;
  readonly reason: DecnetMalformedReason;

  constructor(
    code: DecnetWireCode,
    reason: DecnetMalformedReason,
    layer: DecnetLayer,
    why: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, `DECnet ${layer}: ${why}`, { protocol: 'decnet', layer, reason, ...details });
    this.layer = layer;
    this.reason = reason;
  }
}

export const DECNET_ERROR_CODES = {
  ERR_DECNET_REJECTED: {
    what: 'The peer answered our Connect Initiate with a Disconnect Initiate; `details.reason` is the Session Control reason (e.g. 34 access control rejected, 4 no such object) and `details.reasonName` its name, `details.data` the optional data.',
    todo: '34: check the user, password and account; 36: the account; 4/5: the destination end-user (object number or name); 6/32/33: retry later.',
  },
  ERR_DECNET_DISCONNECTED: {
    what: 'The peer ended a running logical link with a Disconnect Initiate whose reason is not 0 (`details.reason`, `details.reasonName`), e.g. 9 user abort.',
    todo: 'Read the reason; 0 is a normal end and is reported as a `disconnected` event, not this error.',
  },
  ERR_DECNET_TIMEOUT: {
    what: 'A message went unacknowledged after `maxRetransmits` retransmissions, each after `retransmitMs` (`details.waitingFor`).',
    todo: 'The link is cut or the peer is gone; raise `retransmitMs` / `maxRetransmits` for a lossy or slow link.',
  },
  ERR_DECNET_UNEXPECTED_MESSAGE: {
    what: 'A well-formed NSP message arrived that the logical link does not allow in its state (`details.message`, `details.state`), e.g. a Connect Confirm to a link that is running.',
    todo: 'The peer does not follow NSP 4.0.1; the link was aborted.',
  },
  ERR_DECNET_FLOW_CONTROL: {
    what: 'The peer sent more data segments, messages or interrupts than this side granted (`details.subchannel`), or asked for a count past the range NSP allows.',
    todo: 'The peer ignores the flow control negotiated in the Connect Initiate/Confirm; the link was aborted.',
  },
  ERR_DECNET_LIMIT: {
    what: 'A bound was crossed (`details.limit`: `maxQueuedBytes` for what this side has yet to send, `maxMessageSize` for a message being reassembled, `segmentSize` for an interrupt or user data field).',
    todo: 'Send less at once (await the `sent` events), or raise the named option.',
  },
  ERR_DECNET_CLOSED: {
    what: 'The logical link is not running: a send, interrupt or disconnect after it ended, or before it was connected (`details.state`).',
    todo: 'Wait for the `connected` event before sending; after `disconnected` or `failed`, open a new link.',
  },
} as const satisfies ErrorTable;

export type DecnetErrorCode = keyof typeof DECNET_ERROR_CODES;

export class DecnetError extends ColloquyError<DecnetErrorCode> {
  override name = 'DecnetError';

  constructor(code: DecnetErrorCode, message: string, origin: ErrorOrigin, details: Record<string, unknown> = {}) {
    super(code, message, origin, details);
  }
}
