// Shared AppleTalk test data: EtherTalk Phase 2 frames with their octets written by hand from
// Inside AppleTalk, 2nd ed. (802.2 LLC/SNAP, DDP chapter 4, ZIP chapter 8, ATP chapter 9, ASP
// chapter 11), none produced by the encoder: the lengths and the Ethernet padding were counted by
// hand, in the comments. The one DDP checksum (0x572b) was worked out with the §4-17 procedure
// (add each octet, rotate left) outside this code.
//
// Workstation W is 1000.10 (net 0x03e8, node 0x0a), MAC 08:00:07:12:34:0a; server S is 1000.20
// (node 0x14), MAC 08:00:07:12:34:14. Sockets: ZIS 6, the server's SLS 0x80 and SSS 0x81, the
// workstation's WSS 0xc8 and a ZIP requester 0xc9. The zone is "Colloquy" (08 436f6c6c6f717579).

import { expect } from 'vitest';
import {
  AppletalkDecoder,
  AppletalkProtocolError,
  decodeEtherTalk,
  encodeEtherTalk,
  type DdpAddress,
  type EtherTalkFrame,
} from '../../src/appletalk/index.js';
import { concat, hex } from '../support/bytes.js';
import { WIRE_CODES, type Codec } from '../support/codec-harness.js';

export { concat, hex, toHex } from '../support/bytes.js';

export const MAC_W = '08:00:07:12:34:0a';
export const MAC_S = '08:00:07:12:34:14';
const W = '08000712340a';
const S = '080007123414';
const BCAST = '090007ffffff';
const SNAP = 'aaaa03 080007 809b';
const ZONE = '08 436f6c6c6f717579';
const zeros = (n: number): string => '00'.repeat(n);

export const at = (node: number, socket: number, network = 1000): DdpAddress => ({ network, node, socket });
export const text = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

const frame = (
  ethDestination: string,
  ethSource: string,
  source: DdpAddress,
  destination: DdpAddress,
  type: number,
  data: string,
  checksum = false,
): EtherTalkFrame => ({
  ethDestination,
  ethSource,
  ddp: { hops: 0, checksum, destination, source, type, data: hex(data) },
});
const ws = (from: number, to: number, type: number, data: string): EtherTalkFrame =>
  frame(MAC_S, MAC_W, at(10, from), at(20, to), type, data);
const sw = (from: number, to: number, type: number, data: string, checksum = false): EtherTalkFrame =>
  frame(MAC_W, MAC_S, at(20, from), at(10, to), type, data, checksum);

export interface Fixture {
  readonly name: string;
  readonly frame: EtherTalkFrame;
  readonly wire: Uint8Array;
}

