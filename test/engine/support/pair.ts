// A pair of session machines on a virtual clock, joined by a simulated byte link.
//
// The link carries real encoded bytes (native codec) in both directions with a fixed latency.
// `cut(k)` breaks the transport: each direction delivers only its first k in-flight bytes
// (possibly mid-frame) and drops the rest, both machines see transport-down, and decoders are
// thrown away, as a real reconnect would. With `closeOnRequest`, a machine's `close-transport`
// closes it too (see closedBy). `connectTransport()` brings a fresh transport up.
//
// Nothing here sleeps: `run()` pumps frames and advances the clock to the next delivery or
// machine deadline until both sides are quiet or a time budget is spent.

import { encodeFrame, FrameDecoder } from '../../../src/engine/codec/index.js';
import { ProtocolError } from '../../../src/engine/errors.js';
import type { Frame } from '../../../src/engine/frames.js';
import { SessionMachine } from '../../../src/engine/machine/index.js';
import type { MachineOptions, SessionEvent } from '../../../src/engine/machine/index.js';

export interface WireRecord {
  t: number;
  from: 'A' | 'B';
  frame: Frame;
}

export class Side {
  readonly events: SessionEvent[] = [];
  /**
   * Payloads the machine handed over directly (handleData's sink, as the runtime's reader
   * takes them): given to the side as `data` events before the machine's next events.
   */
  readonly taken: Uint8Array[] = [];
  decoder: FrameDecoder;
  onEvent: (e: SessionEvent, side: Side) => void = () => {};
  /** Replaced when a test restores a side from a snapshot (a node restart). */
  constructor(
    readonly name: 'A' | 'B',
    public machine: SessionMachine,
    maxFrameSize: number,
  ) {
    this.decoder = new FrameDecoder({ maxFrameSize });
  }

  /** DataSink: the machine hands a payload over directly. */
  takeData(payload: Uint8Array): boolean {
    this.taken.push(payload);
    return true;
  }
}

interface InFlight {
  at: number;
  bytes: Uint8Array;
}

export interface PairOptions {
  a?: Partial<MachineOptions>;
  b?: Partial<MachineOptions>;
  latency?: number;
  /** Record every frame that crosses the link. */
  trace?: boolean;
  /**
   * A machine's `close-transport` closes the one transport (closedBy). Off by default: the
   * scenarios that show a refused RESUME treat it as closing another, unseen, transport.
   */
  closeOnRequest?: boolean;
}

export const SESSION_ID = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
export const RESUME_SECRET = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

export class Pair {
  now = 0;
  readonly A: Side;
  readonly B: Side;
  readonly latency: number;
  readonly wire: WireRecord[] = [];
  connected = false;
  private readonly trace: boolean;
  private readonly closeOnRequest: boolean;
  private flight: { AtoB: InFlight[]; BtoA: InFlight[] } = { AtoB: [], BtoA: [] };
  /** DATA frames received: every other one goes the lean way (handleData), the rest as frames. */
  private bare = 0;

  constructor(options: PairOptions = {}) {
    this.latency = options.latency ?? 1;
    this.trace = options.trace ?? false;
    this.closeOnRequest = options.closeOnRequest ?? false;
    const a = new SessionMachine({ role: 'initiator', heartbeatMs: 0, ...options.a });
    const b = new SessionMachine({
      role: 'acceptor',
      sessionId: SESSION_ID,
      resumeSecret: RESUME_SECRET,
      heartbeatMs: 0,
      ...options.b,
    });
    this.A = new Side('A', a, 16 * 1024 * 1024);
    this.B = new Side('B', b, 16 * 1024 * 1024);
  }

  other(side: Side): Side {
    return side === this.A ? this.B : this.A;
  }

  /** Brings a transport up (A connects, B accepts it). */
  connectTransport(): void {
    this.connected = true;
    this.A.decoder = new FrameDecoder({ maxFrameSize: 16 * 1024 * 1024 });
    this.B.decoder = new FrameDecoder({ maxFrameSize: 16 * 1024 * 1024 });
    this.B.machine.handleTransportUp(this.now);
    this.A.machine.handleTransportUp(this.now);
    this.pump();
  }

