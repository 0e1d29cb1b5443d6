// PI/PGI units: the length indicator in its two forms, the parameter list of an SPDU or of a
// PGI, and the value types X.225 uses (one octet, two octets, IA5 digits, bounded octets).
//
// LI (X.225 8.2.5, the same for SPDUs, PGIs and PIs): 0..254 in one octet; 255..65535 as 0xFF and
// two octets big-endian. The long form for a value below 255 is refused (ISODE does the same), so
// every length has exactly one encoding and a decoded SPDU re-encodes to the same bytes.

import { cannotEncode, concatBytes, malformed } from './octets.js';
import { MAX_LI, MAX_SERIAL_DIGITS, MAX_SHORT_LI } from './spdu-codes.js';

type Bytes = Uint8Array;

export interface Unit {
  code: number;
  value: Bytes;
}

/** Reads an LI at buf[at]; returns [length, octets used]. */
export function readLi(buf: Bytes, at: number, end: number, what: string): [number, number] {
  if (at >= end) malformed('SPDU', `${what}: length indicator missing`);
  const first = buf[at]!;
  if (first !== 0xff) return [first, 1];
  if (at + 3 > end) malformed('SPDU', `${what}: three-octet length indicator truncated`);
  const n = (buf[at + 1]! << 8) | buf[at + 2]!;
  if (n <= MAX_SHORT_LI)
    malformed('SPDU', `${what}: three-octet length indicator for ${n} (the one-octet form is mandatory below 255)`);
  return [n, 3];
}

export function liBytes(n: number, shortOnly: boolean, what: string): Bytes {
  if (n <= MAX_SHORT_LI) return Uint8Array.of(n);
  if (shortOnly)
    cannotEncode(
      `${what} needs ${n} octets; one-octet lengths (libiec61850 mode) hold at most ${MAX_SHORT_LI}`,
      MAX_SHORT_LI,
    );
  if (n > MAX_LI) cannotEncode(`${what} needs ${n} octets; a length indicator holds at most ${MAX_LI}`, MAX_LI);
  return Uint8Array.of(0xff, n >> 8, n & 0xff);
}

/** The units in buf[from..to): code, LI, value (views into buf). */
export function readUnits(buf: Bytes, from: number, to: number, what: string): Unit[] {
  const out: Unit[] = [];
  let at = from;
  while (at < to) {
    const code = buf[at]!;
    const [len, size] = readLi(buf, at + 1, to, `${what} parameter ${code}`);
    const start = at + 1 + size;
    if (start + len > to) malformed('SPDU', `${what} parameter ${code}: length ${len} runs past its field`, { code });
    out.push({ code, value: buf.subarray(start, start + len) });
    at = start + len;
  }
  return out;
}

export function unit(code: number, value: Bytes, shortOnly: boolean, what: string): Bytes {
  return concatBytes([Uint8Array.of(code), liBytes(value.length, shortOnly, `${what} parameter ${code}`), value]);
}

// ---- values -----------------------------------------------------------------------------

export function octet(u: Unit, what: string): number {
  if (u.value.length !== 1)
    malformed('SPDU', `${what} parameter ${u.code} has ${u.value.length} octets, not 1`, { code: u.code });
  return u.value[0]!;
}

export function twoOctets(u: Unit, what: string): number {
  if (u.value.length !== 2)
    malformed('SPDU', `${what} parameter ${u.code} has ${u.value.length} octets, not 2`, { code: u.code });
  return (u.value[0]! << 8) | u.value[1]!;
}

export function bounded(u: Unit, min: number, max: number, what: string): Bytes {
  if (u.value.length < min || u.value.length > max)
    malformed('SPDU', `${what} parameter ${u.code} has ${u.value.length} octets, not ${min}..${max}`, { code: u.code });
  return u.value;
}

/** Serial numbers (PI 23, 42): 1..6 IA5 decimal digits (X.225 8.3.x; ISODE str2ssn). */
export function digits(u: Unit, what: string): number {
  const v = u.value;
  if (v.length < 1 || v.length > MAX_SERIAL_DIGITS)
    malformed('SPDU', `${what} serial number of ${v.length} digits (1..${MAX_SERIAL_DIGITS})`, { code: u.code });
  let n = 0;
  for (const b of v) {
    if (b < 0x30 || b > 0x39)
      malformed('SPDU', `${what} serial number has a non-digit 0x${b.toString(16)}`, { code: u.code });
    n = n * 10 + (b - 0x30);
  }
  return n;
}

export function serialBytes(n: number, what: string): Bytes {
  if (!Number.isInteger(n) || n < 0 || n > 999_999) cannotEncode(`${what} serial number ${n} (0..999999)`);
  return new TextEncoder().encode(String(n));
}

export function octetValue(n: number, what: string): Bytes {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) cannotEncode(`${what} is one octet, not ${n}`);
  return Uint8Array.of(n);
}

export function checkLength(b: Bytes, min: number, max: number, what: string): Bytes {
  if (b.length < min || b.length > max) cannotEncode(`${what} of ${b.length} octets (${min}..${max})`, max);
  return b;
}
