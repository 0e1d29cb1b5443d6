// NetBIOS names on the wire: RFC 1001 §14.1 first-level encoding, as RFC 1002 §4.3.2 puts them in
// a SESSION REQUEST. Pure: no I/O.
//
//   16 octets            name (15, space padded) + suffix        "TESTSRV" 0x20
//   each octet -> 2      high nibble + 'A', low nibble + 'A'     'T' = 0x54 -> "FE"
//   label form           0x20 <32 chars> [scope labels] 0x00     34 octets without a scope
//
// Rules:
//   - A name is kept as a string of one char per octet (0x00..0xFF), so any octet survives a
//     decode/encode round trip. Trailing spaces are padding: decoding strips them, encoding adds
//     them back; trailing NULs are kept (the wildcard is '*' followed by 15 NULs, suffix included).
//   - The first label must be exactly 32 characters 'A'..'P'. Scope labels are 1..63 printable
//     ASCII octets other than '.', so the dotted scope string maps back to the same octets.
//     Compression pointers (0xC0) have no place in the session service and are refused.
//   - The whole encoded name is at most 255 octets (RFC 1002 §4.1, the DNS name limit).
//   - Decoding throws only NetbiosProtocolError (ERR_MALFORMED_FRAME, reason 'bad-name');
//     encoding throws SessionError ERR_INVALID_ARGUMENT for a name it cannot represent.

import { SessionError } from '../engine/errors.js';
import { NetbiosProtocolError } from './errors.js';

export interface NetbiosName {
  /** At most 15 octets, one char per octet; trailing spaces are padding and not part of it. */
  readonly name: string;
  /** The 16th octet, the service type: 0x20 file server service, 0x00 workstation. */
  readonly suffix: number;
  /** NetBIOS scope as dotted labels ("example.com"), '' for none. */
  readonly scope: string;
}

/** 0x20 + 32 characters + 0x00. */
export const ENCODED_NAME_LENGTH = 34;
/** RFC 1002 §4.1: an encoded name, length octets and final 0x00 included. */
export const MAX_ENCODED_NAME_LENGTH = 255;
const MAX_LABEL = 63;

/** `*` followed by 15 NULs (suffix 0x00): the name that matches any name. */
export const WILDCARD_NAME: NetbiosName = { name: `*${'\0'.repeat(14)}`, suffix: 0x00, scope: '' };

