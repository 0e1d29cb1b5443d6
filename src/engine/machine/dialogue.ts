// The dialogue: X.225's rules for tokens, sync points, resynchronize, activities, exceptions and
// release, for one established session.
//
// Rules of this file:
//   - A local command checks every precondition first and throws a local SessionError naming
//     what is missing (token, unit, pending confirmation); only then does it change state and
//     hand frames to the host. A failed command changes nothing.
//   - A received frame never throws: what a correct peer cannot send is reported to the host as
//     a protocol violation (the machine aborts).
//   - State changes when a frame is *issued* on the sending side and when it is *received* on the
//     other. Because session frames are delivered exactly once and in order (across resumes too),
//     both sides pass through the same states.
//
// Serial numbers follow X.225: V(M) is the next serial to use, V(A) the lowest unconfirmed, V(R)
// the lowest a restart may go back to. Only the holder of the needed token issues sync points,
// so both sides count V(M) in lock step.
//
// Collisions (the only services both sides may start at once are resynchronize, and release
// when no tokens exist):
//   - RESYNC vs RESYNC: abandon beats set beats restart; two restarts: the lower serial wins;
//     otherwise the initiator's wins. The loser treats the winner's as an indication.
//   - RESYNC vs a pending MAJOR_SYNC, ACTIVITY_END, CAPABILITY or FINISH: the resync wins; the
//     other request is cancelled on its sender and ignored on its receiver.
//   - RESYNC vs ACTIVITY_INTERRUPT/DISCARD: the interrupt/discard wins.
//   - FINISH vs FINISH (no tokens exist): the acceptor answers the initiator's with DISCONNECT.
// While a resynchronize or an activity interrupt/discard of ours awaits its answer, incoming
// normal and typed data is past the point and is discarded (reported as `data-discarded`).
//
// Files: this one holds the state, snapshots and the steps both directions share (applyResync,
// cancel); ./preconditions.ts the table of what each local command needs, run by
// ./dialogue-guards.ts; the send side by service group in ./dialogue-services.ts (capability data,
// tokens, exceptions, release), ./dialogue-sync.ts (sync points, resynchronize) and
// ./dialogue-activity.ts (activities); the receive side in ./dialogue-receive.ts. The machine
// calls those functions with this state: there are no forwarding methods here.

import { ResyncType, Token, Unit } from '../frames.js';
import type { ResyncTypeValue, SessionFrame, TokenSet, TokenSetting, UnitSet } from '../frames.js';
import type { ConfirmedService, SessionEvent } from './events.js';
import { availableTokens, heldFromSetting } from './tokens.js';

/**
 * What the dialogue needs from the machine around it: the SessionMachine itself (its methods of
 * these names), so a session keeps no object or closures for it.
 */
export interface DialogueHost {
  queueSessionFrame(frame: SessionFrame): void;
  emitEvent(event: SessionEvent): void;
  /** Drop normal and typed data not yet on the wire, reporting it as discarded. */
  purgeOutgoingData(): void;
  dialogueViolation(message: string, frame: SessionFrame): void;
  /** DISCONNECT received for our FINISH: the session is released. */
  releasedByPeer(userData: Uint8Array): void;
}

export interface DialogueConfig {
  units: UnitSet;
  mode: 'fullDuplex' | 'halfDuplex' | 'simplex';
  isInitiator: boolean;
  simplexSenderIsMe: boolean;
  initialSerial: number;
  tokenSetting: TokenSetting;
}

/** A DialogueConfig with what follows from it, worked out once (shared: ./agreed.ts). */
export interface DialogueSetup extends DialogueConfig {
  available: TokenSet;
  dialogueTokens: TokenSet;
  halfDuplex: boolean;
  activities: boolean;
}

/** `cfg` with what follows from it (tokens available, which gate data, modes), for sharing. */
export function dialogueSetup(cfg: DialogueConfig): DialogueSetup {
  const available = availableTokens(cfg.units);
  return {
    ...cfg,
    available,
    dialogueTokens: available & ~Token.release,
    halfDuplex: cfg.mode === 'halfDuplex',
    activities: (cfg.units & Unit.activities) !== 0,
  };
}

export interface DialogueState {
  held: TokenSet;
  vm: number;
  va: number;
  vr: number;
  activity: Uint8Array | null;
  pendingLocal: Pending | null;
  pendingRemote: Pending | null;
  minorToConfirm: number | null;
  /** The user data of the minor sync point `minorToConfirm` names (absent in older snapshots). */
  minorUserData?: Uint8Array;
  exceptionPending: boolean;
  finished: boolean;
}

/**
 * A request awaiting its answer. The peer's (pendingRemote) keeps what its indication carried
 * (`userData`, `reason`), so that a machine restored from a snapshot on another node can give
 * the indication again to an application that never saw it (./reissue.ts). Absent in snapshots
 * taken before these fields existed: the indication is then given again with empty user data.
 */
