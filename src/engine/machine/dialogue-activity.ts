// Sending, for activities: start, resume, interrupt, discard and end, with their confirmations
// (see dialogue.ts for the rules). Starting or resuming an activity sets the serial numbers anew;
// interrupting or discarding one wins over a pending major sync point (cancelled) and drops normal
// and typed data not yet on the wire; ending one is a major sync point that also closes it.

import { MAX_SERIAL } from '../frames.js';
import type { Dialogue } from './dialogue.js';
import { check, checkActivityId, checkReason, err, nextSerial } from './dialogue-guards.js';

export function startActivity(d: Dialogue, activityId: Uint8Array, userData: Uint8Array): void {
  check(d, 'startActivity', { args: () => checkActivityId(activityId, 'an activity ID') });
  d.activity = activityId;
  d.vm = d.va = d.vr = 1;
  d.minorToConfirm = null; // a new serial space: nothing from before can be confirmed in it
  d.host.queueSessionFrame({ type: 'ACTIVITY_START', activityId, userData });
}

export function resumeActivity(
  d: Dialogue,
  activityId: Uint8Array,
  oldActivityId: Uint8Array,
  serial: number,
  userData: Uint8Array,
): void {
  check(d, 'resumeActivity', {
    args: () => {
      checkActivityId(activityId, 'an activity ID');
      checkActivityId(oldActivityId, 'the old activity ID');
      if (!Number.isInteger(serial) || serial < 0 || serial >= MAX_SERIAL)
        throw err('ERR_INVALID_ARGUMENT', `the resumed serial must be 0 to ${MAX_SERIAL - 1}`, { serial });
    },
  });
  d.activity = activityId;
  d.vm = d.va = serial + 1;
  d.vr = 1;
  d.minorToConfirm = null;
  d.host.queueSessionFrame({ type: 'ACTIVITY_RESUME', activityId, oldActivityId, serial, userData });
}

export function interruptActivity(d: Dialogue, discard: boolean, reason: number): void {
  check(d, discard ? 'discardActivity' : 'interruptActivity', { args: () => checkReason(reason) });
  const l = d.pendingLocal?.kind;
  const by = discard ? 'activity-discard' : 'activity-interrupt';
  if (l) d.cancel('local', by);
  d.pendingLocal = { kind: by };
  d.exceptionPending = false;
  // The interrupt voids the activity's unconfirmed minor sync points on both sides (the peer
  // drops its own when the interrupt arrives): confirming one later would name a serial of
  // the interrupted activity, which the peer no longer counts.
  d.minorToConfirm = null;
  d.host.purgeOutgoingData();
  d.host.queueSessionFrame(discard ? { type: 'ACTIVITY_DISCARD', reason } : { type: 'ACTIVITY_INTERRUPT', reason });
}

export function confirmActivityInterrupt(d: Dialogue, discard: boolean): void {
  check(d, discard ? 'confirmActivityDiscard' : 'confirmActivityInterrupt');
  d.pendingRemote = null;
  d.activity = null;
  d.exceptionPending = false;
  d.host.queueSessionFrame(discard ? { type: 'ACTIVITY_DISCARD_ACK' } : { type: 'ACTIVITY_INTERRUPT_ACK' });
}

export function endActivity(d: Dialogue, userData: Uint8Array): number {
  check(d, 'endActivity');
  const serial = nextSerial(d);
  d.pendingLocal = { kind: 'activity-end', serial };
  d.host.queueSessionFrame({ type: 'ACTIVITY_END', serial, userData });
  return serial;
}

export function confirmActivityEnd(d: Dialogue, userData: Uint8Array): number {
  check(d, 'confirmActivityEnd');
  const { serial } = d.pendingRemote as { serial: number }; // the row checked its kind
  d.pendingRemote = null;
  d.activity = null;
  d.va = d.vr = d.vm;
  d.minorToConfirm = null;
  d.host.queueSessionFrame({ type: 'ACTIVITY_END_ACK', serial, userData });
  return serial;
}
