// PPTP control messages (RFC 2637 §2): one table, the single source for the codec and the types.
//
// Every control message starts with the same 12 octets (RFC 2637 §1.4):
//
//   0  Length (u16)                 the whole message, header included
//   2  PPTP Message Type (u16)      1 = control message (2 = management, none defined)
//   4  Magic Cookie (u32)           0x1A2B3C4D
//   8  Control Message Type (u16)   1..15, below
//   10 Reserved0 (u16)              0
//
// and each type has a fixed length. Fields are big-endian; text fields are fixed-size, NUL padded.
// Reserved fields are written as 0 and not checked on receipt (RFC 2637 says senders MUST zero
// them; it asks nothing of receivers).

export const PPTP_PORT = 1723;
export const PPTP_MAGIC_COOKIE = 0x1a2b3c4d;
export const PPTP_CONTROL_MESSAGE = 1;
export const PPTP_MANAGEMENT_MESSAGE = 2;
export const PPTP_HEADER_LENGTH = 12;
/** Protocol version 1.0, the only one RFC 2637 defines. */
export const PPTP_PROTOCOL_VERSION = 0x0100;

export type FieldKind = 'u8' | 'u16' | 'u32' | 'reserved8' | 'reserved16' | 'text64' | 'text128';
/** Reserved fields have no name (''): written as zero, skipped when read. */
export type Field = readonly [name: string, kind: FieldKind];

export interface Layout {
  readonly code: number;
  readonly length: number;
  readonly fields: readonly Field[];
}

