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

import { SessionError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { MAX_ACTIVITY_ID, MAX_SERIAL, ResyncType, Token, Unit } from '../frames.js';
import type { ResyncTypeValue, SessionFrame, TokenSet, TokenSetting, UnitName, UnitSet } from '../frames.js';
import { receiveFrame } from './dialogue-receive.js';
import type { ConfirmedService, SessionEvent } from './events.js';
import { availableTokens, heldFromSetting, settingFor, TOKEN_UNIT, tokenNames } from './tokens.js';

/** What the dialogue needs from the machine around it. */
export interface DialogueHost {
  send(frame: SessionFrame): void;
  emit(event: SessionEvent): void;
  /** Drop normal and typed data not yet on the wire, reporting it as discarded. */
  purgeOutgoingData(): void;
  violation(message: string, frame: SessionFrame): void;
  /** DISCONNECT received for our FINISH: the session is released. */
  released(userData: Uint8Array): void;
}

export interface DialogueConfig {
  units: UnitSet;
  mode: 'fullDuplex' | 'halfDuplex' | 'simplex';
  isInitiator: boolean;
  simplexSenderIsMe: boolean;
  initialSerial: number;
  tokenSetting: TokenSetting;
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
  exceptionPending: boolean;
  finished: boolean;
}

export type Pending =
  | { kind: 'sync-major' | 'activity-end'; serial: number }
  | { kind: 'resync'; type: ResyncTypeValue; serial: number; setting: TokenSetting }
  | { kind: 'capability' | 'release' | 'give-control' | 'activity-interrupt' | 'activity-discard' };


function err(code: ErrorCode, message: string, details: Record<string, unknown> = {}): SessionError {
  return new SessionError(code, message, 'local', details);
}

export class Dialogue {
  readonly units: UnitSet;
  readonly available: TokenSet;
  /** Tokens that gate data and sync (all but release). */
  private readonly dialogueTokens: TokenSet;
  held: TokenSet;
  vm: number;
  va: number;
  vr: number;
  activity: Uint8Array | null = null;
  pendingLocal: Pending | null = null;
  pendingRemote: Pending | null = null;
  /** Highest minor sync point the peer asked us to confirm. */
  /** @internal */ minorToConfirm: number | null = null;
  /** The peer reported an exception while we hold the data token. */
  exceptionPending = false;
  /** We answered FINISH with DISCONNECT: nothing more may be sent. */
  finished = false;

  /** @internal */ readonly halfDuplex: boolean;
  /** @internal */ readonly activities: boolean;

  constructor(readonly host: DialogueHost, readonly cfg: DialogueConfig) {
    this.units = cfg.units;
    this.available = availableTokens(cfg.units);
    this.dialogueTokens = this.available & ~Token.release;
    this.held = heldFromSetting(cfg.tokenSetting, this.available, cfg.isInitiator);
    this.vm = this.va = cfg.initialSerial;
    this.vr = 0; // X.225: V(R) := 0 at connect, and after abandon or set
    this.halfDuplex = cfg.mode === 'halfDuplex';
    this.activities = (cfg.units & Unit.activities) !== 0;
  }

  /** Everything that changes during the dialogue, for a snapshot (plain data, no functions). */
  exportState(): DialogueState {
    return {
      held: this.held, vm: this.vm, va: this.va, vr: this.vr, activity: this.activity,
      pendingLocal: this.pendingLocal, pendingRemote: this.pendingRemote,
      minorToConfirm: this.minorToConfirm, exceptionPending: this.exceptionPending, finished: this.finished,
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
    this.exceptionPending = s.exceptionPending;
    this.finished = s.finished;
  }

  /** Whether incoming normal data is past a point we are moving away from. */
  get discarding(): boolean {
    const k = this.pendingLocal?.kind;
    return k === 'resync' || k === 'activity-interrupt' || k === 'activity-discard';
  }

  // ---- guards ---------------------------------------------------------------------------

  private need(unit: UnitName): void {
    if (!(this.units & Unit[unit])) throw err('ERR_UNIT_NOT_SELECTED', `the ${unit} functional unit was not negotiated`, { unit });
  }

  private needTokens(tokens: TokenSet): void {
    for (const name of tokenNames(tokens & this.available)) {
      if (!(this.held & Token[name])) throw err('ERR_TOKEN_NOT_HELD', `this needs the ${name} token, which the peer holds`, { token: name });
    }
  }

  private noPending(): void {
    if (this.pendingLocal) throw err('ERR_CONFIRM_PENDING', `waiting for the peer to confirm ${this.pendingLocal.kind}`, { pending: this.pendingLocal.kind });
    if (this.pendingRemote) throw err('ERR_RESPONSE_REQUIRED', `answer the peer's ${this.pendingRemote.kind} first`, { pending: this.pendingRemote.kind });
  }

  private needActivity(inside: boolean): void {
    if (!this.activities) return;
    if (inside && !this.activity) throw err('ERR_ACTIVITY_REQUIRED', 'with the activities unit, this needs an activity in progress');
    if (!inside && this.activity) throw err('ERR_ACTIVITY_IN_PROGRESS', 'this is only allowed outside an activity');
  }

  /** Normal flow (data, typed data, sync points) is open. */
  private flowOpen(): void {
    if (this.finished) throw err('ERR_INVALID_STATE', 'the session is being released', { state: 'releasing' });
    const l = this.pendingLocal?.kind;
    if (l === 'sync-major' || l === 'activity-end') throw err('ERR_SYNC_PENDING', `no new data until the peer confirms ${l}`, { pending: l });
    if (l) throw err('ERR_CONFIRM_PENDING', `waiting for the peer to confirm ${l}`, { pending: l });
    const r = this.pendingRemote?.kind;
    if (r && r !== 'release' && r !== 'capability') throw err('ERR_RESPONSE_REQUIRED', `answer the peer's ${r} first`, { pending: r });
    if (this.exceptionPending) throw err('ERR_EXCEPTION_PENDING', 'the peer reported an exception; give the data token, resynchronize, or interrupt or discard the activity');
  }

  private nextSerial(): number {
    if (this.vm > MAX_SERIAL) throw err('ERR_INVALID_ARGUMENT', `serial numbers are exhausted (max ${MAX_SERIAL}); resynchronize with set`, { serial: this.vm });
    return this.vm++;
  }

  // ---- data -----------------------------------------------------------------------------

  /** Checks that normal data may be sent now (the machine queues the frame). */
  checkData(): void {
    if (this.halfDuplex) this.needTokens(Token.data);
    else if (this.cfg.mode === 'simplex' && !this.cfg.simplexSenderIsMe) throw err('ERR_NOT_SENDER', 'in simplex mode only the peer sends normal data');
    this.needActivity(true);
    this.flowOpen();
  }

  checkTyped(): void {
    this.need('typedData');
    this.flowOpen();
  }

  checkExpedited(): void {
    this.need('expedited');
    if (this.finished) throw err('ERR_INVALID_STATE', 'the session is being released', { state: 'releasing' });
  }

  sendCapability(payload: Uint8Array): void {
    this.need('capabilityData');
    this.needActivity(false);
    this.needTokens(this.dialogueTokens);
    this.noPending();
    this.pendingLocal = { kind: 'capability' };
    this.host.send({ type: 'CAPABILITY', payload });
  }

  confirmCapability(payload: Uint8Array): void {
    if (this.pendingRemote?.kind !== 'capability') throw err('ERR_NOTHING_TO_CONFIRM', 'no capability data awaits confirmation');
    this.pendingRemote = null;
    this.host.send({ type: 'CAPABILITY_ACK', payload });
  }

  // ---- tokens ---------------------------------------------------------------------------

  private checkTokenArg(tokens: TokenSet): void {
    if (tokens === 0 || (tokens & ~(Token.data | Token.minorSync | Token.majorActivity | Token.release)) !== 0) {
      throw err('ERR_INVALID_ARGUMENT', 'name at least one token', { tokens });
    }
    for (const name of tokenNames(tokens)) {
      if (!(this.available & Token[name])) throw err('ERR_UNIT_NOT_SELECTED', `the ${name} token does not exist: the ${TOKEN_UNIT[name]} unit was not negotiated`, { unit: TOKEN_UNIT[name], token: name });
    }
  }

  giveTokens(tokens: TokenSet): void {
    this.checkTokenArg(tokens);
    this.needTokens(tokens);
    this.noPending();
    this.held &= ~tokens;
    if (tokens & Token.data) this.exceptionPending = false;
    this.host.send({ type: 'GIVE_TOKENS', tokens });
  }

  pleaseTokens(tokens: TokenSet, userData: Uint8Array): void {
    this.checkTokenArg(tokens);
    if (this.pendingLocal?.kind === 'resync') throw err('ERR_CONFIRM_PENDING', 'token positions are being reassigned by our resynchronize', { pending: 'resync' });
    for (const name of tokenNames(tokens)) {
      if (this.held & Token[name]) throw err('ERR_TOKEN_HELD', `this side already holds the ${name} token`, { token: name });
    }
    if (this.finished) throw err('ERR_INVALID_STATE', 'the session is being released', { state: 'releasing' });
    this.host.send({ type: 'PLEASE_TOKENS', tokens, userData });
  }

  giveControl(): void {
    this.need('activities');
    this.needActivity(false);
    // Holding the major/activity token is what keeps the peer from starting an activity meanwhile.
    this.needTokens(Token.majorActivity);
    this.noPending();
    this.held = 0;
    this.exceptionPending = false;
    this.pendingLocal = { kind: 'give-control' };
    this.host.send({ type: 'GIVE_CONTROL' });
  }

  // ---- synchronization ------------------------------------------------------------------

  syncMinor(confirm: boolean, userData: Uint8Array): number {
    this.need('minorSync');
    this.needTokens(Token.minorSync | (this.available & Token.data));
    this.needActivity(true);
    this.flowOpen();
    const serial = this.nextSerial();
    this.host.send({ type: 'MINOR_SYNC', serial, confirm, userData });
    return serial;
  }

  confirmMinorSync(userData: Uint8Array): number {
    const serial = this.minorToConfirm;
    if (serial === null) throw err('ERR_NOTHING_TO_CONFIRM', 'no minor sync point awaits confirmation');
    this.minorToConfirm = null;
    this.va = Math.max(this.va, serial + 1);
    this.host.send({ type: 'MINOR_SYNC_ACK', serial, userData });
    return serial;
  }

  syncMajor(userData: Uint8Array): number {
    this.need('majorSync');
    this.needTokens(this.dialogueTokens);
    this.needActivity(true);
    this.flowOpen();
    const serial = this.nextSerial();
    this.pendingLocal = { kind: 'sync-major', serial };
    this.host.send({ type: 'MAJOR_SYNC', serial, userData });
    return serial;
  }

  confirmMajorSync(userData: Uint8Array): number {
    const p = this.pendingRemote;
    if (p?.kind !== 'sync-major') throw err('ERR_NOTHING_TO_CONFIRM', 'no major sync point awaits confirmation');
    this.pendingRemote = null;
    this.va = this.vr = this.vm;
    this.minorToConfirm = null; // confirmed with the major sync point
    this.host.send({ type: 'MAJOR_SYNC_ACK', serial: p.serial, userData });
    return p.serial;
  }

  resynchronize(type: ResyncTypeValue, serialArg: number | undefined, heldAfter: TokenSet | undefined, userData: Uint8Array): number {
    this.need('resynchronize');
    if (this.finished) throw err('ERR_INVALID_STATE', 'the session is being released', { state: 'releasing' });
    const l = this.pendingLocal?.kind;
    if (l && l !== 'sync-major') throw err('ERR_CONFIRM_PENDING', `waiting for the peer to confirm ${l}`, { pending: l });
    const r = this.pendingRemote?.kind;
    if (r === 'resync' || r === 'activity-interrupt' || r === 'activity-discard' || r === 'release') {
      throw err('ERR_RESPONSE_REQUIRED', `answer the peer's ${r} first`, { pending: r });
    }
    let serial: number;
    if (serialArg !== undefined && !Number.isInteger(serialArg)) throw err('ERR_INVALID_ARGUMENT', 'a serial number is an integer', { serial: serialArg });
    if (type === ResyncType.abandon) {
      serial = serialArg ?? this.vm;
      if (serial < this.vm || serial > MAX_SERIAL) throw err('ERR_INVALID_ARGUMENT', `abandon moves to a serial from ${this.vm} to ${MAX_SERIAL}`, { serial });
    } else if (type === ResyncType.restart) {
      serial = serialArg ?? this.va; // by default, back to the point after the last confirmed one
      if (serial < this.vr || serial > this.vm) throw err('ERR_INVALID_ARGUMENT', `restart goes back to a serial from ${this.vr} to ${this.vm}`, { serial });
    } else {
      if (serialArg === undefined || serialArg < 0 || serialArg > MAX_SERIAL || !Number.isInteger(serialArg)) {
        throw err('ERR_INVALID_ARGUMENT', `set needs a serial from 0 to ${MAX_SERIAL}`, { serial: serialArg });
      }
      serial = serialArg;
    }
    const after = heldAfter ?? this.held;
    for (const name of tokenNames(after & ~this.available)) {
      throw err('ERR_UNIT_NOT_SELECTED', `the ${name} token does not exist: the ${TOKEN_UNIT[name]} unit was not negotiated`, { unit: TOKEN_UNIT[name], token: name });
    }
    if (l) this.cancel('local', 'resync');
    if (r) this.cancel('remote', 'resync');
    const setting = settingFor(after, this.available, this.cfg.isInitiator);
    this.pendingLocal = { kind: 'resync', type, serial, setting };
    this.minorToConfirm = null;
    this.host.purgeOutgoingData();
    this.host.send({ type: 'RESYNC', resyncType: type, serial, tokenSetting: setting, userData });
    return serial;
  }

  respondResync(userData: Uint8Array): number {
    const p = this.pendingRemote;
    if (p?.kind !== 'resync') throw err('ERR_NOTHING_TO_CONFIRM', 'no resynchronize awaits an answer');
    this.pendingRemote = null;
    this.applyResync(p.type, p.serial, p.setting);
    this.host.send({ type: 'RESYNC_ACK', serial: p.serial, tokenSetting: p.setting, userData });
    return p.serial;
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
    this.host.emit({ type: 'cancelled', service, side, by });
  }

  // ---- activities -----------------------------------------------------------------------

  private checkActivityId(id: Uint8Array, what: string): void {
    if (id.length < 1 || id.length > MAX_ACTIVITY_ID) throw err('ERR_INVALID_ARGUMENT', `${what} must be 1 to ${MAX_ACTIVITY_ID} bytes`, { length: id.length });
  }

  activityStart(activityId: Uint8Array, userData: Uint8Array): void {
    this.need('activities');
    this.checkActivityId(activityId, 'an activity ID');
    this.needActivity(false);
    this.needTokens(this.dialogueTokens);
    this.noPending();
    this.activity = activityId;
    this.vm = this.va = this.vr = 1;
    this.host.send({ type: 'ACTIVITY_START', activityId, userData });
  }

  activityResume(activityId: Uint8Array, oldActivityId: Uint8Array, serial: number, userData: Uint8Array): void {
    this.need('activities');
    this.checkActivityId(activityId, 'an activity ID');
    this.checkActivityId(oldActivityId, 'the old activity ID');
    if (!Number.isInteger(serial) || serial < 0 || serial >= MAX_SERIAL) throw err('ERR_INVALID_ARGUMENT', `the resumed serial must be 0 to ${MAX_SERIAL - 1}`, { serial });
    this.needActivity(false);
    this.needTokens(this.dialogueTokens);
    this.noPending();
    this.activity = activityId;
    this.vm = this.va = serial + 1;
    this.vr = 1;
    this.host.send({ type: 'ACTIVITY_RESUME', activityId, oldActivityId, serial, userData });
  }

  activityInterrupt(discard: boolean, reason: number): void {
    this.need('activities');
    this.needActivity(true);
    this.needTokens(Token.majorActivity);
    const l = this.pendingLocal?.kind;
    if (l && l !== 'sync-major') throw err('ERR_CONFIRM_PENDING', `waiting for the peer to confirm ${l}`, { pending: l });
    if (this.pendingRemote) throw err('ERR_RESPONSE_REQUIRED', `answer the peer's ${this.pendingRemote.kind} first`, { pending: this.pendingRemote.kind });
    if (!Number.isInteger(reason) || reason < 0 || reason > 255) throw err('ERR_INVALID_ARGUMENT', 'the reason is a byte', { reason });
    const by = discard ? 'activity-discard' : 'activity-interrupt';
    if (l) this.cancel('local', by);
    this.pendingLocal = { kind: by };
    this.exceptionPending = false;
    this.host.purgeOutgoingData();
    this.host.send(discard ? { type: 'ACTIVITY_DISCARD', reason } : { type: 'ACTIVITY_INTERRUPT', reason });
  }

  confirmActivityInterrupt(discard: boolean): void {
    const kind = discard ? 'activity-discard' : 'activity-interrupt';
    if (this.pendingRemote?.kind !== kind) throw err('ERR_NOTHING_TO_CONFIRM', `no ${kind} awaits confirmation`);
    this.pendingRemote = null;
    this.activity = null;
    this.exceptionPending = false;
    this.host.send(discard ? { type: 'ACTIVITY_DISCARD_ACK' } : { type: 'ACTIVITY_INTERRUPT_ACK' });
  }

  activityEnd(userData: Uint8Array): number {
    this.need('activities');
    this.needActivity(true);
    this.needTokens(this.dialogueTokens);
    this.flowOpen();
    const serial = this.nextSerial();
    this.pendingLocal = { kind: 'activity-end', serial };
    this.host.send({ type: 'ACTIVITY_END', serial, userData });
    return serial;
  }

  confirmActivityEnd(userData: Uint8Array): number {
    const p = this.pendingRemote;
    if (p?.kind !== 'activity-end') throw err('ERR_NOTHING_TO_CONFIRM', 'no activity end awaits confirmation');
    this.pendingRemote = null;
    this.activity = null;
    this.va = this.vr = this.vm;
    this.minorToConfirm = null;
    this.host.send({ type: 'ACTIVITY_END_ACK', serial: p.serial, userData });
    return p.serial;
  }

  // ---- exceptions and release -----------------------------------------------------------

  exceptionReport(reason: number, userData: Uint8Array): void {
    this.need('exceptions');
    if (this.held & Token.data) throw err('ERR_TOKEN_HELD', 'only the side without the data token reports exceptions', { token: 'data' });
    if (!Number.isInteger(reason) || reason < 0 || reason > 255) throw err('ERR_INVALID_ARGUMENT', 'the reason is a byte', { reason });
    if (this.finished) throw err('ERR_INVALID_STATE', 'the session is being released', { state: 'releasing' });
    this.host.send({ type: 'EXCEPTION_DATA', reason, userData });
  }

  release(userData: Uint8Array): void {
    this.needActivity(false);
    this.needTokens(this.available);
    this.noPending();
    if (this.exceptionPending) throw err('ERR_EXCEPTION_PENDING', 'the peer reported an exception; give the data token, resynchronize, or abort');
    if (this.finished) throw err('ERR_INVALID_STATE', 'the session is being released', { state: 'releasing' });
    this.pendingLocal = { kind: 'release' };
    this.host.send({ type: 'FINISH', userData });
  }

  respondRelease(accept: boolean, userData: Uint8Array): void {
    if (this.pendingRemote?.kind !== 'release') throw err('ERR_NOTHING_TO_CONFIRM', 'no release request awaits an answer');
    if (!accept) this.need('negotiatedRelease');
    this.pendingRemote = null;
    if (accept) {
      this.finished = true;
      this.host.send({ type: 'DISCONNECT', userData });
    } else {
      this.host.send({ type: 'NOT_FINISHED', userData });
    }
  }

  /** Handles one received session frame. Never throws. */
  receive(f: SessionFrame): void {
    receiveFrame(this, f);
  }
}
