// Inbox: the receive side of a Session, between the machine's `data` events and the
// application's reads.
//
// Theory of operation
//   - A received data unit goes straight to the oldest waiting reader, or else into a FIFO buffer.
//   - The buffer is bounded by bytes, softly: past `max` it asks the driver to pause reading the
//     transport (the peer then feels the backpressure), and once reads bring it down to half it
//     asks to resume. No data is ever dropped here.
//   - When the session ends, waiting readers get what is still buffered, then the close error (or
//     done after an orderly release). Reading after the end is the Session's business.

import type { Waiter } from './waiters.js';
import { abortable } from './waiters.js';

type Bytes = Uint8Array;

/** How the inbox throttles the transport: the session's Driver (no closures per session). */
export interface InboxFlow {
  pauseReading(): void;
  resumeReading(): void;
}

export class Inbox {
  private items: Bytes[] = [];
  private head = 0;
  /** Bytes held for the application. */
  bytes = 0;
  private readers: Waiter<IteratorResult<Bytes>>[] = [];

  constructor(
    private readonly max: number,
    private readonly flow: InboxFlow,
  ) {}

  /** Whether a data unit is buffered. */
  get ready(): boolean {
    return this.head < this.items.length;
  }

  /** Takes the oldest buffered data unit (call only when `ready`). */
  take(): Bytes {
    const b = this.items[this.head] as Bytes;
    this.items[this.head++] = undefined as unknown as Bytes;
    if (this.head === this.items.length) {
      this.items = []; // lets the grown array go: an idle session keeps none
      this.head = 0;
    }
    this.bytes -= b.length;
    if (this.bytes <= this.max / 2) this.flow.resumeReading();
    return b;
  }

  /** Waits for the next data unit (call only when nothing is buffered). */
  wait(signal?: AbortSignal): Promise<IteratorResult<Bytes>> {
    // Without a signal there is nothing to forget: the promise's own functions are the waiter.
    // An empty list takes an array of one (push would reserve 17 slots the idle reader keeps).
    if (!signal)
      return new Promise((resolve, reject) => {
        if (this.readers.length === 0) this.readers = [{ resolve, reject }];
        else this.readers.push({ resolve, reject });
      });
    return new Promise((resolve, reject) => {
      const waiter = abortable(signal, resolve, reject, () => {
        this.readers = this.readers.filter((r) => r !== waiter);
      });
      // The usual case, one reader waiting, takes an array of one (push would reserve 16).
      if (this.readers.length === 0) this.readers = [waiter];
      else this.readers.push(waiter);
    });
  }

  deliver(payload: Bytes): void {
    const reader = this.readers.shift();
    if (reader) {
      reader.resolve({ value: payload, done: false });
      return;
    }
    if (this.items.length === 0) this.items = [payload];
    else this.items.push(payload);
    this.bytes += payload.length;
    if (this.bytes > this.max) this.flow.pauseReading();
  }

  /** The session ended: settles every waiting reader (with `error`, or done after a release). */
  end(error: Error | undefined): void {
    for (const r of this.readers.splice(0)) {
      if (this.ready) r.resolve({ value: this.take(), done: false });
      else if (error) r.reject(error);
      else r.resolve({ value: undefined, done: true });
    }
  }
}
