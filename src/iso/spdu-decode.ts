// SPDU decoding: TSDU bytes -> SPDUs (the rules are in ./spdu.ts's header, the types there too).
// Lenient where peers differ and no meaning is lost; throws only ProtocolError.

import { malformed, unknownType } from './octets.js';
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
  SYNC_TYPE_BIT,
  UNSUPPORTED_SI,
} from './spdu-codes.js';
import type { SpduType, TopField } from './spdu-codes.js';
import { bounded, digits, octet, readLi, readUnits, twoOctets } from './spdu-params.js';
import type { Unit } from './spdu-params.js';
import type { ConnectAcceptItem, DecodeOptions, Linking, Reference, Spdu } from './spdu.js';

type Bytes = Uint8Array;

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
