// MachineCore: the inputs, outputs, lifecycle, queues, timers and resume of one session,
// sans I/O. SessionMachine (./session-machine.ts) adds the application's commands on top.
//
// Theory of operation
//   Inputs are `handle*` calls (a decoded frame, transport up/down, a timeout, a decoder error),
//   each given the current time in milliseconds, and application commands (sendData, syncMajor,
//   ...). Outputs are pulled: `pollFrame()` yields frames to put on the wire in order,
//   `pollEvent()` yields events for the application, and `nextDeadline()` is the one time at which
//   the caller must call `handleTimeout()`. The machine never reads a clock, arms a timer or
//   touches a socket, so two machines and a simulated link run the whole protocol in a test.
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
//   - Session frames get their count when they first go on the wire (pollFrame), which is why
//     expedited frames can overtake normal ones still queued and both ends still count alike.
//   - Every queue is bounded: the send queue by bytes and frames (any command that starts
//     something fails with ERR_SEND_BUFFER_FULL when it is full, then `writable`; answers to the
//     peer always pass), the replay buffer by frames and bytes (frames wait in the send queue
//     until acks make room).
//
//     app --send--> [send queue] --pollFrame--> wire          peer --frame--> handleFrame
//                                   |                                          |
//                             [replay buffer] <--ACK/RESUMED-- counts --ACK--> (lazy acks)

