// Frames: the vocabulary shared by the session machine and every wire codec.
//
// The machine speaks in these objects and never in bytes; the native codec (./codec) and, later,
// the ISO 8327 profile turn them into octets. A frame is a plain object with a `type` tag.
//
// Two families:
//   - connection frames (CONNECT .. ABORT, ACK, HEARTBEAT) manage the transport connection and
//     the session's life across connections. They are never counted and never replayed.
//   - session frames (DATA .. NOT_FINISHED) carry the dialogue. Both ends count them in the order
//     they cross the wire; that count is what ACK, RESUME and RESUMED carry, and what the replay
//     buffer is indexed by. They carry no sequence number of their own.
//
// Numeric values (functional-unit bits, token bits, token-setting pairs) follow X.225 so that
// the ISO 8327 profile maps them one to one (see ../../docs/protocol.md).

/** Functional units (X.225 Session User Requirements, PI 20). */
export const Unit = {
  halfDuplex: 0x0001,
  duplex: 0x0002,
  expedited: 0x0004,
  minorSync: 0x0008,
  majorSync: 0x0010,
  resynchronize: 0x0020,
  activities: 0x0040,
  negotiatedRelease: 0x0080,
  capabilityData: 0x0100,
  exceptions: 0x0200,
  typedData: 0x0400,
} as const;
export type UnitName = keyof typeof Unit;
/** Bitmask of {@link Unit} values. */
export type UnitSet = number;
export const ALL_UNITS: UnitSet = Object.values(Unit).reduce((a, b) => a | b, 0);

/** Tokens (X.225 Token Item, PI 16): one bit per token. */
export const Token = {
  data: 0x01,
  minorSync: 0x04,
  majorActivity: 0x10,
  release: 0x40,
} as const;
export type TokenName = keyof typeof Token;
/** Bitmask of {@link Token} values. */
export type TokenSet = number;
export const ALL_TOKENS: TokenSet = Token.data | Token.minorSync | Token.majorActivity | Token.release;
export const TOKEN_NAMES = Object.keys(Token) as TokenName[];

/**
 * Token positions (X.225 Token Setting Item, PI 26): two bits per token at the token's bit
 * position (data bits 2-1, minor 4-3, major/activity 6-5, release 8-7).
 */
export const TokenPosition = { initiator: 0, acceptor: 1, acceptorChooses: 2 } as const;
export type TokenPositionValue = (typeof TokenPosition)[keyof typeof TokenPosition];
/** One byte: the 2-bit {@link TokenPosition} of every token. */
export type TokenSetting = number;

/** Dialogue modes. `simplex` is a Colloquy extension carried over the duplex unit. */
export const DialogueMode = { fullDuplex: 1, halfDuplex: 2, simplex: 4 } as const;
export type DialogueModeName = keyof typeof DialogueMode;
export type DialogueModeValue = (typeof DialogueMode)[DialogueModeName];

export const ResyncType = { restart: 0, abandon: 1, set: 2 } as const;
export type ResyncTypeName = keyof typeof ResyncType;
export type ResyncTypeValue = (typeof ResyncType)[ResyncTypeName];

/** Why a connect was refused (REFUSE). */
export const RefuseReason = {
  rejected: 0,
  unauthorized: 1,
  congested: 2,
  versionUnsupported: 3,
  unitsUnsupported: 4,
  invalidParameters: 5,
  shuttingDown: 6,
} as const;
export type RefuseReasonValue = (typeof RefuseReason)[keyof typeof RefuseReason];

/** Why a resume was refused (RESUME_REFUSED). */
export const ResumeRefuseReason = {
  unknown: 0,
  expired: 1,
  wrongSecret: 2,
  overflowed: 3,
  closed: 4,
  invalid: 5,
  /**
   * The acceptor's state of the session is older than what the initiator has seen of it (it
   * acknowledged frames it no longer holds, or sent frames it no longer knows): a store that
   * lost its newest writes (a Redis failover) restored it. Sent only to an initiator whose RESUME
   * carries `acked`; an older one hears `invalid`.
   */
  staleState: 6,
} as const;
export type ResumeRefuseReasonValue = (typeof ResumeRefuseReason)[keyof typeof ResumeRefuseReason];

