// The two links a DDP datagram rides here (Inside AppleTalk, 2nd ed., chapters 1-3). Pure: no I/O.
//
// EtherTalk Phase 2: an IEEE 802.3 frame with an 802.2 LLC/SNAP header, long DDP headers only.
//   0   destination MAC (6)   source MAC (6)   LENGTH (2): the octets after it, padding excluded
//   14  AA AA 03 (LLC: DSAP, SSAP SNAP, UI)   08 00 07 (Apple's OUI)   80 9B (AppleTalk)
//   22  the long-header DDP datagram (ddp.ts), LENGTH - 8 octets
//   ..  Ethernet padding (zeros) up to 60 octets, the 64-octet minimum frame less its FCS
// A frame is therefore max(60, 14 + LENGTH) octets, which is how AppletalkDecoder (decoder.ts)
// cuts a byte stream of frames. AppleTalk broadcasts go to 09:00:07:FF:FF:FF; a node's own MAC is
// whatever its card has (AARP, which maps DDP nodes to MACs, is not implemented: each side is told
// the other's MAC).
//
// LocalTalk (LLAP): DST-NODE SRC-NODE TYPE (1 short DDP, 2 long DDP) then the datagram; no length
// of its own (the hardware frames it), so the datagram's own length must fill the frame. Used for
// the short header only; the control frames (0x81..0x85) are not implemented.

import { SessionError } from '../engine/errors.js';
import {
  decodeDdp,
  decodeDdpShort,
  encodeDdp,
  encodeDdpShort,
  DDP_LONG_HEADER_LENGTH,
  type DdpDatagram,
  type DdpShortDatagram,
} from './ddp.js';
import { AppletalkProtocolError, malformed } from './errors.js';

export const ETHERNET_HEADER_LENGTH = 14;
/** LLC (3) and SNAP (5). */
export const SNAP_HEADER_LENGTH = 8;
export const MIN_FRAME_LENGTH = 60;
/** The Ethernet header with the 802.3 length: all the decoder needs to know a frame's length. */
export const FRAME_PREFIX_LENGTH = 14;
export const MAX_8023_LENGTH = 1500;
export const MAX_FRAME_LENGTH = ETHERNET_HEADER_LENGTH + MAX_8023_LENGTH;
/** The AppleTalk broadcast (and the zone multicast of a one-zone network). */
export const APPLETALK_BROADCAST = '09:00:07:ff:ff:ff';
const SNAP = [0xaa, 0xaa, 0x03, 0x08, 0x00, 0x07, 0x80, 0x9b] as const;

export interface EtherTalkFrame {
  readonly ethDestination: string;
  readonly ethSource: string;
  readonly ddp: DdpDatagram;
}

export type LlapFrame =
  | { readonly destinationNode: number; readonly sourceNode: number; readonly type: 1; readonly ddp: DdpShortDatagram }
  | { readonly destinationNode: number; readonly sourceNode: number; readonly type: 2; readonly ddp: DdpDatagram };

