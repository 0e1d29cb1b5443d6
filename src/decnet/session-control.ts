// Session Control's connect data (DNA Session Control Functional Specification v1.0.0, §4): what
// a Connect Initiate's DATA-CTL carries, and the reasons a connect is rejected or a link ended.
// Pure: no I/O.
//
//   DSTNAME  end-user descriptor   FORMAT(1) OBJTYPE(1) then
//                                    format 0: nothing (OBJTYPE names the object, non-zero)
//                                    format 1: DESCRPT I-16 (a name)
//                                    format 2: GRPCODE(2) USRCODE(2) DESCRPT I-12
//   SRCNAME  end-user descriptor   (the same)
//   MENUVER  bit 0: RQSTRID, PASSWRD, ACCOUNT follow; bit 1: USRDATA follows; bits 7..2 kept as
//            they came (bits 6..5 the version: 0 is Session Control 1.0)
//   RQSTRID I-39  PASSWRD I-39  ACCOUNT I-39   (MENUVER bit 0)
//   USRDATA I-16                               (MENUVER bit 1)
//
// An I-n field is a count octet then at most n octets. Text is Latin-1, one octet a character.
// Canonical: what decodes re-encodes to the same octets.

import { SessionError } from '../engine/errors.js';
import { DecnetProtocolError } from './errors.js';

export type EndUser =
  | { readonly format: 0; readonly objectType: number }
  | { readonly format: 1; readonly objectType: number; readonly name: string }
  | {
      readonly format: 2;
      readonly objectType: number;
      readonly group: number;
      readonly user: number;
      readonly name: string;
    };

export interface AccessControl {
  /** RQSTRID: the user name. */
  readonly user: string;
  readonly password: string;
  readonly account: string;
}

export interface ConnectData {
  readonly destination: EndUser;
  readonly source: EndUser;
  readonly access?: AccessControl;
  readonly userData?: Uint8Array;
  /** MENUVER bits 7..2 (version and reserved), 0 unless a peer sent others. */
  readonly menuFlags?: number;
}

export const MAX_ACCESS_FIELD = 39;
export const MAX_USER_DATA = 16;

/** Object types of DEC's well-known objects (a few; any 1..255 is allowed in format 0). */
export const ObjectType = { NAMED: 0, FAL: 17, NML: 19, MIRROR: 25, MAIL: 27, PHONE: 29 } as const;

/**
 * Reasons in a Disconnect Initiate or Confirm (Session Control v1.0.0 §4.3 and NSP 4.0.1 §6.10):
 * the code and what it means.
 */
export const DISCONNECT_REASONS: Readonly<Record<number, string>> = {
  0: 'no error (normal disconnect, or the object rejected the connect)',
  1: 'resource allocation failure',
  2: 'destination node does not exist',
  3: 'node shutting down',
  4: 'destination end-user (object) does not exist',
  5: 'invalid end-user name',
  6: 'destination end-user too busy',
  7: 'unspecified error',
  8: 'third party aborted the logical link',
  9: 'user abort',
  10: 'invalid node name format',
  11: 'local node shutting down',
  32: 'too many connections to the node',
  33: 'too many connections to the end-user',
  34: 'access control rejected (RQSTRID, PASSWRD)',
  35: 'logical link services mismatch',
  36: 'invalid ACCOUNT',
  37: 'segment size too small',
  38: 'end-user timed out, aborted or cancelled the connect',
  39: 'no path to the destination node',
  40: 'link aborted, data lost',
  41: 'no such logical link',
  42: 'disconnect complete',
  43: 'image data field too long',
};

export const DisconnectReason = {
  NO_ERROR: 0,
  RESOURCES: 1,
  NO_SUCH_OBJECT: 4,
  INVALID_NAME: 5,
  OBJECT_TOO_BUSY: 6,
  UNSPECIFIED: 7,
  USER_ABORT: 9,
  ACCESS_REJECTED: 34,
  BAD_ACCOUNT: 36,
  NO_RESPONSE: 38,
  NO_LINK: 41,
  DISCONNECT_COMPLETE: 42,
  IMAGE_TOO_LONG: 43,
} as const;

export function reasonName(reason: number): string {
  return DISCONNECT_REASONS[reason] ?? `reason ${reason}`;
}

// -- encoding -----------------------------------------------------------------------------------

