// Octets to NSP messages (nsp.ts has the layouts). Anything that breaks a layout is a
// DecnetProtocolError naming the field and the rule; every reserved bit is checked, so what
// decodes re-encodes to the same octets.

import { DecnetProtocolError, type DecnetMalformedReason, type DecnetWireCode } from './errors.js';
import {
  MAX_OTHER_DATA,
  MSGFLG,
  type Ack,
  type ConnectInitiate,
  type FcModCode,
  type FlowControlOption,
  type NspMessage,
  type NspVersionCode,
} from './nsp.js';

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
