// ByteDriver: where a profile's handle/poll machine (NetBIOS, PPTP) meets a transport and a
// timer; the same shape as driver.ts does for the session machine, for machines that speak in
// bytes and events of their own.
//
// Rules
//   - Every input goes through `input()`: the machine gets the current time, then the driver
//     writes what the machine wants to send, carries out `close` events, hands every event to
//     the owner, and re-arms the one timer at nextDeadline(). A write the transport had to
//     buffer makes `writable` false until its drain (senders await waitDrain()).
//   - Callbacks from a transport that is no longer attached are ignored (after a retarget the
//     old connection's late `close` must not reach the machine).
//
//   transport --data--> machine.handleBytes --> pollBytes --> transport.write
//                              |            \--> pollEvent --> close? transport.close/destroy
//                       nextDeadline --> timer --> handleTimeout          \--> owner

import type { Transport } from '../transport/transport.js';
import { NO_HANDLERS } from '../transport/transport.js';
import { DeadlineTimer } from './deadline-timer.js';
import { monotonic, type Clock } from './driver.js';

export interface ByteMachine<E> {
  handleBytes(chunk: Uint8Array, now: number): void;
  handleTransportClosed(now: number, error?: Error): void;
  handleTimeout(now: number): void;
  nextDeadline(): number | undefined;
  pollBytes(): Uint8Array | undefined;
  pollEvent(): E | undefined;
}

/** The event every such machine uses to ask for the transport to be closed. */
export interface CloseEvent {
  readonly type: 'close';
  /** True: FIN after what is queued. False: destroy at once (with `error`). */
  readonly graceful: boolean;
  readonly error?: Error;
}

export class ByteDriver<E extends { readonly type: string }> {
  private transport: Transport | null = null;
  private readonly timer: DeadlineTimer;
  private blocked = false;
  private readingPaused = false;
  private readonly drainWaiters: Array<() => void> = [];
  private readonly closeWaiters: Array<() => void> = [];
  /** Receives every event, after the bytes it followed were written. */
  onEvent: (event: E) => void = () => {};

  constructor(
    readonly machine: ByteMachine<E>,
    private readonly clock: Clock = monotonic,
  ) {
    this.timer = new DeadlineTimer(clock, () => this.input((now) => this.machine.handleTimeout(now)));
  }

  get attached(): Transport | null {
    return this.transport;
  }

  /** True while the transport takes writes without asking to wait. */
  get writable(): boolean {
    return this.transport !== null && !this.blocked;
  }

  /** Attaches a transport; `up` tells the machine (e.g. handleTransportUp) in the same input. */
  attach(transport: Transport, up: (now: number) => void): void {
    const old = this.transport;
    if (old) old.setHandlers(NO_HANDLERS);
    this.transport = transport;
    this.blocked = false;
    transport.setHandlers({
      data: (chunk) => {
        if (this.transport === transport) this.input((now) => this.machine.handleBytes(chunk, now));
      },
      drain: () => {
        if (this.transport === transport) {
          this.blocked = false;
          this.wakeDrain();
        }
      },
      close: (error) => this.closed(transport, error),
    });
    if (this.readingPaused) transport.pause();
    this.input(up);
  }

  /** Runs one machine input with the current time, then everything that follows. */
  input(fn: (now: number) => void): void {
    fn(this.clock());
    this.afterInput();
  }

  pauseReading(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.transport?.pause();
  }

  resumeReading(): void {
    if (!this.readingPaused) return;
    this.readingPaused = false;
    this.transport?.resume();
  }

  /** Settles once the transport takes writes again, or is gone. Rejects with signal.reason. */
  waitDrain(signal?: AbortSignal): Promise<void> {
    if (this.writable || this.transport === null) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.drainWaiters.indexOf(wake);
        if (i >= 0) this.drainWaiters.splice(i, 1);
        reject(signal?.reason as Error);
      };
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.drainWaiters.push(wake);
    });
  }

  /** Settles when the attached transport (if any) has closed. */
  whenClosed(): Promise<void> {
    if (this.transport === null) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /** Graceful close of the transport (a paused one is resumed so that its end is read). */
  close(): void {
    const t = this.transport;
    if (!t) return;
    if (this.readingPaused) t.resume();
    t.close();
  }

  destroy(error?: Error): void {
    this.transport?.destroy(error);
  }

  private closed(transport: Transport, error?: Error): void {
    if (this.transport !== transport) return;
    this.transport = null;
    this.blocked = false;
    this.input((now) => this.machine.handleTransportClosed(now, error));
    this.wakeDrain();
    for (const wake of this.closeWaiters.splice(0)) wake();
  }

  private wakeDrain(): void {
    for (const wake of this.drainWaiters.splice(0)) wake();
  }

  private afterInput(): void {
    this.flush();
    for (let e = this.machine.pollEvent(); e; e = this.machine.pollEvent()) {
      if (e.type === 'close') {
        this.flush();
        const c = e as unknown as CloseEvent;
        const t = this.transport;
        if (t && c.graceful) this.close();
        else t?.destroy(c.error);
      }
      this.onEvent(e);
    }
    this.flush();
    this.armTimer();
  }

  /** Writes what the machine queued; the transport buffers past its mark and says so (then `writable` is false until drain). */
  private flush(): void {
    const t = this.transport;
    for (let b = this.machine.pollBytes(); b; b = this.machine.pollBytes()) {
      if (t && !t.write(b)) this.blocked = true;
    }
  }

  private armTimer(): void {
    this.timer.set(this.machine.nextDeadline());
  }
}
