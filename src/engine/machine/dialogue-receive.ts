// Receiving: what a session frame from the peer does to the dialogue (see dialogue.ts for the
// rules and the collision table). Nothing here throws: a frame a correct peer cannot send is
// reported to the host as a protocol violation, and the machine aborts.

import { ResyncType, Token, Unit } from '../frames.js';
import type { ResyncTypeName, ResyncTypeValue, SessionFrame, TokenSetting } from '../frames.js';
import type { Dialogue } from './dialogue.js';
import { heldFromSetting, tokenNames } from './tokens.js';

export const RESYNC_NAMES: Record<number, ResyncTypeName> = { 0: 'restart', 1: 'abandon', 2: 'set' };
const RESYNC_RANK: Record<number, number> = { [ResyncType.restart]: 1, [ResyncType.set]: 2, [ResyncType.abandon]: 3 };

// ---- receiving ------------------------------------------------------------------------

export function receiveFrame(d: Dialogue, f: SessionFrame): void {
  const host = d.host;
  switch (f.type) {
    case 'DATA':
      if (acceptData(d, f.payload)) host.emitEvent({ type: 'data', payload: f.payload });
      return;
    case 'TYPED':
      if (!(d.units & Unit.typedData)) return host.dialogueViolation('TYPED without the typed-data unit', f);
      if (d.discarding) return host.emitEvent({ type: 'data-discarded', direction: 'in', payloads: [f.payload] });
      return host.emitEvent({ type: 'typed', payload: f.payload });
    case 'EXPEDITED':
      if (!(d.units & Unit.expedited)) return host.dialogueViolation('EXPEDITED without the expedited unit', f);
      return host.emitEvent({ type: 'expedited', payload: f.payload });
    case 'CAPABILITY':
      if (!(d.units & Unit.capabilityData) || d.activity)
        return host.dialogueViolation('CAPABILITY not allowed now', f);
      if (d.pendingLocal?.kind === 'resync') return; // cancelled by our resync on the peer's side
      d.pendingRemote = { kind: 'capability', userData: f.payload };
      return host.emitEvent({ type: 'capability', payload: f.payload });
    case 'CAPABILITY_ACK':
      if (d.pendingLocal?.kind !== 'capability') return host.dialogueViolation('CAPABILITY_ACK without CAPABILITY', f);
      d.pendingLocal = null;
      return host.emitEvent({ type: 'capability-confirmed', payload: f.payload });
    case 'GIVE_TOKENS':
      if (f.tokens & ~d.available || f.tokens & d.held)
        return host.dialogueViolation('GIVE_TOKENS for a token that does not exist or is already held here', f);
      // Crossing our GIVE_CONTROL: the peer takes every token when that arrives, these too.
      if (d.pendingLocal?.kind === 'give-control') return;
      d.held |= f.tokens;
      return host.emitEvent({ type: 'tokens-given', tokens: tokenNames(f.tokens) });
    case 'PLEASE_TOKENS':
      if (f.tokens & ~d.available) return host.dialogueViolation('PLEASE_TOKENS for a token that does not exist', f);
      return host.emitEvent({ type: 'tokens-requested', tokens: tokenNames(f.tokens), userData: f.userData });
    case 'GIVE_CONTROL':
      if (!d.activities || d.activity) return host.dialogueViolation('GIVE_CONTROL not allowed now', f);
      d.held = d.available;
      host.queueSessionFrame({ type: 'GIVE_CONTROL_ACK' });
      return host.emitEvent({ type: 'control-given' });
    case 'GIVE_CONTROL_ACK':
      if (d.pendingLocal?.kind !== 'give-control')
        return host.dialogueViolation('GIVE_CONTROL_ACK without GIVE_CONTROL', f);
      d.pendingLocal = null;
      return host.emitEvent({ type: 'control-give-confirmed' });
    default:
      return receiveSync(d, f);
  }
}

/**
 * A DATA frame's payload from the peer: true when it goes to the application (the caller hands
 * it over); false when it was dealt with here (a violation, or thrown away while discarding).
 * The frame object is made only for a violation: the runtime's receive path has none.
 */
