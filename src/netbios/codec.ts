// NetBIOS session packets to bytes and back. Pure: no I/O.
//
// checkHeader() is shared with the streaming NetbiosDecoder: it refuses an unknown type, set
// reserved flag bits and a LENGTH that does not fit the type (or the receive limit) from the four
// header octets alone, before any body octet is awaited or buffered. decodeBody() then parses a
// body of exactly that length. The encoding is canonical: decode(encode(p)) equals p, and every
// packet decode accepts re-encodes to the same octets.

import { SessionError } from '../engine/errors.js';
import { NetbiosProtocolError } from './errors.js';
import { encodedNameLength, readName, writeName } from './names.js';
import {
  HEADER_LENGTH,
  MAX_MESSAGE_SIZE,
  MAX_SESSION_REQUEST_LENGTH,
  MIN_SESSION_REQUEST_LENGTH,
  NetbiosPacketType,
  PACKET_TYPE_NAMES,
  type NetbiosPacket,
  type NetbiosPacketTypeName,
} from './packets.js';

/** Validates a receive limit: an integer in 0..0x1FFFF. */
export function checkMaxMessageSize(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_MESSAGE_SIZE) {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `maxMessageSize must be an integer in 0..${MAX_MESSAGE_SIZE} (got ${String(value)})`,
      'local',
      { option: 'maxMessageSize' },
    );
  }
  return value;
}

/**
 * Checks the header at buf[pos..pos+4) and returns the body length.
 * Throws NetbiosProtocolError: ERR_UNKNOWN_FRAME_TYPE, ERR_FRAME_TOO_LARGE or ERR_MALFORMED_FRAME.
 */
