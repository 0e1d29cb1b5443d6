// NetBIOS session service packets (RFC 1002 §4.3): types, codes and limits. Pure data.
//
//   octet 0     TYPE
//   octet 1     FLAGS: bits 7..1 reserved (zero); bit 0 is E, the 17th bit of LENGTH
//   octets 2-3  LENGTH, big-endian: octets after this header (E set: up to 0x1FFFF = 131071)
//
//   0x00 SESSION MESSAGE            any user data (an SMB message)
//   0x81 SESSION REQUEST            called name + calling name, first-level encoded (names.ts)
//   0x82 POSITIVE SESSION RESPONSE  LENGTH 0
//   0x83 NEGATIVE SESSION RESPONSE  LENGTH 1: the error code
//   0x84 RETARGET SESSION RESPONSE  LENGTH 6: IPv4 address + port
//   0x85 SESSION KEEP ALIVE         LENGTH 0

import type { NetbiosName } from './names.js';

export const NetbiosPacketType = {
  SESSION_MESSAGE: 0x00,
  SESSION_REQUEST: 0x81,
  POSITIVE_SESSION_RESPONSE: 0x82,
  NEGATIVE_SESSION_RESPONSE: 0x83,
  RETARGET_SESSION_RESPONSE: 0x84,
  SESSION_KEEP_ALIVE: 0x85,
} as const;
export type NetbiosPacketTypeName = keyof typeof NetbiosPacketType;

export const PACKET_TYPE_NAMES: Readonly<Record<number, NetbiosPacketTypeName>> = Object.fromEntries(
  Object.entries(NetbiosPacketType).map(([name, code]) => [code, name as NetbiosPacketTypeName]),
);

export type NetbiosPacket =
  | { readonly type: 'SESSION_MESSAGE'; readonly data: Uint8Array }
  | { readonly type: 'SESSION_REQUEST'; readonly called: NetbiosName; readonly calling: NetbiosName }
  | { readonly type: 'POSITIVE_SESSION_RESPONSE' }
  | { readonly type: 'NEGATIVE_SESSION_RESPONSE'; readonly errorCode: number }
  | { readonly type: 'RETARGET_SESSION_RESPONSE'; readonly address: string; readonly port: number }
  | { readonly type: 'SESSION_KEEP_ALIVE' };

/** NEGATIVE SESSION RESPONSE error codes, RFC 1002 §4.3.4. */
export const NegativeResponseCode = {
  NOT_LISTENING_ON_CALLED_NAME: 0x80,
  NOT_LISTENING_FOR_CALLING_NAME: 0x81,
  CALLED_NAME_NOT_PRESENT: 0x82,
  INSUFFICIENT_RESOURCES: 0x83,
  UNSPECIFIED_ERROR: 0x8f,
} as const;

const NEGATIVE_REASONS: Readonly<Record<number, string>> = {
  0x80: 'not listening on called name',
  0x81: 'not listening for calling name',
  0x82: 'called name not present',
  0x83: 'called name present, but insufficient resources',
  0x8f: 'unspecified error',
};

/** The RFC's words for a negative response code; other octets are reported as unknown. */
export function negativeReason(errorCode: number): string {
  return NEGATIVE_REASONS[errorCode] ?? `unknown error code 0x${errorCode.toString(16).padStart(2, '0')}`;
}

export const HEADER_LENGTH = 4;
/** 17 bits of LENGTH: 0x1FFFF. */
export const MAX_MESSAGE_SIZE = 0x1ffff;
/** Two names of at most 255 octets each. */
export const MAX_SESSION_REQUEST_LENGTH = 2 * 255;
export const MIN_SESSION_REQUEST_LENGTH = 2 * 34;
/** TCP port of the session service (RFC 1002 §4.3). */
export const NETBIOS_SESSION_PORT = 139;
