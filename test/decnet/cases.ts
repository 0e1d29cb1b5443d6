// Shared DECnet test data: frames with their octets written by hand from the Routing v2.0.0,
// NSP v4.0.1 and Session Control v1.0.0 layouts (none produced by the encoder): the lengths and
// the Ethernet padding below were counted by hand, in the comments.
//
// Node A is 1.10 (word 0x040a, AA-00-04-00-0A-04), its link address 0x4a01; node B is 1.20
// (0x0414, AA-00-04-00-14-04), link address 0x7c02.

import { expect } from 'vitest';
import {
  DecnetDecoder,
  DecnetProtocolError,
  decodeFrame,
  encodeFrame,
  type ConnectData,
  type DecnetFrame,
  type NspMessage,
} from '../../src/decnet/index.js';
import { concat, hex } from '../support/bytes.js';
import { WIRE_CODES, type Codec } from '../support/codec-harness.js';

export { concat, hex, toHex } from '../support/bytes.js';

export const A = 0x040a;
export const B = 0x0414;
export const LA = 0x4a01;
export const LB = 0x7c02;

const MAC_A = 'aa0004000a04';
const MAC_B = 'aa0004001404';
/** The long data header A to B and B to A: FLAGS 0x26 (long, IE), 0000, D-ID, 0000, S-ID, NL2, VISIT-CT, S-CLASS, PT. */
const LONG_AB = `26 0000 ${MAC_B} 0000 ${MAC_A} 00 00 00 00`;
const LONG_BA = `26 0000 ${MAC_A} 0000 ${MAC_B} 00 00 00 00`;
const zeros = (n: number): string => '00'.repeat(n);

const routing = (source: number, destination: number, pad = 0): DecnetFrame['routing'] => ({
  destination,
  source,
  returnRequest: false,
  returnToSender: false,
  intraEthernet: true,
  visits: 0,
  pad,
});
const ab = (nsp: NspMessage, pad = 0): DecnetFrame => ({
  ethDestination: 'aa:00:04:00:14:04',
  ethSource: 'aa:00:04:00:0a:04',
  routing: routing(A, B, pad),
  nsp,
});
const ba = (nsp: NspMessage, pad = 0): DecnetFrame => ({
  ethDestination: 'aa:00:04:00:0a:04',
  ethSource: 'aa:00:04:00:14:04',
  routing: routing(B, A, pad),
  nsp,
});

const text = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** The Session Control connect data of the first Connect Initiate below (41 octets). */
export const CONNECT_DATA: ConnectData = {
  destination: { format: 1, objectType: 0, name: 'COLLOQUY' },
  source: { format: 2, objectType: 0, group: 1, user: 4, name: 'ADA' },
  access: { user: 'ada', password: 'secret', account: 'acct' },
  userData: text('hi'),
};
export const CONNECT_DATA_WIRE = hex(
  // DSTNAME: format 1, object 0, I-16 "COLLOQUY"     (11)
  '01 00 08 434f4c4c4f515559' +
    // SRCNAME: format 2, object 0, GRPCODE 1, USRCODE 4, I-12 "ADA"   (10)
    '02 00 0100 0400 03 414441' +
    // MENUVER: access control and user data           (1)
    '03' +
    // RQSTRID "ada" (4), PASSWRD "secret" (7), ACCOUNT "acct" (5), USRDATA "hi" (3)
    '03 616461 06 736563726574 04 61636374 02 6869',
);

export interface Fixture {
  readonly name: string;
  readonly frame: DecnetFrame;
  readonly wire: Uint8Array;
}

