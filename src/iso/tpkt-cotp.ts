// TPKT (RFC 1006) framing and ISO 8073 / X.224 class 0 TPDUs: what carries X.225 over TCP.
//
//   TCP bytes --TpktDecoder (./tpkt-decoder.ts)--> TPDUs (CR CC DT DR ER) --TsduAssembler--> TSDUs (DT ... DT with EOT)
//   TSDU --encodeDataTpkts--> DT TPDUs of at most the negotiated TPDU size, the last with EOT
//
// Layouts (class 0, normal formats; multi-octet fields big-endian):
//   TPKT  03 00 LEN(2)                    LEN counts these 4 octets; 7..65535; one TPDU per TPKT
//   CR    LI E0 DST-REF(2)=0 SRC-REF(2) CLASS [params]       params: code, length, value
//   CC    LI D0 DST-REF(2) SRC-REF(2) CLASS [params]
//   DT    02 F0 EOT|NR                    then user data; NR is always 0 in class 0
//   DR    LI 80 DST-REF(2) SRC-REF(2) REASON [E0 additional information]
//   ER    LI 70 DST-REF(2) CAUSE [C1 invalid TPDU]
// LI counts the header octets after itself. Parameters: C0 TPDU size (log2, 7..13 = 128..8192),
// C1 calling TSAP, C2 called TSAP; others are kept as they came (ISO 8073 says a receiver ignores
// parameters it does not know), so a decoded TPDU re-encodes to the same bytes when the known
// ones come first in the order C0, C2, C1 (what libiec61850 and iec61850bean send).
//
// Rules: every length is checked before it is used; the decoder throws only ProtocolError, and
// after one it stays failed; one TPKT never holds more than 65535 octets, so one TPDU at most
// 65531, and a TSDU is bounded by the assembler's maxTsduSize (ERR_FRAME_TOO_LARGE past it).

import { cannotEncode, concatBytes, malformed, unknownType } from './octets.js';

type Bytes = Uint8Array;

export const TPKT_VERSION = 3;
export const TPKT_HEADER_LENGTH = 4;
/** Shortest TPKT: the header and a 3-octet DT header. */
export const MIN_TPKT_LENGTH = 7;
export const MAX_TPKT_LENGTH = 65_535;
export const MAX_TPDU_LENGTH = MAX_TPKT_LENGTH - TPKT_HEADER_LENGTH;
/** The DT header of class 0: LI, code, EOT/NR. */
export const DT_HEADER_LENGTH = 3;

export const TpduCode = { CR: 0xe0, CC: 0xd0, DR: 0x80, DT: 0xf0, ER: 0x70 } as const;
export const CotpParam = {
  tpduSize: 0xc0,
  callingTsap: 0xc1,
  calledTsap: 0xc2,
  invalidTpdu: 0xc1,
  additionalInfo: 0xe0,
} as const;
/** TPDU size codes ISO 8073 defines: 2^7 = 128 .. 2^13 = 8192 octets. */
export const MIN_TPDU_SIZE_CODE = 7;
export const MAX_TPDU_SIZE_CODE = 13;
/** The TPDU size when a CR or CC does not say (ISO 8073 13.3.4). */
export const DEFAULT_TPDU_SIZE_CODE = 7;
/** DR reasons valid in class 0 (ISO 8073 13.5.3): 0 not specified, 1 congestion, 2 not attached, 3 address unknown. */
export const DrReason = { notSpecified: 0, congestion: 1, notAttached: 2, addressUnknown: 3 } as const;
/** ER reject causes: 0 not specified, 1 invalid parameter code, 2 invalid TPDU type, 3 invalid parameter value. */
export const ErCause = {
  notSpecified: 0,
  invalidParameterCode: 1,
  invalidTpduType: 2,
  invalidParameterValue: 3,
} as const;

export interface CotpParameter {
  code: number;
  value: Bytes;
}

export interface ConnectTpdu {
  type: 'CR' | 'CC';
  /** Low nibble of the code octet (credit); 0 in class 0. */
  credit: number;
  dstRef: number;
  srcRef: number;
  /** Class (high nibble) and options (low nibble); 0 for class 0. */
  classOptions: number;
  /** TPDU size code (log2 of the size), when the parameter is present. */
  tpduSize?: number;
  callingTsap?: Bytes;
  calledTsap?: Bytes;
  /** Parameters other than C0, C1, C2, in the order they came. */
  other: CotpParameter[];
}
export interface DataTpdu {
  type: 'DT';
  eot: boolean;
  data: Bytes;
}
export interface DisconnectTpdu {
  type: 'DR';
  dstRef: number;
  srcRef: number;
  reason: number;
  info?: Bytes;
}
export interface ErrorTpdu {
  type: 'ER';
  dstRef: number;
  cause: number;
  invalidTpdu?: Bytes;
}
export type Tpdu = ConnectTpdu | DataTpdu | DisconnectTpdu | ErrorTpdu;