function refuse(field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode Session Control ${field}: ${why}`, 'local', { field });
}

function latin1(field: string, text: string, max: number): number[] {
  if (text.length > max) refuse(field, `${text.length} characters, at most ${max}`);
  const out = [text.length];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) refuse(field, `character U+${c.toString(16)} is not Latin-1`);
    out.push(c);
  }
  return out;
}

function endUser(field: string, u: EndUser): number[] {
  if (!Number.isInteger(u.objectType) || u.objectType < 0 || u.objectType > 255)
    refuse(`${field}.OBJTYPE`, `${u.objectType} is not 0..255`);
  switch (u.format) {
    case 0:
      if (u.objectType === 0) refuse(`${field}.OBJTYPE`, 'format 0 names the object by number: 1..255');
      return [0, u.objectType];
    case 1:
      return [1, u.objectType, ...latin1(`${field}.DESCRPT`, u.name, 16)];
    case 2:
      for (const [f, v] of [
        ['GRPCODE', u.group],
        ['USRCODE', u.user],
      ] as const)
        if (!Number.isInteger(v) || v < 0 || v > 0xffff) refuse(`${field}.${f}`, `${v} is not 0..65535`);
      return [
        2,
        u.objectType,
        u.group & 0xff,
        u.group >> 8,
        u.user & 0xff,
        u.user >> 8,
        ...latin1(`${field}.DESCRPT`, u.name, 12),
      ];
    default:
      return refuse(`${field}.FORMAT`, `${(u as { format: unknown }).format} is not 0, 1 or 2`);
  }
}

export function encodeConnectData(c: ConnectData): Uint8Array {
  const flags = c.menuFlags ?? 0;
  if (!Number.isInteger(flags) || (flags & 0x03) !== 0 || flags < 0 || flags > 0xff)
    refuse('MENUVER', `menuFlags 0x${flags.toString(16)}: bits 1..0 come from access and userData`);
  const out = [...endUser('DSTNAME', c.destination), ...endUser('SRCNAME', c.source)];
  out.push(flags | (c.access ? 1 : 0) | (c.userData ? 2 : 0));
  if (c.access) {
    out.push(...latin1('RQSTRID', c.access.user, MAX_ACCESS_FIELD));
    out.push(...latin1('PASSWRD', c.access.password, MAX_ACCESS_FIELD));
    out.push(...latin1('ACCOUNT', c.access.account, MAX_ACCESS_FIELD));
  }
  if (c.userData) {
    if (c.userData.length > MAX_USER_DATA) refuse('USRDATA', `${c.userData.length} octets, at most ${MAX_USER_DATA}`);
    out.push(c.userData.length, ...c.userData);
  }
  return Uint8Array.from(out);
}

// -- decoding -----------------------------------------------------------------------------------

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  fail(reason: 'truncated' | 'field-too-long' | 'bad-descriptor' | 'trailing-bytes', why: string): never {
    throw new DecnetProtocolError('ERR_MALFORMED_FRAME', reason, 'session', `connect data: ${why}`, {
      offset: this.pos,
    });
  }
  u8(field: string): number {
    if (this.pos >= this.buf.length) this.fail('truncated', `ends inside ${field}`);
    return this.buf[this.pos++]!;
  }
  u16(field: string): number {
    return this.u8(field) | (this.u8(field) << 8);
  }
  image(field: string, max: number): Uint8Array {
    const n = this.u8(field);
    if (n > max) this.fail('field-too-long', `${field} of ${n} octets, at most ${max}`);
    if (this.pos + n > this.buf.length) this.fail('truncated', `ends inside ${field}`);
    const r = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
  text(field: string, max: number): string {
    return String.fromCharCode(...this.image(field, max));
  }
  endUser(field: string): EndUser {
    const format = this.u8(`${field}.FORMAT`);
    const objectType = this.u8(`${field}.OBJTYPE`);
    if (format === 0) {
      if (objectType === 0) this.fail('bad-descriptor', `${field} format 0 with object type 0`);
      return { format: 0, objectType };
    }
    if (format === 1) return { format: 1, objectType, name: this.text(`${field}.DESCRPT`, 16) };
    if (format === 2) {
      const group = this.u16(`${field}.GRPCODE`);
      const user = this.u16(`${field}.USRCODE`);
      return { format: 2, objectType, group, user, name: this.text(`${field}.DESCRPT`, 12) };
    }
    return this.fail('bad-descriptor', `${field} FORMAT ${format} is not 0, 1 or 2`);
  }
}

/** The connect data of a Connect Initiate. Throws DecnetProtocolError. */
export function decodeConnectData(buf: Uint8Array): ConnectData {
  const r = new Reader(buf);
  const destination = r.endUser('DSTNAME');
  const source = r.endUser('SRCNAME');
  const menu = r.u8('MENUVER');
  const access =
    menu & 1
      ? {
          user: r.text('RQSTRID', MAX_ACCESS_FIELD),
          password: r.text('PASSWRD', MAX_ACCESS_FIELD),
          account: r.text('ACCOUNT', MAX_ACCESS_FIELD),
        }
      : undefined;
  const userData = menu & 2 ? r.image('USRDATA', MAX_USER_DATA) : undefined;
  if (r.pos !== buf.length) r.fail('trailing-bytes', `${buf.length - r.pos} octets after the last field`);
  return {
    destination,
    source,
    ...(access ? { access } : {}),
    ...(userData ? { userData } : {}),
    ...(menu & 0xfc ? { menuFlags: menu & 0xfc } : {}),
  };
}

/** "name", "#25", "[1,2]name": how the end-user is shown. */
export function describeEndUser(u: EndUser): string {
  if (u.format === 0) return `#${u.objectType}`;
  if (u.format === 1) return u.objectType === 0 ? u.name : `#${u.objectType} ${u.name}`;
  return `[${u.group},${u.user}]${u.name}`;
}
