// The replay buffer: session frames sent but not yet acknowledged, indexed by their count.
//
// Frame number n (0-based, in wire order) lives here until the peer's cumulative count passes
// n. On resume the peer says how many it received; everything after that is sent again. The
// buffer is bounded in frames and bytes; when full the machine stops moving frames onto the
// wire (the application is told to wait), so nothing is ever dropped.

import type { SessionFrame } from '../frames.js';
import { frameWeight } from '../frames.js';

// The array is made on first push and let go when emptied; the flow (./flow.ts) makes the buffer
// itself when it first sends and lets it go when it empties, so an idle session keeps neither
// (issue 14).
const NONE: readonly never[] = Object.freeze([]);

/** The replay buffer's bounds (the flow's shared limits). */
export interface ReplayLimits {
  readonly maxReplayFrames: number;
  readonly maxReplayBytes: number;
}

export class ReplayBuffer {
  private frames: readonly (SessionFrame | undefined)[] = NONE;
  private head = 0;
  private heldBytes = 0;

  constructor(
    /** Count of the first frame still held (= frames the peer acknowledged). */
    private baseCount: number,
    private readonly limits: ReplayLimits,
  ) {}

  get base(): number {
    return this.baseCount;
  }
  /** Count of the next frame to be sent for the first time. */
  get end(): number {
    return this.baseCount + this.length;
  }
  get length(): number {
    return this.frames.length - this.head;
  }
  get bytes(): number {
    return this.heldBytes;
  }

  /** Whether a frame of `weight` bytes fits now. An empty buffer takes any one frame. */
  fits(weight: number): boolean {
    if (this.length === 0) return true;
    return this.length < this.limits.maxReplayFrames && this.heldBytes + weight <= this.limits.maxReplayBytes;
  }

  push(frame: SessionFrame): void {
    if (this.frames === NONE) this.frames = [frame];
    else (this.frames as SessionFrame[]).push(frame);
    this.heldBytes += frameWeight(frame);
  }

  /** The frame with wire count `count`, which must be within [base, end). */
  at(count: number): SessionFrame {
    const frame = this.frames[this.head + count - this.baseCount];
    if (frame === undefined) throw new RangeError(`replay buffer holds no frame ${count}`);
    return frame;
  }

  /** The held frames, oldest first (for a snapshot). */
  list(): SessionFrame[] {
    return this.frames.slice(this.head) as SessionFrame[];
  }

  /** Empties the buffer and starts it at `base` with `frames` (restoring a snapshot). */
  reset(base: number, frames: readonly SessionFrame[]): void {
    this.frames = frames.length > 0 ? [...frames] : NONE;
    this.head = 0;
    this.baseCount = base;
    this.heldBytes = frames.reduce((n, f) => n + frameWeight(f), 0);
  }

  /** Drops every frame below `count` (the peer has them). Returns how many were dropped. */
  dropBelow(count: number): number {
    let dropped = 0;
    const frames = this.frames as (SessionFrame | undefined)[];
    while (this.baseCount < count && this.head < frames.length) {
      const frame = frames[this.head];
      frames[this.head] = undefined;
      this.head++;
      this.baseCount++;
      dropped++;
      if (frame) this.heldBytes -= frameWeight(frame);
    }
    // Emptied: let the grown array go (an idle session keeps none). Else compact now and then so
    // the array does not grow without bound.
    if (this.head === this.frames.length) {
      if (this.head > 0) {
        this.frames = NONE;
        this.head = 0;
      }
    } else if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
    return dropped;
  }
}
