// Driver: the only place where a session machine, a transport and a timer meet.
//
// Rules
//   - Every input to the machine goes through `input()`, which then runs `afterInput()`:
//     write what the machine wants to send (coalesced by WireSession into writes of up to 64 KiB,
//     stopping when the transport says to wait for `drain`), hand the machine's events to the
//     owner, close the transport when the machine asks, and re-arm the single timer at
//     `nextDeadline()`.
//   - A send (`sendData`) when nothing waits before it is written at once: the DATA frame is
//     counted and held for replay by the machine, encoded and written in the same call, with no
//     flush to wait for. Only the first such send of a turn: until the next input or flush, later
//     sends queue, so a loop of `await send()` still fills one write, not one write per message.
//   - Other application commands do not write at once: they `kick()` a flush for when the
//     application yields (Node: process.nextTick, which runs once the microtask queue is empty;
//     elsewhere the next microtask), so a send followed by an await on a read is written at that
//     await.
//   - A received DATA payload goes straight to the owner's waiting reader (`driverData`) when no
//     event is queued before it: no frame object, no event.
//   - The clock is read once per input (or kick, or send written at once): the machine, the
//     writes and the timer all see that one `now`.
//   - Callbacks from a transport that is no longer attached are ignored (a late `close` of the
//     old connection must not interrupt the new one).
//
//   transport --data--> wire.handleBytes --> machine --> pollBytes --> transport.write
//                                               |  \--> events --> owner (session, server)
//                                          nextDeadline --> timer --> handleTimeout

import { SessionError } from '../engine/errors.js';
import type { AbortReasonValue } from '../engine/frames.js';
import type { MachineSnapshot, SessionEvent, SessionMachine } from '../engine/machine/index.js';
import { NEVER_APART, WireSession } from '../engine/wire-session.js';
import type { Transport, TransportHandlers } from '../transport/transport.js';
import { NO_HANDLERS } from '../transport/transport.js';
import type {} from '../store/errors.js';
import { deadlinesFor } from './deadlines.js';
import type { Deadlines } from './deadlines.js';

export interface DriverOwner {
  /** A machine event, after the bytes it caused were written. */
  driverEvent(event: SessionEvent): void;
  /**
   * Received data, without a `data` event: true when the owner took it (handed it to a reader or
   * buffered it), false to have it as a `data` event instead. Called while the input is handled,
   * before its bytes are written: it must not run application code synchronously.
   */
  driverData?(payload: Uint8Array): boolean;
  /** The attached transport closed (by either side). */
  driverTransportClosed(transport: Transport, error?: Error): void;
}

/**
 * On a transport that can cork (TCP, TLS), DATA payloads of at least this many bytes are written
 * apart from their header, uncopied, in the same writev (see WireSession.payloadApartFrom).
 */
export const PAYLOAD_APART_MIN = 8 * 1024;

/** Node's Buffer.allocUnsafe where there is one: a frame body spanning chunks is fully written, so it need not be zeroed first. */
const allocUnsafe = (globalThis as { Buffer?: { allocUnsafe(n: number): Uint8Array } }).Buffer?.allocUnsafe;
const unzeroed = allocUnsafe ? (n: number): Uint8Array => allocUnsafe(n) : undefined;

/**
 * Runs `fn` once the microtasks queued so far, and those they queue, have run: Node's
 * process.nextTick queued from a microtask runs after the microtask queue drains (a loop of
 * `await send()` runs on microtasks alone until it has to wait). Without Node (a browser), the
 * next microtask.
 */
const nextTick = (globalThis as { process?: { nextTick?(fn: () => void): void } }).process?.nextTick;
const whenYielded: (fn: () => void) => void = nextTick ? (fn) => nextTick(fn) : (fn) => queueMicrotask(fn);

/** A graceful close that a peer never completes (no FIN back) is forced after this long. */
export const CLOSE_LINGER_MS = 5000;

/**
 * Closes gracefully, and destroys the transport if the peer has not finished the close within
 * CLOSE_LINGER_MS (to LINGER_TICK_MS more). One timer ticks for all lingering transports while
 * there are any, not one timer each: a server that stops closes thousands at once. It counts
 * its own ticks and reads no clock.
 */
