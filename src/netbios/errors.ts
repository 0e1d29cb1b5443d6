// NetBIOS session service errors.
//
// Two kinds, on purpose:
//   - NetbiosProtocolError: the bytes broke RFC 1002 §4.3 framing. It IS a ProtocolError (origin
//     'remote') with one of the three wire codes of src/engine/errors.ts (ERR_MALFORMED_FRAME,
//     ERR_FRAME_TOO_LARGE, ERR_UNKNOWN_FRAME_TYPE), so "the decoder throws only protocol errors"
//     holds here as in the native codec. `packet` and `field` say where, `reason` says what, as
//     stable strings a program may test.
//   - NetbiosError: the session service itself failed (refused, retargeted too often, timed out,
//     the peer hung up before answering). Codes live in NETBIOS_ERROR_CODES below, which
//     docs/netbios.md lists one by one.

import { ColloquyError, ProtocolError, type ErrorOrigin, type ErrorTable } from '../engine/errors.js';

export type NetbiosWireCode = 'ERR_MALFORMED_FRAME' | 'ERR_FRAME_TOO_LARGE' | 'ERR_UNKNOWN_FRAME_TYPE';

/** Why the decoder refused octets (NetbiosProtocolError.reason); docs/netbios.md explains each. */
export const NETBIOS_MALFORMED_REASONS = [
  'unknown-type', // TYPE is not one of 0x00, 0x81..0x85
  'reserved-flags', // FLAGS bits 7..1 are not zero
  'bad-length', // LENGTH does not fit the packet type
  'too-large', // LENGTH beyond maxMessageSize
  'bad-name', // an encoded NetBIOS name does not parse
  'trailing-bytes', // bytes left after the second name of a session request
] as const;
export type NetbiosMalformedReason = (typeof NETBIOS_MALFORMED_REASONS)[number];

export class NetbiosProtocolError extends ProtocolError {
  override name = 'NetbiosProtocolError';
  readonly packet: string;
  readonly field: string;
  readonly reason: NetbiosMalformedReason;

  constructor(
    code: NetbiosWireCode,
    reason: NetbiosMalformedReason,
    packet: string,
    field: string,
    why: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, `NetBIOS ${packet}.${field}: ${why}`, { protocol: 'netbios', packet, field, reason, ...details });
    this.packet = packet;
    this.field = field;
    this.reason = reason;
  }
}

export const NETBIOS_ERROR_CODES = {
  ERR_NETBIOS_REFUSED: {
    what: 'The called side answered NEGATIVE SESSION RESPONSE; `details.errorCode` is the octet it sent (0x80..0x83, 0x8F) and `details.reason` its name.',
    todo: '0x80/0x82: call another name (Samba accepts any well-formed name, `*SMBSERVER<20>` works); 0x81: the calling name is not welcome; 0x83: retry later.',
  },
  ERR_NETBIOS_TOO_MANY_RETARGETS: {
    what: 'The called side kept answering RETARGET SESSION RESPONSE; more than `maxRetargets` hops (`details.hops` lists them).',
    todo: 'Check the retarget configuration of the servers (a loop?), or raise `maxRetargets`.',
  },
  ERR_NETBIOS_UNEXPECTED_PACKET: {
    what: 'A well-formed packet arrived where the session service does not allow it (`details.packet`, `details.state`), e.g. a SESSION MESSAGE before the answer to a SESSION REQUEST.',
    todo: 'The peer does not follow RFC 1002 §4.3 (or speaks SMB direct hosting on port 445, which has no session request).',
  },
  ERR_NETBIOS_TIMEOUT: {
    what: 'No answer to the SESSION REQUEST (client), or no SESSION REQUEST (server), within the time allowed (`details.timeoutMs`).',
    todo: 'Check that the peer is a NetBIOS session service; raise `timeoutMs` / `requestTimeoutMs` for slow links.',
  },
  ERR_NETBIOS_CLOSED: {
    what: 'The connection ended before the session request was answered.',
    todo: "Some servers (Samba with SMB1 disabled) drop a connection whose first packet is not a SESSION REQUEST or SESSION MESSAGE; check the peer's log.",
  },
} as const satisfies ErrorTable;

export type NetbiosErrorCode = keyof typeof NETBIOS_ERROR_CODES;

export class NetbiosError extends ColloquyError<NetbiosErrorCode> {
  override name = 'NetbiosError';

  constructor(code: NetbiosErrorCode, message: string, origin: ErrorOrigin, details: Record<string, unknown> = {}) {
    super(code, message, origin, details);
  }
}
