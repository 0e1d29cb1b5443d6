// Sending, for synchronization: minor and major sync points, their confirmations, and
// resynchronize (see dialogue.ts for the serial numbers V(M), V(A), V(R) and the collision
// table). A sync point takes V(M) when it is issued; the peer counts it when it arrives, so both
// sides stay in lock step. Resynchronize cancels what it supersedes on both sides and drops normal
// and typed data not yet on the wire.

import { MAX_SERIAL, ResyncType, Token } from '../frames.js';
import type { ResyncTypeValue, TokenSet } from '../frames.js';
import type { Dialogue } from './dialogue.js';
import {
  confirmPending, err, flowOpen, need, needActivity, needTokens, nextSerial, noSuchToken, notReleasing, responseRequired,
} from './dialogue-guards.js';
import { settingFor, tokenNames } from './tokens.js';

export function syncMinor(d: Dialogue, confirm: boolean, userData: Uint8Array): number {
  need(d, 'minorSync');
  needTokens(d, Token.minorSync | (d.available & Token.data));
  needActivity(d, true);
  flowOpen(d);
  const serial = nextSerial(d);
  d.host.send({ type: 'MINOR_SYNC', serial, confirm, userData });
  return serial;
}

export function confirmMinorSync(d: Dialogue, userData: Uint8Array): number {
  const serial = d.minorToConfirm;
  if (serial === null) throw err('ERR_NOTHING_TO_CONFIRM', 'no minor sync point awaits confirmation');
  d.minorToConfirm = null;
  d.va = Math.max(d.va, serial + 1);
  d.host.send({ type: 'MINOR_SYNC_ACK', serial, userData });
  return serial;
}

export function syncMajor(d: Dialogue, userData: Uint8Array): number {
  need(d, 'majorSync');
  needTokens(d, d.dialogueTokens);
  needActivity(d, true);
  flowOpen(d);
  const serial = nextSerial(d);
  d.pendingLocal = { kind: 'sync-major', serial };
  d.host.send({ type: 'MAJOR_SYNC', serial, userData });
  return serial;
}

export function confirmMajorSync(d: Dialogue, userData: Uint8Array): number {
  const p = d.pendingRemote;
  if (p?.kind !== 'sync-major') throw err('ERR_NOTHING_TO_CONFIRM', 'no major sync point awaits confirmation');
  d.pendingRemote = null;
  d.va = d.vr = d.vm;
  d.minorToConfirm = null; // confirmed with the major sync point
  d.host.send({ type: 'MAJOR_SYNC_ACK', serial: p.serial, userData });
  return p.serial;
}

export function resynchronize(d: Dialogue, type: ResyncTypeValue, serialArg: number | undefined, heldAfter: TokenSet | undefined, userData: Uint8Array): number {
  need(d, 'resynchronize');
  notReleasing(d);
  const l = d.pendingLocal?.kind;
  if (l && l !== 'sync-major') throw confirmPending(l);
  const r = d.pendingRemote?.kind;
  if (r === 'resync' || r === 'activity-interrupt' || r === 'activity-discard' || r === 'release') {
    throw responseRequired(r);
  }
  let serial: number;
  if (serialArg !== undefined && !Number.isInteger(serialArg)) throw err('ERR_INVALID_ARGUMENT', 'a serial number is an integer', { serial: serialArg });
  if (type === ResyncType.abandon) {
    serial = serialArg ?? d.vm;
    if (serial < d.vm || serial > MAX_SERIAL) throw err('ERR_INVALID_ARGUMENT', `abandon moves to a serial from ${d.vm} to ${MAX_SERIAL}`, { serial });
  } else if (type === ResyncType.restart) {
    serial = serialArg ?? d.va; // by default, back to the point after the last confirmed one
    if (serial < d.vr || serial > d.vm) throw err('ERR_INVALID_ARGUMENT', `restart goes back to a serial from ${d.vr} to ${d.vm}`, { serial });
  } else {
    if (serialArg === undefined || serialArg < 0 || serialArg > MAX_SERIAL || !Number.isInteger(serialArg)) {
      throw err('ERR_INVALID_ARGUMENT', `set needs a serial from 0 to ${MAX_SERIAL}`, { serial: serialArg });
    }
    serial = serialArg;
  }
  const after = heldAfter ?? d.held;
  for (const name of tokenNames(after & ~d.available)) {
    throw noSuchToken(name);
  }
  if (l) d.cancel('local', 'resync');
  if (r) d.cancel('remote', 'resync');
  const setting = settingFor(after, d.available, d.cfg.isInitiator);
  d.pendingLocal = { kind: 'resync', type, serial, setting };
  d.minorToConfirm = null;
  d.host.purgeOutgoingData();
  d.host.send({ type: 'RESYNC', resyncType: type, serial, tokenSetting: setting, userData });
  return serial;
}

export function respondResync(d: Dialogue, userData: Uint8Array): number {
  const p = d.pendingRemote;
  if (p?.kind !== 'resync') throw err('ERR_NOTHING_TO_CONFIRM', 'no resynchronize awaits an answer');
  d.pendingRemote = null;
  d.applyResync(p.type, p.serial, p.setting);
  d.host.send({ type: 'RESYNC_ACK', serial: p.serial, tokenSetting: p.setting, userData });
  return p.serial;
}
