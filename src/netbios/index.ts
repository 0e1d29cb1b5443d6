// NetBIOS session service (RFC 1002 §4.3): codec, streaming decoder, client and server.
// docs/netbios.md says what is implemented and how to check it against Samba.

export * from './packets.js';
export * from './names.js';
export { checkHeader, decodeBody, decodePacket, encodePacket, ipv4Octets, checkMaxMessageSize } from './codec.js';
export { NetbiosDecoder, type NetbiosDecoderOptions } from './decoder.js';
export * from './errors.js';
export { PacketConnection, type PacketConnectionOptions } from './connection.js';
export {
  NetbiosMachine,
  type NetbiosEvent,
  type NetbiosState,
  type CallingOptions,
  type CalledOptions,
} from './machine.js';
export { NetbiosSession, type NetbiosSessionInfo, type RetargetHop } from './session.js';
export { connectNetbios, type NetbiosConnectOptions } from './client.js';
export * from './server.js';
