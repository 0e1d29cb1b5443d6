// ATP packets (Inside AppleTalk, 2nd ed., chapter 9) to octets and back: the data of a DDP
// datagram of type 3. Pure: no I/O.
//
//   CONTROL (1)  bits 7..6 function: 01 TReq, 10 TResp, 11 TRel; bit 5 XO (exactly once);
//                bit 4 EOM (last response packet); bit 3 STS (send transaction status: TResp
//                asks the requester to send its TReq again now); bits 2..0 TRel timeout indicator
//                (TReq with XO: 0 30 s, 1 1 min, 2 2 min, 3 4 min, 4 8 min)
//   BITMAP (1)   TReq: the response packets wanted (bit n: sequence number n); TResp: its
//                sequence number 0..7; TRel: the request's bitmap (kept as sent)
//   TID (2)      transaction ID     USER BYTES (4)     DATA (0..578, none in a TRel)
//
// Every bit is kept, so decode(encode(p)) equals p and what decodes re-encodes to its octets.

import { SessionError } from '../engine/errors.js';
import { AppletalkProtocolError, malformed } from './errors.js';

export const ATP_HEADER_LENGTH = 8;
/** The most data one ATP packet carries: 586 octets of DDP data less the header. */
export const ATP_MAX_DATA = 578;
/** A transaction's response is at most 8 packets (sequence numbers 0..7). */
export const ATP_MAX_RESPONSE_PACKETS = 8;

export type AtpFunction = 'TReq' | 'TResp' | 'TRel';

/** The TRel timeout indicator's release times (TReq with XO), in ms. */
export const TREL_TIMEOUTS_MS = [30_000, 60_000, 120_000, 240_000, 480_000] as const;

export interface AtpPacket {
  readonly fn: AtpFunction;
  readonly xo: boolean;
  readonly eom: boolean;
  readonly sts: boolean;
  /** TRel timeout indicator 0..4 (meaningful in an XO TReq; 0 elsewhere, as a rule). */
  readonly trel: number;
  /** TReq: bitmap; TResp: sequence number; TRel: as sent. */
  readonly bitmap: number;
  readonly tid: number;
  /** The four user bytes as one big-endian word. */
  readonly user: number;
  readonly data: Uint8Array;
}

/** What an ATP request or response packet carries for its client: the user bytes (one word) and the data. */
export interface AtpPayload {
  readonly user: number;
  readonly data: Uint8Array;
}

const CODES: Record<AtpFunction, number> = { TReq: 0x40, TResp: 0x80, TRel: 0xc0 };
const NAMES: readonly (AtpFunction | undefined)[] = [undefined, 'TReq', 'TResp', 'TRel'];

function refuse(field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode ATP ${field}: ${why}`, 'local', { field });
}

export function encodeAtp(p: AtpPacket): Uint8Array {
  if (!Number.isInteger(p.trel) || p.trel < 0 || p.trel >= TREL_TIMEOUTS_MS.length)
    refuse('TRel timeout', `${p.trel} is not 0..4`);
  if (!Number.isInteger(p.bitmap) || p.bitmap < 0 || p.bitmap > 0xff) refuse('bitmap', `${p.bitmap} is not 0..255`);
  if (p.fn === 'TResp' && p.bitmap >= ATP_MAX_RESPONSE_PACKETS) refuse('sequence number', `${p.bitmap} is not 0..7`);
  if (!Number.isInteger(p.tid) || p.tid < 0 || p.tid > 0xffff) refuse('TID', `${p.tid} is not 0..65535`);
  if (!Number.isInteger(p.user) || p.user < 0 || p.user > 0xffffffff)
    refuse('user bytes', `${p.user} is not a 32-bit word`);
  if (p.data.length > ATP_MAX_DATA) refuse('data', `${p.data.length} octets, at most ${ATP_MAX_DATA}`);
  if (p.fn === 'TRel' && p.data.length > 0) refuse('data', 'a TRel carries none');
  const out = new Uint8Array(ATP_HEADER_LENGTH + p.data.length);
  out[0] = CODES[p.fn] | (p.xo ? 0x20 : 0) | (p.eom ? 0x10 : 0) | (p.sts ? 0x08 : 0) | p.trel;
  out[1] = p.bitmap;
  out[2] = p.tid >> 8;
  out[3] = p.tid & 0xff;
  new DataView(out.buffer).setUint32(4, p.user);
  out.set(p.data, ATP_HEADER_LENGTH);
  return out;
}

export function decodeAtp(octets: Uint8Array): AtpPacket {
  if (octets.length < ATP_HEADER_LENGTH)
    malformed('atp', 'truncated', `${octets.length} octets, the ATP header needs ${ATP_HEADER_LENGTH}`);
  const control = octets[0]!;
  const fn = NAMES[control >> 6];
  if (fn === undefined)
    throw new AppletalkProtocolError(
      'ERR_UNKNOWN_FRAME_TYPE',
      'unknown-function',
      'atp',
      `control 0x${control.toString(16)}: function code 0`,
      { control },
    );
  const trel = control & 0x07;
  if (trel >= TREL_TIMEOUTS_MS.length)
    malformed('atp', 'reserved-bits', `TRel timeout indicator ${trel} (0..4 defined)`);
  const bitmap = octets[1]!;
  if (fn === 'TResp' && bitmap >= ATP_MAX_RESPONSE_PACKETS)
    malformed('atp', 'reserved-bits', `response sequence number ${bitmap} (0..7)`);
  const data = octets.slice(ATP_HEADER_LENGTH);
  if (data.length > ATP_MAX_DATA)
    malformed('atp', 'field-too-long', `${data.length} octets of data, at most ${ATP_MAX_DATA}`);
  if (fn === 'TRel' && data.length > 0) malformed('atp', 'trailing-bytes', `${data.length} octets after a TRel`);
  return {
    fn,
    xo: (control & 0x20) !== 0,
    eom: (control & 0x10) !== 0,
    sts: (control & 0x08) !== 0,
    trel,
    bitmap,
    tid: (octets[2]! << 8) | octets[3]!,
    user: new DataView(octets.buffer, octets.byteOffset + 4, 4).getUint32(0),
    data,
  };
}