/** Why a session was aborted (ABORT). User aborts carry `user`; the rest are provider aborts. */
export const AbortReason = {
  user: 0,
  protocolError: 1,
  frameTooLarge: 2,
  bufferOverflow: 3,
  timeout: 4,
  resumeExpired: 5,
  shuttingDown: 6,
  internalError: 7,
  /** The credentials the session was opened with were logged out or revoked (ERR_REVOKED at the peer). */
  revoked: 8,
} as const;
export type AbortReasonValue = (typeof AbortReason)[keyof typeof AbortReason];

/** Frame type codes on the native wire. Grouped by high nibble; gaps are reserved. */
export const FrameType = {
  CONNECT: 0x01,
  ACCEPT: 0x02,
  REFUSE: 0x03,
  RESUME: 0x04,
  RESUMED: 0x05,
  RESUME_REFUSED: 0x06,
  ACK: 0x07,
  HEARTBEAT: 0x08,
  ABORT: 0x09,

  DATA: 0x10,
  EXPEDITED: 0x11,
  TYPED: 0x12,
  CAPABILITY: 0x13,
  CAPABILITY_ACK: 0x14,

  GIVE_TOKENS: 0x20,
  PLEASE_TOKENS: 0x21,
  GIVE_CONTROL: 0x22,
  GIVE_CONTROL_ACK: 0x23,

  MINOR_SYNC: 0x30,
  MINOR_SYNC_ACK: 0x31,
  MAJOR_SYNC: 0x32,
  MAJOR_SYNC_ACK: 0x33,
  RESYNC: 0x34,
  RESYNC_ACK: 0x35,

  ACTIVITY_START: 0x40,
  ACTIVITY_RESUME: 0x41,
  ACTIVITY_INTERRUPT: 0x42,
  ACTIVITY_INTERRUPT_ACK: 0x43,
  ACTIVITY_DISCARD: 0x44,
  ACTIVITY_DISCARD_ACK: 0x45,
  ACTIVITY_END: 0x46,
  ACTIVITY_END_ACK: 0x47,

  EXCEPTION_REPORT: 0x50,
  EXCEPTION_DATA: 0x51,

  FINISH: 0x60,
  DISCONNECT: 0x61,
  NOT_FINISHED: 0x62,

  REAUTH: 0x70,
  REAUTH_RESULT: 0x71,
} as const;
export type FrameTypeName = keyof typeof FrameType;

/** The protocol version this implementation speaks. CONNECT offers a range. */
export const PROTOCOL_VERSION = 1;
/** Largest sync-point serial number (X.225: six decimal digits). */
export const MAX_SERIAL = 999_999;
/** Largest EXPEDITED payload. X.225 allows 14 octets; Colloquy allows a little more. */
export const MAX_EXPEDITED = 64;
/** Bounds of the negotiated maximum frame size (a frame's body, in bytes). */
export const MIN_FRAME_SIZE = 1024;
export const MAX_FRAME_SIZE = 16 * 1024 * 1024;
export const DEFAULT_FRAME_SIZE = 256 * 1024;
/** Reason messages (REFUSE, ABORT, RESUME_REFUSED, EXCEPTION_REPORT) carry at most this many UTF-8 bytes. */
export const MAX_MESSAGE_BYTES = 1024;
/** Activity identifiers are 1 to 64 octets. */
export const MIN_ACTIVITY_ID = 1;
export const MAX_ACTIVITY_ID = 64;
/** Session IDs and resume secrets are 16 random octets (128 bits). */
export const SESSION_ID_LENGTH = 16;
export const RESUME_SECRET_LENGTH = 16;

type Bytes = Uint8Array;

// ---- connection frames -------------------------------------------------------------------

export interface ConnectFrame {
  type: 'CONNECT';
  minVersion: number;
  maxVersion: number;
  units: UnitSet;
  /** Bitmask of acceptable {@link DialogueMode}s. */
  modes: number;
  /** For simplex: which side sends. */
  simplexSender: 'initiator' | 'acceptor';
  tokenSetting: TokenSetting;
  initialSerial: number;
  maxFrameSize: number;
  heartbeatMs: number;
  resumeWindowMs: number;
  credentials: Bytes;
  userData: Bytes;
}

