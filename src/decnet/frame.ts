// A DECnet Phase IV frame on Ethernet: the Ethernet header, the 2-octet length and optional
// routing pad, the long data header (Routing Layer Functional Specification v2.0.0, §5), and one
// NSP message (nsp.ts). Pure: no I/O.
//
//   0   destination MAC (6)   source MAC (6)   type 60-03
//   14  LENGTH (2, LE): the octets that follow it, pad included, Ethernet padding excluded
//   16  [PAD: 0x80|n, then n-1 octets; n counts itself]            (routing v2.0.0 §5.3)
//       FLAGS  bit 0 control(0) | bits 2..1 format(11 long) | 3 RQR | 4 RTS | 5 IE | 6 VERS(0) | 7 PF
//       D-AREA(0) D-SUBAREA(0) D-ID(6)  S-AREA(0) S-SUBAREA(0) S-ID(6)  NL2(0) VISIT-CT S-CLASS(0) PT(0)
//       NSP message
//   ..  Ethernet padding up to 60 octets (the 64-octet minimum frame less its FCS)
//
// An ID is HIORD AA-00-04-00 then the node address, low octet first (address.ts). The length
// makes a frame self-delimiting: it is max(60, 16 + LENGTH) octets, which is how DecnetDecoder
// (decoder.ts) cuts a byte stream of frames. Canonical as nsp.ts is, except the octets the
// receiver skips: the pad's n-1 octets (written as zeros) and the Ethernet padding (zeros).

import { SessionError } from '../engine/errors.js';
import { HIORD, macFromString, macToString, nodeMac } from './address.js';
import { DecnetProtocolError } from './errors.js';
import { decodeNsp } from './nsp-decode.js';
import { encodeNsp } from './nsp-encode.js';
import type { NspMessage } from './nsp.js';

export const DECNET_ETHERTYPE = 0x6003;
export const ETHERNET_HEADER_LENGTH = 14;
/** The shortest Ethernet frame without its FCS. */
export const MIN_FRAME_LENGTH = 60;
/** The Ethernet header and the routing length field. */
export const FRAME_PREFIX_LENGTH = 16;
/** The largest LENGTH: a 1500-octet Ethernet payload less the length field itself. */
export const MAX_ROUTING_LENGTH = 1498;
export const MAX_FRAME_LENGTH = FRAME_PREFIX_LENGTH + MAX_ROUTING_LENGTH;
export const LONG_HEADER_LENGTH = 21;

const FLAG_CONTROL = 0x01;
const FLAG_LONG = 0x06;
const FLAG_RQR = 0x08;
const FLAG_RTS = 0x10;
const FLAG_IE = 0x20;
const FLAG_VERS = 0x40;
const FLAG_PAD = 0x80;

export interface RoutingHeader {
  /** The destination node address (the word, see address.ts). */
  readonly destination: number;
  readonly source: number;
  /** RQR: return the packet to its sender if it cannot be delivered. */
  readonly returnRequest: boolean;
  /** RTS: the packet is on its way back. */
  readonly returnToSender: boolean;
  /** IE: the sender knows the destination is on this Ethernet. */
  readonly intraEthernet: boolean;
  readonly visits: number;
  /** Routing pad octets before FLAGS, 0 for none (1..127). */
  readonly pad: number;
}

export interface DecnetFrame {
  /** aa:00:04:00:xx:yy for a Phase IV node (nodeMac()). */
  readonly ethDestination: string;
  readonly ethSource: string;
  readonly routing: RoutingHeader;
  readonly nsp: NspMessage;
}

export interface DataFrameOptions {
  readonly pad?: number;
  readonly returnRequest?: boolean;
}

/** The frame one end node sends another on the same Ethernet: MACs from the addresses, IE set. */
export function dataFrame(
  source: number,
  destination: number,
  nsp: NspMessage,
  options: DataFrameOptions = {},
): DecnetFrame {
  return {
    ethDestination: nodeMac(destination),
    ethSource: nodeMac(source),
    routing: {
      destination,
      source,
      returnRequest: options.returnRequest ?? false,
      returnToSender: false,
      intraEthernet: true,
      visits: 0,
      pad: options.pad ?? 0,
    },
    nsp,
  };
}