export function tpduSizeBytes(code: number): number {
  return 2 ** code;
}

// ---- decoding ---------------------------------------------------------------------------

function u16(b: Bytes, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/** Parameters in buf[from..to): code, one-octet length, value. */
function readParams(buf: Bytes, from: number, to: number, tpdu: string): CotpParameter[] {
  const out: CotpParameter[] = [];
  let at = from;
  while (at < to) {
    if (to - at < 2) malformed('COTP', `${tpdu} parameter header truncated`, { at });
    const code = buf[at]!;
    const len = buf[at + 1]!;
    if (at + 2 + len > to)
      malformed('COTP', `${tpdu} parameter 0x${code.toString(16)} runs past the header (length ${len})`, { code });
    out.push({ code, value: buf.subarray(at + 2, at + 2 + len) });
    at += 2 + len;
  }
  return out;
}

/** One TPDU: the whole payload of one TPKT. */
export function decodeTpdu(buf: Bytes): Tpdu {
  if (buf.length < 2) malformed('COTP', `a TPDU of ${buf.length} octets`);
  const li = buf[0]!;
  if (li === 0 || li === 255) malformed('COTP', `length indicator ${li}`);
  if (li + 1 > buf.length) malformed('COTP', `length indicator ${li} runs past the ${buf.length}-octet TPDU`);
  const code = buf[1]!;
  const end = li + 1;
  switch (code & 0xf0) {
    case TpduCode.DT: {
      if (code !== TpduCode.DT) malformed('COTP', `DT code octet 0x${code.toString(16)}`);
      if (li !== 2) malformed('COTP', `class 0 DT has LI 2, not ${li}`);
      const nr = buf[2]!;
      if ((nr & 0x7f) !== 0) malformed('COTP', `class 0 DT has TPDU-NR 0, not ${nr & 0x7f}`);
      return { type: 'DT', eot: (nr & 0x80) !== 0, data: buf.subarray(3) };
    }
    case TpduCode.CR:
    case TpduCode.CC: {
      if (li < 6) malformed('COTP', `CR/CC LI ${li} < 6`);
      if (end !== buf.length) malformed('COTP', 'class 0 CR/CC carry no user data', { extra: buf.length - end });
      const t: ConnectTpdu = {
        type: (code & 0xf0) === TpduCode.CR ? 'CR' : 'CC',
        credit: code & 0x0f,
        dstRef: u16(buf, 2),
        srcRef: u16(buf, 4),
        classOptions: buf[6]!,
        other: [],
      };
      for (const p of readParams(buf, 7, end, t.type)) {
        const seen = (name: keyof ConnectTpdu): void => {
          if (t[name] !== undefined) malformed('COTP', `${t.type} repeats parameter 0x${p.code.toString(16)}`);
        };
        if (p.code === CotpParam.tpduSize) {
          seen('tpduSize');
          const v = p.value[0];
          if (p.value.length !== 1 || v === undefined || v < MIN_TPDU_SIZE_CODE || v > MAX_TPDU_SIZE_CODE)
            malformed('COTP', `TPDU size parameter ${Array.from(p.value).join(',')}`);
          t.tpduSize = v;
        } else if (p.code === CotpParam.callingTsap) {
          seen('callingTsap');
          t.callingTsap = p.value;
        } else if (p.code === CotpParam.calledTsap) {
          seen('calledTsap');
          t.calledTsap = p.value;
        } else t.other.push(p);
      }
      return t;
    }
    case TpduCode.DR: {
      if (code !== TpduCode.DR) malformed('COTP', `DR code octet 0x${code.toString(16)}`);
      if (li < 6) malformed('COTP', `DR LI ${li} < 6`);
      if (end !== buf.length) malformed('COTP', 'class 0 DR carries no user data');
      const t: DisconnectTpdu = { type: 'DR', dstRef: u16(buf, 2), srcRef: u16(buf, 4), reason: buf[6]! };
      for (const p of readParams(buf, 7, end, 'DR')) {
        if (p.code !== CotpParam.additionalInfo || t.info) malformed('COTP', `DR parameter 0x${p.code.toString(16)}`);
        t.info = p.value;
      }
      return t;
    }
    case TpduCode.ER: {
      if (code !== TpduCode.ER) malformed('COTP', `ER code octet 0x${code.toString(16)}`);
      if (li < 4) malformed('COTP', `ER LI ${li} < 4`);
      if (end !== buf.length) malformed('COTP', 'ER carries no user data');
      const t: ErrorTpdu = { type: 'ER', dstRef: u16(buf, 2), cause: buf[4]! };
      for (const p of readParams(buf, 5, end, 'ER')) {
        if (p.code !== CotpParam.invalidTpdu || t.invalidTpdu)
          malformed('COTP', `ER parameter 0x${p.code.toString(16)}`);
        t.invalidTpdu = p.value;
      }
      return t;
    }
    default:
      return unknownType('COTP', `TPDU code 0x${code.toString(16)} is not used in class 0`, { code });
  }
}

// ---- encoding ---------------------------------------------------------------------------

function param(code: number, value: Bytes): Bytes {
  if (value.length > 255)
    cannotEncode(`COTP parameter 0x${code.toString(16)} of ${value.length} octets (max 255)`, 255);
  const out = new Uint8Array(2 + value.length);
  out[0] = code;
  out[1] = value.length;
  out.set(value, 2);
  return out;
}

function header(code: number, fixed: readonly number[], params: readonly Bytes[]): Bytes {
  const body = concatBytes([Uint8Array.from([code, ...fixed]), ...params]);
  if (body.length > 254) cannotEncode(`COTP header of ${body.length} octets (max 254)`, 254);
  return concatBytes([Uint8Array.of(body.length), body]);
}

function ref(n: number): [number, number] {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) cannotEncode(`COTP reference ${n} is not 16 bits`);
  return [n >> 8, n & 0xff];
}