  /** Breaks the transport after delivering the first `keep` in-flight bytes of each direction. */
  cut(keep = 0): void {
    if (!this.connected) return;
    for (const dir of ['AtoB', 'BtoA'] as const) {
      const to = dir === 'AtoB' ? this.B : this.A;
      let left = keep;
      for (const chunk of this.flight[dir]) {
        if (left <= 0) break;
        const part = chunk.bytes.subarray(0, Math.min(left, chunk.bytes.length));
        left -= part.length;
        this.deliverBytes(to, part);
      }
      this.flight[dir] = [];
    }
    this.connected = false;
    this.A.machine.handleTransportDown(this.now);
    this.B.machine.handleTransportDown(this.now);
    this.drainEvents();
  }

  /**
   * A machine gave up on the transport (close-transport), and its caller closes it, as the
   * driver does: what that side wrote still arrives, what it would have read is lost, and the
   * peer sees the transport go down.
   */
  private closedBy(side: Side): void {
    const out = side === this.A ? 'AtoB' : 'BtoA';
    const peer = this.other(side);
    // (Unless the peer gave up on it at the same moment and reads no more.)
    if (peer.machine.isAttached) for (const chunk of this.flight[out]) this.deliverBytes(peer, chunk.bytes);
    this.flight = { AtoB: [], BtoA: [] };
    this.connected = false;
    peer.machine.handleTransportDown(this.now);
    side.machine.handleTransportDown(this.now);
  }

