// Shared PPTP test data: messages with their octets written by hand from RFC 2637's layouts (none
// produced by the encoder), and replies captured from Debian's pptpd 1.4.0 on loopback.

import { expect } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  LAYOUTS,
  PptpDecoder,
  PptpProtocolError,
  type PptpMessage,
} from '../../src/pptp/index.js';
import { concat, hex, toHex } from '../support/bytes.js';
import { WIRE_CODES, type Codec } from '../support/codec-harness.js';

export { concat, hex, toHex } from '../support/bytes.js';

/** `size` octets: the ASCII text, then NULs. */
export function text(s: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Header: Length, Message Type 1, Magic Cookie, Control Message Type, Reserved0. */
export const header = (length: number, controlType: number): Uint8Array =>
  hex(`${length.toString(16).padStart(4, '0')} 0001 1a2b3c4d ${controlType.toString(16).padStart(4, '0')} 0000`);

export interface Fixture {
  readonly name: string;
  readonly message: PptpMessage;
  readonly wire: Uint8Array;
}

/** pptpd 1.4.0's Start-Control-Connection-Reply, octet for octet as captured on loopback. */
export const PPTPD_SCCRP = hex(
  `009c00011a2b3c4d00020000 0100 01 00 00000000 00000000 0001 0001 ${toHex(text('local', 64))} ${toHex(text('linux', 64))}`,
);

export const FIXTURES: readonly Fixture[] = [
  {
    name: 'Start-Control-Connection-Request',
    message: {
      type: 'START_CONTROL_CONNECTION_REQUEST',
      protocolVersion: 0x0100,
      framingCapabilities: 1,
      bearerCapabilities: 1,
      maximumChannels: 0,
      firmwareRevision: 1,
      hostName: 'colloquy',
      vendor: 'colloquy',
    },
    wire: concat([
      header(156, 1),
      hex('0100 0000 00000001 00000001 0000 0001'),
      text('colloquy', 64),
      text('colloquy', 64),
    ]),
  },
  {
    name: 'Start-Control-Connection-Reply from pptpd 1.4.0',
    message: {
      type: 'START_CONTROL_CONNECTION_REPLY',
      protocolVersion: 0x0100,
      resultCode: 1,
      errorCode: 0,
      framingCapabilities: 0,
      bearerCapabilities: 0,
      maximumChannels: 1,
      firmwareRevision: 1,
      hostName: 'local',
      vendor: 'linux',
    },
    wire: PPTPD_SCCRP,
  },
  {
    name: 'Start-Control-Connection-Reply refusing (4, not authorized), sync+async, digital+analog, 64-octet names',
    message: {
      type: 'START_CONTROL_CONNECTION_REPLY',
      protocolVersion: 0x0100,
      resultCode: 4,
      errorCode: 0,
      framingCapabilities: 3,
      bearerCapabilities: 3,
      maximumChannels: 0xffff,
      firmwareRevision: 0xabcd,
      hostName: 'h'.repeat(64),
      vendor: 'v'.repeat(64),
    },
    wire: concat([
      header(156, 2),
      hex('0100 04 00 00000003 00000003 ffff abcd'),
      text('h'.repeat(64), 64),
      text('v'.repeat(64), 64),
    ]),
  },
  {
    name: 'Stop-Control-Connection-Request',
    message: { type: 'STOP_CONTROL_CONNECTION_REQUEST', reason: 1 },
    wire: concat([header(16, 3), hex('01 00 0000')]),
  },
  {
    name: 'Stop-Control-Connection-Reply from pptpd',
    message: { type: 'STOP_CONTROL_CONNECTION_REPLY', resultCode: 1, errorCode: 0 },
    wire: hex('001000011a2b3c4d0004000001000000'),
  },
  {
    name: 'Echo-Request',
    message: { type: 'ECHO_REQUEST', identifier: 0x12345678 },
    wire: concat([header(16, 5), hex('12345678')]),
  },
  {
    name: 'Echo-Reply from pptpd',
    message: { type: 'ECHO_REPLY', identifier: 0x12345678, resultCode: 1, errorCode: 0 },
    wire: hex('001400011a2b3c4d000600001234567801000000'),
  },
  {
    name: 'Outgoing-Call-Request',
    message: {
      type: 'OUTGOING_CALL_REQUEST',
      callId: 7,
      callSerialNumber: 1,
      minimumBps: 2400,
      maximumBps: 10_000_000,
      bearerType: 3,
      framingType: 3,
      packetReceiveWindowSize: 64,
      packetProcessingDelay: 0,
      phoneNumberLength: 3,
      phoneNumber: '555',
      subaddress: '',
    },
    wire: concat([
      header(168, 7),
      hex('0007 0001 00000960 00989680 00000003 00000003 0040 0000 0003 0000'),
      text('555', 64),
      text('', 64),
    ]),
  },
  {
    name: 'Outgoing-Call-Reply from pptpd (pppd replaced by /bin/false)',
    message: {
      type: 'OUTGOING_CALL_REPLY',
      callId: 0,
      peerCallId: 7,
      resultCode: 1,
      errorCode: 0,
      causeCode: 0,
      connectSpeed: 10_000_000,
      packetReceiveWindowSize: 64,
      packetProcessingDelay: 0,
      physicalChannelId: 0,
    },
    wire: hex('002000011a2b3c4d000800000000000701000000009896800040000000000000'),
  },
  {
    name: 'Incoming-Call-Request',
    message: {
      type: 'INCOMING_CALL_REQUEST',
      callId: 9,
      callSerialNumber: 2,
      bearerType: 1,
      physicalChannelId: 0x01020304,
      dialedNumberLength: 4,
      dialingNumberLength: 2,
      dialedNumber: '1234',
      dialingNumber: '56',
      subaddress: 'x',
    },
    wire: concat([
      header(220, 9),
      hex('0009 0002 00000001 01020304 0004 0002'),
      text('1234', 64),
      text('56', 64),
      text('x', 64),
    ]),
  },
  {
    name: 'Incoming-Call-Reply (do not accept)',
    message: {
      type: 'INCOMING_CALL_REPLY',
      callId: 1,
      peerCallId: 9,
      resultCode: 3,
      errorCode: 0,
      packetReceiveWindowSize: 0,
      packetTransmitDelay: 0,
    },
    wire: concat([header(24, 10), hex('0001 0009 03 00 0000 0000 0000')]),
  },
  {
    name: 'Incoming-Call-Connected',
    message: {
      type: 'INCOMING_CALL_CONNECTED',
      peerCallId: 9,
      connectSpeed: 64000,
      packetReceiveWindowSize: 16,
      packetTransmitDelay: 5,
      framingType: 1,
    },
    wire: concat([header(28, 11), hex('0009 0000 0000fa00 0010 0005 00000001')]),
  },
  {
    name: 'Call-Clear-Request',
    message: { type: 'CALL_CLEAR_REQUEST', callId: 7 },
    wire: concat([header(16, 12), hex('0007 0000')]),
  },
  {
    name: 'Call-Disconnect-Notify',
    message: {
      type: 'CALL_DISCONNECT_NOTIFY',
      callId: 0,
      resultCode: 4,
      errorCode: 0,
      causeCode: 0x10,
      callStatistics: 'bytes=0',
    },
    wire: concat([header(148, 13), hex('0000 04 00 0010 0000'), text('bytes=0', 128)]),
  },
  {
    name: 'WAN-Error-Notify',
    message: {
      type: 'WAN_ERROR_NOTIFY',
      peerCallId: 7,
      crcErrors: 1,
      framingErrors: 2,
      hardwareOverruns: 3,
      bufferOverruns: 4,
      timeoutErrors: 5,
      alignmentErrors: 0xffffffff,
    },
    wire: concat([header(40, 14), hex('0007 0000 00000001 00000002 00000003 00000004 00000005 ffffffff')]),
  },
  {
    name: 'Set-Link-Info',
    message: { type: 'SET_LINK_INFO', peerCallId: 7, sendAccm: 0xffffffff, receiveAccm: 0 },
    wire: concat([header(24, 15), hex('0007 0000 ffffffff 00000000')]),
  },
];

/** Offsets of `wire` (one message of `type`) whose value a receiver may ignore. */
function ignorable(type: PptpMessage['type'], wire: Uint8Array): Set<number> {
  const skip = new Set([10, 11]); // Reserved0
  let at = 12;
  for (const [, kind] of LAYOUTS[type].fields) {
    const size = { u8: 1, u16: 2, u32: 4, reserved8: 1, reserved16: 2, text64: 64, text128: 128 }[kind];
    if (kind === 'reserved8' || kind === 'reserved16') for (let i = 0; i < size; i++) skip.add(at + i);
    if (kind === 'text64' || kind === 'text128') {
      const nul = wire.subarray(at, at + size).indexOf(0);
      if (nul >= 0) for (let i = nul; i < size; i++) skip.add(at + i);
    }
    at += size;
  }
  return skip;
}

/**
 * PptpDecoder for the codec harness: PptpProtocolErrors with a wire code; each message re-encodes
 * to the octets it came from except where RFC 2637 lets a receiver ignore them (reserved fields,
 * text after the first NUL), and decodes again to the same message.
 */
export const PPTP_CODEC: Codec<PptpMessage> = {
  decoder: () => new PptpDecoder(),
  isProtocolError: (error) => error instanceof PptpProtocolError && WIRE_CODES.includes(error.code),
  verify: (input, messages, end) => {
    let at = 0;
    for (const m of messages) {
      const again = encodeMessage(m);
      const original = input.subarray(at, at + again.length);
      const skip = ignorable(m.type, original);
      for (let i = 0; i < again.length; i++) {
        if (!skip.has(i) && again[i] !== original[i])
          throw new Error(`${m.type}: re-encoding differs at octet ${at + i}`);
      }
      expect(decodeMessage(again)).toEqual(m);
      at += again.length;
    }
    if (!end.failed && at !== input.length - end.bufferedBytes) throw new Error('octets lost');
  },
};