export function acceptData(d: Dialogue, payload: Uint8Array): boolean {
  const host = d.host;
  if (d.halfDuplex && d.held & Token.data)
    host.dialogueViolation('DATA from the side without the data token', { type: 'DATA', payload });
  else if (d.cfg.mode === 'simplex' && d.cfg.simplexSenderIsMe)
    host.dialogueViolation('DATA from the receiving side of a simplex session', { type: 'DATA', payload });
  else if (d.discarding) host.emitEvent({ type: 'data-discarded', direction: 'in', payloads: [payload] });
  else if (d.activities && !d.activity) host.dialogueViolation('DATA outside an activity', { type: 'DATA', payload });
  else return true;
  return false;
}

function receiveSync(d: Dialogue, f: SessionFrame): void {
  const host = d.host;
  switch (f.type) {
    case 'MINOR_SYNC':
      if (!(d.units & Unit.minorSync) || d.held & Token.minorSync)
        return host.dialogueViolation('MINOR_SYNC from the side without the minor-sync token', f);
      if (f.serial !== d.vm) return host.dialogueViolation(`MINOR_SYNC serial ${f.serial}, expected ${d.vm}`, f);
      // Serials advance even past the point, so both sides agree if our resync is cancelled.
      d.vm = f.serial + 1;
      if (d.discarding) return;
      if (f.confirm) {
        d.minorToConfirm = f.serial;
        d.minorUserData = f.userData;
      }
      return host.emitEvent({ type: 'sync-minor', serial: f.serial, confirm: f.confirm, userData: f.userData });
    case 'MINOR_SYNC_ACK':
      if (d.discarding) {
        // A confirmation crossing our resync or interrupt: no event (that point was given up),
        // but the peer moved V(A) when it sent this, so follow to keep the same variables.
        if (f.serial < d.vm && f.serial >= d.va) d.va = f.serial + 1;
        return;
      }
      if (f.serial >= d.vm || f.serial < d.va)
        return host.dialogueViolation(
          `MINOR_SYNC_ACK for ${f.serial}, outside the unconfirmed points ${d.va}..${d.vm - 1}`,
          f,
        );
      d.va = Math.max(d.va, f.serial + 1);
      return host.emitEvent({ type: 'sync-minor-confirmed', serial: f.serial, userData: f.userData });
    case 'MAJOR_SYNC':
      if (!(d.units & Unit.majorSync) || d.held & Token.majorActivity)
        return host.dialogueViolation('MAJOR_SYNC from the side without the major/activity token', f);
      if (f.serial !== d.vm) return host.dialogueViolation(`MAJOR_SYNC serial ${f.serial}, expected ${d.vm}`, f);
      d.vm = f.serial + 1;
      if (d.pendingLocal?.kind === 'resync') return; // the peer cancels it when our RESYNC arrives
      d.pendingRemote = { kind: 'sync-major', serial: f.serial, userData: f.userData };
      return host.emitEvent({ type: 'sync-major', serial: f.serial, userData: f.userData });
    case 'MAJOR_SYNC_ACK': {
      const p = d.pendingLocal;
      if (d.discarding) {
        // Our major sync was cancelled by our resync or interrupt, but the peer confirmed it
        // first and moved V(A) and V(R): follow, so that both sides keep the same variables.
        d.va = d.vr = f.serial + 1;
        return;
      }
      if (p?.kind !== 'sync-major' || p.serial !== f.serial)
        return host.dialogueViolation('MAJOR_SYNC_ACK without a matching MAJOR_SYNC', f);
      d.pendingLocal = null;
      d.va = d.vr = d.vm;
      return host.emitEvent({ type: 'sync-major-confirmed', serial: f.serial, userData: f.userData });
    }
    case 'RESYNC':
      return receiveResync(d, f.resyncType, f.serial, f.tokenSetting, f.userData, f);
    case 'RESYNC_ACK': {
      const p = d.pendingLocal;
      if (p?.kind !== 'resync' || p.serial !== f.serial || p.setting !== f.tokenSetting)
        return host.dialogueViolation('RESYNC_ACK without a matching RESYNC', f);
      d.pendingLocal = null;
      d.applyResync(p.type, p.serial, p.setting);
      return host.emitEvent({
        type: 'resync-complete',
        serial: p.serial,
        tokens: tokenNames(d.held),
        userData: f.userData,
      });
    }
    default:
      return receiveActivity(d, f);
  }
}

