// TransportBase: the lifecycle every transport shares, so each adapter only maps its I/O.
//
// It owns the handler slot, pause state, the held-data queue and the one close report. An
// adapter implements four hooks (writeBytes, closeGracefully, destroyNow, setFlowing) and
// reports what its connection does through receive(), emitDrain() and finished().
//
// Rules
//   - Nothing is delivered before the first setHandlers(): data is held (the adapter starts
//     with its source paused), and an early close waits too, so it reaches the first handlers.
//   - No handler runs synchronously inside a method call (write, pause, resume, close, destroy,
//     setHandlers): deferred work goes through queueMicrotask.
//   - Data received while not flowing is held in order and flushed on resume. An adapter whose
//     source cannot be paused (a browser WebSocket) sets maxHeldBytes; crossing it destroys
//     the transport with ERR_TRANSPORT_RECEIVE_OVERFLOW.
//   - The close report happens once. A clean end is reported after the held data has been
//     delivered; an error or a local destroy() drops held data and is reported at once.
//     destroy(error) always reports the caller's error, whatever the connection reports later.
//
//   open --close()--> closing --finished()--> [held data flushed] --> close handler
//     \--destroy(err)--------------------------------------------> close handler(err)

import { NO_HANDLERS, type Transport, type TransportHandlers, type TransportKind } from './transport.js';
import { TransportError } from './errors.js';

/** What a listen* function returns: its address for logs and a way to stop accepting. */
export interface TransportListener {
  /** "127.0.0.1:4000", "ws://127.0.0.1:4000/colloquy", "memory://chat". */
  readonly address: string;
  /** Stops accepting new connections; transports already handed out are left alone. */
  close(): Promise<void>;
}

// TransportBase's #bits: the state (index into STATES) in the low two bits, then the flags.
const STATES = ['open', 'closing', 'destroyed'] as const;
const STATE_MASK = 3;
const STARTED = 4;
const PAUSED = 8;
const REPORTED = 16;
const FLUSH_QUEUED = 32;

export abstract class TransportBase implements Transport {
  abstract readonly kind: TransportKind;
  abstract readonly remoteAddress: string;
  get tlsSessionReused(): boolean | undefined {
    return undefined;
  }

  /**
   * Bound on held bytes while paused, -1 for none; only adapters that cannot stop their source
   * give one (a getter, not a field of every transport, issue 14).
   */
  protected get maxHeldBytes(): number {
    return -1;
  }

  #handlers: TransportHandlers = NO_HANDLERS;
  // Data held while paused or before the first handlers; made on first use (issue 14).
  #held: Uint8Array[] | null = null;
  #heldBytes = 0;
  #end: { error?: Error } | undefined;
  /**
   * The lifecycle state and four flags in one small integer, read and written through the
   * accessors below: one field instead of five in every transport (issue 14).
   */
  #bits = 0;

  get #state(): 'open' | 'closing' | 'destroyed' {
    return STATES[this.#bits & STATE_MASK] as 'open' | 'closing' | 'destroyed';
  }
  set #state(state: 'open' | 'closing' | 'destroyed') {
    this.#bits = (this.#bits & ~STATE_MASK) | STATES.indexOf(state);
  }
  get #started(): boolean {
    return (this.#bits & STARTED) !== 0;
  }
  set #started(on: boolean) {
    this.#bits = on ? this.#bits | STARTED : this.#bits & ~STARTED;
  }
  get #paused(): boolean {
    return (this.#bits & PAUSED) !== 0;
  }
  set #paused(on: boolean) {
    this.#bits = on ? this.#bits | PAUSED : this.#bits & ~PAUSED;
  }
  get #reported(): boolean {
    return (this.#bits & REPORTED) !== 0;
  }
  set #reported(on: boolean) {
    this.#bits = on ? this.#bits | REPORTED : this.#bits & ~REPORTED;
  }
  get #flushQueued(): boolean {
    return (this.#bits & FLUSH_QUEUED) !== 0;
  }
  set #flushQueued(on: boolean) {
    this.#bits = on ? this.#bits | FLUSH_QUEUED : this.#bits & ~FLUSH_QUEUED;
  }

  get closed(): boolean {
    return this.#state !== 'open' || this.#end !== undefined;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.#handlers = handlers;
    if (!this.#started) {
      this.#started = true;
      this.#flowChanged();
    }
  }

  write(bytes: Uint8Array): boolean {
    return this.closed ? false : this.writeBytes(bytes);
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#flowChanged();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#flowChanged();
  }

  close(): void {
    if (this.closed) return;
    this.#state = 'closing';
    this.closeGracefully();
  }

  destroy(error?: Error): void {
    if (this.#state === 'destroyed' || this.#reported) return;
    this.#state = 'destroyed';
    this.#end = { error };
    this.#held = null;
    this.#heldBytes = 0;
    this.destroyNow(error);
    this.#schedule();
  }

  /** Queue the bytes; false asks the writer to wait for drain. Only called while open. */
  protected abstract writeBytes(bytes: Uint8Array): boolean;
  /** Flush what is queued, then end; call finished() when the connection is done. */
  protected abstract closeGracefully(): void;
  /** Tear the connection down now. Must not report anything: the base already did. */
  protected abstract destroyNow(error?: Error): void;
  /** Start or stop reading from the source (receive backpressure). */
  protected abstract setFlowing(flowing: boolean): void;
  /** Called after each chunk reached the data handler (memory uses it to credit its writer). */
  protected consumed(_bytes: number): void {}

  protected receive(chunk: Uint8Array): void {
    if (this.#state === 'destroyed' || this.#end?.error) return;
    if (this.#started && !this.#paused && this.#held === null) {
      this.#handlers.data(chunk);
      this.consumed(chunk.byteLength);
      return;
    }
    (this.#held ??= []).push(chunk);
    this.#heldBytes += chunk.byteLength;
    if (this.maxHeldBytes >= 0 && this.#heldBytes > this.maxHeldBytes) {
      const limit = this.maxHeldBytes;
      this.destroy(
        new TransportError('ERR_TRANSPORT_RECEIVE_OVERFLOW', `more than ${limit} bytes arrived while paused`, 'local', {
          limit,
        }),
      );
    }
  }

  protected emitDrain(): void {
    if (this.#started && !this.closed) this.#handlers.drain();
  }

  /** The connection is over (cleanly when error is undefined). Later calls are ignored. */
  protected finished(error?: Error): void {
    if (this.#end) return;
    this.#end = { error };
    if (error) {
      this.#held = null;
      this.#heldBytes = 0;
    }
    this.#schedule();
  }

  #flowChanged(): void {
    const flowing = this.#started && !this.#paused && this.#state !== 'destroyed';
    if (this.#end === undefined) this.setFlowing(flowing);
    if (this.#started) this.#schedule();
  }

  #schedule(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (!this.#started || this.#reported) return;
    for (let held = this.#held; held !== null && !this.#paused && this.#state !== 'destroyed'; held = this.#held) {
      const chunk = held.shift() as Uint8Array;
      if (held.length === 0 && this.#held === held) this.#held = null;
      this.#heldBytes -= chunk.byteLength;
      this.#handlers.data(chunk);
      this.consumed(chunk.byteLength);
    }
    if (this.#end && this.#held === null && !this.#reported) {
      this.#reported = true;
      this.#handlers.close(this.#end.error);
    }
  }
}
