// SessionMachine: one session, sans I/O (see ./machine-core.ts for the theory of operation).
//
// This file holds the application's side: every command checks what X.225 and the negotiated
// units allow and throws a local SessionError naming what is missing before anything changes;
// the dialogue rules themselves live in ./dialogue.ts. Snapshot and restore let a session go on
// in another machine (another node, a restart).

import { clampUtf8 } from '../bytes.js';
import { SessionError } from '../errors.js';
import { AbortReason, MAX_EXPEDITED, MAX_MESSAGE_BYTES, ResyncType } from '../frames.js';
import type { AbortReasonValue, ResyncTypeName, TokenName } from '../frames.js';
import type { Dialogue } from './dialogue.js';
import { EMPTY, MachineCore, MAX_QUEUED_FRAMES } from './machine-core.js';
import type { MachineSnapshot } from './machine-core.js';
import type { MachineOptions } from './options.js';
import { tokenSetOf } from './tokens.js';

export type { MachineSnapshot, SessionStats } from './machine-core.js';

export class SessionMachine extends MachineCore {
  // ---- commands -------------------------------------------------------------------------

  /**
   * The dialogue, if commands are possible now. A command that starts something new (`initiates`)
   * also needs room in the send queue; answers to the peer always go through.
   */
  protected live(what: string, initiates = true): Dialogue {
    const d = this.dialogue;
    if (!d || this.lifecycle === 'closed' || this.lifecycle === 'idle' || this.lifecycle === 'connecting' || this.lifecycle === 'accepting') throw this.stateError(what);
    if (initiates && (this.outbox.bytes >= this.maxQueue() || this.outbox.frames >= MAX_QUEUED_FRAMES)) {
      this.wantWritable = true;
      throw new SessionError('ERR_SEND_BUFFER_FULL', `the send queue is full (${this.outbox.bytes} bytes, ${this.outbox.frames} frames); wait for 'writable'`, 'local', { queuedBytes: this.outbox.bytes });
    }
    return d;
  }

  sendData(payload: Uint8Array): void {
    const d = this.live('send data');
    this.fitPayload(payload);
    d.checkData();
    this.reserve(payload.length);
    this.queue({ type: 'DATA', payload });
  }

  sendTyped(payload: Uint8Array): void {
    const d = this.live('send typed data');
    this.fitPayload(payload);
    d.checkTyped();
    this.reserve(payload.length);
    this.queue({ type: 'TYPED', payload });
  }

  sendExpedited(payload: Uint8Array): void {
    const d = this.live('send expedited data');
    this.fitPayload(payload, MAX_EXPEDITED);
    d.checkExpedited();
    this.queue({ type: 'EXPEDITED', payload });
  }

  sendCapability(payload: Uint8Array): void { this.live('send capability data').sendCapability(this.fitUserData(payload)); }
  confirmCapability(payload?: Uint8Array): void { this.live('confirm capability data', false).confirmCapability(this.fitUserData(payload)); }
  giveTokens(tokens: readonly TokenName[]): void { this.live('give tokens').giveTokens(tokenSetOf(tokens)); }
  pleaseTokens(tokens: readonly TokenName[], userData?: Uint8Array): void { this.live('ask for tokens').pleaseTokens(tokenSetOf(tokens), this.fitUserData(userData)); }
  giveControl(): void { this.live('give control').giveControl(); }
  syncMinor(options: { confirm?: boolean; userData?: Uint8Array } = {}): number { return this.live('sync').syncMinor(options.confirm ?? false, this.fitUserData(options.userData)); }
  confirmMinorSync(userData?: Uint8Array): number { return this.live('confirm', false).confirmMinorSync(this.fitUserData(userData)); }
  syncMajor(userData?: Uint8Array): number { return this.live('sync').syncMajor(this.fitUserData(userData)); }
  confirmMajorSync(userData?: Uint8Array): number { return this.live('confirm', false).confirmMajorSync(this.fitUserData(userData)); }

  resynchronize(type: ResyncTypeName, options: { serial?: number; tokens?: readonly TokenName[]; userData?: Uint8Array } = {}): number {
    const d = this.live('resynchronize');
    if (!(type in ResyncType)) throw new SessionError('ERR_INVALID_ARGUMENT', `unknown resynchronize type '${type}'`, 'local', { type });
    return d.resynchronize(ResyncType[type], options.serial, options.tokens ? tokenSetOf(options.tokens) : undefined, this.fitUserData(options.userData));
  }

  respondResync(userData?: Uint8Array): number { return this.live('answer resynchronize', false).respondResync(this.fitUserData(userData)); }
  activityStart(activityId: Uint8Array, userData?: Uint8Array): void { this.live('start an activity').activityStart(activityId, this.fitUserData(userData)); }
  activityResume(activityId: Uint8Array, oldActivityId: Uint8Array, serial: number, userData?: Uint8Array): void {
    this.live('resume an activity').activityResume(activityId, oldActivityId, serial, this.fitUserData(userData));
  }
  activityInterrupt(reason = 0): void { this.live('interrupt the activity').activityInterrupt(false, reason); }
  confirmActivityInterrupt(): void { this.live('confirm', false).confirmActivityInterrupt(false); }
  activityDiscard(reason = 0): void { this.live('discard the activity').activityInterrupt(true, reason); }
  confirmActivityDiscard(): void { this.live('confirm', false).confirmActivityInterrupt(true); }
  activityEnd(userData?: Uint8Array): number { return this.live('end the activity').activityEnd(this.fitUserData(userData)); }
  confirmActivityEnd(userData?: Uint8Array): number { return this.live('confirm', false).confirmActivityEnd(this.fitUserData(userData)); }
  exceptionReport(reason: number, userData?: Uint8Array): void { this.live('report an exception').exceptionReport(reason, this.fitUserData(userData)); }
  release(userData?: Uint8Array): void { this.live('release').release(this.fitUserData(userData)); }
  respondRelease(accept: boolean, userData?: Uint8Array): void { this.live('answer the release', false).respondRelease(accept, this.fitUserData(userData)); }