  /** Moves frames from both machines onto the link and events to their handlers until quiet. */
  pump(): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const moved = this.flush(this.A, 'AtoB') + this.flush(this.B, 'BtoA') + this.drainEvents();
      if (moved === 0) return;
    }
    throw new Error('pump did not settle');
  }

  /**
   * The application sends data. With `atOnce`, as the runtime's first send of a turn does
   * (sendDataNow): the frame goes on the link at once when nothing waits before it.
   */
  send(side: Side, payload: Uint8Array, atOnce: boolean): void {
    if (!atOnce) return side.machine.sendData(payload);
    const f = side.machine.sendDataNow(payload, this.now);
    if (!f || !this.connected) return;
    if (this.trace) this.wire.push({ t: this.now, from: side.name, frame: f });
    this.flight[side === this.A ? 'AtoB' : 'BtoA'].push({ at: this.now + this.latency, bytes: encodeFrame(f) });
  }

  private flush(side: Side, dir: 'AtoB' | 'BtoA'): number {
    let n = 0;
    for (let f = side.machine.pollFrame(this.now); f; f = side.machine.pollFrame(this.now)) {
      n++;
      if (!this.connected) continue;
      if (this.trace) this.wire.push({ t: this.now, from: side.name, frame: f });
      this.flight[dir].push({ at: this.now + this.latency, bytes: encodeFrame(f) });
    }
    return n;
  }

  private drainEvents(): number {
    let n = 0;
    for (const side of [this.A, this.B]) {
      // Taken while no event was queued: before every event polled now.
      for (let payload = side.taken.shift(); payload; payload = side.taken.shift()) {
        n++;
        const e: SessionEvent = { type: 'data', payload };
        side.events.push(e);
        side.onEvent(e, side);
      }
      for (let e = side.machine.pollEvent(); e; e = side.machine.pollEvent()) {
        n++;
        side.events.push(e);
        side.onEvent(e, side);
        if ((e.type === 'close-transport' || e.type === 'closed') && this.connected) {
          this.flush(side, side === this.A ? 'AtoB' : 'BtoA');
        }
        if (e.type === 'close-transport' && this.connected && this.closeOnRequest) this.closedBy(side);
      }
    }
    return n;
  }

  private deliverBytes(to: Side, bytes: Uint8Array): void {
    to.decoder.push(bytes);
    for (;;) {
      let frame: Frame | Uint8Array | undefined;
      try {
        // As the runtime: a DATA frame as its bare payload, handed to the side directly when
        // nothing waits before it (every other one; the rest go the frame and event way).
        frame = to.decoder.nextBare();
      } catch (e) {
        if (e instanceof ProtocolError) {
          to.machine.handleProtocolError(e, this.now);
          return;
        }
        throw e;
      }
      if (!frame) return;
      if (!(frame instanceof Uint8Array)) to.machine.handleFrame(frame, this.now);
      else if (this.bare++ % 2 === 0) to.machine.handleData(frame, this.now, to);
      else to.machine.handleFrame({ type: 'DATA', payload: frame }, this.now);
    }
  }

  /** In-flight chunks (one encoded frame each) of one direction, oldest first. */
  inFlight(dir: 'AtoB' | 'BtoA'): readonly Uint8Array[] {
    return this.flight[dir].map((c) => c.bytes);
  }

  /**
   * Delivers the oldest in-flight frame of one direction now, whatever its due time (the
   * explorer picks the order of deliveries itself). Returns false when nothing is in flight.
   */
  deliverNext(dir: 'AtoB' | 'BtoA'): boolean {
    const c = this.flight[dir].shift();
    if (!c) return false;
    this.deliverBytes(dir === 'AtoB' ? this.B : this.A, c.bytes);
    this.pump();
    return true;
  }

  /** Delivers everything due by now. Returns whether anything was delivered. */
  private deliverDue(): boolean {
    let any = false;
    for (const dir of ['AtoB', 'BtoA'] as const) {
      const to = dir === 'AtoB' ? this.B : this.A;
      const q = this.flight[dir];
      while (q.length > 0 && (q[0] as InFlight).at <= this.now) {
        const c = q.shift() as InFlight;
        this.deliverBytes(to, c.bytes);
        any = true;
      }
    }
    return any;
  }

  private nextTime(): number | undefined {
    const times: number[] = [];
    for (const q of [this.flight.AtoB, this.flight.BtoA]) if (q[0]) times.push(q[0].at);
    for (const s of [this.A, this.B]) {
      const d = s.machine.nextDeadline();
      if (d !== undefined) times.push(d);
    }
    return times.length ? Math.min(...times) : undefined;
  }

  /** Runs the link until nothing is in flight (machine timers may still be armed) or `budget` ms pass. */
  settle(budget = 10_000): void {
    const end = this.now + budget;
    this.pump();
    while (this.flight.AtoB.length + this.flight.BtoA.length > 0) {
      const t = Math.min(
        ...[this.flight.AtoB[0]?.at, this.flight.BtoA[0]?.at].filter((x): x is number => x !== undefined),
      );
      if (t > end) return;
      this.now = Math.max(this.now, t);
      this.deliverDue();
      this.fire();
      this.pump();
    }
  }

  /** Advances the clock by `ms`, delivering and firing timers on the way. */
  advance(ms: number): void {
    const end = this.now + ms;
    this.pump();
    for (let guard = 0; guard < 1_000_000; guard++) {
      const t = this.nextTime();
      if (t === undefined || t > end) break;
      this.now = Math.max(this.now, t);
      this.deliverDue();
      this.fire();
      this.pump();
    }
    this.now = end;
    this.fire();
    this.pump();
  }

  /** Moves the clock to `t` and fires the timers due by then, delivering nothing. */
  fireTimersAt(t: number): void {
    this.now = Math.max(this.now, t);
    this.fire();
    this.pump();
  }

  private fire(): void {
    for (const s of [this.A, this.B]) {
      const d = s.machine.nextDeadline();
      if (d !== undefined && d <= this.now) s.machine.handleTimeout(this.now);
    }
  }

  /** Connects and accepts with the acceptor's defaults, returning once both are established. */
  establish(): void {
    this.B.onEvent = chain(this.B.onEvent, (e) => {
      if (e.type === 'connect-request') this.B.machine.accept();
    });
    this.connectTransport();
    this.settle();
  }

  eventsOf(side: Side, type: SessionEvent['type']): SessionEvent[] {
    return side.events.filter((e) => e.type === type);
  }

  /** Frame types that crossed the link, as `A>TYPE` / `B>TYPE`, for scenario assertions. */
  ladder(): string[] {
    return this.wire.map((w) => `${w.from}>${w.frame.type}`);
  }
}

export function chain<T extends unknown[]>(a: (...args: T) => void, b: (...args: T) => void): (...args: T) => void {
  return (...args: T) => {
    a(...args);
    b(...args);
  };
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
