// The outbox: everything waiting to go on the wire, in the order it must go.
//
//   1. connection frames (CONNECT, ACK, HEARTBEAT, RESUME, ABORT, ...): first, never counted;
//      at most one ACK is queued, and it always carries the latest count;
//   2. expedited session frames, ahead of
//   3. normal session frames, in the order the application issued them.
// Session frames are counted when they leave (Flow.nextFrame), so expedited data can
// overtake queued normal data while both ends still count alike. Bytes of session frames are
// bounded by the caller (the machine, against Flow.fits); connection frames are few and tiny.

import { frameWeight } from '../frames.js';
import type { AckFrame, ConnectionFrame, SessionFrame } from '../frames.js';

// The three queues are made on first push and let go when emptied: an idle session keeps no
// array (32 bytes each, issue 14).
const NONE: readonly never[] = Object.freeze([]);

export class Outbox {
  private ctrl: ConnectionFrame[] | null = null;
  private ack: AckFrame | null = null;
  private normal: (SessionFrame | undefined)[] | null = null;
  private head = 0;
  private expedited: SessionFrame[] | null = null;
  /** Payload and user-data bytes of queued session frames. */
  bytes = 0;

  /** Holds nothing: no connection frame, no session frame. */
  get empty(): boolean {
    return this.ctrl === null && this.normal === null && this.expedited === null;
  }

  get frames(): number {
    return (this.normal?.length ?? 0) - this.head + (this.expedited?.length ?? 0);
  }

  // An empty control queue takes a new array of one: push would reserve 17 slots (ACCEPT, ACK,
  // HEARTBEAT are almost always alone).
  pushControl(f: ConnectionFrame): void {
    if (this.ctrl === null) this.ctrl = [f];
    else this.ctrl.push(f);
  }

  /** Queues an ACK for `received`, or updates the one already waiting. */
  queueAck(received: number): void {
    if (this.ack) this.ack.received = received;
    else {
      this.ack = { type: 'ACK', received };
      this.pushControl(this.ack);
    }
  }

  takeControl(): ConnectionFrame | undefined {
    const ctrl = this.ctrl;
    if (ctrl === null) return undefined;
    const c = ctrl.shift();
    if (ctrl.length === 0) this.ctrl = null;
    if (c === this.ack) this.ack = null;
    return c;
  }

  lastControl(): ConnectionFrame | undefined {
    const ctrl = this.ctrl;
    return ctrl === null ? undefined : ctrl[ctrl.length - 1];
  }

  /** Drops connection frames (the transport they were meant for is gone). */
  clearControl(): void {
    this.ctrl = null;
    this.ack = null;
  }

  push(f: SessionFrame): void {
    this.bytes += frameWeight(f);
    if (f.type === 'EXPEDITED') (this.expedited ??= []).push(f);
    else if (this.normal === null) this.normal = [f];
    else this.normal.push(f);
  }

  peek(): SessionFrame | undefined {
    if (this.expedited !== null) return this.expedited[0];
    return this.normal === null ? undefined : this.normal[this.head];
  }

  /** Removes the frame `peek()` returned. */
  shift(): void {
    let f: SessionFrame | undefined;
    const expedited = this.expedited;
    const normal = this.normal;
    if (expedited !== null) {
      f = expedited.shift();
      if (expedited.length === 0) this.expedited = null;
    } else if (normal !== null) {
      f = normal[this.head];
      normal[this.head++] = undefined;
      if (this.head === normal.length) {
        this.normal = null;
        this.head = 0;
      }
    }
    if (f) this.bytes -= frameWeight(f);
  }

  /** Removes queued normal and typed data; returns their payloads. */
  purgeData(): Uint8Array[] {
    const payloads: Uint8Array[] = [];
    const kept: SessionFrame[] = [];
    const normal = this.normal ?? NONE;
    for (let i = this.head; i < normal.length; i++) {
      const f = normal[i];
      if (!f) continue;
      if (f.type === 'DATA' || f.type === 'TYPED') {
        payloads.push(f.payload);
        this.bytes -= f.payload.length;
      } else kept.push(f);
    }
    this.normal = kept.length > 0 ? kept : null;
    this.head = 0;
    return payloads;
  }

  /** Queued session frames in the order they would go out (for a snapshot). */
  list(): SessionFrame[] {
    return [
      ...(this.expedited ?? NONE),
      ...(this.normal ?? NONE).slice(this.head).filter((f): f is SessionFrame => f !== undefined),
    ];
  }

  clearSession(): void {
    this.normal = null;
    this.head = 0;
    this.expedited = null;
    this.bytes = 0;
  }
}