function receiveResync(
  d: Dialogue,
  type: ResyncTypeValue,
  serial: number,
  setting: TokenSetting,
  userData: Uint8Array,
  f: SessionFrame,
): void {
  const host = d.host;
  if (!(d.units & Unit.resynchronize)) return host.dialogueViolation('RESYNC without the resynchronize unit', f);
  const mine = d.pendingLocal;
  if (mine?.kind === 'activity-interrupt' || mine?.kind === 'activity-discard') return; // interrupt wins
  if (mine?.kind === 'resync') {
    if (wins(d, mine.type, mine.serial, type, serial)) return;
    d.cancel('local', 'resync');
  } else if (mine && mine.kind !== 'give-control') {
    if (
      mine.kind === 'activity-end' ||
      mine.kind === 'sync-major' ||
      mine.kind === 'capability' ||
      mine.kind === 'release'
    )
      d.cancel('local', 'resync');
  }
  if (d.pendingRemote) {
    if (d.pendingRemote.kind === 'resync' || d.pendingRemote.kind === 'release')
      return host.dialogueViolation('RESYNC while the peer awaits our answer', f);
    d.cancel('remote', 'resync');
  }
  host.purgeOutgoingData();
  d.minorToConfirm = null;
  d.pendingRemote = { kind: 'resync', type, serial, setting, userData };
  host.emitEvent({
    type: 'resync',
    resyncType: RESYNC_NAMES[type] ?? 'restart',
    serial,
    tokens: tokenNames(heldFromSetting(setting, d.available, d.cfg.isInitiator)),
    userData,
  });
}

/** Whether our resynchronize beats the peer's when both were sent at once. */
function wins(
  d: Dialogue,
  myType: ResyncTypeValue,
  mySerial: number,
  theirType: ResyncTypeValue,
  theirSerial: number,
): boolean {
  const a = RESYNC_RANK[myType] ?? 0;
  const b = RESYNC_RANK[theirType] ?? 0;
  if (a !== b) return a > b;
  if (myType === ResyncType.restart && mySerial !== theirSerial) return mySerial < theirSerial;
  return d.cfg.isInitiator;
}

