// How `colloquy iso` prints what it sees (./iso-command.ts): one record per SPDU, COTP connect
// confirm or session event, printed as one text line ('<prefix>SPDU key=value ...') or, with
// --json, as one JSON object per line. Octets print as plain hex, sets and lists comma-separated,
// an empty value as '-'.

import type { Writable } from 'node:stream';
import { toHex } from '../engine/bytes.js';
import { Token, TOKEN_NAMES, Unit } from '../engine/frames.js';
import type { UnitName } from '../engine/frames.js';
import type { SessionEvent } from '../engine/machine/index.js';
import { describeAbortBits } from '../iso/frame-map.js';
import { REFUSE_REASONS } from '../iso/spdu-codes.js';
import type { Spdu } from '../iso/spdu.js';
import type { IsoSession } from '../iso/runtime.js';

export const hex = (b: Uint8Array | undefined): string => (b && b.length ? toHex(b) : '');

function unitNames(req: number | undefined): string[] {
  return req === undefined ? [] : (Object.keys(Unit) as UnitName[]).filter((n) => req & Unit[n]);
}

function tokenPositions(setting: number | undefined, units: number | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (setting === undefined || units === undefined) return out;
  for (const name of TOKEN_NAMES) {
    const shift = 31 - Math.clz32(Token[name]);
    const exists =
      name === 'data'
        ? units & Unit.halfDuplex
        : name === 'minorSync'
          ? units & Unit.minorSync
          : name === 'release'
            ? units & Unit.negotiatedRelease
            : units & (Unit.majorSync | Unit.activities);
    if (exists) out[name] = ['initiator', 'acceptor', 'acceptor-chooses', 'reserved'][(setting >> shift) & 3]!;
  }
  return out;
}

/** An SPDU of the connect exchange as one record: what the CLI prints. */
export function describeSpdu(s: Spdu): Record<string, unknown> {
  const item = s.connectAccept;
  const r: Record<string, unknown> = { spdu: s.type };
  if (item?.versions !== undefined || s.versions !== undefined) r.versions = item?.versions ?? s.versions;
  if (s.requirements !== undefined) {
    r.requirements = `0x${s.requirements.toString(16).padStart(4, '0')}`;
    r.units = unitNames(s.requirements);
    r.tokens = tokenPositions(item?.tokenSetting, s.requirements);
  }
  if (item?.initialSerial !== undefined) r.initialSerial = item.initialSerial;
  if (s.tokens !== undefined) r.tokensRequested = s.tokens;
  if (s.callingSsel) r.callingSsel = hex(s.callingSsel);
  if (s.calledSsel) r.calledSsel = hex(s.calledSsel);
  if (s.reason !== undefined) {
    r.reason = s.reason;
    r.reasonText = REFUSE_REASONS.get(s.reason) ?? 'unknown';
  }
  if (s.transportDisconnect !== undefined) r.transportDisconnect = describeAbortBits(s.transportDisconnect);
  r.userData = hex(s.userData ?? s.extendedUserData);
  return r;
}

function textOf(r: Record<string, unknown>): string {
  return Object.entries(r)
    .map(([k, v]) =>
      k === 'spdu' || k === 'event'
        ? String(v)
        : `${k}=${
            typeof v === 'object'
              ? (Array.isArray(v)
                  ? v.join(',')
                  : Object.entries(v as object)
                      .map(([a, b]) => `${a}:${String(b)}`)
                      .join(',')) || '-'
              : String(v) || '-'
          }`,
    )
    .join(' ');
}

export function eventRecord(e: SessionEvent): Record<string, unknown> {
  if (e.type === 'established') {
    const n = e.negotiated;
    return { event: 'established', mode: n.mode, units: [...n.units], tokens: n.tokens, userData: hex(e.userData) };
  }
  const r: Record<string, unknown> = { event: e.type };
  for (const [k, v] of Object.entries(e)) {
    if (k === 'type') continue;
    if (v instanceof Uint8Array) r[k] = toHex(v);
    else if (v instanceof Error) r[k] = { code: (v as { code?: string }).code, message: v.message };
    else if (v instanceof Set) r[k] = [...(v as Set<unknown>)];
    else r[k] = v;
  }
  return r;
}

export const ccRecord = (c: NonNullable<IsoSession['cotp']>): Record<string, unknown> => ({
  spdu: 'CC',
  tpduSize: c.tpduSize,
  calledTsap: hex(c.calledTsap),
  callingTsap: hex(c.callingTsap),
});

export class Printer {
  constructor(
    private readonly out: Writable,
    readonly json: boolean,
  ) {}
  line(s: string): void {
    this.out.write(`${s}\n`);
  }
  record(prefix: string, r: Record<string, unknown>): void {
    this.line(this.json ? JSON.stringify(r) : `${prefix}${textOf(r)}`);
  }
}