export function closeWithLinger(t: Transport): void {
  t.close();
  lingering.push(t);
  lingerUntil.push(lingerTicks + LINGER_TICKS + 1); // the next tick may come at once
  if (lingerTimer === undefined) {
    lingerTimer = setInterval(lingerTick, LINGER_TICK_MS);
    (lingerTimer as { unref?: () => void }).unref?.();
  }
}

/** The linger timer's tick. */
export const LINGER_TICK_MS = 500;
const LINGER_TICKS = Math.ceil(CLOSE_LINGER_MS / LINGER_TICK_MS);
const lingering: Transport[] = [];
/** The tick at which each of `lingering` is destroyed: in order, they all linger as long. */
const lingerUntil: number[] = [];
let lingerHead = 0;
let lingerTicks = 0;
let lingerTimer: ReturnType<typeof setInterval> | undefined;

/** Destroys every transport whose linger is over (destroy() after a completed close is a no-op). */
function lingerTick(): void {
  lingerTicks++;
  while (lingerHead < lingering.length && (lingerUntil[lingerHead] as number) <= lingerTicks) {
    const t = lingering[lingerHead] as Transport;
    lingering[lingerHead] = undefined as unknown as Transport; // not kept until the arrays are trimmed
    lingerHead++;
    t.destroy();
  }
  if (lingerHead === lingering.length) {
    lingering.length = lingerUntil.length = lingerHead = 0;
    clearInterval(lingerTimer);
    lingerTimer = undefined;
  } else if (lingerHead > 1024) {
    lingering.splice(0, lingerHead);
    lingerUntil.splice(0, lingerHead);
    lingerHead = 0;
  }
}

/**
 * Write-ahead durability: when set, the driver writes no byte and delivers no event until the
 * state that produced them is persisted, so a node that dies at any point can be replaced by
 * one restored from the store, and the peer's RESUME finds everything it lacks.
 */
export interface Durability {
  persist(snapshot: MachineSnapshot): Promise<void>;
  /** Persisting failed: the session cannot keep its promise (the driver ends it, fail-closed). */
  failed(error: Error): SessionError;
}

export type Clock = () => number;
/**
 * Whole milliseconds since the process started: every time a session keeps (the machine's timers
 * and heartbeat times, the driver's deadline and input time) is then a small integer, which V8
 * keeps in the field itself; a fractional time would sit in a 16-byte box each (issue 14: nine
 * boxes, 144 bytes of every idle session). Small integers reach 2^31 ms (24 days of uptime; 2^30
 * in a browser); later times are still right, only boxed again.
 */
export const monotonic: Clock = () => Math.floor(performance.now());

// Not `implements DeadlineEntry`: its onDeadline is internal (stripped from the .d.ts), and a
// declared interface it no longer satisfies there breaks consumers' type checks. It is checked
// where the driver is handed to the shared deadlines.
export class Driver {
  readonly wire: WireSession;
  private transport: Transport | null = null;
  private blocked = false;
  private kicked = false;
  /** A send was written at once since the last input or flush: sends queue until then (coalescing). */
  private wroteAtOnce = false;
  private readingPaused = false;
  private disposed = false;
  /** Told the machine's held bytes and acknowledged count after every input: a server's global budget. */
  heldBudget: HeldBudgetLike | null = null;
  /** Set by a server that keeps its sessions in a store (see Durability). */
  durability: Durability | null = null;
  private persisting = false;
  /** Set by abortNow(): the transport is destroyed, not closed gracefully, when the session lets it go. */
  private destroyOnRetire = false;
  /** The durable path's queues, made on first use (a session without durability never needs them). */
  private hold: Held | null = null;
  /** DeadlineEntry: this driver's place in the shared deadline heap (see ./deadlines.ts). */
  deadlineSlot = -1;
  /** Meaningful while deadlineSlot >= 0; a whole number of ms, not Infinity (no box, see `monotonic`). */
  deadlineAt = 0;
  private readonly deadlines: Deadlines;

  /** `wire` is the encoding between machine and bytes: the native one unless a profile (ISO 8327) brings its own. */
  constructor(
    readonly machine: SessionMachine,
    private readonly owner: DriverOwner,
    private readonly clock: Clock = monotonic,
    wire?: WireSession,
  ) {
    this.wire = wire ?? new WireSession(machine, unzeroed ? { allocate: unzeroed } : {});
    if (owner.driverData) this.wire.dataSink = this;
    this.deadlines = deadlinesFor(clock);
  }