export function encodeTpdu(t: Tpdu): Bytes {
  switch (t.type) {
    case 'DT': {
      const out = new Uint8Array(DT_HEADER_LENGTH + t.data.length);
      out[0] = 2;
      out[1] = TpduCode.DT;
      out[2] = t.eot ? 0x80 : 0;
      out.set(t.data, DT_HEADER_LENGTH);
      return out;
    }
    case 'CR':
    case 'CC': {
      const params: Bytes[] = [];
      if (t.tpduSize !== undefined) {
        if (t.tpduSize < MIN_TPDU_SIZE_CODE || t.tpduSize > MAX_TPDU_SIZE_CODE)
          cannotEncode(`TPDU size code ${t.tpduSize} (7..13)`);
        params.push(param(CotpParam.tpduSize, Uint8Array.of(t.tpduSize)));
      }
      if (t.calledTsap) params.push(param(CotpParam.calledTsap, t.calledTsap));
      if (t.callingTsap) params.push(param(CotpParam.callingTsap, t.callingTsap));
      for (const p of t.other) params.push(param(p.code, p.value));
      return header(
        (t.type === 'CR' ? TpduCode.CR : TpduCode.CC) | (t.credit & 0x0f),
        [...ref(t.dstRef), ...ref(t.srcRef), t.classOptions & 0xff],
        params,
      );
    }
    case 'DR':
      return header(
        TpduCode.DR,
        [...ref(t.dstRef), ...ref(t.srcRef), t.reason & 0xff],
        t.info ? [param(CotpParam.additionalInfo, t.info)] : [],
      );
    case 'ER':
      return header(
        TpduCode.ER,
        [...ref(t.dstRef), t.cause & 0xff],
        t.invalidTpdu ? [param(CotpParam.invalidTpdu, t.invalidTpdu)] : [],
      );
  }
}

/** One TPDU in one TPKT. */
export function encodeTpkt(tpdu: Bytes): Bytes {
  const length = TPKT_HEADER_LENGTH + tpdu.length;
  if (length > MAX_TPKT_LENGTH) cannotEncode(`a TPKT of ${length} octets (max ${MAX_TPKT_LENGTH})`, MAX_TPKT_LENGTH);
  const out = new Uint8Array(length);
  out[0] = TPKT_VERSION;
  out[2] = length >> 8;
  out[3] = length & 0xff;
  out.set(tpdu, TPKT_HEADER_LENGTH);
  return out;
}

/**
 * A TSDU as DT TPDUs in TPKTs, each TPDU at most `tpduSize` octets (header included), the last
 * one with EOT: one buffer for the whole run. An empty TSDU is one DT with EOT and no data.
 */
export function encodeDataTpkts(tsdu: Bytes, tpduSize: number): Bytes {
  const room = Math.min(tpduSize, MAX_TPDU_LENGTH) - DT_HEADER_LENGTH;
  if (!Number.isInteger(room) || room < 1) cannotEncode(`TPDU size ${tpduSize} leaves no room for data`);
  const count = Math.max(1, Math.ceil(tsdu.length / room));
  const out = new Uint8Array(tsdu.length + count * (TPKT_HEADER_LENGTH + DT_HEADER_LENGTH));
  let at = 0;
  for (let i = 0, from = 0; i < count; i++, from += room) {
    const n = Math.min(room, tsdu.length - from);
    const length = TPKT_HEADER_LENGTH + DT_HEADER_LENGTH + n;
    out[at] = TPKT_VERSION;
    out[at + 2] = length >> 8;
    out[at + 3] = length & 0xff;
    out[at + 4] = 2;
    out[at + 5] = TpduCode.DT;
    out[at + 6] = i === count - 1 ? 0x80 : 0;
    out.set(tsdu.subarray(from, from + n), at + 7);
    at += length;
  }
  return out;
}
