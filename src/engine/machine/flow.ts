// Flow: the frames of one session on their way out and the counts both ways. It owns the send
// queue (./outbox.ts), the replay buffer (./replay-buffer.ts), the send cursor, the count of
// frames received and the lazy acknowledgement of them.
//
//   app --queue--> [send queue] --nextFrame--> wire           peer --frame--> countReceived
//                                  |                                              |
//                            [replay buffer] <--acknowledge-- ACK/RESUMED     ackNow --> ACK
//
// Rules
//   - A session frame gets its count when it first goes on the wire (nextFrame), so expedited
//     frames can overtake queued normal ones and both ends still count alike.
//   - The send queue is bounded by bytes and frames, the replay buffer by frames and bytes; a
//     frame waits in the send queue until acknowledgements make room in the replay buffer.
//   - Resuming rewinds the cursor to what the peer says it received: the replay buffer sends
//     the rest again, so nothing is lost or duplicated.
//   - The flow knows nothing of timers, lifecycle or events: it answers (an ACK is due at once,
//     our DISCONNECT is acknowledged, a writer may go on) and the machine acts.

import { SessionError } from '../errors.js';
import { frameWeight } from '../frames.js';
import type { ConnectionFrame, Frame, SessionFrame } from '../frames.js';
import { Outbox } from './outbox.js';
import { ReplayBuffer } from './replay-buffer.js';

/** At most this many frames wait in the send queue, whatever their size. */
export const MAX_QUEUED_FRAMES = 65_536;

export interface FlowLimits {
  maxSendQueueBytes: number;
  maxReplayFrames: number;
  maxReplayBytes: number;
  ackEveryFrames: number;
  ackEveryBytes: number;
  /** Longest wait before an ACK for what was received (the machine arms the timer). */
  ackDelayMs: number;
}

const sharedLimits = new Map<string, Readonly<FlowLimits>>();

/**
 * One frozen FlowLimits per distinct value, shared by every session under the same options (64
 * bytes of heap each otherwise); a bounded cache of pure values, as ./agreed.ts.
 */
export function flowLimits(l: FlowLimits): Readonly<FlowLimits> {
  const key = `${l.maxSendQueueBytes} ${l.maxReplayFrames} ${l.maxReplayBytes} ${l.ackEveryFrames} ${l.ackEveryBytes} ${l.ackDelayMs}`;
  const known = sharedLimits.get(key);
  if (known) return known;
  const limits = Object.freeze({ ...l });
  if (sharedLimits.size >= 256) sharedLimits.clear();
  sharedLimits.set(key, limits);
  return limits;
}

/** The flow's part of a snapshot (see MachineSnapshot). */
export interface FlowState {
  received: number;
  replayBase: number;
  replay: SessionFrame[];
  queued: SessionFrame[];
  disconnectCount: number;
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

// The send queue and the replay buffer are made when a frame is first queued or sent and let go
// when they empty again: an idle session keeps neither (152 bytes of every idle session, issue
// 14). EMPTY_OUTBOX and EMPTY_REPLAY stand in for them meanwhile, frozen and for reading only:
// what fills one goes through outboxToFill() or replayToFill(), which make the session's own,
// and what empties one is not called on them.
const EMPTY_OUTBOX: Outbox = Object.freeze(new Outbox()) as Outbox;
const EMPTY_REPLAY: ReplayBuffer = Object.freeze(
  new ReplayBuffer(0, Object.freeze({ maxReplayFrames: 0, maxReplayBytes: 0 })),
) as ReplayBuffer;

export class Flow {
  private outbox = EMPTY_OUTBOX;
  private replay = EMPTY_REPLAY;
  /** The peer's acknowledged count while no replay buffer is held (the buffer's base when one is). */
  private replayBase = 0;
  /** Count of the next session frame to put on the wire (below the replay end after a resume). */
  private cursor = 0;
  /** Session frames received from the peer. */
  private receivedCount = 0;
  /** The count our DISCONNECT went out with, or -1 while it has not. */
  private disconnectCount = -1;
  private unackedFrames = 0;
  private unackedBytes = 0;
  /** A writer was told the send queue is full and waits for room. */
  private writerWaiting = false;
  /** The queue drained below half for a waiting writer (taken by takeWritable). */
  private writableReady = false;

  constructor(private readonly limits: Readonly<FlowLimits>) {}

  private outboxToFill(): Outbox {
    const o = this.outbox;
    return o === EMPTY_OUTBOX ? (this.outbox = new Outbox()) : o;
  }
  /** Lets the outbox go once it holds nothing. */
  private outboxTaken(): void {
    if (this.outbox.empty) this.outbox = EMPTY_OUTBOX;
  }
  private replayToFill(): ReplayBuffer {
    const r = this.replay;
    return r === EMPTY_REPLAY ? (this.replay = new ReplayBuffer(this.replayBase, this.limits)) : r;
  }
  /** Lets the replay buffer go once it holds nothing, keeping its base. */
  private replayTaken(): void {
    const r = this.replay;
    if (r !== EMPTY_REPLAY && r.length === 0) {
      this.replayBase = r.base;
      this.replay = EMPTY_REPLAY;
    }
  }
  private get acked(): number {
    const r = this.replay;
    return r === EMPTY_REPLAY ? this.replayBase : r.base;
  }
  private get replayEnd(): number {
    const r = this.replay;
    return r === EMPTY_REPLAY ? this.replayBase : r.end;
  }