export interface AcceptFrame {
  type: 'ACCEPT';
  version: number;
  units: UnitSet;
  mode: DialogueModeValue;
  simplexSender: 'initiator' | 'acceptor';
  /** Final positions: only `initiator` or `acceptor` per token. */
  tokenSetting: TokenSetting;
  initialSerial: number;
  maxFrameSize: number;
  heartbeatMs: number;
  resumeWindowMs: number;
  sessionId: Bytes;
  resumeSecret: Bytes;
  userData: Bytes;
}

export interface RefuseFrame {
  type: 'REFUSE';
  reason: RefuseReasonValue;
  message: string;
  userData: Bytes;
}

export interface ResumeFrame {
  type: 'RESUME';
  sessionId: Bytes;
  resumeSecret: Bytes;
  /** How many session frames this side has received in the session so far. */
  received: number;
  /**
   * How many of this side's session frames the acceptor has acknowledged (ACK, RESUMED): what the
   * acceptor's state must still hold. Optional on the wire: absent from an older initiator's RESUME.
   */
  acked?: number;
}

export interface ResumedFrame {
  type: 'RESUMED';
  received: number;
}

export interface ResumeRefusedFrame {
  type: 'RESUME_REFUSED';
  reason: ResumeRefuseReasonValue;
  message: string;
}

export interface AckFrame {
  type: 'ACK';
  received: number;
}

export interface HeartbeatFrame {
  type: 'HEARTBEAT';
}

export interface AbortFrame {
  type: 'ABORT';
  reason: AbortReasonValue;
  message: string;
  userData: Bytes;
}

// ---- session frames ----------------------------------------------------------------------

export interface DataFrame {
  type: 'DATA';
  payload: Bytes;
}
export interface ExpeditedFrame {
  type: 'EXPEDITED';
  payload: Bytes;
}
export interface TypedFrame {
  type: 'TYPED';
  payload: Bytes;
}
export interface CapabilityFrame {
  type: 'CAPABILITY';
  payload: Bytes;
}
export interface CapabilityAckFrame {
  type: 'CAPABILITY_ACK';
  payload: Bytes;
}

export interface GiveTokensFrame {
  type: 'GIVE_TOKENS';
  tokens: TokenSet;
}
export interface PleaseTokensFrame {
  type: 'PLEASE_TOKENS';
  tokens: TokenSet;
  userData: Bytes;
}
export interface GiveControlFrame {
  type: 'GIVE_CONTROL';
}
export interface GiveControlAckFrame {
  type: 'GIVE_CONTROL_ACK';
}

export interface MinorSyncFrame {
  type: 'MINOR_SYNC';
  serial: number;
  confirm: boolean;
  userData: Bytes;
}
export interface MinorSyncAckFrame {
  type: 'MINOR_SYNC_ACK';
  serial: number;
  userData: Bytes;
}
export interface MajorSyncFrame {
  type: 'MAJOR_SYNC';
  serial: number;
  userData: Bytes;
}
export interface MajorSyncAckFrame {
  type: 'MAJOR_SYNC_ACK';
  serial: number;
  userData: Bytes;
}
export interface ResyncFrame {
  type: 'RESYNC';
  resyncType: ResyncTypeValue;
  serial: number;
  /** Token positions after the resynchronization (initiator/acceptor per token). */
  tokenSetting: TokenSetting;
  userData: Bytes;
}
export interface ResyncAckFrame {
  type: 'RESYNC_ACK';
  serial: number;
  tokenSetting: TokenSetting;
  userData: Bytes;
}