export type Pending =
  | { kind: 'sync-major' | 'activity-end'; serial: number; userData?: Uint8Array }
  | { kind: 'resync'; type: ResyncTypeValue; serial: number; setting: TokenSetting; userData?: Uint8Array }
  | { kind: 'capability' | 'release'; userData?: Uint8Array }
  | { kind: 'give-control' }
  | { kind: 'activity-interrupt' | 'activity-discard'; reason?: number };

export class Dialogue {
  held: TokenSet;
  vm: number;
  va: number;
  vr: number;
  activity: Uint8Array | null = null;
  pendingLocal: Pending | null = null;
  pendingRemote: Pending | null = null;
  /**
   * Highest minor sync point the peer asked us to confirm, while we may still confirm it (X.225's
   * Vsc). Voided whenever the peer's V(A) may move past it without our answer: we issue a sync
   * point of our own (nextSerial), a major sync or activity end is confirmed, a resynchronize,
   * or an activity starts, resumes, or is interrupted or discarded.
   */
  /** @internal */ minorToConfirm: number | null = null;
  /** @internal The user data of the point `minorToConfirm` names (meaningless while that is null). */
  minorUserData: Uint8Array | null = null;
  /** The peer reported an exception while we hold the data token. */
  exceptionPending = false;
  /** We answered FINISH with DISCONNECT: nothing more may be sent. */
  finished = false;

  constructor(
    readonly host: DialogueHost,
    readonly cfg: Readonly<DialogueSetup>,
  ) {
    this.held = heldFromSetting(cfg.tokenSetting, cfg.available, cfg.isInitiator);
    this.vm = this.va = cfg.initialSerial;
    this.vr = 0; // X.225: V(R) := 0 at connect, and after abandon or set
  }

  // What follows from the agreement lives in the shared config, not in every session (issue 14).
  get units(): UnitSet {
    return this.cfg.units;
  }
  get available(): TokenSet {
    return this.cfg.available;
  }
  /** @internal Tokens that gate data and sync (all but release). */
  get dialogueTokens(): TokenSet {
    return this.cfg.dialogueTokens;
  }
  /** @internal */ get halfDuplex(): boolean {
    return this.cfg.halfDuplex;
  }
  /** @internal */ get activities(): boolean {
    return this.cfg.activities;
  }

  /** Everything that changes during the dialogue, for a snapshot (plain data, no functions). */
  exportState(): DialogueState {
    return {
      held: this.held,
      vm: this.vm,
      va: this.va,
      vr: this.vr,
      activity: this.activity,
      pendingLocal: this.pendingLocal,
      pendingRemote: this.pendingRemote,
      minorToConfirm: this.minorToConfirm,
      ...(this.minorToConfirm !== null && this.minorUserData ? { minorUserData: this.minorUserData } : {}),
      exceptionPending: this.exceptionPending,
      finished: this.finished,
    };
  }

  importState(s: DialogueState): void {
    this.held = s.held & this.available;
    this.vm = s.vm;
    this.va = s.va;
    this.vr = s.vr;
    this.activity = s.activity;
    this.pendingLocal = s.pendingLocal;
    this.pendingRemote = s.pendingRemote;
    this.minorToConfirm = s.minorToConfirm;
    this.minorUserData = s.minorUserData ?? null;
    this.exceptionPending = s.exceptionPending;
    this.finished = s.finished;
  }

  /** Whether incoming normal data is past a point we are moving away from. */
  get discarding(): boolean {
    const k = this.pendingLocal?.kind;
    return k === 'resync' || k === 'activity-interrupt' || k === 'activity-discard';
  }

  /** @internal */ applyResync(type: ResyncTypeValue, serial: number, setting: TokenSetting): void {
    this.vm = this.va = serial;
    if (type !== ResyncType.restart) this.vr = 0;
    this.held = heldFromSetting(setting, this.available, this.cfg.isInitiator);
    this.exceptionPending = false;
    this.minorToConfirm = null;
  }

  /** Drop the pending request on one side, telling the application. */
  /** @internal */ cancel(side: 'local' | 'remote', by: 'resync' | 'activity-interrupt' | 'activity-discard'): void {
    const p = side === 'local' ? this.pendingLocal : this.pendingRemote;
    if (!p) return;
    if (side === 'local') this.pendingLocal = null;
    else this.pendingRemote = null;
    if (p.kind === 'give-control' || p.kind === 'activity-interrupt' || p.kind === 'activity-discard') return;
    const service: ConfirmedService = p.kind;
    // A cancelled major sync or activity end leaves its serial used; the resync sets it anew.
    this.host.emitEvent({ type: 'cancelled', service, side, by });
  }
}