function invalid(field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode NetBIOS name ${field}: ${why}`, 'local', { field });
}

function scopeLabels(scope: string, field: string): string[] {
  if (scope === '') return [];
  const labels = scope.split('.');
  for (const label of labels) {
    if (label.length < 1 || label.length > MAX_LABEL)
      invalid(field, `scope label '${label}' must have 1..${MAX_LABEL} characters`);
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      if (c < 0x21 || c > 0x7e) invalid(field, `scope label '${label}' must be printable ASCII`);
    }
  }
  return labels;
}

/** Octets `name` takes on the wire. Throws ERR_INVALID_ARGUMENT if it cannot be encoded. */
export function encodedNameLength(name: NetbiosName, field = 'name'): number {
  if (typeof name.name !== 'string' || name.name.length > 15) invalid(field, 'the name must have at most 15 octets');
  for (let i = 0; i < name.name.length; i++) {
    if (name.name.charCodeAt(i) > 0xff) invalid(field, 'the name must be one octet per character (0x00..0xFF)');
  }
  if (!Number.isInteger(name.suffix) || name.suffix < 0 || name.suffix > 0xff)
    invalid(field, `the suffix must be an octet (got ${String(name.suffix)})`);
  let length = ENCODED_NAME_LENGTH;
  for (const label of scopeLabels(name.scope, field)) length += 1 + label.length;
  if (length > MAX_ENCODED_NAME_LENGTH)
    invalid(field, `${length} octets encoded, more than ${MAX_ENCODED_NAME_LENGTH}`);
  return length;
}

/** Writes `name` at target[offset]; returns the offset after it. */
export function writeName(name: NetbiosName, target: Uint8Array, offset: number, field = 'name'): number {
  encodedNameLength(name, field);
  let p = offset;
  target[p++] = 0x20;
  for (let i = 0; i < 16; i++) {
    const octet = i < 15 ? (i < name.name.length ? name.name.charCodeAt(i) : 0x20) : name.suffix;
    target[p++] = 0x41 + (octet >> 4);
    target[p++] = 0x41 + (octet & 0x0f);
  }
  for (const label of scopeLabels(name.scope, field)) {
    target[p++] = label.length;
    for (let i = 0; i < label.length; i++) target[p++] = label.charCodeAt(i);
  }
  target[p++] = 0x00;
  return p;
}

export function encodeName(name: NetbiosName): Uint8Array {
  const out = new Uint8Array(encodedNameLength(name));
  writeName(name, out, 0);
  return out;
}

/**
 * Reads an encoded name at buf[pos..end). Returns it with the offset after it.
 * Throws NetbiosProtocolError (ERR_MALFORMED_FRAME, reason 'bad-name') naming `packet.field`.
 */
export function readName(
  buf: Uint8Array,
  pos: number,
  end: number,
  packet: string,
  field: string,
): { name: NetbiosName; end: number } {
  const bad = (why: string): never => {
    throw new NetbiosProtocolError('ERR_MALFORMED_FRAME', 'bad-name', packet, field, why);
  };
  const start = pos;
  if (pos >= end) bad('missing');
  if (buf[pos] !== 0x20)
    bad(`the first label must have 32 octets (length octet 0x${buf[pos]!.toString(16).padStart(2, '0')})`);
  if (end - pos < ENCODED_NAME_LENGTH)
    bad(`truncated (${end - pos} octets, a name needs at least ${ENCODED_NAME_LENGTH})`);
  pos += 1;
  let text = '';
  let suffix = 0;
  for (let i = 0; i < 16; i++) {
    const hi = buf[pos++]! - 0x41;
    const lo = buf[pos++]! - 0x41;
    if (hi < 0 || hi > 15 || lo < 0 || lo > 15) bad(`octet ${i} of the first label is not encoded as two of 'A'..'P'`);
    const octet = (hi << 4) | lo;
    if (i < 15) text += String.fromCharCode(octet);
    else suffix = octet;
  }
  const labels: string[] = [];
  for (;;) {
    if (pos >= end) bad('truncated (no final zero octet)');
    const length = buf[pos++]!;
    if (length === 0) break;
    if (length > MAX_LABEL)
      bad(`label length octet 0x${length.toString(16)} (pointers and lengths over ${MAX_LABEL} are not allowed)`);
    if (end - pos < length) bad('truncated scope label');
    let label = '';
    for (let i = 0; i < length; i++) {
      const c = buf[pos++]!;
      if (c < 0x21 || c > 0x7e || c === 0x2e) bad("a scope label octet is not printable ASCII other than '.'");
      label += String.fromCharCode(c);
    }
    labels.push(label);
  }
  if (pos - start > MAX_ENCODED_NAME_LENGTH) bad(`longer than ${MAX_ENCODED_NAME_LENGTH} octets`);
  return { name: { name: text.replace(/ +$/, ''), suffix, scope: labels.join('.') }, end: pos };
}

export function decodeName(bytes: Uint8Array): NetbiosName {
  const { name, end } = readName(bytes, 0, bytes.length, 'name', 'name');
  if (end !== bytes.length)
    throw new NetbiosProtocolError(
      'ERR_MALFORMED_FRAME',
      'trailing-bytes',
      'name',
      'name',
      `${bytes.length - end} octets after the name`,
    );
  return name;
}

/**
 * A name as people write it: `NAME`, `NAME<20>` or `NAME#20` (suffix in hex), upper-cased as
 * NetBIOS names conventionally are (smbclient does the same). `*` alone is the wildcard.
 * Throws ERR_INVALID_ARGUMENT.
 */
export function parseNetbiosName(text: string, defaultSuffix: number, scope = '', upperCase = true): NetbiosName {
  const m = /^(.*?)(?:<([0-9a-fA-F]{1,2})>|#([0-9a-fA-F]{1,2}))?$/s.exec(text);
  const base = m?.[1] ?? text;
  const hexSuffix = m?.[2] ?? m?.[3];
  const suffix = hexSuffix === undefined ? defaultSuffix : parseInt(hexSuffix, 16);
  if (base === '*') return { ...WILDCARD_NAME, suffix: hexSuffix === undefined ? WILDCARD_NAME.suffix : suffix, scope };
  if (base.length === 0) invalid(`'${text}'`, 'the name is empty');
  const name: NetbiosName = { name: upperCase ? base.toUpperCase() : base, suffix, scope };
  encodedNameLength(name, `'${text}'`);
  return name;
}

/** `NAME<20>` (`.scope` appended when there is one); octets outside printable ASCII as \xNN. */
export function formatNetbiosName(name: NetbiosName): string {
  const shown = name.name === WILDCARD_NAME.name ? '*' : name.name;
  let text = '';
  for (let i = 0; i < shown.length; i++) {
    const c = shown.charCodeAt(i);
    text += c >= 0x20 && c < 0x7f && c !== 0x5c ? shown[i] : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  const suffix = name.suffix.toString(16).padStart(2, '0');
  return `${text}<${suffix}>${name.scope === '' ? '' : `.${name.scope}`}`;
}

export function sameName(a: NetbiosName, b: NetbiosName): boolean {
  return (
    a.suffix === b.suffix &&
    a.name.toUpperCase() === b.name.toUpperCase() &&
    a.scope.toUpperCase() === b.scope.toUpperCase()
  );
}
