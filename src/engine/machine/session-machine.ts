// SessionMachine: one session, sans I/O. One class that owns its parts, each a field with its
// own state and a narrow interface; the machine wires them and owns only the lifecycle:
//
//   handshake  ./handshake.ts    identity, the CONNECT on the table, the agreement
//   flow       ./flow.ts         send queue, replay buffer, counts, lazy acknowledgements
//   dialogue   ./dialogue.ts     tokens, sync points, activities, release (once established);
//                                what each command needs is the table in ./preconditions.ts
//   timers     ./timer-table.ts  every deadline by name; nextDeadline() is its earliest; the
//                                last traffic each way, keepalive and peer-silent follow from it
//   events     ./events.ts       what the application has yet to poll
//
// Theory of operation
//   Inputs are `handle*` calls (a decoded frame, transport up/down, a timeout, a decoder error),
//   each given the current time in milliseconds, and application commands (sendData,
//   syncMajor, ...), which only check and queue and so need no time. Outputs are pulled:
//   `pollFrame(now)` yields frames to put on the wire in order (written at `now`, which the
//   keepalive counts from), `pollEvent()` yields events for the application, and
//   `nextDeadline()` is the one time at which the caller must call `handleTimeout()`. The machine
//   never reads a clock, arms a timer or touches a socket, so two machines and a simulated link
//   run the whole protocol in a test.
//
//   After every input the caller drains pollFrame() (writing the frames) and pollEvent(). When an
//   event `close-transport` or `closed` arrives, the caller drains pollFrame() once more (an
//   ABORT or RESUME_REFUSED may be waiting) and then closes the transport.
//
// Rules
//   - handle* never throws; bad input from the peer becomes an ABORT and a `closed` event.
//   - Commands throw a local SessionError before changing anything when they are not allowed
//     (one exception: a send that overflows while disconnected under `replayOverflow: 'fail'`
//     ends the session, as that policy asks, and then throws ERR_REPLAY_OVERFLOW).
//   - Every queue is bounded (see ./flow.ts): any command that starts something fails with
//     ERR_SEND_BUFFER_FULL when the send queue is past its bound, then `writable`; answers always pass.
//   - Everything that ends the session goes through `fail` (ABORT when a reason is given) or
//     `releasedNow` (orderly release); every lifecycle change goes through `go`, which follows
//     the table in ./transitions.ts and throws on a missing row (caught as an internal error).
//   - Timers are armed and disarmed where the state they watch changes, never computed later:
//     handshake (transport up until established), ack (first unacknowledged frame), resume-window
//     (while interrupted or resuming), peer-silent and keepalive (while established on a
//     transport with heartbeats).
//
//     app --send--> [send queue] --pollFrame--> wire          peer --frame--> handleFrame
//                                   |                                          |
//                             [replay buffer] <--ACK/RESUMED-- counts --ACK--> (lazy acks)

