// NSP messages (DECnet Phase IV NSP Functional Specification v4.0.1, §6) to octets and back.
// Pure: no I/O. Every field little-endian, as everywhere in DNA.
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

import { SessionError } from '../engine/errors.js';
import { DecnetProtocolError, type DecnetMalformedReason, type DecnetWireCode } from './errors.js';

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

// -- encoding -----------------------------------------------------------------------------------

function refuse(field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode NSP ${field}: ${why}`, 'local', { field });
}

class Writer {
  private readonly parts: number[] = [];
  u8(v: number): void {
    this.parts.push(v & 0xff);
  }
  u16(v: number): void {
    this.parts.push(v & 0xff, (v >> 8) & 0xff);
  }
  bytes(b: Uint8Array): void {
    for (const x of b) this.parts.push(x);
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function checkWord(field: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) refuse(field, `${v} is not 0..65535`);
}

function checkNumber(field: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= SEGNUM_MODULUS) refuse(field, `${v} is not 0..4095`);
}

function ackWord(field: string, ack: Ack, cross: boolean): number {
  checkNumber(field, ack.number);
  return 0x8000 | (((cross ? 2 : 0) + (ack.nak ? 1 : 0)) << 12) | ack.number;
}

function link(w: Writer, m: Link): void {
  checkWord('DSTADDR', m.dst);
  checkWord('SRCADDR', m.src);
  w.u16(m.dst);
  w.u16(m.src);
}

function otherData(field: string, data: Uint8Array): void {
  if (data.length > MAX_OTHER_DATA) refuse(field, `${data.length} octets, at most ${MAX_OTHER_DATA}`);
}

function services(w: Writer, m: ConnectInitiate | ConnectConfirm): void {
  if (![0, 1, 2].includes(m.flowControl)) refuse('SERVICES.FCOPT', `${m.flowControl} is not 0..2`);
  if (![0, 1, 2, 3].includes(m.version)) refuse('INFO', `${m.version} is not 0..3`);
  checkWord('SEGSIZE', m.segSize);
  w.u8(0x01 | (m.flowControl << 2));
  w.u8(m.version);
  w.u16(m.segSize);
}

export function encodeNsp(m: NspMessage): Uint8Array {
  const w = new Writer();
  switch (m.type) {
    case 'DATA':
      w.u8((m.bom ? MSGFLG.BOM : 0) | (m.eom ? MSGFLG.EOM : 0));
      link(w, m);
      if (m.ackNum) w.u16(ackWord('ACKNUM', m.ackNum, false));
      if (m.ackOther) w.u16(ackWord('ACKOTH', m.ackOther, true));
      checkNumber('SEGNUM', m.segNum);
      w.u16(m.segNum | (m.delay ? 0x1000 : 0));
      w.bytes(m.data);
      break;
    case 'INTERRUPT':
    case 'LINK_SERVICE':
      w.u8(m.type === 'INTERRUPT' ? MSGFLG.INTERRUPT : MSGFLG.LINK_SERVICE);
      link(w, m);
      if (m.ackNum) w.u16(ackWord('ACKNUM', m.ackNum, false));
      if (m.ackData) w.u16(ackWord('ACKDAT', m.ackData, true));
      checkNumber('SEGNUM', m.segNum);
      w.u16(m.segNum);
      if (m.type === 'INTERRUPT') {
        otherData('interrupt data', m.data);
        w.bytes(m.data);
      } else {
        if (![0, 1, 2].includes(m.fcMod)) refuse('LSFLAGS.FCMOD', `${m.fcMod} is not 0..2`);
        if (!Number.isInteger(m.fcVal) || m.fcVal < -128 || m.fcVal > 127)
          refuse('FCVAL', `${m.fcVal} is not -128..127`);
        w.u8(m.fcMod | (m.interrupt ? 0x04 : 0));
        w.u8(m.fcVal);
      }
      break;
    case 'DATA_ACK':
    case 'OTHER_DATA_ACK':
      w.u8(m.type === 'DATA_ACK' ? MSGFLG.DATA_ACK : MSGFLG.OTHER_DATA_ACK);
      link(w, m);
      w.u16(ackWord('ACKNUM', m.ackNum, false));
      {
        const cross = m.type === 'DATA_ACK' ? m.ackOther : m.ackData;
        if (cross) w.u16(ackWord(m.type === 'DATA_ACK' ? 'ACKOTH' : 'ACKDAT', cross, true));
      }
      break;
    case 'CONNECT_ACK':
      w.u8(MSGFLG.CONNECT_ACK);
      checkWord('DSTADDR', m.dst);
      w.u16(m.dst);
      break;
    case 'CONNECT_INITIATE':
      if (m.dst !== 0) refuse('DSTADDR', 'a Connect Initiate goes to link address 0');
      w.u8(m.retransmitted ? MSGFLG.RETRANSMITTED_CI : MSGFLG.CONNECT_INITIATE);
      link(w, m);
      services(w, m);
      w.bytes(m.data);
      break;
    case 'CONNECT_CONFIRM':
      w.u8(MSGFLG.CONNECT_CONFIRM);
      link(w, m);
      services(w, m);
      otherData('DATA-CTL', m.data);
      w.u8(m.data.length);
      w.bytes(m.data);
      break;
    case 'DISCONNECT_INITIATE':
    case 'DISCONNECT_CONFIRM':
      w.u8(m.type === 'DISCONNECT_INITIATE' ? MSGFLG.DISCONNECT_INITIATE : MSGFLG.DISCONNECT_CONFIRM);
      link(w, m);
      checkWord('REASON', m.reason);
      w.u16(m.reason);
      if (m.type === 'DISCONNECT_INITIATE') {
        otherData('DATA-CTL', m.data);
        w.u8(m.data.length);
        w.bytes(m.data);
      }
      break;
    case 'NOP':
      w.u8(MSGFLG.NOP);
      w.bytes(m.data);
      break;
  }
  return w.done();
}

// -- decoding -----------------------------------------------------------------------------------

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly message: string,
  ) {}

  fail(code: DecnetWireCode, reason: DecnetMalformedReason, why: string, details: Record<string, unknown> = {}): never {
    throw new DecnetProtocolError(code, reason, 'nsp', `${this.message}: ${why}`, {
      message: this.message,
      offset: this.pos,
      ...details,
    });
  }

  need(n: number, field: string): void {
    if (this.pos + n > this.buf.length)
      this.fail('ERR_MALFORMED_FRAME', 'truncated', `ends inside ${field}`, { field });
  }
  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.buf[this.pos]! | (this.buf[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }
  peek16(): number | undefined {
    return this.pos + 2 <= this.buf.length ? this.buf[this.pos]! | (this.buf[this.pos + 1]! << 8) : undefined;
  }
  rest(): Uint8Array {
    const r = this.buf.slice(this.pos);
    this.pos = this.buf.length;
    return r;
  }
  end(): void {
    if (this.pos !== this.buf.length)
      this.fail('ERR_MALFORMED_FRAME', 'trailing-bytes', `${this.buf.length - this.pos} octets after the last field`);
  }
  image(field: string, max: number): Uint8Array {
    const n = this.u8(field);
    if (n > max) this.fail('ERR_MALFORMED_FRAME', 'field-too-long', `${field} of ${n} octets, at most ${max}`);
    this.need(n, field);
    const r = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
}

function toAck(w: number): Ack {
  return { number: w & 0x0fff, nak: ((w >> 12) & 1) === 1 };
}

/** The optional ACKNUM and cross-subchannel words of a data, interrupt or link service message. */
function optionalAcks(r: Reader, crossName: string): { ackNum?: Ack; cross?: Ack } {
  const out: { ackNum?: Ack; cross?: Ack } = {};
  for (;;) {
    const w = r.peek16();
    if (w === undefined || (w & 0x8000) === 0) return out;
    if (w & 0x4000) r.fail('ERR_MALFORMED_FRAME', 'reserved-bits', `bit 14 of an acknowledgement field is set`);
    const cross = (w & 0x2000) !== 0;
    if (!cross && out.ackNum === undefined && out.cross === undefined) out.ackNum = toAck(w);
    else if (cross && out.cross === undefined) out.cross = toAck(w);
    else r.fail('ERR_MALFORMED_FRAME', 'bad-ack', `a third acknowledgement field, or ACKNUM after ${crossName}`);
    r.pos += 2;
  }
}

function requiredAck(r: Reader): Ack {
  const w = r.u16('ACKNUM');
  if ((w & 0xe000) !== 0x8000)
    r.fail('ERR_MALFORMED_FRAME', 'bad-ack', `ACKNUM 0x${w.toString(16)} must have bit 15 set and QUAL 0 or 1`);
  if (w & 0x4000) r.fail('ERR_MALFORMED_FRAME', 'reserved-bits', 'bit 14 of ACKNUM is set');
  return toAck(w);
}

function optionalCross(r: Reader, field: string): Ack | undefined {
  if (r.pos === r.buf.length) return undefined;
  const w = r.u16(field);
  if ((w & 0xe000) !== 0xa000)
    r.fail('ERR_MALFORMED_FRAME', 'bad-ack', `${field} 0x${w.toString(16)} must have bit 15 set and QUAL 2 or 3`);
  return toAck(w);
}

function segNum(r: Reader, delayAllowed: boolean): { segNum: number; delay: boolean } {
  const w = r.u16('SEGNUM');
  if ((w & 0xe000) !== 0 || (!delayAllowed && (w & 0x1000) !== 0))
    r.fail('ERR_MALFORMED_FRAME', 'reserved-bits', `SEGNUM 0x${w.toString(16)} has reserved bits set`);
  return { segNum: w & 0x0fff, delay: (w & 0x1000) !== 0 };
}

function readServices(r: Reader): Pick<ConnectInitiate, 'flowControl' | 'version' | 'segSize'> {
  const s = r.u8('SERVICES');
  if ((s & 0x03) !== 0x01 || (s & 0xf0) !== 0)
    r.fail(
      'ERR_MALFORMED_FRAME',
      'reserved-bits',
      `SERVICES 0x${s.toString(16)}: bits 1..0 must be 01, bits 7..4 zero`,
    );
  const fc = (s >> 2) & 3;
  if (fc === 3) r.fail('ERR_MALFORMED_FRAME', 'reserved-bits', 'SERVICES FCOPT 3 is reserved');
  const info = r.u8('INFO');
  if (info & 0xfc)
    r.fail('ERR_MALFORMED_FRAME', 'reserved-bits', `INFO 0x${info.toString(16)}: bits 7..2 must be zero`);
  return { flowControl: fc as FlowControlOption, version: info as NspVersionCode, segSize: r.u16('SEGSIZE') };
}

const NAMES: Record<number, string> = {
  0x00: 'Data segment',
  0x20: 'Data segment',
  0x40: 'Data segment',
  0x60: 'Data segment',
  0x30: 'Interrupt',
  0x10: 'Link Service',
  0x04: 'Data Acknowledgement',
  0x14: 'Other-Data Acknowledgement',
  0x24: 'Connect Acknowledgement',
  0x08: 'No Operation',
  0x18: 'Connect Initiate',
  0x68: 'Connect Initiate',
  0x28: 'Connect Confirm',
  0x38: 'Disconnect Initiate',
  0x48: 'Disconnect Confirm',
};

/** One NSP message: exactly `buf` (the routing layer's length bounds it). Throws DecnetProtocolError. */
export function decodeNsp(buf: Uint8Array): NspMessage {
  if (buf.length === 0)
    throw new DecnetProtocolError('ERR_MALFORMED_FRAME', 'truncated', 'nsp', 'no MSGFLG after the routing header');
  const flags = buf[0]!;
  const name = NAMES[flags];
  const r = new Reader(buf, name ?? 'MSGFLG');
  if (name === undefined)
    r.fail(
      'ERR_UNKNOWN_FRAME_TYPE',
      'unknown-message',
      `MSGFLG 0x${flags.toString(16).padStart(2, '0')} is no NSP 4.0.1 message`,
      {
        msgflg: flags,
      },
    );
  r.pos = 1;
  if (flags === MSGFLG.NOP) return { type: 'NOP', data: r.rest() };
  const dst = r.u16('DSTADDR');
  if (flags === MSGFLG.CONNECT_ACK) {
    r.end();
    return { type: 'CONNECT_ACK', dst };
  }
  const src = r.u16('SRCADDR');
  switch (flags) {
    case MSGFLG.DATA:
    case MSGFLG.BOM:
    case MSGFLG.EOM:
    case MSGFLG.BOM | MSGFLG.EOM: {
      const acks = optionalAcks(r, 'ACKOTH');
      const s = segNum(r, true);
      return {
        type: 'DATA',
        dst,
        src,
        bom: (flags & MSGFLG.BOM) !== 0,
        eom: (flags & MSGFLG.EOM) !== 0,
        ...(acks.ackNum ? { ackNum: acks.ackNum } : {}),
        ...(acks.cross ? { ackOther: acks.cross } : {}),
        segNum: s.segNum,
        delay: s.delay,
        data: r.rest(),
      };
    }
    case MSGFLG.INTERRUPT:
    case MSGFLG.LINK_SERVICE: {
      const acks = optionalAcks(r, 'ACKDAT');
      const { segNum: n } = segNum(r, false);
      const common = {
        dst,
        src,
        ...(acks.ackNum ? { ackNum: acks.ackNum } : {}),
        ...(acks.cross ? { ackData: acks.cross } : {}),
        segNum: n,
      };
      if (flags === MSGFLG.INTERRUPT) {
        const data = r.rest();
        if (data.length > MAX_OTHER_DATA)
          r.fail(
            'ERR_MALFORMED_FRAME',
            'field-too-long',
            `${data.length} octets of interrupt data, at most ${MAX_OTHER_DATA}`,
          );
        return { type: 'INTERRUPT', ...common, data };
      }
      const ls = r.u8('LSFLAGS');
      if ((ls & 0xf0) !== 0 || (ls & 0x03) === 3 || (ls & 0x0c) > 0x04)
        r.fail('ERR_MALFORMED_FRAME', 'reserved-bits', `LSFLAGS 0x${ls.toString(16)} uses reserved values`);
      const fc = r.u8('FCVAL');
      r.end();
      return {
        type: 'LINK_SERVICE',
        ...common,
        fcMod: (ls & 3) as FcModCode,
        interrupt: (ls & 0x04) !== 0,
        fcVal: fc > 127 ? fc - 256 : fc,
      };
    }
    case MSGFLG.DATA_ACK:
    case MSGFLG.OTHER_DATA_ACK: {
      const ackNum = requiredAck(r);
      if (flags === MSGFLG.DATA_ACK) {
        const ackOther = optionalCross(r, 'ACKOTH');
        r.end();
        return { type: 'DATA_ACK', dst, src, ackNum, ...(ackOther ? { ackOther } : {}) };
      }
      const ackData = optionalCross(r, 'ACKDAT');
      r.end();
      return { type: 'OTHER_DATA_ACK', dst, src, ackNum, ...(ackData ? { ackData } : {}) };
    }
    case MSGFLG.CONNECT_INITIATE:
    case MSGFLG.RETRANSMITTED_CI: {
      if (dst !== 0) r.fail('ERR_MALFORMED_FRAME', 'reserved-bits', `DSTADDR ${dst} of a Connect Initiate must be 0`);
      const s = readServices(r);
      return {
        type: 'CONNECT_INITIATE',
        retransmitted: flags === MSGFLG.RETRANSMITTED_CI,
        dst,
        src,
        ...s,
        data: r.rest(),
      };
    }
    case MSGFLG.CONNECT_CONFIRM: {
      const s = readServices(r);
      const data = r.image('DATA-CTL', MAX_OTHER_DATA);
      r.end();
      return { type: 'CONNECT_CONFIRM', dst, src, ...s, data };
    }
    case MSGFLG.DISCONNECT_INITIATE: {
      const reason = r.u16('REASON');
      const data = r.image('DATA-CTL', MAX_OTHER_DATA);
      r.end();
      return { type: 'DISCONNECT_INITIATE', dst, src, reason, data };
    }
    default: {
      const reason = r.u16('REASON');
      r.end();
      return { type: 'DISCONNECT_CONFIRM', dst, src, reason };
    }
  }
}
