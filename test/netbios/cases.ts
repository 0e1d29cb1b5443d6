// Shared NetBIOS test data: packets with their octets written by hand (none produced by the
// encoder), from RFC 1002 §4.3 and the facts file (§5: names confirmed by tshark, replies seen
// from Samba smbd 4.17).

import { encodePacket, NetbiosDecoder, NetbiosProtocolError, type NetbiosPacket } from '../../src/netbios/index.js';
import { concat, hex } from '../support/bytes.js';
import { canonical, WIRE_CODES, type Codec } from '../support/codec-harness.js';

export { concat, hex, toHex } from '../support/bytes.js';

export const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** NetbiosDecoder for the codec harness: NetbiosProtocolErrors with a wire code, packets re-encoding canonically. */
export const NETBIOS_CODEC: Codec<NetbiosPacket> = {
  decoder: () => new NetbiosDecoder(),
  isProtocolError: (error) => error instanceof NetbiosProtocolError && WIRE_CODES.includes(error.code),
  verify: canonical((p: NetbiosPacket) => encodePacket(p)),
};

/** A label-form name from its 32 encoded characters, no scope. */
export const label = (chars: string, scope = ''): Uint8Array =>
  concat([Uint8Array.of(0x20), ascii(chars), hex(scope), Uint8Array.of(0)]);

export const SMBSERVER_20 = 'CKFDENECFDEFFCFGEFFCCACACACACACA';
export const TESTSRV_20 = 'FEEFFDFEFDFCFGCACACACACACACACACA';
export const NODECLIENT_00 = 'EOEPEEEFEDEMEJEFEOFECACACACACAAA';
export const WILDCARD_00 = `CK${'AA'.repeat(15)}`;

/** Facts §5.3 probe A: called *SMBSERVER<20>, calling NODECLIENT<00>; Samba answered 82 00 00 00. */
export const FACTS_REQUEST_A = concat([hex('81 00 00 44'), label(SMBSERVER_20), label(NODECLIENT_00)]);
/** Facts §5.3 probe F: a malformed name; Samba answered 83 00 00 01 82 and closed. */
export const FACTS_MALFORMED_F = hex('81 00 00 04 10 41 42 43');
/** Facts §5.3 probe K: retarget to 127.0.0.1 port 1139. */
export const FACTS_RETARGET_K = hex('84 00 00 06 7f 00 00 01 04 73');

export interface Fixture {
  readonly name: string;
  readonly packet: NetbiosPacket;
  readonly wire: Uint8Array;
}

const sixtyFourK = new Uint8Array(0x10000).map((_, i) => i * 7);
const maxMessage = new Uint8Array(0x1ffff).map((_, i) => i * 13);

export const FIXTURES: readonly Fixture[] = [
  {
    name: 'session request *SMBSERVER<20> from NODECLIENT<00> (facts probe A)',
    packet: {
      type: 'SESSION_REQUEST',
      called: { name: '*SMBSERVER', suffix: 0x20, scope: '' },
      calling: { name: 'NODECLIENT', suffix: 0x00, scope: '' },
    },
    wire: FACTS_REQUEST_A,
  },
  {
    name: 'session request TESTSRV<20> from the wildcard',
    packet: {
      type: 'SESSION_REQUEST',
      called: { name: 'TESTSRV', suffix: 0x20, scope: '' },
      calling: { name: `*${'\0'.repeat(14)}`, suffix: 0, scope: '' },
    },
    wire: concat([hex('81 00 00 44'), label(TESTSRV_20), label(WILDCARD_00)]),
  },
  {
    name: 'session request with scope example.com on both names',
    packet: {
      type: 'SESSION_REQUEST',
      called: { name: 'TESTSRV', suffix: 0x20, scope: 'example.com' },
      calling: { name: 'NODECLIENT', suffix: 0x00, scope: 'example.com' },
    },
    // 34 + 8 ("\x07example") + 4 ("\x03com") = 46 per name, 92 = 0x5c in all.
    wire: concat([
      hex('81 00 00 5c'),
      label(TESTSRV_20, '07 6578616d706c65 03 636f6d'),
      label(NODECLIENT_00, '07 6578616d706c65 03 636f6d'),
    ]),
  },
  { name: 'positive session response', packet: { type: 'POSITIVE_SESSION_RESPONSE' }, wire: hex('82 00 00 00') },
  {
    name: 'negative: not listening on called name',
    packet: { type: 'NEGATIVE_SESSION_RESPONSE', errorCode: 0x80 },
    wire: hex('83 00 00 01 80'),
  },
  {
    name: 'negative: not listening for calling name',
    packet: { type: 'NEGATIVE_SESSION_RESPONSE', errorCode: 0x81 },
    wire: hex('83 00 00 01 81'),
  },
  {
    name: 'negative: called name not present (Samba, facts probe F)',
    packet: { type: 'NEGATIVE_SESSION_RESPONSE', errorCode: 0x82 },
    wire: hex('83 00 00 01 82'),
  },
  {
    name: 'negative: insufficient resources',
    packet: { type: 'NEGATIVE_SESSION_RESPONSE', errorCode: 0x83 },
    wire: hex('83 00 00 01 83'),
  },
  {
    name: 'negative: unspecified error',
    packet: { type: 'NEGATIVE_SESSION_RESPONSE', errorCode: 0x8f },
    wire: hex('83 00 00 01 8f'),
  },
  {
    name: 'retarget to 127.0.0.1:1139 (facts probe K)',
    packet: { type: 'RETARGET_SESSION_RESPONSE', address: '127.0.0.1', port: 1139 },
    wire: FACTS_RETARGET_K,
  },
  {
    name: 'retarget to 10.1.2.3:139',
    packet: { type: 'RETARGET_SESSION_RESPONSE', address: '10.1.2.3', port: 139 },
    wire: hex('84 00 00 06 0a 01 02 03 00 8b'),
  },
  { name: 'keep-alive', packet: { type: 'SESSION_KEEP_ALIVE' }, wire: hex('85 00 00 00') },
  {
    name: 'empty session message',
    packet: { type: 'SESSION_MESSAGE', data: new Uint8Array(0) },
    wire: hex('00 00 00 00'),
  },
  {
    name: 'session message of 3 octets',
    packet: { type: 'SESSION_MESSAGE', data: hex('aa bb cc') },
    wire: hex('00 00 00 03 aa bb cc'),
  },
  {
    name: 'session message of 65535 octets (E clear)',
    packet: { type: 'SESSION_MESSAGE', data: sixtyFourK.subarray(0, 0xffff) },
    wire: concat([hex('00 00 ff ff'), sixtyFourK.subarray(0, 0xffff)]),
  },
  {
    name: 'session message of 65536 octets (E set)',
    packet: { type: 'SESSION_MESSAGE', data: sixtyFourK },
    wire: concat([hex('00 01 00 00'), sixtyFourK]),
  },
  {
    name: 'session message of 131071 octets (the 17-bit maximum)',
    packet: { type: 'SESSION_MESSAGE', data: maxMessage },
    wire: concat([hex('00 01 ff ff'), maxMessage]),
  },
];

/** Small packets for streams fed at every split point. */
export const TABLE: readonly NetbiosPacket[] = [
  ...FIXTURES.filter((f) => f.wire.length < 200).map((f) => f.packet),
  { type: 'SESSION_MESSAGE', data: new Uint8Array(150).map((_, i) => i) },
  { type: 'SESSION_KEEP_ALIVE' },
];
