// NSP messages to octets (nsp.ts has the layouts). Encoding refuses what would not decode to the
// same message: a field out of range is ERR_INVALID_ARGUMENT, never a silently truncated value.

import { SessionError } from '../engine/errors.js';
import {
  MAX_OTHER_DATA,
  MSGFLG,
  SEGNUM_MODULUS,
  type Ack,
  type ConnectConfirm,
  type ConnectInitiate,
  type DataSegment,
  type NspMessage,
} from './nsp.js';

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

function link(w: Writer, m: Pick<DataSegment, 'dst' | 'src'>): void {
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