import { clampUtf8, constantTimeEqual } from '../bytes.js';
import { SessionError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import {
  AbortReason, frameWeight, isSessionFrame, MAX_MESSAGE_BYTES, RefuseReason, ResumeRefuseReason,
  RESUME_SECRET_LENGTH, SESSION_ID_LENGTH,
} from '../frames.js';
import type {
  AbortReasonValue, AcceptFrame, ConnectFrame, ReauthFrame, ReauthResultFrame, ConnectionFrame, Frame, RefuseReasonValue,
  ResumeRefuseReasonValue, SessionFrame, TokenName,
} from '../frames.js';
import { Dialogue } from './dialogue.js';
import type { DialogueHost, DialogueState } from './dialogue.js';
import type { SessionEvent } from './events.js';
import { buildConnect, checkAccept, decide, describe } from './negotiation.js';
import { DEFAULTS } from './options.js';
import type { MachineOptions, Negotiated } from './options.js';
import { Outbox } from './outbox.js';
import { ReplayBuffer } from './replay-buffer.js';
import { tokenNames } from './tokens.js';
import { nextState } from './transitions.js';
import type { LifecycleState, LifecycleTrigger, Role } from './transitions.js';

export const EMPTY = new Uint8Array(0);
/**
 * Room left for fixed fields around user data: the largest is ACTIVITY_RESUME (two 64-byte IDs,
 * their lengths and a serial: 134 bytes) plus the frame header.
 */
export const CONTROL_OVERHEAD = 160;
/** At most this many frames wait in the send queue, whatever their size. */
export const MAX_QUEUED_FRAMES = 65_536;

/**
 * Everything a session needs to go on elsewhere: on another node after this one died, or in
 * this process after a restart. Plain data (Uint8Arrays included); the store layer serialises
 * it. Taken write-ahead (before the frames it describes leave), a snapshot lets a restored
 * machine answer the peer's RESUME with nothing lost or duplicated.
 */
export interface MachineSnapshot {
  v: 1;
  role: Role;
  sessionId: Uint8Array;
  resumeSecret: Uint8Array;
  agreement: Pick<AcceptFrame, 'version' | 'units' | 'mode' | 'simplexSender' | 'maxFrameSize' | 'heartbeatMs' | 'resumeWindowMs' | 'initialSerial' | 'tokenSetting'>;
  received: number;
  replayBase: number;
  /** Sent at least once, not acknowledged: replayed after a resume. */
  replay: SessionFrame[];
  /** Accepted from the application, not sent yet. */
  queued: SessionFrame[];
  disconnectCount: number;
  reauthPending: boolean;
  dialogue: DialogueState;
}

export interface SessionStats {
  /** Session frames put on the wire at least once. */
  sent: number;
  received: number;
  acknowledged: number;
  queuedBytes: number;
  replayFrames: number;
  replayBytes: number;
}

export class MachineCore {
  readonly role: Role;
  protected readonly opts: MachineOptions;
  protected connect?: ConnectFrame;
  protected lifecycle: LifecycleState = 'idle';
  protected attached = false;
  protected now = 0;

  protected offered?: ConnectFrame;
  protected agreed?: Negotiated;
  protected dialogue?: Dialogue;
  protected id?: Uint8Array;
  protected secret?: Uint8Array;
  protected closeReason: ResumeRefuseReasonValue = ResumeRefuseReason.closed;

  protected readonly outbox = new Outbox();
  protected wantWritable = false;
  protected readonly replay: ReplayBuffer;
  protected cursor = 0;
  protected received = 0;
  protected disconnectCount = -1;

  protected unackedFrames = 0;
  protected unackedBytes = 0;
  protected ackAt = Infinity;
  protected lastSent = 0;
  protected lastRecv = 0;
  protected handshakeAt = Infinity;
  protected interruptedAt = 0;

  protected agreement?: MachineSnapshot['agreement'];
  /** A REAUTH of ours awaits its result (initiator), or the peer's awaits our answer (acceptor). */
  protected reauthPending = false;

  protected events: SessionEvent[] = [];
  protected eventHead = 0;

  protected readonly host: DialogueHost = {
    send: (f) => this.queue(f),
    emit: (e) => this.emit(e),
    purgeOutgoingData: () => this.purgeOutgoingData(),
    violation: (message, f) => this.violation(message, f.type),
    released: (userData) => this.releasedNow(userData),
  };

  constructor(options: MachineOptions) {
    this.opts = options; // read, never written
    this.role = options.role;
    if (this.role === 'initiator') this.connect = buildConnect(options);
    else {
      const { sessionId, resumeSecret } = options;
      if (sessionId?.length !== SESSION_ID_LENGTH || resumeSecret?.length !== RESUME_SECRET_LENGTH) {
        throw new SessionError('ERR_INVALID_ARGUMENT', `an acceptor needs a ${SESSION_ID_LENGTH}-byte sessionId and a ${RESUME_SECRET_LENGTH}-byte resumeSecret`);
      }
      this.id = sessionId;
      this.secret = resumeSecret;
    }
    this.replay = new ReplayBuffer(options.maxReplayFrames ?? DEFAULTS.maxReplayFrames, options.maxReplayBytes ?? DEFAULTS.maxReplayBytes);
  }

  // ---- inspection -----------------------------------------------------------------------

  get state(): LifecycleState { return this.lifecycle; }
  get isAttached(): boolean { return this.attached; }
  get negotiated(): Negotiated | undefined { return this.agreed; }
  get sessionId(): Uint8Array | undefined { return this.id; }
  /** The initiator's resume secret (from ACCEPT); keep it as secret as a password. */
  get resumeSecret(): Uint8Array | undefined { return this.secret; }
  /**
   * Tokens this side holds. While our resynchronize awaits its answer the positions are being
   * reassigned and this side holds none (the answer may already have given them to the peer).
   */
  get tokens(): TokenName[] {
    const d = this.dialogue;
    return d && d.pendingLocal?.kind !== 'resync' ? tokenNames(d.held) : [];
  }
  /** The next sync serial number, V(M). */
  get serial(): number | undefined { return this.dialogue?.vm; }
  get activity(): Uint8Array | null { return this.dialogue?.activity ?? null; }
  get maxFrameSize(): number { return this.agreed?.maxFrameSize ?? this.opts.maxFrameSize ?? DEFAULTS.maxFrameSize; }
  get stats(): SessionStats {
    return { sent: this.replay.end, received: this.received, acknowledged: this.replay.base, queuedBytes: this.outbox.bytes, replayFrames: this.replay.length, replayBytes: this.replay.bytes };
  }
  /** Bytes the send queue can take now. */
  get writableBytes(): number { return Math.max(0, this.maxQueue() - this.outbox.bytes); }

  /**
   * Whether a send of `bytes` fits the send queue now; when it does not, a `writable` event will
   * follow once it drains. Lets a runtime wait without the cost of a thrown error.
   */
  hasRoomFor(bytes: number): boolean {
    const queued = this.outbox.bytes;
    if (queued === 0 || (queued + bytes <= this.maxQueue() && this.outbox.frames < MAX_QUEUED_FRAMES)) return true;
    this.wantWritable = true;
    return false;
  }

  // ---- outputs --------------------------------------------------------------------------

  pollEvent(): SessionEvent | undefined {
    if (this.eventHead >= this.events.length) return undefined;
    const e = this.events[this.eventHead++];
    if (this.eventHead === this.events.length) { this.events = []; this.eventHead = 0; }
    return e;
  }

  pollFrame(): Frame | undefined {
    if (!this.attached) return undefined;
    const c = this.outbox.takeControl();
    if (c) {
      this.lastSent = this.now;
      return c;
    }
    if (this.lifecycle !== 'established') return undefined;
    if (this.cursor < this.replay.end) {
      this.lastSent = this.now;
      return this.replay.at(this.cursor++);
    }
    const f = this.outbox.peek();
    if (!f || !this.replay.fits(frameWeight(f))) return undefined;
    this.outbox.shift();
    this.replay.push(f);
    this.cursor++;
    if (f.type === 'DISCONNECT') this.disconnectCount = this.cursor - 1;
    if (this.wantWritable && this.outbox.bytes <= this.maxQueue() / 2) {
      this.wantWritable = false;
      this.emit({ type: 'writable' });
    }
    this.lastSent = this.now;
    return f;
  }

  nextDeadline(): number | undefined {
    if (this.lifecycle === 'closed') return undefined;
    let t = Math.min(this.handshakeAt, this.ackAt);
    if (this.lifecycle === 'interrupted' || this.lifecycle === 'resuming') t = Math.min(t, this.interruptedAt + this.window());
    const hb = this.agreed?.heartbeatMs ?? 0;
    if (this.lifecycle === 'established' && this.attached && hb > 0) t = Math.min(t, this.lastRecv + 2 * hb, this.lastSent + hb);
    return t === Infinity ? undefined : t;
  }

  // ---- inputs ---------------------------------------------------------------------------

  handleTransportUp(now: number): void {
    this.now = now;
    if (this.lifecycle === 'closed') { this.attached = true; this.outbox.clearControl(); return; }
    // A new transport while one is attached: the old one is presumed dead.
    if (this.attached) this.handleTransportDown(now);
    if (this.state === 'closed') return;
    this.attached = true;
    this.lastSent = this.lastRecv = now;
    const to = this.go('transport-up');
    if (to === 'connecting' && this.connect) { this.offered = this.connect; this.outbox.pushControl(this.connect); }
    if (to === 'resuming' && this.id && this.secret) this.outbox.pushControl({ type: 'RESUME', sessionId: this.id, resumeSecret: this.secret, received: this.received });
    if (to !== 'established') this.handshakeAt = now + (this.opts.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs);
  }

  handleTransportDown(now: number, error?: SessionError): void {
    this.now = now;
    if (!this.attached) return;
    const from = this.lifecycle;
    this.detach();
    if (from === 'closed') return;
    const to = this.go('transport-down');
    if (from === 'established') this.interrupt(error);
    else if (to === 'closed') this.emit({ type: 'closed', error: error ?? new SessionError('ERR_ABORTED', 'the transport closed before the connect was answered', 'remote') });
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
    if (this.attached) this.lastRecv = now;
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
    this.lastRecv = now;
    try {
      if (this.lifecycle === 'closed') {
        if (frame.type === 'RESUME') this.refuseResume(this.closeReason, 'the session has ended');
        return;
      }
      if (isSessionFrame(frame)) this.receiveSession(frame);
      else this.receiveConnection(frame);
    } catch (e) {
      this.internalError(e);
    }
  }

  protected receiveSession(f: SessionFrame): void {
    if (this.lifecycle !== 'established' || !this.dialogue) return this.violation(`${f.type} before the session is established`, f.type);
    this.received++;
    this.unackedFrames++;
    this.unackedBytes += frameWeight(f);
    if (this.unackedFrames >= (this.opts.ackEveryFrames ?? DEFAULTS.ackEveryFrames) || this.unackedBytes >= (this.opts.ackEveryBytes ?? DEFAULTS.ackEveryBytes)) this.queueAck();
    else if (this.ackAt === Infinity) this.ackAt = this.now + (this.opts.ackDelayMs ?? DEFAULTS.ackDelayMs);
    if (f.type === 'REAUTH' || f.type === 'REAUTH_RESULT') return this.receiveReauth(f);
    this.dialogue.receive(f);
  }

  protected receiveReauth(f: ReauthFrame | ReauthResultFrame): void {
    const mine = f.type === 'REAUTH' ? this.role === 'acceptor' : this.role === 'initiator';
    const expectPending = f.type === 'REAUTH_RESULT';
    if (!mine || this.reauthPending !== expectPending) return this.violation(`unexpected ${f.type}`, f.type);
    this.reauthPending = f.type === 'REAUTH';
    this.emit(f.type === 'REAUTH' ? { type: 'reauth', credentials: f.credentials } : { type: 'reauth-result', accepted: f.accepted, message: f.message });
  }

  protected receiveConnection(f: ConnectionFrame): void {
    switch (f.type) {
      case 'ACK':
        if (this.lifecycle !== 'established' || f.received > this.cursor) return this.violation(`ACK for ${f.received} frames, ${this.cursor} sent`, f.type);
        return this.acknowledge(f.received);
      case 'HEARTBEAT':
        return;
      case 'ABORT':
        return this.fail(new SessionError('ERR_ABORTED', f.message || 'the peer aborted the session', 'remote', { reason: f.reason, userData: f.userData }), null, 'recv-ABORT');
      case 'CONNECT':
        if (this.role !== 'acceptor' || this.lifecycle !== 'idle') return this.violation('unexpected CONNECT', f.type);
        return this.onConnect(f);
      case 'ACCEPT':
        if (this.lifecycle !== 'connecting') return this.violation('unexpected ACCEPT', f.type);
        return this.onAccept(f);
      case 'REFUSE':
        if (this.lifecycle !== 'connecting') return this.violation('unexpected REFUSE', f.type);
        return this.fail(new SessionError('ERR_REFUSED', f.message || 'the peer refused the session', 'remote', { reason: f.reason, userData: f.userData }), null, 'recv-REFUSE');
      case 'RESUME':
        return this.onResume(f.sessionId, f.resumeSecret, f.received);
      case 'RESUMED':
        if (this.lifecycle !== 'resuming') return this.violation('unexpected RESUMED', f.type);
        if (f.received < this.replay.base || f.received > this.replay.end) return this.violation(`RESUMED with count ${f.received} outside ${this.replay.base}..${this.replay.end}`, f.type);
        return this.resumeAt(f.received, 'recv-RESUMED');
      case 'RESUME_REFUSED':
        if (this.lifecycle !== 'resuming') return this.violation('unexpected RESUME_REFUSED', f.type);
        return this.fail(new SessionError('ERR_RESUME_REFUSED', f.message || 'the peer refused to resume', 'remote', { reason: f.reason }), null, 'recv-RESUME_REFUSED');
    }
  }

  // ---- connect --------------------------------------------------------------------------

  protected onConnect(c: ConnectFrame): void {
    const d = decide(c, this.opts);
    this.offered = c;
    this.handshakeAt = Infinity;
    this.go('recv-CONNECT');
    if (!d.ok) return this.refuseWith(d.reason, d.message, EMPTY, 'ERR_NEGOTIATION_FAILED');
    this.emit({ type: 'connect-request', proposal: describe(d.accept), credentials: c.credentials, userData: c.userData });
  }

  /** Acceptor: accept the pending connect request. */
  accept(options: { userData?: Uint8Array } = {}): void {
    const c = this.offered;
    if (this.lifecycle !== 'accepting' || !c || !this.id || !this.secret) throw this.stateError('accept');
    const d = decide(c, this.opts);
    if (!d.ok) throw new SessionError('ERR_NEGOTIATION_FAILED', d.message);
    const a: AcceptFrame = { ...d.accept, sessionId: this.id, resumeSecret: this.secret, userData: this.fitUserData(options.userData) };
    if (this.attached) this.outbox.pushControl(a);
    this.establish(a, 'accept');
  }

  /** Acceptor: refuse the pending connect request. */
  refuse(reason: RefuseReasonValue = RefuseReason.rejected, message = 'refused', userData: Uint8Array = EMPTY): void {
    if (this.lifecycle !== 'accepting') throw this.stateError('refuse');
    this.refuseWith(reason, message, userData, 'ERR_REFUSED');
  }

  protected refuseWith(reason: RefuseReasonValue, message: string, userData: Uint8Array, code: ErrorCode): void {
    if (this.attached) this.outbox.pushControl({ type: 'REFUSE', reason, message: clampUtf8(message, MAX_MESSAGE_BYTES), userData });
    this.go('refuse');
    this.emit({ type: 'closed', error: new SessionError(code, message, 'local', { reason }) });
  }

  protected onAccept(a: AcceptFrame): void {
    const problem = this.offered ? checkAccept(a, this.offered) : 'no CONNECT was sent';
    if (problem) return this.fail(new SessionError('ERR_NEGOTIATION_FAILED', `the acceptor answered outside the proposal: ${problem}`, 'remote'), AbortReason.protocolError, 'protocol-error');
    this.id = a.sessionId;
    this.secret = a.resumeSecret;
    this.establish(a, 'recv-ACCEPT');
  }

  protected establish(a: AcceptFrame, trigger: LifecycleTrigger, restoring = false): void {
    this.offered = this.connect = undefined; // the handshake is done: keep no credentials around
    this.agreement = { version: a.version, units: a.units, mode: a.mode, simplexSender: a.simplexSender, maxFrameSize: a.maxFrameSize, heartbeatMs: a.heartbeatMs, resumeWindowMs: a.resumeWindowMs, initialSerial: a.initialSerial, tokenSetting: a.tokenSetting };
    const agreed = describe(a);
    this.agreed = agreed;
    this.dialogue = new Dialogue(this.host, {
      units: a.units,
      mode: agreed.mode,
      isInitiator: this.role === 'initiator',
      simplexSenderIsMe: a.simplexSender === this.role,
      initialSerial: a.initialSerial,
      tokenSetting: a.tokenSetting,
    });
    this.handshakeAt = Infinity;
    if (restoring) return;
    this.go(trigger);
    this.emit({ type: 'established', negotiated: agreed, sessionId: a.sessionId, userData: a.userData });
  }

  // ---- resume ---------------------------------------------------------------------------

  /**
   * Acceptor: whether a RESUME may take over this session, checked before its transport is
   * attached (so a wrong secret never disturbs the live connection). Null when it may.
   */
  checkResume(sessionId: Uint8Array, secret: Uint8Array): ResumeRefuseReasonValue | null {
    if (this.role !== 'acceptor' || !this.id || !this.secret || !constantTimeEqual(sessionId, this.id)) return ResumeRefuseReason.unknown;
    if (!constantTimeEqual(secret, this.secret)) return ResumeRefuseReason.wrongSecret;
    if (this.lifecycle === 'closed') return this.closeReason;
    return null;
  }

  protected onResume(sessionId: Uint8Array, secret: Uint8Array, received: number): void {
    if (this.role !== 'acceptor') return this.violation('RESUME sent to an initiator', 'RESUME');
    if (!this.id || !this.secret || !this.dialogue || !constantTimeEqual(sessionId, this.id)) return this.refuseResume(ResumeRefuseReason.unknown, 'no such session');
    if (this.lifecycle !== 'interrupted') return this.violation('RESUME on a transport that already carries the session', 'RESUME');
    if (!constantTimeEqual(secret, this.secret)) return this.refuseResume(ResumeRefuseReason.wrongSecret, 'wrong resume secret');
    if (received < this.replay.base || received > this.replay.end) return this.refuseResume(ResumeRefuseReason.invalid, `count ${received} outside ${this.replay.base}..${this.replay.end}`);
    this.outbox.pushControl({ type: 'RESUMED', received: this.received });
    this.resumeAt(received, 'recv-RESUME');
  }

  protected refuseResume(reason: ResumeRefuseReasonValue, message: string): void {
    this.outbox.pushControl({ type: 'RESUME_REFUSED', reason, message: clampUtf8(message, MAX_MESSAGE_BYTES) });
    this.emit({ type: 'close-transport', error: new SessionError('ERR_RESUME_REFUSED', message, 'local', { reason }) });
  }

  protected resumeAt(peerReceived: number, trigger: LifecycleTrigger): void {
    this.acknowledge(peerReceived);
    if (this.lifecycle === 'closed') return;
    this.cursor = peerReceived;
    this.handshakeAt = Infinity;
    this.go(trigger);
    this.emit({ type: 'resumed', replayed: this.replay.end - peerReceived });
  }

  // ---- timers, acks, queues -------------------------------------------------------------

  protected timeouts(now: number): void {
    if (now >= this.handshakeAt) {
      this.handshakeAt = Infinity;
      const error = new SessionError('ERR_HANDSHAKE_TIMEOUT', `no answer to the handshake within ${this.opts.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs} ms`);
      if (this.lifecycle === 'connecting' || this.lifecycle === 'idle') return this.fail(error, AbortReason.timeout, 'handshake-timeout');
      this.emit({ type: 'close-transport', error });
      this.detach();
      if (this.lifecycle === 'resuming') this.go('handshake-timeout');
    }
    if ((this.lifecycle === 'interrupted' || this.lifecycle === 'resuming') && now >= this.interruptedAt + this.window()) {
      if (this.disconnectCount >= 0) return this.releasedNow();
      this.closeReason = ResumeRefuseReason.expired;
      return this.fail(new SessionError('ERR_RESUME_WINDOW_EXPIRED', `the transport stayed down longer than the ${this.window()} ms resume window`), null, 'resume-window-expired');
    }
    const hb = this.agreed?.heartbeatMs ?? 0;
    if (this.lifecycle === 'established' && this.attached && hb > 0) {
      if (now >= this.lastRecv + 2 * hb) {
        const error = new SessionError('ERR_HEARTBEAT_TIMEOUT', `nothing from the peer for ${2 * hb} ms`, 'remote');
        this.emit({ type: 'close-transport', error });
        this.detach();
        this.go('heartbeat-timeout');
        return this.interrupt(error);
      }
      if (now >= this.lastSent + hb) {
        this.outbox.pushControl({ type: 'HEARTBEAT' });
        this.lastSent = now;
      }
    }
    if (now >= this.ackAt) this.queueAck();
  }

  protected queueAck(): void {
    this.ackAt = Infinity;
    this.unackedFrames = this.unackedBytes = 0;
    if (this.attached) this.outbox.acknowledge(this.received);
  }

  protected acknowledge(count: number): void {
    if (count <= this.replay.base) return;
    this.replay.acknowledge(count);
    if (this.disconnectCount >= 0 && count > this.disconnectCount) this.releasedNow();
  }

  protected queue(f: SessionFrame): void { this.outbox.push(f); }

  protected maxQueue(): number { return this.opts.maxSendQueueBytes ?? DEFAULTS.maxSendQueueBytes; }
  protected window(): number { return this.agreed?.resumeWindowMs ?? this.opts.resumeWindowMs ?? DEFAULTS.resumeWindowMs; }

  /** Room for `bytes` more in the send queue, or a coded error (and `writable` later). */
  protected reserve(bytes: number): void {
    const queued = this.outbox.bytes;
    if (queued === 0 || queued + bytes <= this.maxQueue()) return;
    if (!this.attached && this.opts.replayOverflow === 'fail') {
      this.closeReason = ResumeRefuseReason.overflowed;
      const error = new SessionError('ERR_REPLAY_OVERFLOW', 'the send buffer overflowed while disconnected');
      this.fail(error, null, 'abort');
      throw error;
    }
    this.wantWritable = true;
    throw new SessionError('ERR_SEND_BUFFER_FULL', `the send queue holds ${queued} of ${this.maxQueue()} bytes; wait for 'writable'`, 'local', { queuedBytes: queued });
  }

  protected purgeOutgoingData(): void {
    const payloads = this.outbox.purgeData();
    if (payloads.length > 0) this.emit({ type: 'data-discarded', direction: 'out', payloads });
  }

  // ---- lifecycle helpers ----------------------------------------------------------------

  protected go(trigger: LifecycleTrigger): LifecycleState {
    const to = nextState(this.lifecycle, trigger, this.role);
    if (to === undefined) throw new Error(`no transition from ${this.lifecycle} on ${trigger} for ${this.role}`);
    this.lifecycle = to;
    return to;
  }

  protected detach(): void {
    this.attached = false;
    this.outbox.clearControl();
    this.unackedFrames = this.unackedBytes = 0;
    this.ackAt = Infinity;
    this.handshakeAt = Infinity;
  }

  protected interrupt(error?: SessionError): void {
    this.interruptedAt = this.now;
    this.emit(error ? { type: 'interrupted', error } : { type: 'interrupted' });
  }

  protected emit(e: SessionEvent): void { this.events.push(e); }

  protected releasedNow(userData?: Uint8Array): void {
    // Having received DISCONNECT, acknowledge it at once so that the responder can close too.
    if (this.disconnectCount < 0) this.queueAck();
    this.outbox.clearSession();
    this.go('released');
    this.emit(userData?.length ? { type: 'closed', userData } : { type: 'closed' });
  }

  protected violation(message: string, frameType: string): void {
    const error = new SessionError('ERR_PROTOCOL_VIOLATION', message, 'remote', { frame: frameType, state: this.lifecycle });
    this.fail(error, AbortReason.protocolError, 'protocol-error');
  }

  protected internalError(e: unknown): void {
    const error = e instanceof SessionError ? e : new SessionError('ERR_ABORTED', `internal error: ${e instanceof Error ? e.message : String(e)}`, 'local', { reason: AbortReason.internalError });
    this.fail(error, AbortReason.internalError, 'abort');
  }

  /** Ends the session: ABORT to the peer (when a reason is given and a transport is up), then `closed`. */
  protected fail(error: SessionError, reason: AbortReasonValue | null, trigger: LifecycleTrigger): void {
    if (this.lifecycle === 'closed') return;
    this.outbox.clearSession();
    this.outbox.clearControl();
    if (reason !== null && this.attached) this.outbox.pushControl({ type: 'ABORT', reason, message: clampUtf8(error.message, Math.min(MAX_MESSAGE_BYTES, (this.maxFrameSize >> 1) - 16)), userData: EMPTY });
    this.go(trigger);
    this.emit({ type: 'closed', error });
  }

  protected stateError(what: string): SessionError {
    return new SessionError('ERR_INVALID_STATE', `cannot ${what} in state ${this.lifecycle}`, 'local', { state: this.lifecycle });
  }


  protected fitUserData(userData: Uint8Array | undefined): Uint8Array {
    const u = userData ?? EMPTY;
    const limit = this.maxFrameSize - CONTROL_OVERHEAD;
    if (u.length > limit) throw new SessionError('ERR_PAYLOAD_TOO_LARGE', `user data of ${u.length} bytes exceeds ${limit}`, 'local', { limit });
    return u;
  }

  protected fitPayload(payload: Uint8Array, limit = this.maxFrameSize): void {
    if (payload.length > limit) throw new SessionError('ERR_PAYLOAD_TOO_LARGE', `payload of ${payload.length} bytes exceeds ${limit}`, 'local', { limit });
  }
}