  // ---- the send queue -------------------------------------------------------------------

  get ackDelayMs(): number {
    return this.limits.ackDelayMs;
  }

  private get maxQueueBytes(): number {
    return this.limits.maxSendQueueBytes;
  }
  /** Bytes the send queue can take now. */
  get writableBytes(): number {
    return Math.max(0, this.maxQueueBytes - this.outbox.bytes);
  }
  /** Payload bytes held for the peer: sent and not yet acknowledged, or not yet sent. */
  get heldBytes(): number {
    return this.replay.bytes + this.outbox.bytes;
  }

  /** Whether a send of `bytes` fits now; when it does not, `takeWritable()` says when it may. */
  hasRoomFor(bytes: number): boolean {
    const queued = this.outbox.bytes;
    if (queued === 0 || (queued + bytes <= this.maxQueueBytes && this.outbox.frames < MAX_QUEUED_FRAMES)) return true;
    this.writerWaiting = true;
    return false;
  }

  /** Whether `bytes` more fit the queue's byte bound (an empty queue takes anything). */
  fits(bytes: number): boolean {
    const queued = this.outbox.bytes;
    return queued === 0 || queued + bytes <= this.maxQueueBytes;
  }

  /**
   * Room for a command that starts something new, or ERR_SEND_BUFFER_FULL (and `takeWritable`
   * later). A queue filled exactly to its bound still takes one: data fills it at most that far
   * (`hasRoomFor`), so a send that was accepted is never followed by a sync point or activity
   * command that is refused; only a queue past its bound (one message larger than the whole queue,
   * or commands' user data on top of a full queue) refuses.
   */
  requireRoom(): void {
    const { bytes, frames } = this.outbox;
    if (bytes <= this.maxQueueBytes && frames < MAX_QUEUED_FRAMES) return;
    this.writerWaiting = true;
    throw new SessionError(
      'ERR_SEND_BUFFER_FULL',
      `the send queue is full (${bytes} bytes, ${frames} frames); wait for 'writable'`,
      'local',
      { queuedBytes: bytes },
    );
  }

  /** Room for `bytes` more, or ERR_SEND_BUFFER_FULL (and `takeWritable` later). */
  requireBytes(bytes: number): void {
    if (this.fits(bytes)) return;
    this.writerWaiting = true;
    const queued = this.outbox.bytes;
    throw new SessionError(
      'ERR_SEND_BUFFER_FULL',
      `the send queue holds ${queued} of ${this.maxQueueBytes} bytes; wait for 'writable'`,
      'local',
      { queuedBytes: queued },
    );
  }

  /** True once after the queue drained to half for a writer that waits. */
  takeWritable(): boolean {
    const ready = this.writableReady;
    this.writableReady = false;
    return ready;
  }

  queue(f: SessionFrame): void {
    this.outboxToFill().push(f);
  }
  pushControl(f: ConnectionFrame): void {
    this.outboxToFill().pushControl(f);
  }
  lastControl(): ConnectionFrame | undefined {
    return this.outbox.lastControl();
  }
  /** Drops connection frames (the transport they were meant for is gone). */
  dropControl(): void {
    if (this.outbox === EMPTY_OUTBOX) return;
    this.outbox.clearControl();
    this.outboxTaken();
  }
  /** Drops every session frame not yet on the wire (the session is over). */
  dropSession(): void {
    if (this.outbox === EMPTY_OUTBOX) return;
    this.outbox.clearSession();
    this.outboxTaken();
  }
  /** Drops normal and typed data not yet on the wire; returns their payloads. */
  purgeData(): Uint8Array[] {
    if (this.outbox === EMPTY_OUTBOX) return [];
    const payloads = this.outbox.purgeData();
    this.outboxTaken();
    return payloads;
  }

  /**
   * The next frame for the wire: connection frames first; session frames only while
   * `established`, replayed ones before fresh ones, fresh ones while the replay buffer has room.
   * After an orderly release (`released`), only what a late RESUME asked to be sent again.
   */
  nextFrame(established: boolean, released: boolean): Frame | undefined {
    const outbox = this.outbox;
    const c = outbox.takeControl();
    if (c) {
      this.outboxTaken();
      return c;
    }
    if (this.cursor < this.replayEnd && (established || released)) return this.replay.at(this.cursor++);
    if (!established) return undefined;
    const f = outbox.peek();
    if (!f || !this.replay.fits(frameWeight(f))) return undefined;
    outbox.shift();
    this.outboxTaken();
    this.replayToFill().push(f);
    this.cursor++;
    if (f.type === 'DISCONNECT') this.disconnectCount = this.cursor - 1;
    if (this.writerWaiting && this.outbox.bytes <= this.maxQueueBytes / 2) {
      this.writerWaiting = false;
      this.writableReady = true;
    }
    return f;
  }

