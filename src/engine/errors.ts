// Errors of the session: SessionError, one stable `code` per failure, and where it came from.
//
// `origin: 'local'` means this side refused or detected something about its own use (a command
// not allowed now, a limit it enforces); `origin: 'remote'` means the peer sent something wrong or
// ended the session. SessionError extends ColloquyError (src/util/colloquy-error.ts), the base of every
// Colloquy error.
//
// The engine's codes are in ENGINE_ERROR_CODES below. The folders above it (driver, client,
// server, store, cluster, web, apps) raise SessionError too, with codes they own: each adds its
// table to SessionErrorTables from its own errors.ts (declaration merging), so the engine lists no
// code of a layer above it and ErrorCode is every registered code. src/errors.ts merges all the
// tables; docs/errors.md is generated from them (scripts/gen-docs.ts, checked by a test).

import { ColloquyError, type ErrorOrigin, type ErrorTable } from '../util/colloquy-error.js';

export { ColloquyError, isColloquyError } from '../util/colloquy-error.js';
export type { ErrorEntry, ErrorOrigin, ErrorTable } from '../util/colloquy-error.js';

export const ENGINE_ERROR_CODES = {
  // -- wire (codec) -----------------------------------------------------------------------
  ERR_FRAME_TOO_LARGE: {
    what: 'A frame announced a length beyond the maximum frame size in force.',
    todo: 'Raise `maxFrameSize` on both ends, or send smaller units. The session is aborted (reason frame-too-large).',
  },
  ERR_UNKNOWN_FRAME_TYPE: {
    what: 'A frame carried a type code this version does not define.',
    todo: 'The peer speaks another protocol or a newer version; check both ends run compatible Colloquy versions.',
  },
  ERR_MALFORMED_FRAME: {
    what: 'A frame body did not parse: a field ran past the end, a value was out of range, a varint was too long, or bytes were left over.',
    todo: 'The peer (or something between) corrupts frames. The session is aborted (reason protocol-error).',
  },
  // -- commands not allowed now (always local) -------------------------------------------
  ERR_TOKEN_NOT_HELD: {
    what: 'The service needs a token this side does not hold; `details.token` names it.',
    todo: 'Ask for it with `requestTokens()` and wait for the `tokens-given` event.',
  },
  ERR_TOKEN_HELD: {
    what: 'Asked for a token this side already holds (`details.token`).',
    todo: 'No request is needed; use the service.',
  },
  ERR_UNIT_NOT_SELECTED: {
    what: 'The service belongs to a functional unit that was not negotiated at connect; `details.unit` names it.',
    todo: 'Propose the unit in the connect options; the acceptor must support it too.',
  },
  ERR_INVALID_STATE: {
    what: 'The session is not in a state where the call makes sense (`details.state`), e.g. sending before the session is established or after it ended.',
    todo: 'Wait for the `established` event, or open a new session after `closed`.',
  },
  ERR_NOT_SENDER: {
    what: 'In simplex mode only one side sends normal data, and it is the other side.',
    todo: 'Negotiate full or half duplex, or choose `simplexSender` accordingly.',
  },
  ERR_SYNC_PENDING: {
    what: 'A major sync point or activity end awaits confirmation; no new data may be sent until it is confirmed.',
    todo: 'Wait for the confirmation event (`sync-major-confirmed` / `activity-ended`), or resynchronize.',
  },
  ERR_CONFIRM_PENDING: {
    what: 'Another confirmed service of this side is still waiting for its confirmation (`details.pending`).',
    todo: 'Wait for it to complete before starting the next one.',
  },
  ERR_RESPONSE_REQUIRED: {
    what: 'The peer asked for something this side must answer first (`details.pending`: a major sync, resynchronize, activity or release indication).',
    todo: 'Answer the pending indication (confirm, accept or refuse) first.',
  },
  ERR_NOTHING_TO_CONFIRM: {
    what: 'A response was given for an indication that is not pending (or was cancelled by a resynchronize).',
    todo: 'Respond only to indications you received and that were not cancelled.',
  },
  ERR_ACTIVITY_REQUIRED: {
    what: 'With the activities unit selected, data and sync points need an activity in progress.',
    todo: 'Start (or resume) an activity first.',
  },
  ERR_ACTIVITY_IN_PROGRESS: {
    what: 'The service is only allowed outside an activity (capability data, give control, starting another activity, release).',
    todo: 'End, interrupt or discard the current activity first.',
  },
  ERR_EXCEPTION_PENDING: {
    what: 'The peer reported an exception; the data token holder may not send data until it clears it.',
    todo: 'Give the data token, resynchronize, interrupt or discard the activity, or abort.',
  },
  ERR_SEND_BUFFER_FULL: {
    what: 'The bounded send queue or replay buffer is full; nothing was queued.',
    todo: 'Wait for the `writable` event (or await `send` in the runtime), then send again.',
  },
  ERR_PAYLOAD_TOO_LARGE: {
    what: 'The payload or user data exceeds the negotiated maximum frame size or the per-service limit (`details.limit`).',
    todo: 'Split the payload, or negotiate a larger `maxFrameSize`.',
  },
  ERR_INVALID_ARGUMENT: {
    what: 'An argument is out of range (`details` says which), e.g. a serial number beyond 999999 or a restart before the last confirmed point.',
    todo: 'Fix the argument.',
  },
  // -- connect, resume and the end of a session ------------------------------------------
  ERR_REFUSED: {
    what: "The acceptor refused the connect; `details.reason` is the refuse reason and the message is the acceptor's.",
    todo: 'Depends on the reason: fix credentials (unauthorized), propose other units or versions, or retry later (congested, shutting-down).',
  },
  ERR_NEGOTIATION_FAILED: {
    what: 'The connect parameters cannot be agreed: no common version, no dialogue mode both accept, or an answer outside what was proposed.',
    todo: 'Align the versions, units and modes configured on both ends.',
  },
  ERR_RESUME_REFUSED: {
    what: "The peer refused to resume the session; `details.reason` is unknown, expired, wrong-secret, overflowed, closed, invalid or stale-state (`ResumeRefuseReason.staleState`, 6). When the server ended the session with an error (on this node or another one sharing its store), the message says which: `the server ended the session: CODE: reason`. stale-state: the server's copy of the session is older than what this client has seen of it (it had acknowledged frames, or sent frames, that the copy lacks): the store lost the session's newest state, as a Redis failover can when a write has not reached the replica that is promoted (docs/stores.md). The session ends rather than replay wrong data; the message gives the counts.",
    todo: 'The session is gone; open a new one. Data not acknowledged before the cut was not delivered. After stale-state, anything the session carried since the lost state (what the server had acknowledged but lost) must be sent again by the application, in a new session.',
  },
  ERR_REVOKED: {
    what: 'The login (web session cookie) or token family this session was opened with was logged out or revoked, so the server ended the session (ABORT reason revoked); it cannot be resumed. On the server, `Server.revoke()` ended it.',
    todo: 'Log in again and open a new session.',
  },
  ERR_ABORTED: {
    what: 'The session was aborted; `details.reason` says why and `origin` says which side aborted.',
    todo: 'Read the reason. Data in flight is lost; open a new session if needed.',
  },
  ERR_PROTOCOL_VIOLATION: {
    what: 'The peer sent a frame that is not allowed in the current state (`details.frame`, `details.state`).',
    todo: 'A peer bug or an incompatible peer. The session is aborted with reason protocol-error.',
  },
  ERR_HEARTBEAT_TIMEOUT: {
    what: 'Nothing arrived from the peer for two heartbeat intervals; the transport is considered dead.',
    todo: 'The runtime reconnects and resumes; if this repeats, check the network or raise `heartbeatMs`.',
  },
  ERR_HANDSHAKE_TIMEOUT: {
    what: 'The connect or resume handshake did not complete within `handshakeTimeoutMs`.',
    todo: 'Check that the peer is a Colloquy endpoint and reachable.',
  },
  ERR_RESUME_WINDOW_EXPIRED: {
    what: 'The transport stayed down longer than the resume window; the session ended.',
    todo: 'Open a new session; raise `resumeWindowMs` if outages are expected to last longer.',
  },
  ERR_REPLAY_OVERFLOW: {
    what: "While disconnected, the send queue filled up under `replayOverflow: 'fail'`; the session ended, and a later resume is refused as overflowed.",
    todo: 'Use the default `block` policy (sends wait for the resume), or raise `maxSendQueueBytes`.',
  },
} as const satisfies ErrorTable;

/**
 * The code tables SessionError's codes come from, one per folder. A folder registers its table
 * from its own errors.ts:
 *
 *     declare module '../engine/errors.js' {
 *       interface SessionErrorTables { store: typeof STORE_ERROR_CODES }
 *     }
 */
export interface SessionErrorTables {
  engine: typeof ENGINE_ERROR_CODES;
}

/** Every code a SessionError may carry: the keys of every registered table. */
export type ErrorCode = {
  [T in keyof SessionErrorTables]: keyof SessionErrorTables[T] & string;
}[keyof SessionErrorTables];

export class SessionError extends ColloquyError<ErrorCode> {
  override name = 'SessionError';

  constructor(code: ErrorCode, message: string, origin: ErrorOrigin = 'local', details: Record<string, unknown> = {}) {
    super(code, message, origin, details);
  }
}

/** A violation of the wire format or of the protocol by the peer. The decoder throws only these. */
export class ProtocolError extends SessionError {
  override name = 'ProtocolError';
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, 'remote', details);
  }
}

export function isSessionError(value: unknown): value is SessionError {
  return value instanceof SessionError;
}