export const LAYOUTS = {
  START_CONTROL_CONNECTION_REQUEST: {
    code: 1,
    length: 156,
    fields: [
      ['protocolVersion', 'u16'],
      ['', 'reserved16'],
      ['framingCapabilities', 'u32'],
      ['bearerCapabilities', 'u32'],
      ['maximumChannels', 'u16'],
      ['firmwareRevision', 'u16'],
      ['hostName', 'text64'],
      ['vendor', 'text64'],
    ],
  },
  START_CONTROL_CONNECTION_REPLY: {
    code: 2,
    length: 156,
    fields: [
      ['protocolVersion', 'u16'],
      ['resultCode', 'u8'],
      ['errorCode', 'u8'],
      ['framingCapabilities', 'u32'],
      ['bearerCapabilities', 'u32'],
      ['maximumChannels', 'u16'],
      ['firmwareRevision', 'u16'],
      ['hostName', 'text64'],
      ['vendor', 'text64'],
    ],
  },
  STOP_CONTROL_CONNECTION_REQUEST: {
    code: 3,
    length: 16,
    fields: [
      ['reason', 'u8'],
      ['', 'reserved8'],
      ['', 'reserved16'],
    ],
  },
  STOP_CONTROL_CONNECTION_REPLY: {
    code: 4,
    length: 16,
    fields: [
      ['resultCode', 'u8'],
      ['errorCode', 'u8'],
      ['', 'reserved16'],
    ],
  },
  ECHO_REQUEST: { code: 5, length: 16, fields: [['identifier', 'u32']] },
  ECHO_REPLY: {
    code: 6,
    length: 20,
    fields: [
      ['identifier', 'u32'],
      ['resultCode', 'u8'],
      ['errorCode', 'u8'],
      ['', 'reserved16'],
    ],
  },
  OUTGOING_CALL_REQUEST: {
    code: 7,
    length: 168,
    fields: [
      ['callId', 'u16'],
      ['callSerialNumber', 'u16'],
      ['minimumBps', 'u32'],
      ['maximumBps', 'u32'],
      ['bearerType', 'u32'],
      ['framingType', 'u32'],
      ['packetReceiveWindowSize', 'u16'],
      ['packetProcessingDelay', 'u16'],
      ['phoneNumberLength', 'u16'],
      ['', 'reserved16'],
      ['phoneNumber', 'text64'],
      ['subaddress', 'text64'],
    ],
  },
  OUTGOING_CALL_REPLY: {
    code: 8,
    length: 32,
    fields: [
      ['callId', 'u16'],
      ['peerCallId', 'u16'],
      ['resultCode', 'u8'],
      ['errorCode', 'u8'],
      ['causeCode', 'u16'],
      ['connectSpeed', 'u32'],
      ['packetReceiveWindowSize', 'u16'],
      ['packetProcessingDelay', 'u16'],
      ['physicalChannelId', 'u32'],
    ],
  },
  INCOMING_CALL_REQUEST: {
    code: 9,
    length: 220,
    fields: [
      ['callId', 'u16'],
      ['callSerialNumber', 'u16'],
      ['bearerType', 'u32'],
      ['physicalChannelId', 'u32'],
      ['dialedNumberLength', 'u16'],
      ['dialingNumberLength', 'u16'],
      ['dialedNumber', 'text64'],
      ['dialingNumber', 'text64'],
      ['subaddress', 'text64'],
    ],
  },
  INCOMING_CALL_REPLY: {
    code: 10,
    length: 24,
    fields: [
      ['callId', 'u16'],
      ['peerCallId', 'u16'],
      ['resultCode', 'u8'],
      ['errorCode', 'u8'],
      ['packetReceiveWindowSize', 'u16'],
      ['packetTransmitDelay', 'u16'],
      ['', 'reserved16'],
    ],
  },
  INCOMING_CALL_CONNECTED: {
    code: 11,
    length: 28,
    fields: [
      ['peerCallId', 'u16'],
      ['', 'reserved16'],
      ['connectSpeed', 'u32'],
      ['packetReceiveWindowSize', 'u16'],
      ['packetTransmitDelay', 'u16'],
      ['framingType', 'u32'],
    ],
  },
  CALL_CLEAR_REQUEST: {
    code: 12,
    length: 16,
    fields: [
      ['callId', 'u16'],
      ['', 'reserved16'],
    ],
  },
  CALL_DISCONNECT_NOTIFY: {
    code: 13,
    length: 148,
    fields: [
      ['callId', 'u16'],
      ['resultCode', 'u8'],
      ['errorCode', 'u8'],
      ['causeCode', 'u16'],
      ['', 'reserved16'],
      ['callStatistics', 'text128'],
    ],
  },
  WAN_ERROR_NOTIFY: {
    code: 14,
    length: 40,
    fields: [
      ['peerCallId', 'u16'],
      ['', 'reserved16'],
      ['crcErrors', 'u32'],
      ['framingErrors', 'u32'],
      ['hardwareOverruns', 'u32'],
      ['bufferOverruns', 'u32'],
      ['timeoutErrors', 'u32'],
      ['alignmentErrors', 'u32'],
    ],
  },
  SET_LINK_INFO: {
    code: 15,
    length: 24,
    fields: [
      ['peerCallId', 'u16'],
      ['', 'reserved16'],
      ['sendAccm', 'u32'],
      ['receiveAccm', 'u32'],
    ],
  },
} as const satisfies Record<string, Layout>;

export type PptpMessageType = keyof typeof LAYOUTS;

type FieldsOf<N extends PptpMessageType> = (typeof LAYOUTS)[N]['fields'][number];

/** The message of type N: `type` plus one property per named field of its layout. */
export type PptpMessageOf<N extends PptpMessageType> = { readonly type: N } & {
  readonly [F in FieldsOf<N> as F[0] extends '' ? never : F[0]]: F[1] extends 'text64' | 'text128' ? string : number;
};

export type PptpMessage = { [N in PptpMessageType]: PptpMessageOf<N> }[PptpMessageType];

export type StartControlConnectionRequest = PptpMessageOf<'START_CONTROL_CONNECTION_REQUEST'>;
export type StartControlConnectionReply = PptpMessageOf<'START_CONTROL_CONNECTION_REPLY'>;
export type StopControlConnectionRequest = PptpMessageOf<'STOP_CONTROL_CONNECTION_REQUEST'>;
export type StopControlConnectionReply = PptpMessageOf<'STOP_CONTROL_CONNECTION_REPLY'>;
export type EchoRequest = PptpMessageOf<'ECHO_REQUEST'>;
export type EchoReply = PptpMessageOf<'ECHO_REPLY'>;
export type OutgoingCallRequest = PptpMessageOf<'OUTGOING_CALL_REQUEST'>;
export type OutgoingCallReply = PptpMessageOf<'OUTGOING_CALL_REPLY'>;
export type CallClearRequest = PptpMessageOf<'CALL_CLEAR_REQUEST'>;
export type CallDisconnectNotify = PptpMessageOf<'CALL_DISCONNECT_NOTIFY'>;