export const FIXTURES: readonly Fixture[] = [
  {
    // NSP 9 (MSGFLG, DSTADDR, SRCADDR, SERVICES, INFO, SEGSIZE) + 41 = 50; LENGTH 21 + 50 = 71 (0x47); frame 87, no Ethernet padding.
    name: 'Connect Initiate, segment flow control, NSP 4.0, SEGSIZE 1024, access control and user data',
    frame: ab({
      type: 'CONNECT_INITIATE',
      retransmitted: false,
      dst: 0,
      src: LA,
      flowControl: 1,
      version: 2,
      segSize: 1024,
      data: CONNECT_DATA_WIRE,
    }),
    wire: concat([hex(`${MAC_B} ${MAC_A} 6003 4700 ${LONG_AB} 18 0000 014a 05 02 0004`), CONNECT_DATA_WIRE]),
  },
  {
    // Connect data: 00 19 (object 25), 01 00 03 "ADA", MENUVER 0 = 9; NSP 9 + 9 = 18; LENGTH 39 (0x27); 55 + 5 padding.
    name: 'retransmitted Connect Initiate, no flow control, NSP 4.1, SEGSIZE 576, object 25 by number',
    frame: ab({
      type: 'CONNECT_INITIATE',
      retransmitted: true,
      dst: 0,
      src: LA,
      flowControl: 0,
      version: 3,
      segSize: 576,
      data: hex('00 19 01 00 03 414441 00'),
    }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 2700 ${LONG_AB} 68 0000 014a 01 03 4002 0019 0100 03414441 00 ${zeros(5)}`),
  },
  {
    // NSP 3; LENGTH 24 (0x18); 40 + 20 padding.
    name: 'Connect Acknowledgement',
    frame: ba({ type: 'CONNECT_ACK', dst: LA }),
    wire: hex(`${MAC_A} ${MAC_B} 6003 1800 ${LONG_BA} 24 014a ${zeros(20)}`),
  },
  {
    // Routing pad 0x81 (1); NSP 10 + 2 = 12; LENGTH 1 + 21 + 12 = 34 (0x22); 50 + 10 padding.
    name: 'Connect Confirm behind a 1-octet routing pad, segment flow control, data "ok"',
    frame: ba(
      { type: 'CONNECT_CONFIRM', dst: LA, src: LB, flowControl: 1, version: 2, segSize: 1024, data: text('ok') },
      1,
    ),
    wire: hex(`${MAC_A} ${MAC_B} 6003 2200 81 ${LONG_BA} 28 014a 027c 05 02 0004 02 6f6b ${zeros(10)}`),
  },
  {
    // NSP 9 + 5 = 14; LENGTH 35 (0x23); 51 + 9 padding.
    name: 'Data segment BOM+EOM, ACKNUM 0, SEGNUM 1, "hello"',
    frame: ab({
      type: 'DATA',
      dst: LB,
      src: LA,
      bom: true,
      eom: true,
      ackNum: { number: 0, nak: false },
      segNum: 1,
      delay: false,
      data: text('hello'),
    }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 2300 ${LONG_AB} 60 027c 014a 0080 0100 68656c6c6f ${zeros(9)}`),
  },
  {
    // SEGNUM 4095 with DLY: 0x1fff; NSP 7 + 2 = 9; LENGTH 30 (0x1e); 46 + 14 padding.
    name: 'Data segment BOM only, no acknowledgement, SEGNUM 4095, delayed ack allowed',
    frame: ab({ type: 'DATA', dst: LB, src: LA, bom: true, eom: false, segNum: 4095, delay: true, data: text('ab') }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 1e00 ${LONG_AB} 20 027c 014a ff1f 6162 ${zeros(14)}`),
  },
  {
    // ACKNUM NAK 7 = 0x9007, ACKOTH ACK 3 = 0xa003; NSP 11 + 16 = 27; LENGTH 48 (0x30); 64, no padding.
    name: 'Data segment EOM only, ACKNUM NAK 7, ACKOTH ACK 3, SEGNUM 2, 16 octets',
    frame: ab({
      type: 'DATA',
      dst: LB,
      src: LA,
      bom: false,
      eom: true,
      ackNum: { number: 7, nak: true },
      ackOther: { number: 3, nak: false },
      segNum: 2,
      delay: false,
      data: text('0123456789abcdef'),
    }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 3000 ${LONG_AB} 40 027c 014a 0790 03a0 0200 30313233343536373839616263646566`),
  },
  {
    // A middle segment: MSGFLG 0x00. NSP 7 + 1 = 8; LENGTH 29 (0x1d); 45 + 15 padding.
    name: 'Data segment, neither BOM nor EOM, SEGNUM 3',
    frame: ab({ type: 'DATA', dst: LB, src: LA, bom: false, eom: false, segNum: 3, delay: false, data: text('m') }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 1d00 ${LONG_AB} 00 027c 014a 0300 6d ${zeros(15)}`),
  },
  {
    // NSP 7 + 6 = 13; LENGTH 34 (0x22); 50 + 10 padding.
    name: 'Interrupt, SEGNUM 1, "urgent"',
    frame: ab({ type: 'INTERRUPT', dst: LB, src: LA, segNum: 1, data: text('urgent') }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 2200 ${LONG_AB} 30 027c 014a 0100 757267656e74 ${zeros(10)}`),
  },
  {
    // ACKNUM 0x8001, ACKDAT 0xa002; NSP 13; LENGTH 34 (0x22); 50 + 10 padding.
    name: 'Link Service, ACKNUM 1, ACKDAT 2, SEGNUM 1, data request count +5',
    frame: ba({
      type: 'LINK_SERVICE',
      dst: LA,
      src: LB,
      ackNum: { number: 1, nak: false },
      ackData: { number: 2, nak: false },
      segNum: 1,
      fcMod: 0,
      interrupt: false,
      fcVal: 5,
    }),
    wire: hex(`${MAC_A} ${MAC_B} 6003 2200 ${LONG_BA} 10 014a 027c 0180 02a0 0100 00 05 ${zeros(10)}`),
  },
  {
    // LSFLAGS 0x04 (interrupt count); NSP 9; LENGTH 30 (0x1e); 46 + 14 padding.
    name: 'Link Service, SEGNUM 2, interrupt request count +1',
    frame: ab({ type: 'LINK_SERVICE', dst: LB, src: LA, segNum: 2, fcMod: 0, interrupt: true, fcVal: 1 }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 1e00 ${LONG_AB} 10 027c 014a 0200 04 01 ${zeros(14)}`),
  },
  {
    // LSFLAGS 0x01 (do not send), FCVAL -1 = 0xff.
    name: 'Link Service, SEGNUM 3, do not send data, count -1',
    frame: ab({ type: 'LINK_SERVICE', dst: LB, src: LA, segNum: 3, fcMod: 1, interrupt: false, fcVal: -1 }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 1e00 ${LONG_AB} 10 027c 014a 0300 01 ff ${zeros(14)}`),
  },
  {
    // NSP 7; LENGTH 28 (0x1c); 44 + 16 padding.
    name: 'Data Acknowledgement, ACKNUM 1',
    frame: ba({ type: 'DATA_ACK', dst: LA, src: LB, ackNum: { number: 1, nak: false } }),
    wire: hex(`${MAC_A} ${MAC_B} 6003 1c00 ${LONG_BA} 04 014a 027c 0180 ${zeros(16)}`),
  },
  {
    // ACKOTH NAK 2 = 0xb002; NSP 9; LENGTH 30 (0x1e); 46 + 14 padding.
    name: 'Data Acknowledgement, ACKNUM 1, ACKOTH NAK 2',
    frame: ba({
      type: 'DATA_ACK',
      dst: LA,
      src: LB,
      ackNum: { number: 1, nak: false },
      ackOther: { number: 2, nak: true },
    }),
    wire: hex(`${MAC_A} ${MAC_B} 6003 1e00 ${LONG_BA} 04 014a 027c 0180 02b0 ${zeros(14)}`),
  },
  {
    name: 'Other-Data Acknowledgement, ACKNUM 1',
    frame: ab({ type: 'OTHER_DATA_ACK', dst: LB, src: LA, ackNum: { number: 1, nak: false } }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 1c00 ${LONG_AB} 14 027c 014a 0180 ${zeros(16)}`),
  },
  {
    // NSP 1 + 4 + 2 + 1 + 3 = 11; LENGTH 32 (0x20); 48 + 12 padding.
    name: 'Disconnect Initiate, reason 0, data "bye"',
    frame: ab({ type: 'DISCONNECT_INITIATE', dst: LB, src: LA, reason: 0, data: text('bye') }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 2000 ${LONG_AB} 38 027c 014a 0000 03 627965 ${zeros(12)}`),
  },
  {
    // NSP 8; LENGTH 29 (0x1d); 45 + 15 padding.
    name: 'Disconnect Initiate rejecting a connect, reason 34 (access control rejected)',
    frame: ba({ type: 'DISCONNECT_INITIATE', dst: LA, src: LB, reason: 34, data: new Uint8Array(0) }),
    wire: hex(`${MAC_A} ${MAC_B} 6003 1d00 ${LONG_BA} 38 014a 027c 2200 00 ${zeros(15)}`),
  },
  {
    name: 'Disconnect Confirm, reason 42 (disconnect complete)',
    frame: ba({ type: 'DISCONNECT_CONFIRM', dst: LA, src: LB, reason: 42 }),
    wire: hex(`${MAC_A} ${MAC_B} 6003 1c00 ${LONG_BA} 48 014a 027c 2a00 ${zeros(16)}`),
  },
  {
    // NSP 1 + 4; LENGTH 26 (0x1a); 42 + 18 padding.
    name: 'No Operation with test data',
    frame: ab({ type: 'NOP', data: text('test') }),
    wire: hex(`${MAC_B} ${MAC_A} 6003 1a00 ${LONG_AB} 08 74657374 ${zeros(18)}`),
  },
];

/** The codec as the harness sees it: a stream of frames; units re-encode to the octets they came from. */
export const DECNET_CODEC: Codec<DecnetFrame> = {
  decoder: () => new DecnetDecoder(),
  isProtocolError: (error) =>
    error instanceof DecnetProtocolError && WIRE_CODES.includes(error.code) && typeof error.reason === 'string',
  verify(input, units, end) {
    // Canonical but for what a receiver skips (pad octets after the first, Ethernet padding):
    // each unit re-encodes to a frame of the same length that decodes to the same unit.
    let at = 0;
    for (const u of units) {
      const again = encodeFrame(u);
      expect(decodeFrame(again)).toEqual(u);
      at += again.length;
    }
    if (!end.failed) expect(at).toBe(input.length - end.bufferedBytes);
  },
};
