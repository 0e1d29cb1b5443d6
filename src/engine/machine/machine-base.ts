// MachineBase: the state every layer of the session machine shares (see ./machine-core.ts for
// the theory of operation), with the helpers the layers above use to change it.
//
// Layers, bottom up (each a class extending the one before; no layer adds fields):
//   machine-base.ts       fields, inspection, send-queue accounting, acks, lifecycle helpers
//   machine-handshake.ts  connect (CONNECT/ACCEPT/REFUSE) and resume (RESUME/RESUMED)
//   machine-core.ts       inputs (handle*), outputs (poll*), timers and heartbeats
//   session-machine.ts    the application's commands, snapshot and restore
//
// Everything that ends the session goes through `fail` (ABORT when a reason is given) or
// `releasedNow` (orderly release); every lifecycle change goes through `go`, which follows the
// table in ./transitions.ts and throws on a missing row (caught by the input as an internal error).

import { clampUtf8 } from '../bytes.js';
import { SessionError } from '../errors.js';
import { AbortReason, MAX_MESSAGE_BYTES, ResumeRefuseReason, RESUME_SECRET_LENGTH, SESSION_ID_LENGTH } from '../frames.js';
import type { AbortReasonValue, AcceptFrame, ConnectFrame, ResumeRefuseReasonValue, SessionFrame, TokenName } from '../frames.js';
import type { Dialogue, DialogueHost, DialogueState } from './dialogue.js';
import type { SessionEvent } from './events.js';
import { buildConnect } from './negotiation.js';
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

/** Options with a numeric default in DEFAULTS. */
type Tunable = keyof typeof DEFAULTS & keyof MachineOptions;

export class MachineBase {
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
  /** Closed by an orderly release: a late RESUME is answered (see MachineHandshake.onResumeReleased). */
  protected released = false;

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
    this.replay = new ReplayBuffer(this.tuned('maxReplayFrames'), this.tuned('maxReplayBytes'));
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
  /** A release is under way: our FINISH awaits its answer, or we answered the peer's with DISCONNECT. */
  get releasing(): boolean {
    const d = this.dialogue;
    return !!d && (d.finished || d.pendingLocal?.kind === 'release');
  }
  /** The next sync serial number, V(M). */
  get serial(): number | undefined { return this.dialogue?.vm; }
  get activity(): Uint8Array | null { return this.dialogue?.activity ?? null; }
  get maxFrameSize(): number { return this.agreed?.maxFrameSize ?? this.tuned('maxFrameSize'); }
  get stats(): SessionStats {
    return { sent: this.replay.end, received: this.received, acknowledged: this.replay.base, queuedBytes: this.outbox.bytes, replayFrames: this.replay.length, replayBytes: this.replay.bytes };
  }
  /** Payload bytes this side holds for the peer: sent and not yet acknowledged, or not yet sent. */
  get heldBytes(): number { return this.replay.bytes + this.outbox.bytes; }
  /** Frames the peer has acknowledged so far. */
  get acknowledgedCount(): number { return this.replay.base; }
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

  // ---- send queue and acks --------------------------------------------------------------

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

  /** An option as given, or its default. */
  protected tuned(key: Tunable): number { return this.opts[key] ?? DEFAULTS[key]; }

  protected maxQueue(): number { return this.tuned('maxSendQueueBytes'); }
  protected window(): number { return this.agreed?.resumeWindowMs ?? this.tuned('resumeWindowMs'); }

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

  /** Asks the caller to close the transport, and forgets it. */
  protected closeTransport(error: SessionError): void {
    this.emit({ type: 'close-transport', error });
    this.detach();
  }

  protected interrupt(error?: SessionError): void {
    // The acceptor's DISCONNECT went out and the transport died: the release is complete here.
    // If the DISCONNECT was lost, the initiator comes back for it with a RESUME, which a
    // released acceptor still answers (MachineHandshake.onResumeReleased); if it arrived, the
    // initiator has closed and nobody would come back, so waiting out the window gains nothing.
    if (this.role === 'acceptor' && this.disconnectCount >= 0) return this.releasedNow();
    this.interruptedAt = this.now;
    this.emit(error ? { type: 'interrupted', error } : { type: 'interrupted' });
  }

  protected emit(e: SessionEvent): void { this.events.push(e); }

  protected releasedNow(userData?: Uint8Array): void {
    // Having received DISCONNECT, acknowledge it at once so that the responder can close too.
    if (this.disconnectCount < 0) this.queueAck();
    this.outbox.clearSession();
    this.released = true;
    this.cursor = this.replay.end; // nothing goes out again unless a RESUME asks for it
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