  /**
   * Puts session frame `f` on the wire at once, as nextFrame would, when nothing waits before it
   * (no frame queued, none to replay) and the replay buffer has room: counted and held for replay.
   * False when it must be queued instead. Call only while established (as nextFrame's caller).
   */
  sendAtOnce(f: SessionFrame): boolean {
    if (this.cursor !== this.replayEnd || !this.outbox.empty || !this.replay.fits(frameWeight(f))) return false;
    this.replayToFill().push(f);
    this.cursor++;
    return true;
  }

  // ---- counts and acknowledgements ------------------------------------------------------

  /** Session frames received from the peer. */
  get received(): number {
    return this.receivedCount;
  }
  /** Session frames put on the wire at least once (what an ACK may acknowledge). */
  get sent(): number {
    return this.cursor;
  }
  /** Frames the peer has acknowledged. */
  get acknowledged(): number {
    return this.acked;
  }
  /** Our DISCONNECT has gone out: the release ends once the peer acknowledges it. */
  get disconnectSent(): boolean {
    return this.disconnectCount >= 0;
  }

  /** Whether `count` is one the peer may name on resume: held in the replay buffer or just past it. */
  resumable(count: number): boolean {
    return count >= this.acked && count <= this.replayEnd;
  }
  get resumeRange(): string {
    return `${this.acked}..${this.replayEnd}`;
  }

  /** Counts a session frame from the peer; true when an ACK is due at once, false when it may wait. */
  countReceived(f: SessionFrame): boolean {
    return this.countIn(frameWeight(f));
  }

  /** countReceived for a frame of `weight` bytes (a DATA frame's payload length, no frame object). */
  countIn(weight: number): boolean {
    this.receivedCount++;
    this.unackedFrames++;
    this.unackedBytes += weight;
    return this.unackedFrames >= this.limits.ackEveryFrames || this.unackedBytes >= this.limits.ackEveryBytes;
  }

  /** Acknowledges everything received so far: an ACK goes out when `attached`. */
  ackNow(attached: boolean): void {
    this.unackedFrames = this.unackedBytes = 0;
    if (attached) this.outboxToFill().queueAck(this.receivedCount);
  }

  /** The transport is gone: its ACK and other connection frames with it. */
  detach(): void {
    this.dropControl();
    this.unackedFrames = this.unackedBytes = 0;
  }

  /** The peer has `count` of our frames; true when that covers our DISCONNECT (released). */
  peerHas(count: number): boolean {
    if (count <= this.acked) return false;
    this.dropBelow(count);
    return this.disconnectCount >= 0 && count > this.disconnectCount;
  }

  /** After a resume: send again from `peerReceived` on. Returns how many frames are replayed. */
  rewind(peerReceived: number): number {
    this.cursor = peerReceived;
    return this.replayEnd - peerReceived;
  }

  /** Released: nothing goes out again unless a late RESUME asks for it (`replayAfterRelease`). */
  stopReplay(): void {
    this.cursor = this.replayEnd;
  }

  /**
   * A late RESUME after our release: the peer has `peerReceived` frames (dropped here, without
   * ending anything: the session already ended) and gets the rest again.
   */
  replayAfterRelease(peerReceived: number): void {
    this.dropBelow(peerReceived);
    this.cursor = peerReceived;
  }

  private dropBelow(count: number): void {
    const r = this.replay;
    if (r === EMPTY_REPLAY) return;
    r.dropBelow(count);
    this.replayTaken();
  }

  /** After a release: our count of the peer's frames, and ours it may still lack (see ReleasedEnd). */
  releasedEnd(): { received: number; base: number; frames: SessionFrame[] } {
    return { received: this.receivedCount, base: this.acked, frames: this.replay.list() };
  }

  get stats(): SessionStats {
    return {
      sent: this.replayEnd,
      received: this.receivedCount,
      acknowledged: this.acked,
      queuedBytes: this.outbox.bytes,
      replayFrames: this.replay.length,
      replayBytes: this.replay.bytes,
    };
  }

  // ---- snapshot -------------------------------------------------------------------------

  exportState(): FlowState {
    return {
      received: this.receivedCount,
      replayBase: this.acked,
      replay: this.replay.list(),
      queued: this.outbox.list(),
      disconnectCount: this.disconnectCount,
    };
  }

  /** Goes on from a snapshot: everything held is replayed on resume (the cursor at its end). */
  importState(s: FlowState): void {
    this.receivedCount = s.received;
    this.replay = EMPTY_REPLAY;
    this.replayBase = s.replayBase;
    if (s.replay.length > 0) this.replayToFill().reset(s.replayBase, s.replay);
    this.cursor = this.replayEnd;
    for (const f of s.queued) this.outboxToFill().push(f);
    this.disconnectCount = s.disconnectCount;
  }
}
