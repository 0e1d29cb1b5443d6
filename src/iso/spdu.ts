// SPDU codec: TSDU bytes <-> SPDUs, for every SPDU of X.225 this profile speaks.
//
//   SPDU  = SI | LI | parameter field (PI and PGI units) | user information (DT, EX, TD only)
//   TSDU  = one category 1 SPDU | one category 0 SPDU | a category 0 SPDU + a category 2 SPDU
//
// The LI counts the parameter field only. User data of every SPDU but DT, EX and TD rides inside
// the parameter field (PGI 193, or 194 in a version 2 CN, PI 46 in MIA, the tail of PI 50 in RF).
// A decoded SPDU is a plain object holding the parameters it carried and nothing else, so
// encodeTsdu(decodeTsdu(x)) === x for every TSDU written in X.225 order with minimal lengths.
//
// Rules
//   - decodeTsdu throws only ProtocolError: an unknown SI (ERR_UNKNOWN_FRAME_TYPE), a parameter
//     the SPDU may not carry, a repeated one, a value of the wrong size, a length past its field,
//     a long-form LI below 255, extended concatenation (ERR_MALFORMED_FRAME).
//   - Decoding is lenient where peers differ and no meaning is lost: parameters in any order, a
//     category 2 SPDU without a GT in front (when its SI is not shared), MIA user data in PI 46
//     (ISODE) or PGI 193.
//   - encodeSpdu/encodeTsdu refuse (local SessionError) fields the SPDU does not have, values out
//     of range and, with `shortOnly` (libiec61850 mode), any length past 254.
//   - SI 42 is MAA unless the caller says it awaits an AEA (`si42: 'AEA'`); SI 41 is MAP when its
//     Sync Type Item has bit 1 set, else AE.

import { cannotEncode, concatBytes, malformed, unknownType } from './octets.js';
import {
  CATEGORY,
  FIELD_CODE,
  FIRST_SI,
  HAS_USER_INFO,
  LAYOUT,
  MAX_ACTIVITY_ID,
  MAX_ADDITIONAL_REFERENCE,
  MAX_REFERENCE,
  MAX_SSEL,
  PI,
  SECOND_SI,
  SI,
  SYNC_TYPE_BIT,
  UNSUPPORTED_SI,
} from './spdu-codes.js';
import type { SpduType, TopField } from './spdu-codes.js';
import {
  bounded,
  checkLength,
  digits,
  liBytes,
  octet,
  octetValue,
  readLi,
  readUnits,
  serialBytes,
  twoOctets,
  unit,
} from './spdu-params.js';
import type { Unit } from './spdu-params.js';

type Bytes = Uint8Array;

/** PGI 1 (CN, AC, RF) and the references inside PGI 33 (AR). */
export interface Reference {
  called?: Bytes;
  calling?: Bytes;
  common?: Bytes;
  additional?: Bytes;
}
/** PGI 5 Connect/Accept Item. */
export interface ConnectAcceptItem {
  protocolOptions?: number;
  /** PI 21: largest TSDU initiator -> responder, responder -> initiator; 0 = no limit. */
  tsduMaxSize?: [number, number];
  /** PI 22 bitmap: 0x01 version 1, 0x02 version 2. */
  versions?: number;
  initialSerial?: number;
  tokenSetting?: number;
}
/** PGI 33 Linking Information (AR). */
export interface Linking extends Reference {
  oldActivityId?: Bytes;
  serial?: number;
}

export interface Spdu {
  type: SpduType;
  reference?: Reference;
  connectAccept?: ConnectAcceptItem;
  tokens?: number;
  transportDisconnect?: number;
  requirements?: number;
  /** PI 22 at the top level (RF: the versions the refuser supports). */
  versions?: number;
  callingSsel?: Bytes;
  /** PI 52: the called session selector in CN, the responding one in AC. */
  calledSsel?: Bytes;
  syncType?: number;
  serial?: number;
  tokenSetting?: number;
  resyncType?: number;
  activityId?: Bytes;
  linking?: Linking;
  reason?: number;
  reflect?: Bytes;
  prepareType?: number;
  enclosure?: number;
  /** PGI 193; in RF, the octets of PI 50 after the reason code. */
  userData?: Bytes;
  /** PGI 194 (a version 2 CN with more than 512 octets of user data). */
  extendedUserData?: Bytes;
  /** PI 46 (MIA user data, as ISODE writes it). */
  miaUserData?: Bytes;
  /** DT, EX, TD: the user information field after the parameters. */
  userInfo?: Bytes;
}

export interface DecodeOptions {
  /** What SI 42 means now: the answer to our MAP (default) or to our AE. */
  si42?: 'MAA' | 'AEA';
}

