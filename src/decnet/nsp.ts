// NSP messages (DECnet Phase IV NSP Functional Specification v4.0.1, §6): their types and codes.
// nsp-encode.ts turns them into octets and nsp-decode.ts back. Pure: no I/O. Every field
// little-endian, as everywhere in DNA.
//
//   MSGFLG  bit 7 and bits 1..0 zero; bits 3..2 TYPE (0 data, 1 ack, 2 control); bits 6..4 SUBTYPE
//   0x00/0x20/0x40/0x60  Data segment (0x20 BOM, 0x40 EOM)   DST SRC [ACKNUM] [ACKOTH] SEGNUM data
//   0x30  Interrupt                                          DST SRC [ACKNUM] [ACKDAT] SEGNUM data(<=16)
//   0x10  Link Service                                       DST SRC [ACKNUM] [ACKDAT] SEGNUM LSFLAGS FCVAL
//   0x04  Data Acknowledgement                               DST SRC ACKNUM [ACKOTH]
//   0x14  Other-Data Acknowledgement                         DST SRC ACKNUM [ACKDAT]
//   0x24  Connect Acknowledgement                            DST
//   0x18/0x68  Connect Initiate / retransmitted              DST(=0) SRC SERVICES INFO SEGSIZE DATA-CTL
//   0x28  Connect Confirm                                    DST SRC SERVICES INFO SEGSIZE DATA-CTL(I-16)
//   0x38  Disconnect Initiate                                DST SRC REASON DATA-CTL(I-16)
//   0x48  Disconnect Confirm                                 DST SRC REASON
//   0x08  No Operation                                       test data
//
// An acknowledgement word: bit 15 set, bits 13..12 QUAL (0 ACK, 1 NAK of this subchannel; 2 ACK,
// 3 NAK across to the other subchannel), bit 14 reserved, bits 11..0 the number. SEGNUM: bits
// 11..0 the number, bit 12 DLY (data segments only: the ack may be delayed), the rest zero.
//
// decode(encode(m)) equals m and encoding is canonical: every reserved bit is checked, so what
// decodes re-encodes to the same octets.

/** Segment numbers count modulo 4096 (12 bits). */
export const SEGNUM_MODULUS = 4096;
/** The longest interrupt message and Connect Confirm / Disconnect Initiate data (I-16). */
export const MAX_OTHER_DATA = 16;

export interface Ack {
  readonly number: number;
  /** True: a negative acknowledgement (QUAL 1 or 3). */
  readonly nak: boolean;
}

/** FCOPT of SERVICES: how the receiver grants data (NSP §6.2). */
export const FlowControl = { NONE: 0, SEGMENT: 1, MESSAGE: 2 } as const;
export type FlowControlOption = (typeof FlowControl)[keyof typeof FlowControl];

/** INFO: the NSP version. */
export const NspVersion = { V3_2: 0, V3_1: 1, V4_0: 2, V4_1: 3 } as const;
export type NspVersionCode = (typeof NspVersion)[keyof typeof NspVersion];

/** LSFLAGS FC MOD: what the sender of a Link Service asks of data. */
export const FcMod = { NO_CHANGE: 0, DO_NOT_SEND: 1, SEND: 2 } as const;
export type FcModCode = (typeof FcMod)[keyof typeof FcMod];

interface Link {
  /** The destination logical link address. */
  readonly dst: number;
  /** The source logical link address. */
  readonly src: number;
}

export interface DataSegment extends Link {
  readonly type: 'DATA';
  readonly bom: boolean;
  readonly eom: boolean;
  readonly ackNum?: Ack;
  /** ACKOTH: the other-data subchannel, acknowledged across. */
  readonly ackOther?: Ack;
  readonly segNum: number;
  /** DLY: the receiver may delay its acknowledgement. */
  readonly delay: boolean;
  readonly data: Uint8Array;
}

export interface InterruptMessage extends Link {
  readonly type: 'INTERRUPT';
  readonly ackNum?: Ack;
  /** ACKDAT: the data subchannel, acknowledged across. */
  readonly ackData?: Ack;
  readonly segNum: number;
  readonly data: Uint8Array;
}

export interface LinkServiceMessage extends Link {
  readonly type: 'LINK_SERVICE';
  readonly ackNum?: Ack;
  readonly ackData?: Ack;
  readonly segNum: number;
  readonly fcMod: FcModCode;
  /** FCVAL INT: false, FCVAL counts data segments or messages; true, interrupts. */
  readonly interrupt: boolean;
  /** Signed change of the request count, -128..127. */
  readonly fcVal: number;
}

export interface DataAck extends Link {
  readonly type: 'DATA_ACK';
  readonly ackNum: Ack;
  readonly ackOther?: Ack;
}

export interface OtherDataAck extends Link {
  readonly type: 'OTHER_DATA_ACK';
  readonly ackNum: Ack;
  readonly ackData?: Ack;
}

export interface ConnectAck {
  readonly type: 'CONNECT_ACK';
  readonly dst: number;
}

export interface ConnectInitiate extends Link {
  readonly type: 'CONNECT_INITIATE';
  /** MSGFLG 0x68 instead of 0x18. */
  readonly retransmitted: boolean;
  readonly flowControl: FlowControlOption;
  readonly version: NspVersionCode;
  /** The largest data segment this side will receive. */
  readonly segSize: number;
  /** Session Control's connect data (session-control.ts), carried as is. */
  readonly data: Uint8Array;
}

export interface ConnectConfirm extends Link {
  readonly type: 'CONNECT_CONFIRM';
  readonly flowControl: FlowControlOption;
  readonly version: NspVersionCode;
  readonly segSize: number;
  readonly data: Uint8Array;
}

export interface DisconnectInitiate extends Link {
  readonly type: 'DISCONNECT_INITIATE';
  readonly reason: number;
  readonly data: Uint8Array;
}

export interface DisconnectConfirm extends Link {
  readonly type: 'DISCONNECT_CONFIRM';
  readonly reason: number;
}

export interface NoOperation {
  readonly type: 'NOP';
  readonly data: Uint8Array;
}

export type NspMessage =
  | DataSegment
  | InterruptMessage
  | LinkServiceMessage
  | DataAck
  | OtherDataAck
  | ConnectAck
  | ConnectInitiate
  | ConnectConfirm
  | DisconnectInitiate
  | DisconnectConfirm
  | NoOperation;

export type NspMessageType = NspMessage['type'];

export const MSGFLG = {
  DATA: 0x00,
  BOM: 0x20,
  EOM: 0x40,
  INTERRUPT: 0x30,
  LINK_SERVICE: 0x10,
  DATA_ACK: 0x04,
  OTHER_DATA_ACK: 0x14,
  CONNECT_ACK: 0x24,
  NOP: 0x08,
  CONNECT_INITIATE: 0x18,
  RETRANSMITTED_CI: 0x68,
  CONNECT_CONFIRM: 0x28,
  DISCONNECT_INITIATE: 0x38,
  DISCONNECT_CONFIRM: 0x48,
} as const;
