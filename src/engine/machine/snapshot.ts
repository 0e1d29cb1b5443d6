// MachineSnapshot: everything a session needs to go on elsewhere, on another node after this one
// died or in this process after a restart. Plain data (Uint8Arrays included); the store layer
// serialises it, so its shape is a stored format: change it only with a new `v` and a migration.
// Taken write-ahead (before the frames it describes leave), a snapshot lets a restored machine
// answer the peer's RESUME with nothing lost or duplicated. Each part of the machine exports and
// imports its own slice (handshake: identity and agreement; flow: counts and frames; dialogue).

import type { DialogueState } from './dialogue.js';
import type { FlowState } from './flow.js';
import type { Agreement } from './handshake.js';
import type { Role } from './transitions.js';

export interface MachineSnapshot extends FlowState {
  v: 1;
  role: Role;
  sessionId: Uint8Array;
  resumeSecret: Uint8Array;
  agreement: Agreement;
  /** Sent at least once, not acknowledged: replayed after a resume. */
  replay: FlowState['replay'];
  /** Accepted from the application, not sent yet. */
  queued: FlowState['queued'];
  reauthPending: boolean;
  dialogue: DialogueState;
}