export interface EncodeOptions {
  /** One-octet length indicators only (libiec61850 reads no other form). */
  shortOnly?: boolean;
}

const CODE_TO_FIELD = new Map<SpduType, Map<number, TopField>>(
  (Object.keys(LAYOUT) as SpduType[]).map((t) => [t, new Map(LAYOUT[t].map((f) => [FIELD_CODE[f], f]))]),
);

const REFERENCE_CODES: Record<number, keyof Reference> = { 9: 'called', 10: 'calling', 11: 'common', 12: 'additional' };

function notAllowed(code: number, where: string): never {
  if (code === PI.dataOverflow)
    malformed('SPDU', `${where}: Data Overflow (PI 60, connect data beyond 10240 octets) is not supported`, { code });
  if (code >= 53 && code <= 58)
    malformed('SPDU', `${where}: parameter ${code} belongs to symmetric synchronization, which is not supported`, {
      code,
    });
  return malformed('SPDU', `${where} may not carry parameter ${code}`, { code });
}

function decodeReference<T extends Reference>(u: Unit, what: string, extra?: (r: T, inner: Unit) => boolean): T {
  const r = {} as T;
  for (const inner of readUnits(u.value, 0, u.value.length, `${what} PGI ${u.code}`)) {
    const name = REFERENCE_CODES[inner.code];
    if (name !== undefined) {
      if (r[name] !== undefined) malformed('SPDU', `${what} repeats parameter ${inner.code}`);
      r[name] = bounded(inner, 0, name === 'additional' ? MAX_ADDITIONAL_REFERENCE : MAX_REFERENCE, what);
    } else if (!extra?.(r, inner)) notAllowed(inner.code, `${what} PGI ${u.code}`);
  }
  return r;
}

function decodeConnectAccept(u: Unit, what: string): ConnectAcceptItem {
  const c: ConnectAcceptItem = {};
  for (const inner of readUnits(u.value, 0, u.value.length, `${what} PGI 5`)) {
    const once = (v: unknown): void => {
      if (v !== undefined) malformed('SPDU', `${what} repeats parameter ${inner.code}`);
    };
    switch (inner.code) {
      case PI.protocolOptions:
        once(c.protocolOptions);
        c.protocolOptions = octet(inner, what);
        break;
      case PI.tsduMaxSize: {
        once(c.tsduMaxSize);
        const v = bounded(inner, 4, 4, what);
        c.tsduMaxSize = [(v[0]! << 8) | v[1]!, (v[2]! << 8) | v[3]!];
        break;
      }
      case PI.version:
        once(c.versions);
        c.versions = octet(inner, what);
        break;
      case PI.initialSerial:
        once(c.initialSerial);
        c.initialSerial = digits(inner, what);
        break;
      case PI.tokenSetting:
        once(c.tokenSetting);
        c.tokenSetting = octet(inner, what);
        break;
      default:
        notAllowed(inner.code, `${what} PGI 5`);
    }
  }
  return c;
}

function decodeField(s: Spdu, field: TopField, u: Unit): void {
  const what = s.type;
  switch (field) {
    case 'reference':
      s.reference = decodeReference(u, what);
      return;
    case 'connectAccept':
      s.connectAccept = decodeConnectAccept(u, what);
      return;
    case 'linking':
      s.linking = decodeReference<Linking>(u, what, (r, inner) => {
        if (inner.code === PI.activityId && r.oldActivityId === undefined)
          r.oldActivityId = bounded(inner, 1, MAX_ACTIVITY_ID, what);
        else if (inner.code === PI.serial && r.serial === undefined) r.serial = digits(inner, what);
        else return false;
        return true;
      });
      return;
    case 'requirements':
      s.requirements = twoOctets(u, what);
      return;
    case 'callingSsel':
    case 'calledSsel':
      s[field] = bounded(u, 0, MAX_SSEL, what);
      return;
    case 'serial':
      s.serial = digits(u, what);
      return;
    case 'activityId':
      s.activityId = bounded(u, 1, MAX_ACTIVITY_ID, what);
      return;
    case 'reason':
      if (s.type === 'RF') {
        s.reason = bounded(u, 1, u.value.length, what)[0];
        if (u.value.length > 1) s.userData = u.value.subarray(1);
      } else s.reason = octet(u, what);
      return;
    case 'reflect':
    case 'userData':
    case 'extendedUserData':
    case 'miaUserData':
      s[field] = u.value;
      return;
    default:
      s[field] = octet(u, what);
  }
}