export const CODE_TYPES: Readonly<Record<number, PptpMessageType>> = Object.fromEntries(
  Object.entries(LAYOUTS).map(([name, layout]) => [layout.code, name as PptpMessageType]),
);

/** The longest control message (Incoming-Call-Request): the decoder never buffers more. */
export const MAX_MESSAGE_LENGTH = Math.max(...Object.values(LAYOUTS).map((l) => l.length));

// -- code meanings (RFC 2637 §2.2 ... §2.13) ---------------------------------------------------

export const FramingCapability = { ASYNCHRONOUS: 0x1, SYNCHRONOUS: 0x2 } as const;
export const BearerCapability = { ANALOG: 0x1, DIGITAL: 0x2 } as const;

const START_RESULTS: Readonly<Record<number, string>> = {
  1: 'successful channel establishment',
  2: 'general error',
  3: 'command channel already exists',
  4: 'requester is not authorized to establish a command channel',
  5: 'the protocol version of the requester is not supported',
};
const OK_RESULTS: Readonly<Record<number, string>> = { 1: 'OK', 2: 'general error' };
const OUTGOING_CALL_RESULTS: Readonly<Record<number, string>> = {
  1: 'connected',
  2: 'general error',
  3: 'no carrier',
  4: 'busy',
  5: 'no dial tone',
  6: 'time-out',
  7: 'do not accept',
};
const INCOMING_CALL_RESULTS: Readonly<Record<number, string>> = {
  1: 'connect',
  2: 'general error',
  3: 'do not accept',
};
const DISCONNECT_RESULTS: Readonly<Record<number, string>> = {
  1: 'lost carrier',
  2: 'general error',
  3: 'admin shutdown',
  4: 'request',
};
const STOP_REASONS: Readonly<Record<number, string>> = {
  1: 'general request',
  2: 'stop protocol (version not supported)',
  3: 'stop local shutdown',
};
const GENERAL_ERRORS: Readonly<Record<number, string>> = {
  0: 'none',
  1: 'not connected',
  2: 'bad format',
  3: 'bad value',
  4: 'no resource',
  5: 'bad call ID',
  6: 'PAC error',
};

const lookup = (table: Readonly<Record<number, string>>, value: number): string => table[value] ?? `unknown (${value})`;

/** The RFC's words for a Result Code in a message of `type`. */
export function resultName(type: PptpMessageType, resultCode: number): string {
  switch (type) {
    case 'START_CONTROL_CONNECTION_REPLY':
      return lookup(START_RESULTS, resultCode);
    case 'OUTGOING_CALL_REPLY':
      return lookup(OUTGOING_CALL_RESULTS, resultCode);
    case 'INCOMING_CALL_REPLY':
      return lookup(INCOMING_CALL_RESULTS, resultCode);
    case 'CALL_DISCONNECT_NOTIFY':
      return lookup(DISCONNECT_RESULTS, resultCode);
    default:
      return lookup(OK_RESULTS, resultCode);
  }
}

/** General Error Codes (RFC 2637 §2.16), used with a "general error" result. */
export function generalErrorName(errorCode: number): string {
  return lookup(GENERAL_ERRORS, errorCode);
}

export function stopReasonName(reason: number): string {
  return lookup(STOP_REASONS, reason);
}

/** "1.0" from 0x0100. */
export function formatVersion(version: number): string {
  return `${version >> 8}.${version & 0xff}`;
}

export function framingNames(capabilities: number): string[] {
  const names: string[] = [];
  if (capabilities & FramingCapability.ASYNCHRONOUS) names.push('asynchronous');
  if (capabilities & FramingCapability.SYNCHRONOUS) names.push('synchronous');
  return names;
}

export function bearerNames(capabilities: number): string[] {
  const names: string[] = [];
  if (capabilities & BearerCapability.ANALOG) names.push('analog');
  if (capabilities & BearerCapability.DIGITAL) names.push('digital');
  return names;
}
