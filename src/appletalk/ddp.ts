// DDP datagrams (Inside AppleTalk, 2nd ed., chapter 4) to octets and back. Pure: no I/O. Every
// field big-endian, as everywhere in AppleTalk.
//
//   long header (13): 00 HHHH LLLLLLLLLL   hop count (4 bits), datagram length (10 bits, header included)
//                     CHECKSUM (2, 0 = none)  DST-NET (2)  SRC-NET (2)  DST-NODE  SRC-NODE
//                     DST-SOCKET  SRC-SOCKET  DDP-TYPE       then 0..586 octets of data
//   short header (5): 000000 LLLLLLLLLL   DST-SOCKET  SRC-SOCKET  DDP-TYPE   (LocalTalk only: the
//                     nodes are LLAP's, the network is the local one; no checksum, no hop count)
//
// The checksum (§4-17) runs over every octet after the checksum field: add the octet, rotate the
// 16-bit sum left by one; a result of 0 is sent as 0xFFFF, since 0 means "not computed". A
// datagram that carries one is checked on decode (`bad-checksum`), so `checksum: true` round-trips.

import { SessionError } from '../engine/errors.js';
import { AppletalkProtocolError, malformed } from './errors.js';

export const DDP_LONG_HEADER_LENGTH = 13;
export const DDP_SHORT_HEADER_LENGTH = 5;
/** The most data a datagram carries (§4-9). */
export const DDP_MAX_DATA = 586;

/** DDP types of Inside AppleTalk appendix C. */
export const DdpType = { RTMP_DATA: 1, NBP: 2, ATP: 3, AEP: 4, RTMP_REQUEST: 5, ZIP: 6, ADSP: 7 } as const;

/** Statically assigned sockets (appendix C): 6 is the zone information socket. */
export const ZIS_SOCKET = 6;

export interface DdpAddress {
  /** 0 is "this network". */
  readonly network: number;
  /** 255 is every node (broadcast), 0 "any router". */
  readonly node: number;
  readonly socket: number;
}

export interface DdpDatagram {
  /** Routers this datagram crossed (0..15). */
  readonly hops: number;
  /** True: the checksum field is computed (and checked on decode); false: it is 0. */
  readonly checksum: boolean;
  readonly destination: DdpAddress;
  readonly source: DdpAddress;
  readonly type: number;
  readonly data: Uint8Array;
}

/** A short-header datagram: sockets only, the nodes come from LLAP. */
export interface DdpShortDatagram {
  readonly destinationSocket: number;
  readonly sourceSocket: number;
  readonly type: number;
  readonly data: Uint8Array;
}

export function ddpChecksum(octets: Uint8Array): number {
  let sum = 0;
  for (const b of octets) {
    sum = (sum + b) & 0xffff;
    sum = ((sum << 1) | (sum >> 15)) & 0xffff;
  }
  return sum === 0 ? 0xffff : sum;
}

function refuse(field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode DDP ${field}: ${why}`, 'local', { field });
}

function check(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) refuse(field, `${value} is not 0..${max}`);
}

export function encodeDdp(d: DdpDatagram): Uint8Array {
  check('hop count', d.hops, 15);
  check('type', d.type, 255);
  for (const [f, a] of [
    ['destination', d.destination],
    ['source', d.source],
  ] as const) {
    check(`${f} network`, a.network, 0xffff);
    check(`${f} node`, a.node, 255);
    check(`${f} socket`, a.socket, 255);
  }
  if (d.data.length > DDP_MAX_DATA) refuse('data', `${d.data.length} octets, at most ${DDP_MAX_DATA}`);
  const length = DDP_LONG_HEADER_LENGTH + d.data.length;
  const out = new Uint8Array(length);
  out[0] = (d.hops << 2) | (length >> 8);
  out[1] = length & 0xff;
  out[4] = d.destination.network >> 8;
  out[5] = d.destination.network & 0xff;
  out[6] = d.source.network >> 8;
  out[7] = d.source.network & 0xff;
  out[8] = d.destination.node;
  out[9] = d.source.node;
  out[10] = d.destination.socket;
  out[11] = d.source.socket;
  out[12] = d.type;
  out.set(d.data, DDP_LONG_HEADER_LENGTH);
  if (d.checksum) {
    const sum = ddpChecksum(out.subarray(4));
    out[2] = sum >> 8;
    out[3] = sum & 0xff;
  }
  return out;
}

/** Checks the length word shared by both headers; returns the datagram length. */
function measure(octets: Uint8Array, header: number, reserved: number): number {
  if (octets.length < header)
    malformed('ddp', 'truncated', `${octets.length} octets, the header needs ${header}`, { length: octets.length });
  if (octets[0]! & reserved)
    malformed('ddp', 'reserved-bits', `length word 0x${octets[0]!.toString(16)}.. has reserved bits set`);
  const length = ((octets[0]! & 0x03) << 8) | octets[1]!;
  if (length - header > DDP_MAX_DATA)
    throw new AppletalkProtocolError(
      'ERR_FRAME_TOO_LARGE',
      'too-large',
      'ddp',
      `datagram length ${length} is past ${header + DDP_MAX_DATA}`,
      { length },
    );
  if (length !== octets.length)
    malformed('ddp', 'bad-length', `datagram length ${length}, ${octets.length} octets carry it`, { length });
  return length;
}

/** One whole long-header datagram (exactly its octets). Throws AppletalkProtocolError. */
export function decodeDdp(octets: Uint8Array): DdpDatagram {
  measure(octets, DDP_LONG_HEADER_LENGTH, 0xc0);
  const sum = (octets[2]! << 8) | octets[3]!;
  if (sum !== 0 && sum !== ddpChecksum(octets.subarray(4)))
    malformed('ddp', 'bad-checksum', `checksum 0x${sum.toString(16).padStart(4, '0')} is not the datagram's`, {
      checksum: sum,
    });
  return {
    hops: (octets[0]! >> 2) & 0x0f,
    checksum: sum !== 0,
    destination: { network: (octets[4]! << 8) | octets[5]!, node: octets[8]!, socket: octets[10]! },
    source: { network: (octets[6]! << 8) | octets[7]!, node: octets[9]!, socket: octets[11]! },
    type: octets[12]!,
    data: octets.slice(DDP_LONG_HEADER_LENGTH),
  };
}

export function encodeDdpShort(d: DdpShortDatagram): Uint8Array {
  check('destination socket', d.destinationSocket, 255);
  check('source socket', d.sourceSocket, 255);
  check('type', d.type, 255);
  if (d.data.length > DDP_MAX_DATA) refuse('data', `${d.data.length} octets, at most ${DDP_MAX_DATA}`);
  const length = DDP_SHORT_HEADER_LENGTH + d.data.length;
  const out = new Uint8Array(length);
  out[0] = length >> 8;
  out[1] = length & 0xff;
  out[2] = d.destinationSocket;
  out[3] = d.sourceSocket;
  out[4] = d.type;
  out.set(d.data, DDP_SHORT_HEADER_LENGTH);
  return out;
}

export function decodeDdpShort(octets: Uint8Array): DdpShortDatagram {
  measure(octets, DDP_SHORT_HEADER_LENGTH, 0xfc);
  return {
    destinationSocket: octets[2]!,
    sourceSocket: octets[3]!,
    type: octets[4]!,
    data: octets.slice(DDP_SHORT_HEADER_LENGTH),
  };
}