/** One SPDU at buf[at..end); returns it and where the next one starts. */
function decodeOne(
  buf: Bytes,
  at: number,
  end: number,
  table: ReadonlyMap<number, SpduType>,
  options: DecodeOptions,
): [Spdu, number] {
  const si = buf[at]!;
  let type = table.get(si);
  if (type === undefined) {
    const name = UNSUPPORTED_SI.get(si);
    return unknownType(
      'SPDU',
      name
        ? `${name} is not supported`
        : `unknown SPDU identifier ${si}${table === SECOND_SI ? ' after a category 0 SPDU' : ''}`,
      { si },
    );
  }
  const [li, size] = readLi(buf, at + 1, end, `SPDU ${type}`);
  const from = at + 1 + size;
  const to = from + li;
  if (to > end)
    malformed('SPDU', `${type} parameter field of ${li} octets runs past the ${end - at}-octet TSDU`, { spdu: type });
  const units = readUnits(buf, from, to, type);
  // SI 41 and 42 are refined before the parameters are checked: AE and AEA carry no Sync Type Item bit.
  if (
    type === 'MAP' &&
    !units.some((u) => u.code === PI.syncType && u.value.length === 1 && u.value[0]! & SYNC_TYPE_BIT)
  )
    type = 'AE';
  if (type === 'MAA' && options.si42 === 'AEA') type = 'AEA';
  const s: Spdu = { type };
  const fields = CODE_TO_FIELD.get(type)!;
  for (const u of units) {
    const field = fields.get(u.code) ?? notAllowed(u.code, type);
    if (s[field] !== undefined) malformed('SPDU', `${type} repeats parameter ${u.code}`, { code: u.code });
    decodeField(s, field, u);
  }
  if (s.userData && s.extendedUserData)
    malformed('SPDU', 'CN carries both User Data (193) and Extended User Data (194)');
  if (HAS_USER_INFO.has(type)) {
    s.userInfo = buf.subarray(to, end);
    return [s, end];
  }
  return [s, to];
}

/** The SPDUs of one TSDU (one or two). Throws ProtocolError. */
export function decodeTsdu(tsdu: Bytes, options: DecodeOptions = {}): Spdu[] {
  const end = tsdu.length;
  if (end === 0) malformed('SPDU', 'empty TSDU');
  const [first, next] = decodeOne(tsdu, 0, end, FIRST_SI, options);
  if (next === end) return [first];
  if (CATEGORY[first.type] !== 0)
    malformed('SPDU', `${end - next} octets after a category ${CATEGORY[first.type]} ${first.type} SPDU`, {
      spdu: first.type,
    });
  const [second, after] = decodeOne(tsdu, next, end, SECOND_SI, options);
  if (after !== end)
    malformed(
      'SPDU',
      `${end - after} octets after ${first.type}+${second.type}: extended concatenation is not supported`,
      { spdu: second.type },
    );
  return [first, second];
}

// ---- encoding ---------------------------------------------------------------------------

function encodeReference(r: Linking, code: number, o: EncodeOptions, what: string): Bytes {
  const parts: Bytes[] = [];
  const add = (c: number, v: Bytes | undefined, max: number): void => {
    if (v) parts.push(unit(c, checkLength(v, 0, max, `${what} reference ${c}`), !!o.shortOnly, what));
  };
  add(9, r.called, MAX_REFERENCE);
  add(10, r.calling, MAX_REFERENCE);
  add(11, r.common, MAX_REFERENCE);
  add(12, r.additional, MAX_ADDITIONAL_REFERENCE);
  if (code === PI.linking) {
    if (r.oldActivityId)
      parts.push(
        unit(
          PI.activityId,
          checkLength(r.oldActivityId, 1, MAX_ACTIVITY_ID, `${what} old activity identifier`),
          !!o.shortOnly,
          what,
        ),
      );
    if (r.serial !== undefined) parts.push(unit(PI.serial, serialBytes(r.serial, what), !!o.shortOnly, what));
  }
  return unit(code, concatBytes(parts), !!o.shortOnly, what);
}

function encodeConnectAccept(c: ConnectAcceptItem, o: EncodeOptions, what: string): Bytes {
  const s = !!o.shortOnly;
  const parts: Bytes[] = [];
  if (c.protocolOptions !== undefined)
    parts.push(unit(PI.protocolOptions, octetValue(c.protocolOptions, 'Protocol Options'), s, what));
  if (c.tsduMaxSize) {
    const [a, b] = c.tsduMaxSize;
    if (![a, b].every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff)) cannotEncode(`TSDU Maximum Size ${a}/${b}`);
    parts.push(unit(PI.tsduMaxSize, Uint8Array.of(a >> 8, a & 0xff, b >> 8, b & 0xff), s, what));
  }
  if (c.versions !== undefined) parts.push(unit(PI.version, octetValue(c.versions, 'Version Number'), s, what));
  if (c.initialSerial !== undefined) parts.push(unit(PI.initialSerial, serialBytes(c.initialSerial, what), s, what));
  if (c.tokenSetting !== undefined)
    parts.push(unit(PI.tokenSetting, octetValue(c.tokenSetting, 'Token Setting Item'), s, what));
  return unit(PI.connectAccept, concatBytes(parts), s, what);
}

