// Sending, for synchronization: minor and major sync points, their confirmations, and
// resynchronize (see dialogue.ts for the serial numbers V(M), V(A), V(R) and the collision
// table). A sync point takes V(M) when it is issued; the peer counts it when it arrives, so both
// sides stay in lock step. Resynchronize cancels what it supersedes on both sides and drops normal
// and typed data not yet on the wire.

import { MAX_SERIAL, ResyncType } from '../frames.js';
import type { ResyncTypeValue, TokenSet } from '../frames.js';
import type { Dialogue, Pending } from './dialogue.js';
import { check, err, nextSerial, noSuchToken } from './dialogue-guards.js';
import { settingFor, tokenNames } from './tokens.js';

export function syncMinor(d: Dialogue, confirm: boolean, userData: Uint8Array): number {
  check(d, 'syncMinor');
  const serial = nextSerial(d);
  d.host.queueSessionFrame({ type: 'MINOR_SYNC', serial, confirm, userData });
  return serial;
}

/**
 * Confirms the peer's latest minor sync point that asked for confirmation, or, given `upTo`, an
 * earlier point (X.225: the response names a serial in V(A)..the latest; confirming it confirms
 * every point before it). A receiver that makes its points durable in order confirms each as it
 * gets there while later ones keep arriving; the latest stays to be confirmed.
 */
export function confirmMinorSync(d: Dialogue, userData: Uint8Array, upTo?: number): number {
  check(d, 'confirmMinorSync');
  const latest = d.minorToConfirm as number; // the row checked it is set
  const serial = upTo ?? latest;
  if (!Number.isInteger(serial) || serial < d.va || serial > latest)
    throw err(
      'ERR_INVALID_ARGUMENT',
      `no minor sync point ${serial} to confirm: the unconfirmed ones are ${d.va}..${latest}`,
      {
        serial,
        first: d.va,
        latest,
      },
    );
  if (serial === latest) d.minorToConfirm = null;
  d.va = Math.max(d.va, serial + 1);
  d.host.queueSessionFrame({ type: 'MINOR_SYNC_ACK', serial, userData });
  return serial;
}

export function syncMajor(d: Dialogue, userData: Uint8Array): number {
  check(d, 'syncMajor');
  const serial = nextSerial(d);
  d.pendingLocal = { kind: 'sync-major', serial };
  d.host.queueSessionFrame({ type: 'MAJOR_SYNC', serial, userData });
  return serial;
}

export function confirmMajorSync(d: Dialogue, userData: Uint8Array): number {
  check(d, 'confirmMajorSync');
  const { serial } = d.pendingRemote as { serial: number }; // the row checked its kind
  d.pendingRemote = null;
  d.va = d.vr = d.vm;
  d.minorToConfirm = null; // confirmed with the major sync point
  d.host.queueSessionFrame({ type: 'MAJOR_SYNC_ACK', serial, userData });
  return serial;
}

export function resynchronize(
  d: Dialogue,
  type: ResyncTypeValue,
  serialArg: number | undefined,
  heldAfter: TokenSet | undefined,
  userData: Uint8Array,
): number {
  let serial = 0;
  const after = heldAfter ?? d.held;
  check(d, 'resynchronize', {
    args: () => {
      serial = resyncSerial(d, type, serialArg);
      for (const name of tokenNames(after & ~d.available)) throw noSuchToken(name);
    },
  });
  const l = d.pendingLocal?.kind;
  const r = d.pendingRemote?.kind;
  if (l) d.cancel('local', 'resync');
  if (r) d.cancel('remote', 'resync');
  const setting = settingFor(after, d.available, d.cfg.isInitiator);
  d.pendingLocal = { kind: 'resync', type, serial, setting };
  d.minorToConfirm = null;
  d.host.purgeOutgoingData();
  d.host.queueSessionFrame({ type: 'RESYNC', resyncType: type, serial, tokenSetting: setting, userData });
  return serial;
}

/** The serial a resynchronize of `type` goes to: the one given, checked, or the default. */
function resyncSerial(d: Dialogue, type: ResyncTypeValue, serialArg: number | undefined): number {
  if (serialArg !== undefined && !Number.isInteger(serialArg))
    throw err('ERR_INVALID_ARGUMENT', 'a serial number is an integer', { serial: serialArg });
  if (type === ResyncType.abandon) {
    const serial = serialArg ?? d.vm;
    if (serial < d.vm || serial > MAX_SERIAL)
      throw err('ERR_INVALID_ARGUMENT', `abandon moves to a serial from ${d.vm} to ${MAX_SERIAL}`, { serial });
    return serial;
  }
  if (type === ResyncType.restart) {
    const serial = serialArg ?? d.va; // by default, back to the point after the last confirmed one
    if (serial < d.vr || serial > d.vm)
      throw err('ERR_INVALID_ARGUMENT', `restart goes back to a serial from ${d.vr} to ${d.vm}`, { serial });
    return serial;
  }
  if (serialArg === undefined || serialArg < 0 || serialArg > MAX_SERIAL || !Number.isInteger(serialArg)) {
    throw err('ERR_INVALID_ARGUMENT', `set needs a serial from 0 to ${MAX_SERIAL}`, { serial: serialArg });
  }
  return serialArg;
}

export function respondResync(d: Dialogue, userData: Uint8Array): number {
  check(d, 'respondResync');
  const p = d.pendingRemote as Extract<Pending, { kind: 'resync' }>; // the row checked its kind
  d.pendingRemote = null;
  d.applyResync(p.type, p.serial, p.setting);
  d.host.queueSessionFrame({ type: 'RESYNC_ACK', serial: p.serial, tokenSetting: p.setting, userData });
  return p.serial;
}
