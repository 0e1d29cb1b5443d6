// PPTP control messages to octets and back, driven by the LAYOUTS table. Pure: no I/O.
//
// The header is checked in two steps, each as soon as its octets are there, so a bad message is
// refused before the rest is awaited:
//   2 octets   checkLength():  Length in 12..220 (the longest control message)
//   12 octets  checkHeader():  Magic Cookie, PPTP Message Type 1, a known Control Message Type,
//                              and Length equal to that type's fixed length
//
// decode(encode(m)) equals m. Decoding is not canonical in two documented ways: reserved fields
// are not checked, and text after the first NUL of a text field is ignored.

import { SessionError } from '../engine/errors.js';
import { PptpProtocolError } from './errors.js';
import {
  CODE_TYPES,
  LAYOUTS,
  MAX_MESSAGE_LENGTH,
  PPTP_CONTROL_MESSAGE,
  PPTP_HEADER_LENGTH,
  PPTP_MAGIC_COOKIE,
  type FieldKind,
  type Layout,
  type PptpMessage,
  type PptpMessageType,
} from './messages.js';

function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function u32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

const hex32 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** Checks the Length field at buf[pos..pos+2); returns it. */
export function checkLength(buf: Uint8Array, pos: number): number {
  const length = u16(buf, pos);
  if (length < PPTP_HEADER_LENGTH) {
    throw new PptpProtocolError(
      'ERR_MALFORMED_FRAME',
      'bad-length',
      `Length ${length} is shorter than the ${PPTP_HEADER_LENGTH}-octet header`,
      { length },
    );
  }
  if (length > MAX_MESSAGE_LENGTH) {
    throw new PptpProtocolError(
      'ERR_FRAME_TOO_LARGE',
      'too-large',
      `Length ${length} exceeds the longest control message (${MAX_MESSAGE_LENGTH} octets)`,
      { length, limit: MAX_MESSAGE_LENGTH },
    );
  }
  return length;
}

/** Checks the 12-octet header at buf[pos..pos+12); returns the message type. */
export function checkHeader(buf: Uint8Array, pos: number): PptpMessageType {
  const length = checkLength(buf, pos);
  const magic = u32(buf, pos + 4);
  if (magic !== PPTP_MAGIC_COOKIE) {
    throw new PptpProtocolError(
      'ERR_MALFORMED_FRAME',
      'bad-magic',
      `Magic Cookie ${hex32(magic)}, expected ${hex32(PPTP_MAGIC_COOKIE)}`,
      { magic },
    );
  }
  const messageType = u16(buf, pos + 2);
  if (messageType !== PPTP_CONTROL_MESSAGE) {
    throw new PptpProtocolError(
      'ERR_UNKNOWN_FRAME_TYPE',
      'unknown-message-type',
      `PPTP Message Type ${messageType}${messageType === 2 ? ' (management: none are defined)' : ''}, expected 1 (control)`,
      { messageType },
    );
  }
  const code = u16(buf, pos + 8);
  const type = CODE_TYPES[code];
  if (type === undefined) {
    throw new PptpProtocolError(
      'ERR_UNKNOWN_FRAME_TYPE',
      'unknown-control-type',
      `Control Message Type ${code} is not one of 1..15`,
      { controlType: code },
    );
  }
  const expected = LAYOUTS[type].length;
  if (length !== expected) {
    throw new PptpProtocolError(
      'ERR_MALFORMED_FRAME',
      'bad-length',
      `${type} has Length ${length}, must be ${expected}`,
      { message: type, length, expected },
    );
  }
  return type;
}

function textSize(kind: FieldKind): number {
  return kind === 'text128' ? 128 : 64;
}

function readText(buf: Uint8Array, at: number, size: number): string {
  let text = '';
  for (let i = 0; i < size; i++) {
    const c = buf[at + i]!;
    if (c === 0) break;
    text += String.fromCharCode(c);
  }
  return text;
}

/** Decodes the body of a message whose header checkHeader() accepted; buf[pos..] holds it whole. */
export function decodeBody(type: PptpMessageType, buf: Uint8Array, pos: number): PptpMessage {
  const layout: Layout = LAYOUTS[type];
  const message: Record<string, unknown> = { type };
  let at = pos + PPTP_HEADER_LENGTH;
  for (const [name, kind] of layout.fields) {
    switch (kind) {
      case 'u8':
        message[name] = buf[at]!;
        at += 1;
        break;
      case 'u16':
        message[name] = u16(buf, at);
        at += 2;
        break;
      case 'u32':
        message[name] = u32(buf, at);
        at += 4;
        break;
      case 'reserved8':
        at += 1;
        break;
      case 'reserved16':
        at += 2;
        break;
      default:
        message[name] = readText(buf, at, textSize(kind));
        at += textSize(kind);
    }
  }
  return message as PptpMessage;
}

/** Decodes a buffer that holds exactly one control message. Throws PptpProtocolError. */
export function decodeMessage(bytes: Uint8Array): PptpMessage {
  if (bytes.length < PPTP_HEADER_LENGTH) {
    throw new PptpProtocolError(
      'ERR_MALFORMED_FRAME',
      'bad-length',
      `${bytes.length} octets, the header alone has ${PPTP_HEADER_LENGTH}`,
    );
  }
  const type = checkHeader(bytes, 0);
  if (bytes.length !== LAYOUTS[type].length) {
    throw new PptpProtocolError(
      'ERR_MALFORMED_FRAME',
      'bad-length',
      `${bytes.length} octets for a ${type} of ${LAYOUTS[type].length}`,
      { message: type },
    );
  }
  return decodeBody(type, bytes, 0);
}

function invalid(type: string, field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode PPTP ${type}.${field}: ${why}`, 'local', {
    message: type,
    field,
  });
}

/** The message's octets. Throws SessionError ERR_INVALID_ARGUMENT (origin local) for a bad field. */
export function encodeMessage(message: PptpMessage): Uint8Array {
  const type = message.type;
  const layout: Layout | undefined = (LAYOUTS as Record<string, Layout>)[type];
  if (layout === undefined) invalid(String(type), 'type', 'not a PPTP control message type');
  const out = new Uint8Array(layout.length);
  const put = (at: number, value: number, octets: number): void => {
    for (let i = octets - 1; i >= 0; i--) {
      out[at + i] = value & 0xff;
      value = Math.floor(value / 256);
    }
  };
  put(0, layout.length, 2);
  put(2, PPTP_CONTROL_MESSAGE, 2);
  put(4, PPTP_MAGIC_COOKIE, 4);
  put(8, layout.code, 2);
  const fields = message as unknown as Record<string, unknown>;
  let at = PPTP_HEADER_LENGTH;
  for (const [name, kind] of layout.fields) {
    if (kind === 'reserved8' || kind === 'reserved16') {
      at += kind === 'reserved8' ? 1 : 2;
      continue;
    }
    const value = fields[name];
    if (kind === 'text64' || kind === 'text128') {
      const size = textSize(kind);
      if (typeof value !== 'string') invalid(type, name, 'must be a string');
      if (value.length > size) invalid(type, name, `${value.length} characters, at most ${size}`);
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c === 0 || c > 0xff) invalid(type, name, 'one octet per character, 0x01..0xFF');
        out[at + i] = c;
      }
      at += size;
      continue;
    }
    const octets = kind === 'u8' ? 1 : kind === 'u16' ? 2 : 4;
    const max = 2 ** (8 * octets) - 1;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
      invalid(type, name, `must be an integer in 0..${max} (got ${String(value)})`);
    }
    put(at, value, octets);
    at += octets;
  }
  return out;
}
