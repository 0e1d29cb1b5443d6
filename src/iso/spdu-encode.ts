// SPDU encoding: SPDUs -> TSDU bytes (the rules are in ./spdu.ts's header, the types there too).
// Fields in X.225 order with minimal lengths; refuses (local SessionError) what an SPDU cannot
// carry, values out of range and, with `shortOnly`, any length past 254.

import { cannotEncode, concatBytes } from './octets.js';
import {
  CATEGORY,
  FIELD_CODE,
  HAS_USER_INFO,
  LAYOUT,
  MAX_ACTIVITY_ID,
  MAX_ADDITIONAL_REFERENCE,
  MAX_REFERENCE,
  MAX_SSEL,
  PI,
  SI,
} from './spdu-codes.js';
import type { TopField } from './spdu-codes.js';
import { checkLength, liBytes, octetValue, serialBytes, unit } from './spdu-params.js';
import type { ConnectAcceptItem, EncodeOptions, Linking, Spdu } from './spdu.js';

type Bytes = Uint8Array;

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
