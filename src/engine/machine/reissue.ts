// Indications given again: a machine restored from a snapshot (on another node, after the one
// holding the session died) runs beside an application that never saw what the old node's
// application was given. The peer's requests that were received (and counted: the peer will not
// send them again) but not yet answered when the snapshot was taken would wait for an answer
// forever: a major sync point, an activity end, a resynchronize, an activity interrupt or
// discard, capability data, a release, and the latest minor sync point the peer asked to have
// confirmed. The restored machine gives each again, once, right after its first resume, in the
// order X.225 allows them to be outstanding (a minor sync point before the request that follows
// it); the application answers as if it had just arrived.

import type { Dialogue } from './dialogue.js';
import { RESYNC_NAMES } from './dialogue-receive.js';
import type { SessionEvent } from './events.js';
import { heldFromSetting, tokenNames } from './tokens.js';

const EMPTY = new Uint8Array(0);

/** The indications the peer still awaits an answer to, as events (none for a request of ours). */
export function unansweredIndications(d: Dialogue): SessionEvent[] {
  const out: SessionEvent[] = [];
  if (d.minorToConfirm !== null)
    out.push({ type: 'sync-minor', serial: d.minorToConfirm, confirm: true, userData: d.minorUserData ?? EMPTY });
  const p = d.pendingRemote;
  if (p === null) return out;
  switch (p.kind) {
    case 'sync-major':
      out.push({ type: 'sync-major', serial: p.serial, userData: p.userData ?? EMPTY });
      break;
    case 'activity-end':
      out.push({ type: 'activity-end', serial: p.serial, userData: p.userData ?? EMPTY });
      break;
    case 'resync':
      out.push({
        type: 'resync',
        resyncType: RESYNC_NAMES[p.type] ?? 'restart',
        serial: p.serial,
        tokens: tokenNames(heldFromSetting(p.setting, d.available, d.cfg.isInitiator)),
        userData: p.userData ?? EMPTY,
      });
      break;
    case 'capability':
      out.push({ type: 'capability', payload: p.userData ?? EMPTY });
      break;
    case 'release':
      out.push({ type: 'release-request', userData: p.userData ?? EMPTY });
      break;
    case 'activity-interrupt':
    case 'activity-discard':
      out.push({ type: p.kind, reason: p.reason ?? 0 });
      break;
    case 'give-control':
      break; // never the peer's: it needs no answer
  }
  return out;
}
