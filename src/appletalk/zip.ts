// ZIP, the Zone Information Protocol (Inside AppleTalk, 2nd ed., chapter 8), to octets and back.
// Pure: no I/O. Zone names are Pascal strings (a length octet, then 0..32 octets); a string here
// holds one character per octet (codes 0..255: Mac Roman is not translated, so nothing is lost).
//
// Over DDP (type 6, to the zone information socket 6):
//   01 Query              COUNT (1)  NETWORK (2) x COUNT
//   02 Reply              COUNT (1)  { NETWORK (2)  ZONE } x COUNT
//   08 Extended Reply     COUNT (1: the zones the network has in all, maybe more than this packet holds)
//                         { NETWORK (2)  ZONE } to the end
//   05 GetNetInfo request 00 (flags)  00 00 00 00 (network range)  ZONE (the zone asked about, may be empty)
//   06 GetNetInfo reply   FLAGS (80 zone invalid, 40 use broadcast, 20 only one zone)
//                         RANGE-START (2)  RANGE-END (2)  ZONE  MC-LENGTH (1)  MULTICAST
//                         [DEFAULT-ZONE, when the zone was invalid]
// Over ATP (DDP type 3, to socket 6), the function in the TReq's user bytes:
//   TReq  user bytes: FUNCTION (07 GetMyZone, 08 GetZoneList, 09 GetLocalZones)  00  START-INDEX (2)
//   TResp user bytes: LAST-FLAG (1 if this reply holds the last zone, else 0)  00  COUNT (2)
//         data: COUNT zone names

import { SessionError } from '../engine/errors.js';
import { AppletalkProtocolError, malformed } from './errors.js';

export const MAX_ZONE_NAME = 32;

export interface ZoneTuple {
  readonly network: number;
  readonly zone: string;
}

export type ZipMessage =
  | { readonly fn: 'query'; readonly networks: readonly number[] }
  | { readonly fn: 'reply'; readonly zones: readonly ZoneTuple[] }
  | { readonly fn: 'extended-reply'; readonly count: number; readonly zones: readonly ZoneTuple[] }
  | { readonly fn: 'getnetinfo-request'; readonly zone: string }
  | {
      readonly fn: 'getnetinfo-reply';
      readonly zoneInvalid: boolean;
      readonly useBroadcast: boolean;
      readonly onlyOneZone: boolean;
      readonly rangeStart: number;
      readonly rangeEnd: number;
      readonly zone: string;
      readonly multicast: Uint8Array;
      /** Present exactly when zoneInvalid: the zone a node should take instead. */
      readonly defaultZone?: string;
    };

export const ZIP_FUNCTIONS = {
  query: 1,
  reply: 2,
  'getnetinfo-request': 5,
  'getnetinfo-reply': 6,
  'extended-reply': 8,
} as const;

export type ZipAtpFunction = 'GetMyZone' | 'GetZoneList' | 'GetLocalZones';
export const ZIP_ATP_FUNCTIONS: Record<ZipAtpFunction, number> = { GetMyZone: 7, GetZoneList: 8, GetLocalZones: 9 };

export interface ZipAtpRequest {
  readonly fn: ZipAtpFunction;
  /** The first zone wanted, counting from 1 (GetMyZone: 0). */
  readonly startIndex: number;
}

export interface ZipAtpReply {
  readonly last: boolean;
  readonly zones: readonly string[];
}