import { clampUtf8 } from '../bytes.js';
import { SessionError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import {
  AbortReason,
  EMPTY,
  isSessionFrame,
  MAX_EXPEDITED,
  MAX_MESSAGE_BYTES,
  RefuseReason,
  ResumeRefuseReason,
  ResyncType,
} from '../frames.js';
import type {
  AbortReasonValue,
  AcceptFrame,
  ConnectFrame,
  ConnectionFrame,
  DataFrame,
  Frame,
  ReauthFrame,
  ReauthResultFrame,
  RefuseReasonValue,
  ResumeRefuseReasonValue,
  ResyncTypeName,
  SessionFrame,
  TokenName,
} from '../frames.js';
import { Dialogue } from './dialogue.js';
import * as activity from './dialogue-activity.js';
import { check } from './dialogue-guards.js';
import { acceptData, receiveFrame } from './dialogue-receive.js';
import * as services from './dialogue-services.js';
import * as sync from './dialogue-sync.js';
import { EventQueue } from './events.js';
import type { SessionEvent } from './events.js';
import { Flow, flowLimits } from './flow.js';
import type { SessionStats } from './flow.js';
import { Handshake } from './handshake.js';
import { describe } from './negotiation.js';
import { optionOrDefault } from './options.js';
import type { MachineOptions, Negotiated } from './options.js';
import { PRECONDITIONS } from './preconditions.js';
import type { DialogueCommand } from './preconditions.js';
import type { MachineSnapshot } from './snapshot.js';
import type { ReleasedEnd } from './released-end.js';
import { unansweredIndications } from './reissue.js';
import { TimerTable } from './timer-table.js';
import { tokenNames, tokenSetOf } from './tokens.js';
import { nextState } from './transitions.js';
import type { LifecycleState, LifecycleTrigger, Role } from './transitions.js';

export { MAX_QUEUED_FRAMES } from './flow.js';
export type { SessionStats } from './flow.js';
export type { MachineSnapshot } from './snapshot.js';

/**
 * Room left for fixed fields around user data: the largest is ACTIVITY_RESUME (two 64-byte IDs,
 * their lengths and a serial: 134 bytes) plus the frame header.
 */
export const CONTROL_OVERHEAD = 160;

/**
 * Where handleData hands a received payload when nothing waits before it: the runtime's reader.
 * False when it does not take it (the payload then becomes a `data` event). It must not call
 * back into the machine.
 */
export interface DataSink {
  takeData(payload: Uint8Array): boolean;
}

export class SessionMachine {
  readonly role: Role;
  private readonly opts: MachineOptions;
  private readonly handshake: Handshake;
  private readonly flow: Flow;
  private readonly timers = new TimerTable();
  /** Made on the first event and let go when the application has taken them all (issue 14). */
  private events: EventQueue | null = null;
  private dialogue?: Dialogue;

  private lifecycle: LifecycleState = 'idle';
  private attached = false;
  /** The time of the latest input. */
  private now = 0;
  /** A REAUTH of ours awaits its result (initiator), or the peer's awaits our answer (acceptor). */
  private reauthPending = false;
  /** Closed by an orderly release: a late RESUME is still answered (see resumeReleased). */
  private released = false;
  /**
   * Restored from a snapshot and not resumed since: the peer's requests the snapshot holds
   * unanswered are given to this machine's application again on the first resume (./reissue.ts).
   */
  private reissue = false;

  /**
   * `identity`: an acceptor's session ID and resume secret, instead of `options.sessionId` and
   * `options.resumeSecret`, so that a server's sessions share one options object (an object per
   * session was 56 bytes of every idle session, issue 14). Kept in one 32-byte view when the two
   * lie side by side in one buffer (ID first).
   */
  constructor(options: MachineOptions, identity?: { sessionId: Uint8Array; resumeSecret: Uint8Array }) {
    this.opts = options; // read, never written
    this.role = options.role;
    this.handshake = new Handshake(options, identity);
    this.flow = new Flow(
      flowLimits({
        maxSendQueueBytes: optionOrDefault(options, 'maxSendQueueBytes'),
        maxReplayFrames: optionOrDefault(options, 'maxReplayFrames'),
        maxReplayBytes: optionOrDefault(options, 'maxReplayBytes'),
        ackEveryFrames: optionOrDefault(options, 'ackEveryFrames'),
        ackEveryBytes: optionOrDefault(options, 'ackEveryBytes'),
        ackDelayMs: optionOrDefault(options, 'ackDelayMs'),
      }),
    );
  }

  // ---- inspection -----------------------------------------------------------------------

  get state(): LifecycleState {
    return this.lifecycle;
  }
  get isAttached(): boolean {
    return this.attached;
  }
  /**
   * Restored from a snapshot and not yet resumed: requests of the peer this machine must answer
   * (ERR_RESPONSE_REQUIRED now) are given to the application again on the resume (./reissue.ts).
   */
  get awaitingReissue(): boolean {
    return this.reissue && this.lifecycle !== 'closed';
  }
  get negotiated(): Negotiated | undefined {
    return this.handshake.negotiated;
  }
  get sessionId(): Uint8Array | undefined {
    return this.handshake.sessionId;
  }
  /**
   * An acceptor closed by an orderly release: what answers a late RESUME without this machine
   * (answerReleasedResume, on another node); null for any other machine.
   */
  releasedEnd(): ReleasedEnd | null {
    if (!this.released || this.role !== 'acceptor') return null;
    return this.flow.releasedEnd();
  }
  /** The initiator's resume secret (from ACCEPT); keep it as secret as a password. */
  get resumeSecret(): Uint8Array | undefined {
    return this.handshake.resumeSecret;
  }
  /**
   * Tokens this side holds. While our resynchronize awaits its answer the positions are being
   * reassigned and this side holds none (the answer may already have given them to the peer).
   */
  get tokens(): TokenName[] {
    const d = this.dialogue;
    return d && d.pendingLocal?.kind !== 'resync' ? tokenNames(d.held) : [];
  }
  /** A release is under way: our FINISH awaits its answer, or we answered the peer's with DISCONNECT. */
  get releasing(): boolean {
    const d = this.dialogue;
    return !!d && (d.finished || d.pendingLocal?.kind === 'release');
  }
  /** The next sync serial number, V(M). */
  get serial(): number | undefined {
    return this.dialogue?.vm;
  }
  get activity(): Uint8Array | null {
    return this.dialogue?.activity ?? null;
  }
  get maxFrameSize(): number {
    return this.handshake.negotiated?.maxFrameSize ?? optionOrDefault(this.opts, 'maxFrameSize');
  }
  get stats(): SessionStats {
    return this.flow.stats;
  }
  /** Payload bytes this side holds for the peer: sent and not yet acknowledged, or not yet sent. */
  get heldBytes(): number {
    return this.flow.heldBytes;
  }
  /** Frames the peer has acknowledged so far. */
  get acknowledgedCount(): number {
    return this.flow.acknowledged;
  }
  /** Bytes the send queue can take now. */
  get writableBytes(): number {
    return this.flow.writableBytes;
  }

  /**
   * Whether a send of `bytes` fits the send queue now; when it does not, a `writable` event will
   * follow once it drains. Lets a runtime wait without the cost of a thrown error.
   */
  hasRoomFor(bytes: number): boolean {
    return this.flow.hasRoomFor(bytes);
  }

  // ---- outputs --------------------------------------------------------------------------

  pollEvent(): SessionEvent | undefined {
    const q = this.events;
    if (q === null) return undefined;
    const e = q.poll();
    if (q.empty) this.events = null;
    return e;
  }

  /** The next frame for the wire, written at `now` (the keepalive counts from it). */
  pollFrame(now: number): Frame | undefined {
    if (!this.attached) return undefined;
    const f = this.flow.nextFrame(this.lifecycle === 'established', this.released);
    if (!f) return undefined;
    if (this.flow.takeWritable()) this.emit({ type: 'writable' });
    this.timers.sent(now);
    return f;
  }

  nextDeadline(): number | undefined {
    return this.lifecycle === 'closed' ? undefined : this.timers.next();
  }

  // ---- inputs ---------------------------------------------------------------------------

  handleTransportUp(now: number): void {
    this.now = now;
    if (this.lifecycle === 'closed') {
      // A released machine replays only in answer to a RESUME on this transport (resumeReleased).
      this.attached = true;
      this.flow.dropControl();
      this.flow.stopReplay();
      return;
    }
    // A new transport while one is attached: the old one is presumed dead.
    if (this.attached) this.handleTransportDown(now);
    if (this.state === 'closed') return;
    this.attached = true;
    this.timers.restart(now);
    const to = this.go('transport-up');
    if (to === 'connecting') {
      const c = this.handshake.offer();
      if (c) this.flow.pushControl(c);
    }
    if (to === 'resuming') {
      const r = this.handshake.resumeRequest(this.flow.received, this.flow.acknowledged);
      if (r) this.flow.pushControl(r);
    }
    if (to !== 'established') this.timers.set('handshake', now + optionOrDefault(this.opts, 'handshakeTimeoutMs'));
  }

  handleTransportDown(now: number, error?: SessionError): void {
    this.now = now;
    if (!this.attached) return;
    const from = this.lifecycle;
    this.detach();
    if (from === 'closed') return;
    const to = this.go('transport-down');
    if (from === 'established') this.interrupt(error);
    else if (to === 'closed')
      this.emit({
        type: 'closed',
        error:
          error ?? new SessionError('ERR_ABORTED', 'the transport closed before the connect was answered', 'remote'),
      });
  }

  handleTimeout(now: number): void {
    this.now = now;
    if (this.lifecycle === 'closed') return;
    try {
      this.timeouts(now);
    } catch (e) {
      this.internalError(e);
    }
  }

  /**
   * The transport delivered bytes, perhaps only part of a frame. The peer is alive: a large
   * frame arriving slowly must not look like a dead peer to the heartbeat.
   */
  handleProgress(now: number): void {
    this.now = now;
    if (this.attached) this.timers.heard(now);
  }

  /** A decoder failed on the peer's bytes: abort with a reason that says why. */
  handleProtocolError(error: SessionError, now: number): void {
    this.now = now;
    if (this.lifecycle === 'closed') return;
    const reason = error.code === 'ERR_FRAME_TOO_LARGE' ? AbortReason.frameTooLarge : AbortReason.protocolError;
    this.fail(error, reason, 'protocol-error');
  }

  handleFrame(frame: Frame, now: number): void {
    this.now = now;
    this.timers.heard(now);
    try {
      if (this.lifecycle === 'closed') {
        if (frame.type !== 'RESUME') return;
        if (this.released && this.role === 'acceptor')
          this.resumeReleased(frame.sessionId, frame.resumeSecret, frame.received, frame.acked);
        else this.refuseResume(this.handshake.closeReason, 'the session has ended');
        return;
      }
      if (isSessionFrame(frame)) this.receiveSession(frame);
      else this.receiveConnection(frame);
    } catch (e) {
      this.internalError(e);
    }
  }

  /**
   * @internal handleFrame for a DATA frame, given its payload alone (the decoder made no frame
   * object). Counted and checked alike; a payload for the application goes to `sink` when no
   * event waits before it and the sink takes it, else it becomes a `data` event.
   */
  handleData(payload: Uint8Array, now: number, sink: DataSink | null): void {
    const d = this.dialogue;
    if (this.lifecycle !== 'established' || d === undefined) return this.handleFrame({ type: 'DATA', payload }, now);
    this.now = now;
    this.timers.heard(now);
    try {
      if (this.flow.countIn(payload.length)) this.ackNow();
      else if (!this.timers.isSet('ack')) this.timers.set('ack', now + this.flow.ackDelayMs);
      if (acceptData(d, payload) && !(sink !== null && this.events === null && sink.takeData(payload)))
        this.emit({ type: 'data', payload });
    } catch (e) {
      this.internalError(e);
    }
  }

  private receiveSession(f: SessionFrame): void {
    if (this.lifecycle !== 'established' || !this.dialogue)
      return this.violation(`${f.type} before the session is established`, f.type);
    if (this.flow.countReceived(f)) this.ackNow();
    else if (!this.timers.isSet('ack')) this.timers.set('ack', this.now + this.flow.ackDelayMs);
    if (f.type === 'REAUTH' || f.type === 'REAUTH_RESULT') return this.receiveReauth(f);
    receiveFrame(this.dialogue, f);
  }

  private receiveReauth(f: ReauthFrame | ReauthResultFrame): void {
    const mine = f.type === 'REAUTH' ? this.role === 'acceptor' : this.role === 'initiator';
    const expectPending = f.type === 'REAUTH_RESULT';
    if (!mine || this.reauthPending !== expectPending) return this.violation(`unexpected ${f.type}`, f.type);
    this.reauthPending = f.type === 'REAUTH';
    this.emit(
      f.type === 'REAUTH'
        ? { type: 'reauth', credentials: f.credentials }
        : { type: 'reauth-result', accepted: f.accepted, message: f.message },
    );
  }

  private receiveConnection(f: ConnectionFrame): void {
    switch (f.type) {
      case 'ACK':
        if (this.lifecycle !== 'established' || f.received > this.flow.sent)
          return this.violation(`ACK for ${f.received} frames, ${this.flow.sent} sent`, f.type);
        return this.handlePeerAck(f.received);
      case 'HEARTBEAT':
        return;
      case 'ABORT':
        // Revoked credentials get their own code: the client tells its user to log in again.
        if (f.reason === AbortReason.revoked)
          return this.fail(
            new SessionError(
              'ERR_REVOKED',
              f.message || 'the credentials this session was opened with were revoked',
              'remote',
              { reason: f.reason, userData: f.userData },
            ),
            null,
            'recv-ABORT',
          );
        return this.fail(
          new SessionError('ERR_ABORTED', f.message || 'the peer aborted the session', 'remote', {
            reason: f.reason,
            userData: f.userData,
          }),
          null,
          'recv-ABORT',
        );
      case 'CONNECT':
        if (this.role !== 'acceptor' || this.lifecycle !== 'idle') return this.violation('unexpected CONNECT', f.type);
        return this.receiveConnect(f);
      case 'ACCEPT':
        if (this.lifecycle !== 'connecting') return this.violation('unexpected ACCEPT', f.type);
        return this.receiveAccept(f);
      case 'REFUSE':
        if (this.lifecycle !== 'connecting') return this.violation('unexpected REFUSE', f.type);
        return this.fail(
          new SessionError('ERR_REFUSED', f.message || 'the peer refused the session', 'remote', {
            reason: f.reason,
            userData: f.userData,
          }),
          null,
          'recv-REFUSE',
        );
      case 'RESUME':
        return this.receiveResume(f.sessionId, f.resumeSecret, f.received, f.acked);
      case 'RESUMED':
        if (this.lifecycle !== 'resuming') return this.violation('unexpected RESUMED', f.type);
        if (!this.flow.resumable(f.received))
          return this.violation(`RESUMED with count ${f.received} outside ${this.flow.resumeRange}`, f.type);
        return this.resumeAt(f.received, 'recv-RESUMED');
      case 'RESUME_REFUSED':
        if (this.lifecycle !== 'resuming') return this.violation('unexpected RESUME_REFUSED', f.type);
        return this.fail(
          new SessionError('ERR_RESUME_REFUSED', f.message || 'the peer refused to resume', 'remote', {
            reason: f.reason,
          }),
          null,
          'recv-RESUME_REFUSED',
        );
    }
  }

  // ---- connect --------------------------------------------------------------------------

  private receiveConnect(c: ConnectFrame): void {
    const d = this.handshake.receiveConnect(c, this.opts);
    this.timers.clear('handshake');
    this.go('recv-CONNECT');
    if (!d.ok) return this.refuseWith(d.reason, d.message, EMPTY, 'ERR_NEGOTIATION_FAILED');
    this.emit({
      type: 'connect-request',
      proposal: describe(d.accept),
      credentials: c.credentials,
      userData: c.userData,
    });
  }

  /** Acceptor: accept the pending connect request. */
  accept(options: { userData?: Uint8Array } = {}): void {
    if (this.lifecycle !== 'accepting' || !this.handshake.answerable) throw this.stateError('accept');
    const a: AcceptFrame = { ...this.handshake.acceptFrame(this.opts), userData: this.fitUserData(options.userData) };
    if (this.attached) this.flow.pushControl(a);
    this.establish(a, 'accept');
  }

  /** Acceptor: refuse the pending connect request. */
  refuse(reason: RefuseReasonValue = RefuseReason.rejected, message = 'refused', userData: Uint8Array = EMPTY): void {
    if (this.lifecycle !== 'accepting') throw this.stateError('refuse');
    this.refuseWith(reason, message, userData, 'ERR_REFUSED');
  }

  private refuseWith(reason: RefuseReasonValue, message: string, userData: Uint8Array, code: ErrorCode): void {
    if (this.attached)
      this.flow.pushControl({ type: 'REFUSE', reason, message: clampUtf8(message, MAX_MESSAGE_BYTES), userData });
    this.go('refuse');
    this.emit({ type: 'closed', error: new SessionError(code, message, 'local', { reason }) });
  }

  private receiveAccept(a: AcceptFrame): void {
    const problem = this.handshake.checkAnswer(a);
    if (problem)
      return this.fail(
        new SessionError('ERR_NEGOTIATION_FAILED', `the acceptor answered outside the proposal: ${problem}`, 'remote'),
        AbortReason.protocolError,
        'protocol-error',
      );
    this.establish(a, 'recv-ACCEPT');
  }

  /** The session exists under `a`: the handshake keeps the agreement, the dialogue starts. */
  private establish(a: AcceptFrame, trigger: LifecycleTrigger | null): void {
    const agreed = this.handshake.establish(a, this.role);
    this.dialogue = new Dialogue(this, agreed.dialogue);
    this.timers.clear('handshake');
    if (trigger === null) return; // restoring: the snapshot's lifecycle follows
    this.go(trigger);
    this.emit({ type: 'established', negotiated: agreed.negotiated, sessionId: a.sessionId, userData: a.userData });
  }

  // ---- resume ---------------------------------------------------------------------------

  /**
   * Acceptor: whether a RESUME may take over this session, checked before its transport is
   * attached (so a wrong secret never disturbs the live connection). Null when it may.
   */
  checkResume(sessionId: Uint8Array, secret: Uint8Array): ResumeRefuseReasonValue | null {
    if (!this.handshake.owns(sessionId, this.role)) return ResumeRefuseReason.unknown;
    if (!this.handshake.secretMatches(secret)) return ResumeRefuseReason.wrongSecret;
    if (this.lifecycle === 'closed') return this.handshake.closeReason;
    return null;
  }

  /**
   * Checked in a fixed order (session, state, secret, staleness, count); a refusal closes that
   * transport only, but a stale state ends the session: it can never catch up with its peer.
   */
  private receiveResume(sessionId: Uint8Array, secret: Uint8Array, received: number, acked?: number): void {
    if (this.role !== 'acceptor') return this.violation('RESUME sent to an initiator', 'RESUME');
    if (!this.dialogue || !this.handshake.owns(sessionId, this.role))
      return this.refuseResume(ResumeRefuseReason.unknown, 'no such session');
    if (this.lifecycle !== 'interrupted')
      return this.violation('RESUME on a transport that already carries the session', 'RESUME');
    if (!this.handshake.secretMatches(secret))
      return this.refuseResume(ResumeRefuseReason.wrongSecret, 'wrong resume secret');
    const stale = this.staleness(received, acked);
    if (stale !== null) return this.refuseStale(stale, acked !== undefined);
    if (!this.flow.resumable(received))
      return this.refuseResume(ResumeRefuseReason.invalid, `count ${received} outside ${this.flow.resumeRange}`);
    this.flow.pushControl({ type: 'RESUMED', received: this.flow.received });
    this.resumeAt(received, 'recv-RESUME');
  }

  /**
   * Why this state is older than what the peer has seen of the session, or null. Counts only
   * grow, so a peer that received more frames than this state sent, or was told that more of its
   * frames arrived than this state received, saw a newer state of the session: one a store lost
   * (its newest write died with a Redis primary before it reached the replica). Resuming would
   * send it other frames under counts it already has, or lose frames it dropped once acknowledged.
   */
  private staleness(received: number, acked: number | undefined): string | null {
    const sent = this.flow.stats.sent;
    if (received > sent) return `you received ${received} frames, this state of the session sent ${sent}`;
    if (acked !== undefined && acked > this.flow.received)
      return `${acked} of your frames were acknowledged, this state of the session received ${this.flow.received}`;
    return null;
  }

  /**
   * RESUME_REFUSED stale-state (invalid to an initiator too old to know the reason: its RESUME
   * has no `acked`), and the session ends here: later RESUMEs hear stale-state too.
   */
  private refuseStale(why: string, precise: boolean): void {
    const message = clampUtf8(`stale-state: ${why}; the newest state of the session was lost`, MAX_MESSAGE_BYTES);
    this.handshake.closeReason = ResumeRefuseReason.staleState;
    this.fail(
      new SessionError('ERR_RESUME_REFUSED', message, 'local', { reason: ResumeRefuseReason.staleState }),
      null,
      'stale-resume',
    );
    const reason = precise ? ResumeRefuseReason.staleState : ResumeRefuseReason.invalid;
    this.flow.pushControl({ type: 'RESUME_REFUSED', reason, message });
  }

  /**
   * A RESUME after our orderly release: the peer lost the end of it in a cut (our DISCONNECT,
   * or its own acknowledgement of the DISCONNECT it sent). Answer as a live session would: our
   * count in RESUMED (the peer's DISCONNECT among it, which completes the peer's release) and,
   * from the peer's count on, what it lacks of ours (at most our DISCONNECT, which completes
   * its release when it arrives). The machine stays closed; its caller closes this transport
   * once the frames are out, as after any answer of a closed machine.
   */
  private resumeReleased(sessionId: Uint8Array, secret: Uint8Array, received: number, acked?: number): void {
    if (!this.handshake.owns(sessionId, this.role))
      return this.refuseResume(ResumeRefuseReason.unknown, 'no such session');
    if (!this.handshake.secretMatches(secret))
      return this.refuseResume(ResumeRefuseReason.wrongSecret, 'wrong resume secret');
    const stale = this.staleness(received, acked);
    if (stale !== null)
      return this.refuseResume(
        acked === undefined ? ResumeRefuseReason.invalid : ResumeRefuseReason.staleState,
        `stale-state: ${stale}`,
      );
    if (!this.flow.resumable(received))
      return this.refuseResume(ResumeRefuseReason.invalid, `count ${received} outside ${this.flow.resumeRange}`);
    this.flow.replayAfterRelease(received);
    this.flow.pushControl({ type: 'RESUMED', received: this.flow.received });
  }

  private refuseResume(reason: ResumeRefuseReasonValue, message: string): void {
    this.flow.pushControl({ type: 'RESUME_REFUSED', reason, message: clampUtf8(message, MAX_MESSAGE_BYTES) });
    this.emit({ type: 'close-transport', error: new SessionError('ERR_RESUME_REFUSED', message, 'local', { reason }) });
  }

  /** Resuming rewinds the send cursor to what the peer received: the replay buffer sends the rest. */
  private resumeAt(peerReceived: number, trigger: LifecycleTrigger): void {
    this.handlePeerAck(peerReceived);
    if (this.lifecycle === 'closed') return;
    const replayed = this.flow.rewind(peerReceived);
    this.timers.clear('handshake');
    this.go(trigger);
    this.emit({ type: 'resumed', replayed });
    if (this.reissue && this.dialogue) {
      this.reissue = false;
      for (const e of unansweredIndications(this.dialogue)) this.emit(e);
    }
  }

  // ---- commands -------------------------------------------------------------------------

  /**
   * The dialogue, if commands are possible now. A command that starts something new (`initiates`)
   * also needs room in the send queue; answers to the peer always go through. The dialogue's own
   * preconditions follow (./preconditions.ts).
   */
  private live(what: string, initiates: boolean): Dialogue {
    const d = this.dialogue;
    if (
      !d ||
      this.lifecycle === 'closed' ||
      this.lifecycle === 'idle' ||
      this.lifecycle === 'connecting' ||
      this.lifecycle === 'accepting'
    )
      throw this.stateError(what);
    if (initiates) this.flow.requireRoom();
    return d;
  }

  /** `live` for a dialogue command, as its row of the precondition table says. */
  private dialogueFor(command: DialogueCommand): Dialogue {
    const rule = PRECONDITIONS[command];
    return this.live(rule.what, rule.initiates);
  }

  /** Room for `bytes` more in the send queue, or a coded error (and `writable` later). */
  private reserve(bytes: number): void {
    if (!this.flow.fits(bytes) && !this.attached && this.opts.replayOverflow === 'fail') {
      this.handshake.closeReason = ResumeRefuseReason.overflowed;
      const error = new SessionError('ERR_REPLAY_OVERFLOW', 'the send buffer overflowed while disconnected');
      this.fail(error, null, 'abort');
      throw error;
    }
    this.flow.requireBytes(bytes);
  }

  private fitUserData(userData: Uint8Array | undefined): Uint8Array {
    const u = userData ?? EMPTY;
    const limit = this.maxFrameSize - CONTROL_OVERHEAD;
    if (u.length > limit)
      throw new SessionError('ERR_PAYLOAD_TOO_LARGE', `user data of ${u.length} bytes exceeds ${limit}`, 'local', {
        limit,
      });
    return u;
  }

  private fitPayload(payload: Uint8Array, limit = this.maxFrameSize): void {
    if (payload.length > limit)
      throw new SessionError('ERR_PAYLOAD_TOO_LARGE', `payload of ${payload.length} bytes exceeds ${limit}`, 'local', {
        limit,
      });
  }

  /** Data of `type` (normal, typed, expedited): checked by its row, then queued. */
  private sendPayload(command: 'sendData' | 'sendTyped' | 'sendExpedited', payload: Uint8Array): void {
    const d = this.dialogueFor(command);
    this.fitPayload(payload, command === 'sendExpedited' ? MAX_EXPEDITED : this.maxFrameSize);
    check(d, command);
    if (command === 'sendExpedited') return this.flow.queue({ type: 'EXPEDITED', payload });
    this.reserve(payload.length);
    this.flow.queue(command === 'sendData' ? { type: 'DATA', payload } : { type: 'TYPED', payload });
  }

  sendData(payload: Uint8Array): void {
    this.sendPayload('sendData', payload);
  }

  /**
   * @internal sendData, and when nothing waits before it (no frame queued or to replay) on an
   * established, attached session whose replay buffer has room, the DATA frame at once: counted
   * and held for replay as pollFrame would, written at `now` (the keepalive counts from it). The
   * caller writes it now, before anything else. Undefined when the data was queued instead
   * (pollFrame yields it). Throws as sendData.
   */
  sendDataNow(payload: Uint8Array, now: number): DataFrame | undefined {
    const d = this.dialogueFor('sendData');
    this.fitPayload(payload, this.maxFrameSize);
    check(d, 'sendData');
    this.reserve(payload.length);
    const f: DataFrame = { type: 'DATA', payload };
    if (this.attached && this.lifecycle === 'established' && this.flow.sendAtOnce(f)) {
      this.timers.sent(now);
      return f;
    }
    this.flow.queue(f);
    return undefined;
  }
  sendTyped(payload: Uint8Array): void {
    this.sendPayload('sendTyped', payload);
  }
  sendExpedited(payload: Uint8Array): void {
    this.sendPayload('sendExpedited', payload);
  }
  sendCapability(payload: Uint8Array): void {
    services.sendCapability(this.dialogueFor('sendCapability'), this.fitUserData(payload));
  }
  confirmCapability(payload?: Uint8Array): void {
    services.confirmCapability(this.dialogueFor('confirmCapability'), this.fitUserData(payload));
  }
  giveTokens(tokens: readonly TokenName[]): void {
    services.giveTokens(this.dialogueFor('giveTokens'), tokenSetOf(tokens));
  }
  requestTokens(tokens: readonly TokenName[], userData?: Uint8Array): void {
    services.requestTokens(this.dialogueFor('requestTokens'), tokenSetOf(tokens), this.fitUserData(userData));
  }
  giveControl(): void {
    services.giveControl(this.dialogueFor('giveControl'));
  }
  syncMinor(options: { confirm?: boolean; userData?: Uint8Array } = {}): number {
    return sync.syncMinor(this.dialogueFor('syncMinor'), options.confirm ?? false, this.fitUserData(options.userData));
  }
  /** Confirms the latest minor sync point that asked for it, or the earlier point `serial` (and all before it). */
  confirmMinorSync(userData?: Uint8Array, serial?: number): number {
    return sync.confirmMinorSync(this.dialogueFor('confirmMinorSync'), this.fitUserData(userData), serial);
  }
  syncMajor(userData?: Uint8Array): number {
    return sync.syncMajor(this.dialogueFor('syncMajor'), this.fitUserData(userData));
  }
  confirmMajorSync(userData?: Uint8Array): number {
    return sync.confirmMajorSync(this.dialogueFor('confirmMajorSync'), this.fitUserData(userData));
  }

  resynchronize(
    type: ResyncTypeName,
    options: { serial?: number; tokens?: readonly TokenName[]; userData?: Uint8Array } = {},
  ): number {
    const d = this.dialogueFor('resynchronize');
    if (!(type in ResyncType))
      throw new SessionError('ERR_INVALID_ARGUMENT', `unknown resynchronize type '${type}'`, 'local', { type });
    return sync.resynchronize(
      d,
      ResyncType[type],
      options.serial,
      options.tokens ? tokenSetOf(options.tokens) : undefined,
      this.fitUserData(options.userData),
    );
  }

  respondResync(userData?: Uint8Array): number {
    return sync.respondResync(this.dialogueFor('respondResync'), this.fitUserData(userData));
  }
  startActivity(activityId: Uint8Array, userData?: Uint8Array): void {
    activity.startActivity(this.dialogueFor('startActivity'), activityId, this.fitUserData(userData));
  }
  resumeActivity(activityId: Uint8Array, oldActivityId: Uint8Array, serial: number, userData?: Uint8Array): void {
    activity.resumeActivity(
      this.dialogueFor('resumeActivity'),
      activityId,
      oldActivityId,
      serial,
      this.fitUserData(userData),
    );
  }
  interruptActivity(reason = 0): void {
    activity.interruptActivity(this.dialogueFor('interruptActivity'), false, reason);
  }
  confirmActivityInterrupt(): void {
    activity.confirmActivityInterrupt(this.dialogueFor('confirmActivityInterrupt'), false);
  }
  discardActivity(reason = 0): void {
    activity.interruptActivity(this.dialogueFor('discardActivity'), true, reason);
  }
  confirmActivityDiscard(): void {
    activity.confirmActivityInterrupt(this.dialogueFor('confirmActivityDiscard'), true);
  }
  endActivity(userData?: Uint8Array): number {
    return activity.endActivity(this.dialogueFor('endActivity'), this.fitUserData(userData));
  }
  confirmActivityEnd(userData?: Uint8Array): number {
    return activity.confirmActivityEnd(this.dialogueFor('confirmActivityEnd'), this.fitUserData(userData));
  }
  reportException(reason: number, userData?: Uint8Array): void {
    services.reportException(this.dialogueFor('reportException'), reason, this.fitUserData(userData));
  }
  release(userData?: Uint8Array): void {
    services.release(this.dialogueFor('release'), this.fitUserData(userData));
  }
  respondRelease(accept: boolean, userData?: Uint8Array): void {
    services.respondRelease(this.dialogueFor('respondRelease'), accept, this.fitUserData(userData));
  }

  /** Initiator: present fresh credentials on the live session (answered by `reauth-result`). */
  refreshCredentials(credentials: Uint8Array): void {
    if (this.role !== 'initiator')
      throw new SessionError('ERR_INVALID_STATE', 'only the initiator presents credentials', 'local', {
        state: this.lifecycle,
      });
    this.live('refresh credentials', true);
    if (this.reauthPending)
      throw new SessionError('ERR_CONFIRM_PENDING', 'an earlier credentials refresh awaits its answer', 'local', {
        pending: 'reauth',
      });
    this.fitPayload(credentials, this.maxFrameSize);
    this.reauthPending = true;
    this.flow.queue({ type: 'REAUTH', credentials });
  }

  /** Acceptor: answer the peer's credentials refresh. */
  answerReauth(accepted: boolean, message = ''): void {
    this.live('answer a credentials refresh', false);
    if (this.role !== 'acceptor' || !this.reauthPending)
      throw new SessionError('ERR_NOTHING_TO_CONFIRM', 'no credentials refresh awaits an answer');
    this.reauthPending = false;
    this.flow.queue({ type: 'REAUTH_RESULT', accepted, message: clampUtf8(message, MAX_MESSAGE_BYTES) });
  }

  /** Ends the session at once (S-U-ABORT). Allowed in any state; a no-op once closed. */
  abort(message = 'aborted by the application', userData: Uint8Array = EMPTY): void {
    if (this.lifecycle === 'closed') return;
    // Message and user data share one frame: each may take half of the smallest frame size.
    const limit = Math.min(MAX_MESSAGE_BYTES, this.maxFrameSize >> 1);
    if (userData.length > limit)
      throw new SessionError('ERR_PAYLOAD_TOO_LARGE', `abort user data is limited to ${limit} bytes`, 'local', {
        limit,
      });
    this.fail(
      new SessionError('ERR_ABORTED', message, 'local', { reason: AbortReason.user, userData }),
      AbortReason.user,
      'abort',
    );
    const last = this.flow.lastControl();
    if (last?.type === 'ABORT') last.userData = userData;
  }

  /**
   * Ends the session locally with `error` (the runtime's own reasons, e.g. ERR_CONNECT_FAILED
   * after the last redial); an ABORT goes to the peer when a transport is up.
   */
  terminate(error: SessionError, notifyPeer = true, reason: AbortReasonValue = AbortReason.user): void {
    if (this.lifecycle === 'closed') return;
    this.fail(error, notifyPeer ? reason : null, 'abort');
  }

  // ---- snapshot and restore -------------------------------------------------------------

  /** The state to go on from elsewhere (see MachineSnapshot). Only for an established session. */
  snapshot(): MachineSnapshot {
    const d = this.dialogue;
    const { sessionId, resumeSecret, agreement } = this.handshake;
    if (!d || !agreement || !sessionId || !resumeSecret || this.lifecycle === 'closed')
      throw this.stateError('take a snapshot');
    return {
      v: 1,
      role: this.role,
      sessionId,
      resumeSecret,
      agreement: { ...agreement },
      ...this.flow.exportState(),
      reauthPending: this.reauthPending,
      dialogue: d.exportState(),
    };
  }

  /**
   * A machine that goes on from `snapshot`, interrupted and waiting for the peer's RESUME
   * (acceptor) or for a transport to send its own (initiator). `options` are this node's
   * (bounds, timers); the negotiated parameters come from the snapshot.
   */
  static restore(
    snapshot: MachineSnapshot,
    options: Omit<MachineOptions, 'role' | 'sessionId' | 'resumeSecret'>,
    now: number,
  ): SessionMachine {
    if (snapshot.v !== 1)
      throw new SessionError('ERR_INVALID_ARGUMENT', `unknown snapshot version ${String(snapshot.v)}`);
    const m = new SessionMachine(
      snapshot.role === 'acceptor'
        ? { ...options, role: 'acceptor', sessionId: snapshot.sessionId, resumeSecret: snapshot.resumeSecret }
        : { ...options, role: 'initiator' },
    );
    m.establish(
      {
        type: 'ACCEPT',
        ...snapshot.agreement,
        sessionId: snapshot.sessionId,
        resumeSecret: snapshot.resumeSecret,
        userData: EMPTY,
      },
      null,
    );
    m.dialogue?.importState(snapshot.dialogue);
    m.flow.importState(snapshot);
    m.reauthPending = snapshot.reauthPending;
    m.now = now;
    m.go('restored');
    m.reissue = true;
    m.timers.set('resume-window', now + m.resumeWindow());
    return m;
  }

  // ---- timers and heartbeats -----------------------------------------------------------

  private timeouts(now: number): void {
    const t = this.timers;
    if (t.due('handshake', now)) {
      t.clear('handshake');
      const error = new SessionError(
        'ERR_HANDSHAKE_TIMEOUT',
        `no answer to the handshake within ${optionOrDefault(this.opts, 'handshakeTimeoutMs')} ms`,
      );
      if (this.lifecycle === 'connecting' || this.lifecycle === 'idle')
        return this.fail(error, AbortReason.timeout, 'handshake-timeout');
      this.closeTransport(error);
      if (this.lifecycle === 'resuming') this.go('handshake-timeout');
    }
    if (t.due('resume-window', now)) {
      if (this.flow.disconnectSent) return this.releasedNow();
      this.handshake.closeReason = ResumeRefuseReason.expired;
      return this.fail(
        new SessionError(
          'ERR_RESUME_WINDOW_EXPIRED',
          `the transport stayed down longer than the ${this.resumeWindow()} ms resume window`,
        ),
        null,
        'resume-window-expired',
      );
    }
    if (t.due('peer-silent', now)) {
      const error = new SessionError(
        'ERR_HEARTBEAT_TIMEOUT',
        `nothing from the peer for ${2 * this.heartbeatMs()} ms`,
        'remote',
      );
      this.closeTransport(error);
      this.go('heartbeat-timeout');
      return this.interrupt(error);
    }
    if (t.due('keepalive', now)) {
      this.flow.pushControl({ type: 'HEARTBEAT' });
      this.timers.sent(now);
    }
    if (t.due('ack', now)) this.ackNow();
  }

  private heartbeatMs(): number {
    return this.handshake.negotiated?.heartbeatMs ?? 0;
  }
  private resumeWindow(): number {
    return this.handshake.negotiated?.resumeWindowMs ?? optionOrDefault(this.opts, 'resumeWindowMs');
  }

  /** Heartbeats run while established on a transport, when the agreement has them. */
  private armHeartbeat(): void {
    this.timers.runHeartbeat(this.lifecycle === 'established' && this.attached ? this.heartbeatMs() : 0);
  }

  // ---- acknowledgements -----------------------------------------------------------------

  private ackNow(): void {
    this.timers.clear('ack');
    this.flow.ackNow(this.attached);
  }

  private handlePeerAck(count: number): void {
    if (this.flow.peerHas(count)) this.releasedNow();
  }

  // ---- lifecycle ------------------------------------------------------------------------

  private go(trigger: LifecycleTrigger): LifecycleState {
    const to = nextState(this.lifecycle, trigger, this.role);
    if (to === undefined) throw new Error(`no transition from ${this.lifecycle} on ${trigger} for ${this.role}`);
    this.lifecycle = to;
    if (to !== 'interrupted' && to !== 'resuming') this.timers.clear('resume-window');
    this.armHeartbeat();
    return to;
  }

  private detach(): void {
    this.attached = false;
    this.flow.detach();
    this.timers.clear('ack');
    this.timers.clear('handshake');
    this.armHeartbeat();
  }

  /** Asks the caller to close the transport, and forgets it. */
  private closeTransport(error: SessionError): void {
    this.emit({ type: 'close-transport', error });
    this.detach();
  }

  /** The transport is lost while established: the resume window starts. */
  private interrupt(error?: SessionError): void {
    // The acceptor's DISCONNECT went out and the transport died: the release is complete here.
    // If the DISCONNECT was lost, the initiator comes back for it with a RESUME, which a
    // released acceptor still answers (resumeReleased); if it arrived, the initiator has closed
    // and nobody would come back, so waiting out the window gains nothing.
    if (this.role === 'acceptor' && this.flow.disconnectSent) return this.releasedNow();
    this.timers.set('resume-window', this.now + this.resumeWindow());
    this.emit(error ? { type: 'interrupted', error } : { type: 'interrupted' });
  }

  private emit(e: SessionEvent): void {
    (this.events ??= new EventQueue()).push(e);
  }

  // ---- the dialogue's host (DialogueHost): methods, not a bag of closures per session -------

  /** @internal */ queueSessionFrame(f: SessionFrame): void {
    this.flow.queue(f);
  }
  /** @internal */ emitEvent(e: SessionEvent): void {
    this.emit(e);
  }
  /** @internal */ dialogueViolation(message: string, f: SessionFrame): void {
    this.violation(message, f.type);
  }
  /** @internal */ releasedByPeer(userData: Uint8Array): void {
    this.releasedNow(userData);
  }

  /** @internal */ purgeOutgoingData(): void {
    const payloads = this.flow.purgeData();
    if (payloads.length > 0) this.emit({ type: 'data-discarded', direction: 'out', payloads });
  }

  private releasedNow(userData?: Uint8Array): void {
    // Having received DISCONNECT, acknowledge it at once so that the responder can close too.
    if (!this.flow.disconnectSent) this.ackNow();
    this.flow.dropSession();
    this.released = true;
    this.flow.stopReplay();
    this.go('released');
    this.emit(userData?.length ? { type: 'closed', userData } : { type: 'closed' });
  }

  private violation(message: string, frameType: string): void {
    const error = new SessionError('ERR_PROTOCOL_VIOLATION', message, 'remote', {
      frame: frameType,
      state: this.lifecycle,
    });
    this.fail(error, AbortReason.protocolError, 'protocol-error');
  }

  private internalError(e: unknown): void {
    const error =
      e instanceof SessionError
        ? e
        : new SessionError('ERR_ABORTED', `internal error: ${e instanceof Error ? e.message : String(e)}`, 'local', {
            reason: AbortReason.internalError,
          });
    this.fail(error, AbortReason.internalError, 'abort');
  }

  /** Ends the session: ABORT to the peer (when a reason is given and a transport is up), then `closed`. */
  private fail(error: SessionError, reason: AbortReasonValue | null, trigger: LifecycleTrigger): void {
    if (this.lifecycle === 'closed') return;
    this.flow.dropSession();
    this.flow.dropControl();
    if (reason !== null && this.attached)
      this.flow.pushControl({
        type: 'ABORT',
        reason,
        message: clampUtf8(error.message, Math.min(MAX_MESSAGE_BYTES, (this.maxFrameSize >> 1) - 16)),
        userData: EMPTY,
      });
    this.go(trigger);
    this.emit({ type: 'closed', error });
  }

  private stateError(what: string): SessionError {
    return new SessionError('ERR_INVALID_STATE', `cannot ${what} in state ${this.lifecycle}`, 'local', {
      state: this.lifecycle,
    });
  }
}