  /**
   * Ends the session locally with `error` (the runtime's own reasons, e.g. ERR_CONNECT_FAILED
   * after the last redial); an ABORT goes to the peer when a transport is up.
   */
  terminate(error: SessionError, notifyPeer = true, reason: AbortReasonValue = AbortReason.user): void {
    if (this.lifecycle === 'closed') return;
    this.fail(error, notifyPeer ? reason : null, 'abort');
  }

  /** The state to go on from elsewhere (see MachineSnapshot). Only for an established session. */
  snapshot(): MachineSnapshot {
    const d = this.dialogue;
    if (!d || !this.agreement || !this.id || !this.secret || this.lifecycle === 'closed') throw this.stateError('take a snapshot');
    return {
      v: 1,
      role: this.role,
      sessionId: this.id,
      resumeSecret: this.secret,
      agreement: { ...this.agreement },
      received: this.received,
      replayBase: this.replay.base,
      replay: this.replay.list(),
      queued: this.outbox.list(),
      disconnectCount: this.disconnectCount,
      reauthPending: this.reauthPending,
      dialogue: d.exportState(),
    };
  }

  /**
   * A machine that goes on from `snapshot`, interrupted and waiting for the peer's RESUME
   * (acceptor) or for a transport to send its own (initiator). `options` are this node's
   * (bounds, timers); the negotiated parameters come from the snapshot.
   */
  static restore(snapshot: MachineSnapshot, options: Omit<MachineOptions, 'role' | 'sessionId' | 'resumeSecret'>, now: number): SessionMachine {
    if (snapshot.v !== 1) throw new SessionError('ERR_INVALID_ARGUMENT', `unknown snapshot version ${String(snapshot.v)}`);
    const m = new SessionMachine(snapshot.role === 'acceptor'
      ? { ...options, role: 'acceptor', sessionId: snapshot.sessionId, resumeSecret: snapshot.resumeSecret }
      : { ...options, role: 'initiator' });
    m.id = snapshot.sessionId;
    m.secret = snapshot.resumeSecret;
    m.connect = undefined;
    m.establish({ type: 'ACCEPT', ...snapshot.agreement, sessionId: snapshot.sessionId, resumeSecret: snapshot.resumeSecret, userData: EMPTY }, 'recv-ACCEPT', true);
    m.dialogue?.importState(snapshot.dialogue);
    m.received = snapshot.received;
    m.replay.reset(snapshot.replayBase, snapshot.replay);
    m.cursor = m.replay.end;
    for (const f of snapshot.queued) m.outbox.push(f);
    m.disconnectCount = snapshot.disconnectCount;
    m.reauthPending = snapshot.reauthPending;
    m.go('restored');
    m.now = now;
    m.interruptedAt = now;
    m.events = [];
    return m;
  }

  /** Initiator: present fresh credentials on the live session (answered by `reauth-result`). */
  refreshCredentials(credentials: Uint8Array): void {
    if (this.role !== 'initiator') throw new SessionError('ERR_INVALID_STATE', 'only the initiator presents credentials', 'local', { state: this.lifecycle });
    this.live('refresh credentials');
    if (this.reauthPending) throw new SessionError('ERR_CONFIRM_PENDING', 'an earlier credentials refresh awaits its answer', 'local', { pending: 'reauth' });
    this.fitPayload(credentials, this.maxFrameSize);
    this.reauthPending = true;
    this.queue({ type: 'REAUTH', credentials });
  }

  /** Acceptor: answer the peer's credentials refresh. */
  answerReauth(accepted: boolean, message = ''): void {
    this.live('answer a credentials refresh', false);
    if (this.role !== 'acceptor' || !this.reauthPending) throw new SessionError('ERR_NOTHING_TO_CONFIRM', 'no credentials refresh awaits an answer');
    this.reauthPending = false;
    this.queue({ type: 'REAUTH_RESULT', accepted, message: clampUtf8(message, MAX_MESSAGE_BYTES) });
  }

  /** Ends the session at once (S-U-ABORT). Allowed in any state; a no-op once closed. */
  abort(message = 'aborted by the application', userData: Uint8Array = EMPTY): void {
    if (this.lifecycle === 'closed') return;
    // Message and user data share one frame: each may take half of the smallest frame size.
    const limit = Math.min(MAX_MESSAGE_BYTES, this.maxFrameSize >> 1);
    if (userData.length > limit) throw new SessionError('ERR_PAYLOAD_TOO_LARGE', `abort user data is limited to ${limit} bytes`, 'local', { limit });
    this.fail(new SessionError('ERR_ABORTED', message, 'local', { reason: AbortReason.user, userData }), AbortReason.user, 'abort');
    const last = this.outbox.lastControl();
    if (last?.type === 'ABORT') last.userData = userData;
  }
}