export function macToString(octets: Uint8Array): string {
  return Array.from(octets, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function macFromString(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/i.test(p)))
    throw new SessionError('ERR_INVALID_ARGUMENT', `'${mac}' is not a MAC address (xx:xx:xx:xx:xx:xx)`, 'local', {
      mac,
    });
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

export function encodeEtherTalk(frame: EtherTalkFrame): Uint8Array {
  const ddp = encodeDdp(frame.ddp);
  const length = SNAP_HEADER_LENGTH + ddp.length;
  const out = new Uint8Array(Math.max(MIN_FRAME_LENGTH, ETHERNET_HEADER_LENGTH + length));
  out.set(macFromString(frame.ethDestination), 0);
  out.set(macFromString(frame.ethSource), 6);
  out[12] = length >> 8;
  out[13] = length & 0xff;
  out.set(SNAP, ETHERNET_HEADER_LENGTH);
  out.set(ddp, ETHERNET_HEADER_LENGTH + SNAP_HEADER_LENGTH);
  return out;
}

/** The whole frame's length from its first 14 octets; throws on an Ethernet II type or a bad length. */
export function frameLength(prefix: Uint8Array): number {
  const length = (prefix[12]! << 8) | prefix[13]!;
  if (length >= 0x0600)
    throw new AppletalkProtocolError(
      'ERR_UNKNOWN_FRAME_TYPE',
      'not-appletalk',
      'ethernet',
      `Ethernet II type 0x${length.toString(16).padStart(4, '0')}: EtherTalk Phase 2 is 802.3 with LLC/SNAP`,
      { ethertype: length },
    );
  if (length > MAX_8023_LENGTH)
    throw new AppletalkProtocolError(
      'ERR_FRAME_TOO_LARGE',
      'too-large',
      'ethernet',
      `802.3 length ${length} is past ${MAX_8023_LENGTH}`,
      { length },
    );
  if (length < SNAP_HEADER_LENGTH + DDP_LONG_HEADER_LENGTH)
    malformed('ethernet', 'bad-length', `802.3 length ${length}: no room for LLC/SNAP and a DDP header`, { length });
  return Math.max(MIN_FRAME_LENGTH, ETHERNET_HEADER_LENGTH + length);
}

/** One whole frame (as frameLength() measured it). Throws AppletalkProtocolError. */
export function decodeEtherTalk(frame: Uint8Array): EtherTalkFrame {
  if (frame.length < FRAME_PREFIX_LENGTH)
    malformed('ethernet', 'bad-length', `${frame.length} octets, no room for the 802.3 header`);
  const total = frameLength(frame);
  if (frame.length !== total)
    malformed('ethernet', 'bad-length', `the 802.3 length says ${total} octets in all, the frame has ${frame.length}`);
  const length = (frame[12]! << 8) | frame[13]!;
  for (let i = 0; i < SNAP.length; i++)
    if (frame[ETHERNET_HEADER_LENGTH + i] !== SNAP[i])
      throw new AppletalkProtocolError(
        'ERR_UNKNOWN_FRAME_TYPE',
        'not-appletalk',
        'ethernet',
        `LLC/SNAP ${macToString(frame.subarray(14, 22)).replaceAll(':', '')} is not AppleTalk (aaaa03 080007 809b)`,
      );
  return {
    ethDestination: macToString(frame.subarray(0, 6)),
    ethSource: macToString(frame.subarray(6, 12)),
    ddp: decodeDdp(frame.subarray(ETHERNET_HEADER_LENGTH + SNAP_HEADER_LENGTH, ETHERNET_HEADER_LENGTH + length)),
  };
}

export function encodeLlap(frame: LlapFrame): Uint8Array {
  for (const [f, v] of [
    ['destination node', frame.destinationNode],
    ['source node', frame.sourceNode],
  ] as const)
    if (!Number.isInteger(v) || v < 0 || v > 255)
      throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode LLAP ${f}: ${v} is not 0..255`, 'local', {
        field: f,
      });
  const ddp = frame.type === 1 ? encodeDdpShort(frame.ddp) : encodeDdp(frame.ddp);
  const out = new Uint8Array(3 + ddp.length);
  out[0] = frame.destinationNode;
  out[1] = frame.sourceNode;
  out[2] = frame.type;
  out.set(ddp, 3);
  return out;
}

/** One LLAP data frame, FCS excluded. Throws AppletalkProtocolError. */
export function decodeLlap(frame: Uint8Array): LlapFrame {
  if (frame.length < 3) malformed('llap', 'truncated', `${frame.length} octets, the LLAP header needs 3`);
  const type = frame[2]!;
  const nodes = { destinationNode: frame[0]!, sourceNode: frame[1]! };
  if (type === 1) return { ...nodes, type, ddp: decodeDdpShort(frame.subarray(3)) };
  if (type === 2) return { ...nodes, type, ddp: decodeDdp(frame.subarray(3)) };
  throw new AppletalkProtocolError(
    'ERR_UNKNOWN_FRAME_TYPE',
    'unknown-llap-type',
    'llap',
    `LLAP type 0x${type.toString(16)}: only data frames (1 short DDP, 2 long DDP) are implemented`,
    { type },
  );
}