function receiveActivity(d: Dialogue, f: SessionFrame): void {
  const host = d.host;
  switch (f.type) {
    case 'ACTIVITY_START':
    case 'ACTIVITY_RESUME':
      if (!d.activities || d.activity || d.held & Token.majorActivity)
        return host.dialogueViolation(`${f.type} not allowed now`, f);
      d.activity = f.activityId;
      d.minorToConfirm = null; // a new serial space
      if (f.type === 'ACTIVITY_START') {
        d.vm = d.va = d.vr = 1;
        return host.emitEvent({ type: 'activity-start', activityId: f.activityId, userData: f.userData });
      }
      d.vm = d.va = f.serial + 1;
      d.vr = 1;
      return host.emitEvent({
        type: 'activity-resume',
        activityId: f.activityId,
        oldActivityId: f.oldActivityId,
        serial: f.serial,
        userData: f.userData,
      });
    case 'ACTIVITY_INTERRUPT':
    case 'ACTIVITY_DISCARD': {
      if (!d.activity || d.held & Token.majorActivity) return host.dialogueViolation(`${f.type} not allowed now`, f);
      const by = f.type === 'ACTIVITY_INTERRUPT' ? 'activity-interrupt' : 'activity-discard';
      if (d.pendingLocal?.kind === 'resync') d.cancel('local', by);
      // The peer may interrupt instead of waiting for our answer to its major sync.
      if (d.pendingRemote?.kind === 'sync-major') d.cancel('remote', by);
      if (d.pendingRemote) return host.dialogueViolation(`${f.type} while the peer awaits our answer`, f);
      host.purgeOutgoingData();
      d.minorToConfirm = null;
      d.pendingRemote = { kind: by, reason: f.reason };
      return host.emitEvent(
        f.type === 'ACTIVITY_INTERRUPT'
          ? { type: 'activity-interrupt', reason: f.reason }
          : { type: 'activity-discard', reason: f.reason },
      );
    }
    case 'ACTIVITY_INTERRUPT_ACK':
    case 'ACTIVITY_DISCARD_ACK': {
      const kind = f.type === 'ACTIVITY_INTERRUPT_ACK' ? 'activity-interrupt' : 'activity-discard';
      if (d.pendingLocal?.kind !== kind || !d.activity) return host.dialogueViolation(`${f.type} without a request`, f);
      const id = d.activity;
      d.pendingLocal = null;
      d.activity = null;
      return host.emitEvent(
        kind === 'activity-interrupt'
          ? { type: 'activity-interrupted', activityId: id, serial: d.vm - 1 }
          : { type: 'activity-discarded' },
      );
    }
    case 'ACTIVITY_END':
      if (!d.activity || d.held & Token.majorActivity) return host.dialogueViolation('ACTIVITY_END not allowed now', f);
      if (f.serial !== d.vm) return host.dialogueViolation(`ACTIVITY_END serial ${f.serial}, expected ${d.vm}`, f);
      d.vm = f.serial + 1;
      if (d.pendingLocal?.kind === 'resync') return; // cancelled on the peer by our RESYNC
      d.pendingRemote = { kind: 'activity-end', serial: f.serial, userData: f.userData };
      return host.emitEvent({ type: 'activity-end', serial: f.serial, userData: f.userData });
    case 'ACTIVITY_END_ACK': {
      const p = d.pendingLocal;
      if (p?.kind !== 'activity-end' || p.serial !== f.serial)
        return host.dialogueViolation('ACTIVITY_END_ACK without a matching ACTIVITY_END', f);
      d.pendingLocal = null;
      d.activity = null;
      d.va = d.vr = d.vm;
      return host.emitEvent({ type: 'activity-ended', serial: f.serial, userData: f.userData });
    }
    default:
      return receiveEnd(d, f);
  }
}

function receiveEnd(d: Dialogue, f: SessionFrame): void {
  const host = d.host;
  switch (f.type) {
    case 'EXCEPTION_DATA':
      if (!(d.units & Unit.exceptions)) return host.dialogueViolation('EXCEPTION_DATA without the exceptions unit', f);
      if (d.held & Token.data) d.exceptionPending = true;
      return host.emitEvent({ type: 'exception', from: 'user', reason: f.reason, userData: f.userData, message: '' });
    case 'EXCEPTION_REPORT':
      if (!(d.units & Unit.exceptions))
        return host.dialogueViolation('EXCEPTION_REPORT without the exceptions unit', f);
      return host.emitEvent({
        type: 'exception',
        from: 'provider',
        reason: f.reason,
        userData: new Uint8Array(0),
        message: f.message,
      });
    case 'FINISH': {
      const mine = d.pendingLocal?.kind;
      if (mine === 'resync') return; // cancelled on the peer by our RESYNC
      if (mine === 'release') {
        // Both asked at once (possible only when no tokens exist): the acceptor answers.
        if (d.cfg.isInitiator) return;
        d.pendingLocal = null;
        d.finished = true;
        return host.queueSessionFrame({ type: 'DISCONNECT', userData: new Uint8Array(0) });
      }
      if (d.held & d.available || d.pendingRemote || (d.activities && d.activity))
        return host.dialogueViolation('FINISH not allowed now', f);
      d.pendingRemote = { kind: 'release', userData: f.userData };
      return host.emitEvent({ type: 'release-request', userData: f.userData });
    }
    case 'DISCONNECT':
      if (d.pendingLocal?.kind !== 'release') return host.dialogueViolation('DISCONNECT without FINISH', f);
      d.pendingLocal = null;
      return host.releasedByPeer(f.userData);
    case 'NOT_FINISHED':
      if (d.pendingLocal?.kind !== 'release' || !(d.units & Unit.negotiatedRelease))
        return host.dialogueViolation('NOT_FINISHED not allowed now', f);
      d.pendingLocal = null;
      return host.emitEvent({ type: 'release-refused', userData: f.userData });
    default:
      return host.dialogueViolation(`unexpected ${f.type}`, f);
  }
}