export function checkHeader(buf: Uint8Array, pos: number, maxMessageSize: number): number {
  const code = buf[pos]!;
  const flags = buf[pos + 1]!;
  const type = PACKET_TYPE_NAMES[code];
  if (type === undefined) {
    throw new NetbiosProtocolError(
      'ERR_UNKNOWN_FRAME_TYPE',
      'unknown-type',
      `0x${code.toString(16).padStart(2, '0')}`,
      'type',
      'not a session service packet type (0x00, 0x81..0x85)',
      { code },
    );
  }
  if ((flags & 0xfe) !== 0) {
    throw new NetbiosProtocolError(
      'ERR_MALFORMED_FRAME',
      'reserved-flags',
      type,
      'flags',
      `reserved bits set (0x${flags.toString(16).padStart(2, '0')})`,
      { flags },
    );
  }
  const length = ((flags & 1) << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!;
  const bad = (why: string): never => {
    throw new NetbiosProtocolError('ERR_MALFORMED_FRAME', 'bad-length', type, 'length', why, { length });
  };
  switch (type) {
    case 'SESSION_MESSAGE':
      if (length > maxMessageSize) {
        throw new NetbiosProtocolError(
          'ERR_FRAME_TOO_LARGE',
          'too-large',
          type,
          'length',
          `${length} octets, more than maxMessageSize ${maxMessageSize}`,
          { length, limit: maxMessageSize },
        );
      }
      return length;
    case 'SESSION_REQUEST':
      if (length < MIN_SESSION_REQUEST_LENGTH || length > MAX_SESSION_REQUEST_LENGTH) {
        bad(`${length} octets; two encoded names take ${MIN_SESSION_REQUEST_LENGTH}..${MAX_SESSION_REQUEST_LENGTH}`);
      }
      return length;
    case 'NEGATIVE_SESSION_RESPONSE':
      return length === 1 ? 1 : bad(`${length} octets, must be 1`);
    case 'RETARGET_SESSION_RESPONSE':
      return length === 6 ? 6 : bad(`${length} octets, must be 6`);
    default:
      return length === 0 ? 0 : bad(`${length} octets, must be 0`);
  }
}

/** Parses the body buf[start..end) of a packet whose header checkHeader() accepted. */
export function decodeBody(code: number, buf: Uint8Array, start: number, end: number): NetbiosPacket {
  const type = PACKET_TYPE_NAMES[code] as NetbiosPacketTypeName;
  switch (type) {
    case 'SESSION_MESSAGE':
      return { type, data: buf.subarray(start, end) };
    case 'SESSION_REQUEST': {
      const called = readName(buf, start, end, type, 'called');
      const calling = readName(buf, called.end, end, type, 'calling');
      if (calling.end !== end) {
        throw new NetbiosProtocolError(
          'ERR_MALFORMED_FRAME',
          'trailing-bytes',
          type,
          'body',
          `${end - calling.end} octets after the calling name`,
        );
      }
      return { type, called: called.name, calling: calling.name };
    }
    case 'NEGATIVE_SESSION_RESPONSE':
      return { type, errorCode: buf[start]! };
    case 'RETARGET_SESSION_RESPONSE':
      return {
        type,
        address: `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}`,
        port: (buf[start + 4]! << 8) | buf[start + 5]!,
      };
    default:
      return { type } as NetbiosPacket;
  }
}

/** Decodes a buffer that holds exactly one packet. Throws NetbiosProtocolError. */
export function decodePacket(bytes: Uint8Array, maxMessageSize: number = MAX_MESSAGE_SIZE): NetbiosPacket {
  if (bytes.length < HEADER_LENGTH) {
    throw new NetbiosProtocolError(
      'ERR_MALFORMED_FRAME',
      'bad-length',
      'packet',
      'header',
      `${bytes.length} octets, a header has ${HEADER_LENGTH}`,
    );
  }
  const length = checkHeader(bytes, 0, maxMessageSize);
  const type = PACKET_TYPE_NAMES[bytes[0]!]!;
  if (bytes.length !== HEADER_LENGTH + length) {
    throw new NetbiosProtocolError(
      'ERR_MALFORMED_FRAME',
      'bad-length',
      type,
      'length',
      `LENGTH says ${length} octets, ${bytes.length - HEADER_LENGTH} follow the header`,
    );
  }
  return decodeBody(bytes[0]!, bytes, HEADER_LENGTH, bytes.length);
}

function invalid(field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode NetBIOS ${field}: ${why}`, 'local', { field });
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The four octets of a dotted IPv4 address, or undefined. */
export function ipv4Octets(address: string): number[] | undefined {
  const m = IPV4.exec(address);
  if (m === null) return undefined;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

function bodyLength(packet: NetbiosPacket): number {
  switch (packet.type) {
    case 'SESSION_MESSAGE':
      if (!(packet.data instanceof Uint8Array)) invalid('SESSION_MESSAGE.data', 'must be a Uint8Array');
      if (packet.data.length > MAX_MESSAGE_SIZE) {
        throw new SessionError(
          'ERR_PAYLOAD_TOO_LARGE',
          `a NetBIOS session message carries at most ${MAX_MESSAGE_SIZE} octets (got ${packet.data.length})`,
          'local',
          { limit: MAX_MESSAGE_SIZE },
        );
      }
      return packet.data.length;
    case 'SESSION_REQUEST':
      return encodedNameLength(packet.called, 'called') + encodedNameLength(packet.calling, 'calling');
    case 'NEGATIVE_SESSION_RESPONSE':
      if (!Number.isInteger(packet.errorCode) || packet.errorCode < 0 || packet.errorCode > 0xff)
        invalid('NEGATIVE_SESSION_RESPONSE.errorCode', 'must be an octet');
      return 1;
    case 'RETARGET_SESSION_RESPONSE':
      if (ipv4Octets(packet.address) === undefined)
        invalid('RETARGET_SESSION_RESPONSE.address', `'${String(packet.address)}' is not a dotted IPv4 address`);
      if (!Number.isInteger(packet.port) || packet.port < 0 || packet.port > 0xffff)
        invalid('RETARGET_SESSION_RESPONSE.port', 'must be in 0..65535');
      return 6;
    case 'POSITIVE_SESSION_RESPONSE':
    case 'SESSION_KEEP_ALIVE':
      return 0;
    default:
      return invalid('packet', `unknown type ${String((packet as { type: unknown }).type)}`);
  }
}

/** The packet's octets. Throws ERR_INVALID_ARGUMENT / ERR_PAYLOAD_TOO_LARGE (origin local). */
export function encodePacket(packet: NetbiosPacket): Uint8Array {
  const length = bodyLength(packet);
  const out = new Uint8Array(HEADER_LENGTH + length);
  out[0] = NetbiosPacketType[packet.type];
  out[1] = length >>> 16;
  out[2] = (length >>> 8) & 0xff;
  out[3] = length & 0xff;
  switch (packet.type) {
    case 'SESSION_MESSAGE':
      out.set(packet.data, HEADER_LENGTH);
      break;
    case 'SESSION_REQUEST':
      writeName(packet.calling, out, writeName(packet.called, out, HEADER_LENGTH, 'called'), 'calling');
      break;
    case 'NEGATIVE_SESSION_RESPONSE':
      out[4] = packet.errorCode;
      break;
    case 'RETARGET_SESSION_RESPONSE':
      out.set(ipv4Octets(packet.address)!, 4);
      out[8] = packet.port >>> 8;
      out[9] = packet.port & 0xff;
      break;
    default:
      break;
  }
  return out;
}