function refuse(field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode ZIP ${field}: ${why}`, 'local', { field });
}

/** Appends octets to a growing list; the one writer every encoder here uses. */
class Writer {
  readonly octets: number[] = [];
  u8(v: number, field: string): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) refuse(field, `${v} is not 0..255`);
    this.octets.push(v);
    return this;
  }
  u16(v: number, field: string): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) refuse(field, `${v} is not 0..65535`);
    this.octets.push(v >> 8, v & 0xff);
    return this;
  }
  zone(name: string, field = 'zone name'): this {
    if (name.length > MAX_ZONE_NAME) refuse(field, `'${name}' is ${name.length} octets, at most ${MAX_ZONE_NAME}`);
    this.octets.push(name.length);
    for (let i = 0; i < name.length; i++) this.u8(name.charCodeAt(i), field);
    return this;
  }
  bytes(b: Uint8Array): this {
    this.octets.push(...b);
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.octets);
  }
}

/** Reads fields, refusing to run past the end: the one reader every decoder here uses. */
export class Reader {
  at = 0;
  constructor(
    private readonly o: Uint8Array,
    private readonly layer: 'zip' | 'asp',
  ) {}
  get left(): number {
    return this.o.length - this.at;
  }
  private need(n: number, what: string): void {
    if (this.at + n > this.o.length)
      malformed(this.layer, 'truncated', `the message ends inside ${what} (octet ${this.at}, ${n} needed)`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.o[this.at++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = (this.o[this.at]! << 8) | this.o[this.at + 1]!;
    this.at += 2;
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    return this.o.slice(this.at, (this.at += n));
  }
  zone(what = 'a zone name'): string {
    const n = this.u8(what);
    if (n > MAX_ZONE_NAME) malformed(this.layer, 'field-too-long', `${what} of ${n} octets, at most ${MAX_ZONE_NAME}`);
    return String.fromCharCode(...this.bytes(n, what));
  }
  zero(n: number, what: string): void {
    for (let i = 0; i < n; i++) if (this.u8(what) !== 0) malformed(this.layer, 'reserved-bits', `${what} is not zero`);
  }
  end(what: string): void {
    if (this.left > 0) malformed(this.layer, 'trailing-bytes', `${this.left} octets after ${what}`);
  }
}

export function encodeZip(m: ZipMessage): Uint8Array {
  const w = new Writer().u8(ZIP_FUNCTIONS[m.fn], 'function');
  switch (m.fn) {
    case 'query':
      w.u8(m.networks.length, 'network count');
      for (const n of m.networks) w.u16(n, 'network');
      break;
    case 'reply':
    case 'extended-reply':
      w.u8(m.fn === 'reply' ? m.zones.length : m.count, 'network count');
      for (const t of m.zones) w.u16(t.network, 'network').zone(t.zone);
      break;
    case 'getnetinfo-request':
      w.bytes(new Uint8Array(5)).zone(m.zone);
      break;
    case 'getnetinfo-reply':
      if (m.zoneInvalid !== (m.defaultZone !== undefined))
        refuse('default zone', 'present exactly when the zone is invalid');
      w.u8((m.zoneInvalid ? 0x80 : 0) | (m.useBroadcast ? 0x40 : 0) | (m.onlyOneZone ? 0x20 : 0), 'flags')
        .u16(m.rangeStart, 'network range start')
        .u16(m.rangeEnd, 'network range end')
        .zone(m.zone)
        .u8(m.multicast.length, 'multicast length')
        .bytes(m.multicast);
      if (m.defaultZone !== undefined) w.zone(m.defaultZone, 'default zone');
      break;
  }
  const out = w.done();
  if (out.length > 586) refuse('message', `${out.length} octets, past a DDP datagram's 586`);
  return out;
}

