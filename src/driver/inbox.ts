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
  // Made on first use, and let go when emptied: an idle session keeps no array (issue 14).
  private items: Bytes[] | null = null;
  private head = 0;
  /** Bytes held for the application. */
  bytes = 0;
  /** The oldest waiting reader (an idle session's one `for await`), then the others in order. */
  private reader: Waiter<IteratorResult<Bytes>> | null = null;
  private moreReaders: Waiter<IteratorResult<Bytes>>[] | null = null;

  constructor(
    private readonly max: number,
    private readonly flow: InboxFlow,
  ) {}

  /** Whether a data unit is buffered. */
  get ready(): boolean {
    return this.items !== null;
  }

  /** Takes the oldest buffered data unit (call only when `ready`). */
  take(): Bytes {
    const items = this.items as Bytes[];
    const b = items[this.head] as Bytes;
    items[this.head++] = undefined as unknown as Bytes;
    if (this.head === items.length) {
      this.items = null; // lets the grown array go: an idle session keeps none
      this.head = 0;
    }
    this.bytes -= b.length;
    if (this.bytes <= this.max / 2) this.flow.resumeReading();
    return b;
  }

  /** Waits for the next data unit (call only when nothing is buffered). */
  wait(signal?: AbortSignal): Promise<IteratorResult<Bytes>> {
    // Without a signal there is nothing to forget: the promise's own functions are the waiter.
    if (!signal) return new Promise((resolve, reject) => this.addReader({ resolve, reject }));
    return new Promise((resolve, reject) => {
      const waiter = abortable(signal, resolve, reject, () => this.removeReader(waiter));
      this.addReader(waiter);
    });
  }

  private addReader(waiter: Waiter<IteratorResult<Bytes>>): void {
    if (this.reader === null) this.reader = waiter;
    else (this.moreReaders ??= []).push(waiter);
  }

  /** The oldest waiting reader, taken off the list. */
  private nextReader(): Waiter<IteratorResult<Bytes>> | null {
    const r = this.reader;
    const more = this.moreReaders;
    this.reader = more?.shift() ?? null;
    if (more?.length === 0) this.moreReaders = null;
    return r;
  }

  private removeReader(waiter: Waiter<IteratorResult<Bytes>>): void {
    if (this.reader === waiter) this.nextReader();
    else if (this.moreReaders) {
      this.moreReaders = this.moreReaders.filter((r) => r !== waiter);
      if (this.moreReaders.length === 0) this.moreReaders = null;
    }
  }

  deliver(payload: Bytes): void {
    const reader = this.nextReader();
    if (reader) {
      reader.resolve({ value: payload, done: false });
      return;
    }
    if (this.items === null) this.items = [payload];
    else this.items.push(payload);
    this.bytes += payload.length;
    if (this.bytes > this.max) this.flow.pauseReading();
  }

  /** The session ended: settles every waiting reader (with `error`, or done after a release). */
  end(error: Error | undefined): void {
    for (let r = this.nextReader(); r; r = this.nextReader()) {
      if (this.ready) r.resolve({ value: this.take(), done: false });
      else if (error) r.reject(error);
      else r.resolve({ value: undefined, done: true });
    }
  }
}