  /** @internal DataSink: a received payload, to the owner's reader when it takes it (never while durable). */
  takeData(payload: Uint8Array): boolean {
    return this.durability === null && (this.owner.driverData as (p: Uint8Array) => boolean).call(this.owner, payload);
  }

  /**
   * The application's data: written at once when nothing waits before it (the first send of
   * this turn, on an attached transport that takes writes, the session neither durable nor
   * closed), else queued for the flush. Throws as SessionMachine.sendData, before anything changed.
   */
  sendData(payload: Uint8Array): void {
    const t = this.transport;
    if (t !== null && !this.wroteAtOnce && !this.kicked && !this.blocked && this.durability === null) {
      const now = (this.inputTime = this.clock());
      const bytes = this.wire.sendDataNow(payload, now);
      if (bytes !== undefined) {
        this.wroteAtOnce = true;
        if (!t.write(bytes)) this.blocked = true;
        this.heldBudget?.update(this.owner, this.machine.heldBytes, this.machine.acknowledgedCount);
        return;
      }
    } else this.machine.sendData(payload);
    this.kick();
  }

  private get held(): Held {
    return (this.hold ??= new Held());
  }

  /** @internal DeadlineEntry: the machine's next deadline has come (the shared timer fired). */
  onDeadline(): void {
    this.input((now) => this.machine.handleTimeout(now));
  }

  get attached(): Transport | null {
    return this.transport;
  }

  /** Attaches a fresh transport; `initial` are bytes already read from it (a server's first frame). */
  attach(transport: Transport, initial: readonly Uint8Array[] = []): void {
    if (this.disposed) {
      transport.destroy(new SessionError('ERR_INVALID_STATE', 'session is closed'));
      return;
    }
    const old = this.transport;
    this.transport = transport;
    this.blocked = false;
    this.wire.payloadApartFrom = transport.cork ? PAYLOAD_APART_MIN : NEVER_APART;
    if (old) {
      old.setHandlers(NO_HANDLERS);
      old.destroy();
    }
    transport.setHandlers(new Attachment(this, transport));
    if (this.readingPaused) transport.pause();
    this.input((now) => {
      this.wire.handleTransportUp(now);
      for (const chunk of initial) this.wire.handleBytes(chunk, now);
    });
  }

  /** Runs one machine input with the current time, then does everything that follows. */
  input(fn: (now: number) => void): void {
    if (this.disposed) return;
    const now = (this.inputTime = this.clock());
    fn(now);
    this.afterInput(now);
  }

  /** The time of the latest input (what the machine saw as `now`), for owners reacting to its events. */
  inputTime = 0;

  /** The driver's clock, read now. */
  clockNow(): number {
    return this.clock();
  }