function refuse(field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode DECnet ${field}: ${why}`, 'local', { field });
}

export function encodeFrame(frame: DecnetFrame): Uint8Array {
  const nsp = encodeNsp(frame.nsp);
  const r = frame.routing;
  if (!Number.isInteger(r.pad) || r.pad < 0 || r.pad > 127) refuse('pad', `${r.pad} is not 0..127`);
  if (!Number.isInteger(r.visits) || r.visits < 0 || r.visits > 255) refuse('VISIT-CT', `${r.visits} is not 0..255`);
  for (const [f, v] of [
    ['D-ID', r.destination],
    ['S-ID', r.source],
  ] as const)
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) refuse(f, `${v} is not a 16-bit address`);
  const length = r.pad + LONG_HEADER_LENGTH + nsp.length;
  if (length > MAX_ROUTING_LENGTH) refuse('LENGTH', `${length} octets, at most ${MAX_ROUTING_LENGTH}`);
  const out = new Uint8Array(Math.max(MIN_FRAME_LENGTH, FRAME_PREFIX_LENGTH + length));
  out.set(macFromString(frame.ethDestination), 0);
  out.set(macFromString(frame.ethSource), 6);
  out[12] = DECNET_ETHERTYPE >> 8;
  out[13] = DECNET_ETHERTYPE & 0xff;
  out[14] = length & 0xff;
  out[15] = length >> 8;
  let at = FRAME_PREFIX_LENGTH;
  if (r.pad > 0) {
    out[at] = FLAG_PAD | r.pad;
    at += r.pad;
  }
  out[at] =
    FLAG_LONG | (r.returnRequest ? FLAG_RQR : 0) | (r.returnToSender ? FLAG_RTS : 0) | (r.intraEthernet ? FLAG_IE : 0);
  out.set([...HIORD, r.destination & 0xff, r.destination >> 8], at + 3);
  out.set([...HIORD, r.source & 0xff, r.source >> 8], at + 11);
  out[at + 18] = r.visits;
  out.set(nsp, at + LONG_HEADER_LENGTH);
  return out;
}

/** The whole frame's length from its first 16 octets; throws on a foreign type or a bad length. */
export function frameLength(prefix: Uint8Array): number {
  const type = (prefix[12]! << 8) | prefix[13]!;
  if (type !== DECNET_ETHERTYPE)
    throw new DecnetProtocolError(
      'ERR_UNKNOWN_FRAME_TYPE',
      'not-decnet',
      'ethernet',
      `Ethernet type 0x${type.toString(16).padStart(4, '0')} is not DECnet Phase IV routing (0x6003)`,
      { ethertype: type },
    );
  const length = prefix[14]! | (prefix[15]! << 8);
  if (length > MAX_ROUTING_LENGTH)
    throw new DecnetProtocolError(
      'ERR_FRAME_TOO_LARGE',
      'too-large',
      'routing',
      `LENGTH ${length} is past ${MAX_ROUTING_LENGTH}`,
      {
        length,
      },
    );
  if (length === 0)
    throw new DecnetProtocolError('ERR_MALFORMED_FRAME', 'bad-length', 'routing', 'LENGTH is 0', { length });
  return Math.max(MIN_FRAME_LENGTH, FRAME_PREFIX_LENGTH + length);
}

function routingError(reason: 'bad-padding' | 'truncated' | 'reserved-bits' | 'bad-address', why: string): never {
  throw new DecnetProtocolError('ERR_MALFORMED_FRAME', reason, 'routing', why);
}

/** One whole frame (as frameLength() measured it). Throws DecnetProtocolError. */
export function decodeFrame(frame: Uint8Array): DecnetFrame {
  if (frame.length < FRAME_PREFIX_LENGTH)
    throw new DecnetProtocolError(
      'ERR_MALFORMED_FRAME',
      'bad-length',
      'ethernet',
      `${frame.length} octets, no room for the length`,
    );
  const total = frameLength(frame);
  if (frame.length !== total)
    throw new DecnetProtocolError(
      'ERR_MALFORMED_FRAME',
      'bad-length',
      'routing',
      `LENGTH says ${total} octets in all, the frame has ${frame.length}`,
    );
  const length = frame[14]! | (frame[15]! << 8);
  const body = frame.subarray(FRAME_PREFIX_LENGTH, FRAME_PREFIX_LENGTH + length);
  let at = 0;
  let pad = 0;
  if (body[0]! & FLAG_PAD) {
    pad = body[0]! & 0x7f;
    if (pad === 0 || pad >= body.length)
      routingError('bad-padding', `pad of ${pad} octets in a ${length}-octet message`);
    at = pad;
  }
  const flags = body[at]!;
  if (flags & FLAG_PAD) routingError('bad-padding', 'a second pad after the first');
  if (flags & FLAG_CONTROL)
    throw new DecnetProtocolError(
      'ERR_UNKNOWN_FRAME_TYPE',
      'routing-control',
      'routing',
      `FLAGS 0x${flags.toString(16)}: a routing control message (not implemented)`,
      {
        flags,
      },
    );
  if ((flags & FLAG_LONG) !== FLAG_LONG)
    throw new DecnetProtocolError(
      'ERR_UNKNOWN_FRAME_TYPE',
      'short-header',
      'routing',
      `FLAGS 0x${flags.toString(16)}: not the long data header Ethernet uses`,
      {
        flags,
      },
    );
  if (flags & FLAG_VERS) routingError('reserved-bits', `FLAGS 0x${flags.toString(16)}: bit 6 (VERS) must be zero`);
  if (at + LONG_HEADER_LENGTH > body.length)
    routingError('truncated', `${body.length - at} octets after the pad, the long header needs ${LONG_HEADER_LENGTH}`);
  const h = body.subarray(at, at + LONG_HEADER_LENGTH);
  if (h[1] !== 0 || h[2] !== 0 || h[9] !== 0 || h[10] !== 0 || h[17] !== 0 || h[19] !== 0 || h[20] !== 0)
    routingError('reserved-bits', 'D-AREA, D-SUBAREA, S-AREA, S-SUBAREA, NL2, S-CLASS and PT must be zero');
  const id = (o: number, field: string): number => {
    for (let i = 0; i < 4; i++)
      if (h[o + i] !== HIORD[i])
        routingError('bad-address', `${field} ${macToString(h.subarray(o, o + 6))} is not AA-00-04-00-xx-xx`);
    return h[o + 4]! | (h[o + 5]! << 8);
  };
  const routing: RoutingHeader = {
    destination: id(3, 'D-ID'),
    source: id(11, 'S-ID'),
    returnRequest: (flags & FLAG_RQR) !== 0,
    returnToSender: (flags & FLAG_RTS) !== 0,
    intraEthernet: (flags & FLAG_IE) !== 0,
    visits: h[18]!,
    pad,
  };
  return {
    ethDestination: macToString(frame.subarray(0, 6)),
    ethSource: macToString(frame.subarray(6, 12)),
    routing,
    nsp: decodeNsp(body.subarray(at + LONG_HEADER_LENGTH)),
  };
}