export function decodeZip(octets: Uint8Array): ZipMessage {
  const r = new Reader(octets, 'zip');
  const fn = r.u8('the function');
  switch (fn) {
    case 1: {
      const count = r.u8('the network count');
      if (r.left !== 2 * count)
        malformed('zip', 'bad-count', `a Query of ${count} networks with ${r.left} octets of them`);
      const networks = Array.from({ length: count }, () => r.u16('a network'));
      return { fn: 'query', networks };
    }
    case 2:
    case 8: {
      const count = r.u8('the network count');
      const zones: ZoneTuple[] = [];
      while (r.left > 0) zones.push({ network: r.u16('a network'), zone: r.zone() });
      if (fn === 2) {
        if (zones.length !== count)
          malformed('zip', 'bad-count', `a Reply announcing ${count} zones holds ${zones.length}`);
        return { fn: 'reply', zones };
      }
      if (zones.length > count)
        malformed('zip', 'bad-count', `an Extended Reply announcing ${count} zones holds ${zones.length}`);
      return { fn: 'extended-reply', count, zones };
    }
    case 5: {
      r.zero(5, 'the flags and network range of a GetNetInfo request');
      const zone = r.zone();
      r.end('a GetNetInfo request');
      return { fn: 'getnetinfo-request', zone };
    }
    case 6: {
      const flags = r.u8('the flags');
      if (flags & 0x1f) malformed('zip', 'reserved-bits', `GetNetInfo reply flags 0x${flags.toString(16)}`);
      const rangeStart = r.u16('the network range start');
      const rangeEnd = r.u16('the network range end');
      const zone = r.zone();
      const multicast = r.bytes(r.u8('the multicast length'), 'the multicast address');
      const zoneInvalid = (flags & 0x80) !== 0;
      const defaultZone = zoneInvalid ? r.zone('the default zone') : undefined;
      r.end('a GetNetInfo reply');
      return {
        fn: 'getnetinfo-reply',
        zoneInvalid,
        useBroadcast: (flags & 0x40) !== 0,
        onlyOneZone: (flags & 0x20) !== 0,
        rangeStart,
        rangeEnd,
        zone,
        multicast,
        ...(defaultZone === undefined ? {} : { defaultZone }),
      };
    }
    default:
      throw new AppletalkProtocolError(
        'ERR_UNKNOWN_FRAME_TYPE',
        'unknown-function',
        'zip',
        `ZIP function ${fn} is not implemented`,
        { fn },
      );
  }
}

export function encodeZipAtpRequest(m: ZipAtpRequest): number {
  if (!Number.isInteger(m.startIndex) || m.startIndex < 0 || m.startIndex > 0xffff)
    refuse('start index', `${m.startIndex} is not 0..65535`);
  return ((ZIP_ATP_FUNCTIONS[m.fn] << 24) | m.startIndex) >>> 0;
}

/** A ZIP TReq's user bytes and data. */
export function decodeZipAtpRequest(user: number, data: Uint8Array): ZipAtpRequest {
  const code = user >>> 24;
  const fn = (Object.keys(ZIP_ATP_FUNCTIONS) as ZipAtpFunction[]).find((k) => ZIP_ATP_FUNCTIONS[k] === code);
  if (fn === undefined)
    throw new AppletalkProtocolError('ERR_UNKNOWN_FRAME_TYPE', 'unknown-function', 'zip', `ZIP ATP function ${code}`, {
      fn: code,
    });
  if ((user >>> 16) & 0xff) malformed('zip', 'reserved-bits', 'the second user byte of a ZIP request is not zero');
  if (data.length > 0) malformed('zip', 'trailing-bytes', `${data.length} octets of data after a ZIP request`);
  return { fn, startIndex: user & 0xffff };
}

export function encodeZipAtpReply(m: ZipAtpReply): { user: number; data: Uint8Array } {
  const w = new Writer();
  for (const z of m.zones) w.zone(z);
  if (m.zones.length > 0xffff) refuse('count', `${m.zones.length} zones`);
  return { user: (((m.last ? 1 : 0) << 24) | m.zones.length) >>> 0, data: w.done() };
}

export function decodeZipAtpReply(user: number, data: Uint8Array): ZipAtpReply {
  const last = user >>> 24;
  if (last > 1) malformed('zip', 'reserved-bits', `LastFlag ${last} (0 or 1)`);
  if ((user >>> 16) & 0xff) malformed('zip', 'reserved-bits', 'the second user byte of a ZIP reply is not zero');
  const count = user & 0xffff;
  const r = new Reader(data, 'zip');
  const zones: string[] = [];
  while (r.left > 0) zones.push(r.zone());
  if (zones.length !== count) malformed('zip', 'bad-count', `a reply announcing ${count} zones holds ${zones.length}`);
  return { last: last === 1, zones };
}