function encodeField(s: Spdu, field: TopField, o: EncodeOptions): Bytes | undefined {
  const what = s.type;
  const short = !!o.shortOnly;
  const code = FIELD_CODE[field];
  switch (field) {
    case 'reference':
      return s.reference && encodeReference(s.reference, code, o, what);
    case 'linking':
      return s.linking && encodeReference(s.linking, code, o, what);
    case 'connectAccept':
      return s.connectAccept && encodeConnectAccept(s.connectAccept, o, what);
    case 'requirements': {
      const r = s.requirements;
      if (r === undefined) return undefined;
      if (!Number.isInteger(r) || r < 0 || r > 0xffff) cannotEncode(`Session User Requirements 0x${r.toString(16)}`);
      return unit(code, Uint8Array.of(r >> 8, r & 0xff), short, what);
    }
    case 'callingSsel':
    case 'calledSsel':
      return s[field] && unit(code, checkLength(s[field], 0, MAX_SSEL, `${what} session selector`), short, what);
    case 'serial':
      return s.serial === undefined ? undefined : unit(code, serialBytes(s.serial, what), short, what);
    case 'activityId':
      return (
        s.activityId &&
        unit(code, checkLength(s.activityId, 1, MAX_ACTIVITY_ID, `${what} activity identifier`), short, what)
      );
    case 'reason': {
      if (s.reason === undefined) {
        if (s.type === 'RF' && s.userData) cannotEncode('RF user data needs a reason code');
        return undefined;
      }
      const r = octetValue(s.reason, `${what} reason code`);
      return unit(code, s.type === 'RF' && s.userData ? concatBytes([r, s.userData]) : r, short, what);
    }
    case 'userData':
      return s.type === 'RF' ? undefined : s.userData && unit(code, s.userData, short, what);
    case 'reflect':
    case 'extendedUserData':
    case 'miaUserData':
      return s[field] && unit(code, s[field], short, what);
    default: {
      const v = s[field];
      return v === undefined ? undefined : unit(code, octetValue(v, `${what} parameter ${code}`), short, what);
    }
  }
}

/** One SPDU. Throws a local SessionError for what the SPDU cannot carry. */
export function encodeSpdu(s: Spdu, o: EncodeOptions = {}): Bytes {
  const layout = LAYOUT[s.type];
  if (!layout) cannotEncode(`unknown SPDU type '${String(s.type)}'`);
  for (const key of Object.keys(s) as (keyof Spdu)[]) {
    if (key === 'type' || s[key] === undefined) continue;
    const ok =
      key === 'userInfo'
        ? HAS_USER_INFO.has(s.type)
        : layout.includes(key as TopField) || (key === 'userData' && s.type === 'RF');
    if (!ok) cannotEncode(`${s.type} has no field '${key}'`);
  }
  if (s.userData && s.extendedUserData) cannotEncode('CN carries User Data or Extended User Data, not both');
  const parts: Bytes[] = [];
  for (const f of layout) {
    const b = encodeField(s, f, o);
    if (b) parts.push(b);
  }
  const params = concatBytes(parts);
  return concatBytes([
    Uint8Array.of(SI[s.type]),
    liBytes(params.length, !!o.shortOnly, `${s.type} parameter field`),
    params,
    s.userInfo ?? new Uint8Array(0),
  ]);
}

/** A TSDU: one category 1 or 0 SPDU, or a category 0 SPDU and a category 2 SPDU. */
export function encodeTsdu(spdus: readonly Spdu[], o: EncodeOptions = {}): Bytes {
  const [a, b] = spdus;
  if (!a || spdus.length > 2) cannotEncode(`a TSDU holds one or two SPDUs, not ${spdus.length}`);
  const cats = spdus.map((s) => CATEGORY[s.type]);
  const ok = spdus.length === 1 ? cats[0] !== 2 : cats[0] === 0 && cats[1] === 2;
  if (!ok)
    cannotEncode(`${spdus.map((s) => s.type).join('+')} is not a basic concatenation (category ${cats.join('+')})`);
  return b ? concatBytes([encodeSpdu(a, o), encodeSpdu(b, o)]) : encodeSpdu(a, o);
}

/** The TSDU for one SPDU: a category 2 SPDU gets the empty GT (`01 00`) in front. */
export function tsduOf(s: Spdu, o: EncodeOptions = {}): Bytes {
  return CATEGORY[s.type] === 2 ? encodeTsdu([{ type: 'GT' }, s], o) : encodeSpdu(s, o);
}