export interface ActivityStartFrame {
  type: 'ACTIVITY_START';
  activityId: Bytes;
  userData: Bytes;
}
export interface ActivityResumeFrame {
  type: 'ACTIVITY_RESUME';
  activityId: Bytes;
  oldActivityId: Bytes;
  /** Serial number of the last sync point of the old activity; serials continue after it. */
  serial: number;
  userData: Bytes;
}
export interface ActivityInterruptFrame {
  type: 'ACTIVITY_INTERRUPT';
  reason: number;
}
export interface ActivityInterruptAckFrame {
  type: 'ACTIVITY_INTERRUPT_ACK';
}
export interface ActivityDiscardFrame {
  type: 'ACTIVITY_DISCARD';
  reason: number;
}
export interface ActivityDiscardAckFrame {
  type: 'ACTIVITY_DISCARD_ACK';
}
export interface ActivityEndFrame {
  type: 'ACTIVITY_END';
  serial: number;
  userData: Bytes;
}
export interface ActivityEndAckFrame {
  type: 'ACTIVITY_END_ACK';
  serial: number;
  userData: Bytes;
}

/** S-P-EXCEPTION-REPORT: sent by the provider when it sees a recoverable protocol error. */
export interface ExceptionReportFrame {
  type: 'EXCEPTION_REPORT';
  reason: number;
  message: string;
}
/** S-U-EXCEPTION-REPORT: sent by the user that does not hold the data token. */
export interface ExceptionDataFrame {
  type: 'EXCEPTION_DATA';
  reason: number;
  userData: Bytes;
}

/** Colloquy extension: the initiator presents fresh credentials on the live session. */
export interface ReauthFrame {
  type: 'REAUTH';
  credentials: Bytes;
}
/** The acceptor's answer to REAUTH; a refusal leaves the session as it was. */
export interface ReauthResultFrame {
  type: 'REAUTH_RESULT';
  accepted: boolean;
  message: string;
}

export interface FinishFrame {
  type: 'FINISH';
  userData: Bytes;
}
export interface DisconnectFrame {
  type: 'DISCONNECT';
  userData: Bytes;
}
export interface NotFinishedFrame {
  type: 'NOT_FINISHED';
  userData: Bytes;
}

export type ConnectionFrame =
  | ConnectFrame
  | AcceptFrame
  | RefuseFrame
  | ResumeFrame
  | ResumedFrame
  | ResumeRefusedFrame
  | AckFrame
  | HeartbeatFrame
  | AbortFrame;

export type SessionFrame =
  | DataFrame
  | ExpeditedFrame
  | TypedFrame
  | CapabilityFrame
  | CapabilityAckFrame
  | GiveTokensFrame
  | PleaseTokensFrame
  | GiveControlFrame
  | GiveControlAckFrame
  | MinorSyncFrame
  | MinorSyncAckFrame
  | MajorSyncFrame
  | MajorSyncAckFrame
  | ResyncFrame
  | ResyncAckFrame
  | ActivityStartFrame
  | ActivityResumeFrame
  | ActivityInterruptFrame
  | ActivityInterruptAckFrame
  | ActivityDiscardFrame
  | ActivityDiscardAckFrame
  | ActivityEndFrame
  | ActivityEndAckFrame
  | ExceptionReportFrame
  | ExceptionDataFrame
  | FinishFrame
  | DisconnectFrame
  | NotFinishedFrame
  | ReauthFrame
  | ReauthResultFrame;

export type Frame = ConnectionFrame | SessionFrame;

const CONNECTION_TYPES: ReadonlySet<Frame['type']> = new Set([
  'CONNECT',
  'ACCEPT',
  'REFUSE',
  'RESUME',
  'RESUMED',
  'RESUME_REFUSED',
  'ACK',
  'HEARTBEAT',
  'ABORT',
]);

/** Session frames are counted and replayed; connection frames are not. */
export function isSessionFrame(frame: Frame): frame is SessionFrame {
  return !CONNECTION_TYPES.has(frame.type);
}

/** Bytes a session frame holds in the replay buffer (payload or user data; 0 for bare frames). */
export function frameWeight(frame: Frame): number {
  switch (frame.type) {
    case 'DATA':
    case 'EXPEDITED':
    case 'TYPED':
    case 'CAPABILITY':
    case 'CAPABILITY_ACK':
      return frame.payload.length;
    case 'REAUTH':
      return frame.credentials.length;
    default:
      return 'userData' in frame ? frame.userData.length : 0;
  }
}

export const EMPTY: Bytes = new Uint8Array(0);