  /** After an application command: flush once the application yields (coalescing its sends). */
  kick(): void {
    if (this.kicked || this.disposed) return;
    this.kicked = true;
    // A closure per kick, not a bound method per session: idle sessions stay small.
    whenYielded(() => {
      this.kicked = this.wroteAtOnce = false;
      this.afterInput((this.inputTime = this.clock()));
    });
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

  /** Closes the current transport (the session stays; the machine sees transport-down). */
  dropTransport(error?: Error): void {
    const t = this.transport;
    if (!t) return;
    if (error) t.destroy(error);
    else t.close();
  }

  /**
   * Handover, first step (durable sessions): after pauseReading(), true once what was read has
   * been persisted, with what the owner did in reaction: nothing in flight, nothing held. The
   * store then holds everything the peer was sent. The server's stop polls it for every session
   * at once (src/server/shutdown.ts), with the owner's own condition (its receive buffer empty),
   * and bounds the wait; nothing is ever dropped here.
   */
  get settled(): boolean {
    return (
      this.disposed ||
      (!this.persisting && (this.hold === null || (this.hold.bytes.length === 0 && this.hold.events.length === 0)))
    );
  }

  /** Handover, last step (once settled): end this copy without a word to the peer. */
  handOff(error: SessionError): void {
    this.input(() => this.machine.terminate(error, false));
  }

  /**
   * Ends the session now with `error`, its ABORT written (unless `notifyPeer` is false), and
   * destroys the transport instead of closing it gracefully (no FIN wait, no linger): for a stop
   * that cannot wait on a peer that may never read. The ABORT's bytes are handed to the
   * connection first; a peer that reads gets them, one that does not loses nothing it would
   * have read.
   */
  abortNow(error: SessionError, reason: AbortReasonValue, notifyPeer = true): void {
    this.destroyOnRetire = true;
    this.input(() => this.machine.terminate(error, notifyPeer, reason));
  }

  /** Stops the timer and detaches; used once the session is closed. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearTimer();
  }

  /** @internal From this driver's Attachment: bytes from the attached transport. */
  transportData(chunk: Uint8Array): void {
    if (this.disposed) return;
    this.wroteAtOnce = false;
    const now = (this.inputTime = this.clock());
    this.wire.handleBytes(chunk, now);
    this.afterInput(now);
  }

  /** @internal From this driver's Attachment: the attached transport takes writes again. */
  transportDrained(): void {
    this.blocked = false;
    this.writePending();
    this.afterInput((this.inputTime = this.clock()));
  }

  /** @internal From this driver's Attachment. */
  transportClosed(transport: Transport, error?: Error): void {
    if (this.transport !== transport) return;
    this.transport = null;
    this.blocked = false;
    const reason = error
      ? new SessionError('ERR_ABORTED', `transport closed: ${error.message}`, 'remote', { cause: error.message })
      : undefined;
    this.input((now) => this.wire.handleTransportDown(now, reason));
    this.owner.driverTransportClosed(transport, error);
  }

  private afterInput(now: number): void {
    if (this.durability && this.machine.negotiated) return this.afterInputDurable(this.durability, now);
    this.flush(now);
    let e = this.machine.pollEvent();
    if (e !== undefined) {
      for (; e; e = this.machine.pollEvent()) {
        if (e.type === 'close-transport' || e.type === 'closed') {
          this.flush(now);
          const t = this.transport;
          if (t) this.retire(t, e.type === 'close-transport' ? e.error : undefined);
          if (e.type === 'closed') this.dispose();
        }
        this.owner.driverEvent(e);
      }
      // What the owner did in reaction (an echo, an answer) goes out in this same turn.
      this.flush(now);
    }
    this.armTimer();
    this.heldBudget?.update(this.owner, this.machine.heldBytes, this.machine.acknowledgedCount);
  }

  /**
   * Lets go of a transport the machine gave up on: from now on its bytes are ignored (they
   * belong to a connection the session has left), it is closed, and the owner hears of it as
   * of any closed transport (a client then redials).
   */
  private retire(t: Transport, error?: Error): void {
    this.transport = null;
    this.blocked = false;
    t.setHandlers(NO_HANDLERS);
    if (this.destroyOnRetire) t.destroy();
    else closeWithLinger(t);
    if (this.machine.isAttached)
      this.wire.handleTransportDown(this.clock(), error instanceof SessionError ? error : undefined);
    if (this.machine.state !== 'closed') queueMicrotask(() => this.owner.driverTransportClosed(t, error));
  }

  /**
   * The durable path: gather the bytes (their counts now assigned) and the events each input
   * produced; persist a snapshot taken after them, and release them only once it is stored.
   * While one persist is in flight, later inputs accumulate and the next persist covers them
   * all (one store write per round trip, not per input). What is held is bounded by the
   * machine's replay buffer, which stops handing out frames when full.
   */
  private afterInputDurable(durability: Durability, now: number): void {
    for (let b = this.wire.pollBytes(now); b; b = this.wire.pollBytes(now)) this.held.bytes.push(b);
    for (let e = this.machine.pollEvent(); e; e = this.machine.pollEvent()) this.held.events.push(e);
    this.armTimer();
    this.heldBudget?.update(this.owner, this.machine.heldBytes, this.machine.acknowledgedCount);
    if (!this.persisting && (this.held.bytes.length > 0 || this.held.events.length > 0)) this.persistHeld(durability);
  }

  private persisted(): void {
    this.persisting = false;
    for (const w of this.held.idle.splice(0)) w();
  }

  private persistHeld(durability: Durability): void {
    const bytes = this.held.bytes.splice(0);
    const events = this.held.events.splice(0);
    let snapshot: MachineSnapshot | null = null;
    try {
      snapshot = this.machine.snapshot();
    } catch {
      /* closed: nothing left to keep */
    }
    this.persisting = true;
    (snapshot ? durability.persist(snapshot) : Promise.resolve()).then(
      () => {
        this.persisted();
        this.release(bytes, events);
        if (this.held.bytes.length > 0 || this.held.events.length > 0) this.persistHeld(durability);
      },
      (error: unknown) => {
        this.persisted();
        const reason = durability.failed(error instanceof Error ? error : new Error(String(error)));
        // A session another node took over lives on there: end this copy without a word to the peer.
        this.machine.terminate(reason, reason.code !== 'ERR_STORE_CONFLICT');
        this.flush(this.clock());
        const later = this.held.events.splice(0);
        this.held.bytes.length = 0;
        this.release(
          [],
          [...events, ...later, ...drain(this.machine)].filter((e) => e.type !== 'data'),
        );
      },
    );
  }

  private release(bytes: Uint8Array[], events: SessionEvent[]): void {
    this.held.writes.push(...bytes);
    this.writePending();
    for (const e of events) {
      if (e.type === 'close-transport' || e.type === 'closed') {
        this.writePending();
        const t = this.transport;
        if (t) this.retire(t, e.type === 'close-transport' ? e.error : undefined);
        if (e.type === 'closed') this.dispose();
      }
      this.owner.driverEvent(e);
    }
  }

  private writePending(): void {
    const t = this.transport;
    const writes = this.hold?.writes;
    if (!writes) return;
    if (!t) {
      writes.length = 0;
      return;
    } // the resume replays from the machine
    while (!this.blocked && writes.length > 0) {
      if (!t.write(writes.shift() as Uint8Array)) this.blocked = true;
    }
  }

  private flush(now: number): void {
    const t = this.transport;
    if (!t || this.blocked) return;
    let corked = false;
    for (let bytes = this.wire.pollBytes(now); bytes; bytes = this.blocked ? undefined : this.wire.pollBytes(now)) {
      // A header whose payload follows apart: gather them (and what follows) into one writev.
      if (!corked && this.wire.payloadPending && t.cork) {
        t.cork();
        corked = true;
      }
      if (!t.write(bytes)) this.blocked = true;
    }
    if (corked) t.uncork?.();
  }

  private armTimer(): void {
    if (this.disposed) return;
    const at = this.machine.nextDeadline();
    if (at === undefined) {
      this.clearTimer();
      return;
    }
    if (this.deadlineSlot >= 0 && at >= this.deadlineAt) return; // the armed time comes first; it re-arms then
    this.deadlines.schedule(this, at);
  }

  private clearTimer(): void {
    this.deadlines.cancel(this);
  }
}

/** What the driver tells a server's budget of held bytes after every input (src/server/held-budget.ts). */
export interface HeldBudgetLike {
  update(owner: DriverOwner, bytes: number, acknowledged: number): void;
}

/** The durable path's queues (see Durability): what waits for a persist, and who waits for quiet. */
class Held {
  readonly bytes: Uint8Array[] = [];
  readonly events: SessionEvent[] = [];
  readonly idle: (() => void)[] = [];
  readonly writes: Uint8Array[] = [];
}

/**
 * The handlers a driver installs on the transport it attaches: methods on one small object
 * instead of three closures. A late callback of a transport no longer attached is ignored.
 */
class Attachment implements TransportHandlers {
  constructor(
    private readonly driver: Driver,
    private readonly transport: Transport,
  ) {}

  data(chunk: Uint8Array): void {
    if (this.driver.attached === this.transport) this.driver.transportData(chunk);
  }

  drain(): void {
    if (this.driver.attached === this.transport) this.driver.transportDrained();
  }

  close(error?: Error): void {
    this.driver.transportClosed(this.transport, error);
  }
}

function drain(machine: SessionMachine): SessionEvent[] {
  const out: SessionEvent[] = [];
  for (let e = machine.pollEvent(); e; e = machine.pollEvent()) out.push(e);
  return out;
}