export const FIXTURES: readonly Fixture[] = [
  {
    // ZIP 1 + 1 + 4 + 9 = 15; DDP 13 + 15 = 28 (0x1c); 802.3 length 8 + 28 = 36 (0x24); 50 + 10 padding.
    name: 'ZIP GetNetInfo request, broadcast to net 0 node 255 socket 6',
    frame: frame('09:00:07:ff:ff:ff', MAC_W, at(10, 6), at(255, 6, 0), 6, `05 00 00000000 ${ZONE}`),
    wire: hex(`${BCAST} ${W} 0024 ${SNAP} 001c 0000 0000 03e8 ff 0a 06 06 06 05 00 00000000 ${ZONE} ${zeros(10)}`),
  },
  {
    // ZIP 1 + 1 + 4 + 9 + 7 = 22; DDP 35 (0x23); length 43 (0x2b); 57 + 3 padding; checksum 0x572b.
    name: 'ZIP GetNetInfo reply, only one zone, range 1000-1009, multicast, with a DDP checksum',
    frame: sw(6, 6, 6, `06 20 03e8 03f1 ${ZONE} 06 ${BCAST}`, true),
    wire: hex(
      `${W} ${S} 002b ${SNAP} 0023 572b 03e8 03e8 0a 14 06 06 06 06 20 03e8 03f1 ${ZONE} 06 ${BCAST} ${zeros(3)}`,
    ),
  },
  {
    // ZIP 6; DDP 19 (0x13); length 27 (0x1b); 41 + 19 padding.
    name: 'ZIP Query for networks 1000 and 1001',
    frame: ws(6, 6, 6, '01 02 03e8 03e9'),
    wire: hex(`${S} ${W} 001b ${SNAP} 0013 0000 03e8 03e8 14 0a 06 06 06 01 02 03e8 03e9 ${zeros(19)}`),
  },
  {
    // ZIP 1 + 1 + 2 + 9 = 13; DDP 26 (0x1a); length 34 (0x22); 48 + 12 padding.
    name: 'ZIP Extended Reply, one zone of one',
    frame: sw(6, 6, 6, `08 01 03e8 ${ZONE}`),
    wire: hex(`${W} ${S} 0022 ${SNAP} 001a 0000 03e8 03e8 0a 14 06 06 06 08 01 03e8 ${ZONE} ${zeros(12)}`),
  },
  {
    // ATP 8; DDP 21 (0x15); length 29 (0x1d); 43 + 17 padding. Control 0x60: TReq, XO, TRel 30 s.
    name: 'ATP TReq (XO) carrying ASP OpenSession, WSS 0xc8, version 0x0100',
    frame: ws(0xc8, 0x80, 3, '60 01 0001 04c80100'),
    wire: hex(`${S} ${W} 001d ${SNAP} 0015 0000 03e8 03e8 14 0a 80 c8 03 60 01 0001 04c80100 ${zeros(17)}`),
  },
  {
    // Control 0x90: TResp, EOM; sequence 0. User bytes: SSS 0x81, session 1, error 0.
    name: 'ATP TResp carrying the OpenSession reply, SSS 0x81, session 1',
    frame: sw(0x80, 0xc8, 3, '90 00 0001 81010000'),
    wire: hex(`${W} ${S} 001d ${SNAP} 0015 0000 03e8 03e8 0a 14 c8 80 03 90 00 0001 81010000 ${zeros(17)}`),
  },
  {
    name: 'ATP TRel of transaction 1',
    frame: ws(0xc8, 0x80, 3, 'c0 01 0001 00000000'),
    wire: hex(`${S} ${W} 001d ${SNAP} 0015 0000 03e8 03e8 14 0a 80 c8 03 c0 01 0001 00000000 ${zeros(17)}`),
  },
  {
    // Control 0x40: TReq, at least once. User bytes: GetZoneList, 0, start index 1.
    name: 'ATP TReq to socket 6: ZIP GetZoneList from index 1',
    frame: ws(0xc9, 6, 3, '40 01 0002 08000001'),
    wire: hex(`${S} ${W} 001d ${SNAP} 0015 0000 03e8 03e8 14 0a 06 c9 03 40 01 0002 08000001 ${zeros(17)}`),
  },
  {
    // ATP 8 + 9 = 17; DDP 30 (0x1e); length 38 (0x26); 52 + 8 padding. User: last, 0, count 1.
    name: 'ATP TResp from socket 6: the zone list, last, one zone',
    frame: sw(6, 0xc9, 3, `90 00 0002 01000001 ${ZONE}`),
    wire: hex(`${W} ${S} 0026 ${SNAP} 001e 0000 03e8 03e8 0a 14 c9 06 03 90 00 0002 01000001 ${ZONE} ${zeros(8)}`),
  },
  {
    // ATP 8 + 4 = 12; DDP 25 (0x19); length 33 (0x21); 47 + 13 padding. Bitmap 0x03: two response
    // packets. The command block is AFP's FPCloseVol of volume 1 (02 00 0001), since Wireshark hands
    // ASP command blocks to its AFP dissector.
    name: 'ATP TReq (XO, TRel 2 min) carrying ASP Command, session 1, sequence 7, 4 octets',
    frame: ws(0xc8, 0x81, 3, '62 03 0003 02010007 02000001'),
    wire: hex(`${S} ${W} 0021 ${SNAP} 0019 0000 03e8 03e8 14 0a 81 c8 03 62 03 0003 02010007 02000001 ${zeros(13)}`),
  },
  {
    // ATP 10; DDP 23 (0x17); length 31 (0x1f); 45 + 15 padding.
    name: 'ATP TResp sequence 1 with EOM, "ok"',
    frame: sw(0x81, 0xc8, 3, '90 01 0003 00000000 6f6b'),
    wire: hex(`${W} ${S} 001f ${SNAP} 0017 0000 03e8 03e8 0a 14 c8 81 03 90 01 0003 00000000 6f6b ${zeros(15)}`),
  },
  {
    // Control 0x88: TResp with STS, sequence 0, no EOM.
    name: 'ATP TResp sequence 0 with STS, Command result -1 (0xffffffff)',
    frame: sw(0x81, 0xc8, 3, '88 00 0003 ffffffff'),
    wire: hex(`${W} ${S} 001d ${SNAP} 0015 0000 03e8 03e8 0a 14 c8 81 03 88 00 0003 ffffffff ${zeros(17)}`),
  },
  {
    name: 'ATP TReq (ALO) carrying ASP Tickle, session 1, from the SSS to the WSS',
    frame: sw(0x81, 0xc8, 3, '40 01 8000 05010000'),
    wire: hex(`${W} ${S} 001d ${SNAP} 0015 0000 03e8 03e8 0a 14 c8 81 03 40 01 8000 05010000 ${zeros(17)}`),
  },
  {
    // Hop count 3: byte 0 = 3 << 2 = 0x0c. DDP 13 + 1 = 14 (0x0e); length 22 (0x16); 36 + 24 padding.
    name: 'DDP type 4 (AEP) that crossed 3 routers, from network 2000 (0x07d0)',
    frame: {
      ethDestination: MAC_W,
      ethSource: MAC_S,
      ddp: { hops: 3, checksum: false, destination: at(10, 4), source: at(20, 4, 2000), type: 4, data: hex('01') },
    },
    wire: hex(`${W} ${S} 0016 ${SNAP} 0c0e 0000 03e8 07d0 0a 14 04 04 04 01 ${zeros(24)}`),
  },
];

/** The codec as the harness sees it: a stream of frames; units re-encode to the octets they came from. */
export const APPLETALK_CODEC: Codec<EtherTalkFrame> = {
  decoder: () => new AppletalkDecoder(),
  isProtocolError: (error) =>
    error instanceof AppletalkProtocolError && WIRE_CODES.includes(error.code) && typeof error.reason === 'string',
  verify(input, units, end) {
    // Canonical but for the Ethernet padding a receiver skips: each unit re-encodes to a frame of
    // the same length that decodes to the same unit.
    let offset = 0;
    for (const u of units) {
      const again = encodeEtherTalk(u);
      expect(decodeEtherTalk(again)).toEqual(u);
      offset += again.length;
    }
    if (!end.failed) expect(offset).toBe(input.length - end.bufferedBytes);
  },
};

export const STREAM = concat(FIXTURES.map((f) => f.wire));
