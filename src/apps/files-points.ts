// Sync points of a streamed transfer (./files-stream.ts): the sender's window of unconfirmed
// minor points and its major point at the end; the receiver's confirmations, in order, once each
// point is durable.

import { SessionError } from '../engine/errors.js';
import type { Session } from '../driver/session.js';
import { decodeOffset, encodeOffset } from './files-wire.js';
import type {} from './errors.js';

/** Unconfirmed minor sync points a sender may have outstanding. Default 8. */
export const DEFAULT_SYNC_WINDOW = 8;

/**
 * The sender's side of the points: a confirmed minor sync point every `every` bytes, with at
 * most `window` unconfirmed, and the major sync point at the end.
 */
export class SyncWindow {
  private pending: Promise<number>[] = [];
  private since = 0;

  private epoch = 0;

  constructor(
    private readonly session: Session,
    private readonly every: number,
    private readonly window: number,
    private readonly signal?: AbortSignal,
    /** Told each offset the receiver confirmed (has on disk), in order. */
    private readonly onConfirmed?: (offset: number) => void,
  ) {}

  /**
   * `n` more bytes were sent, now at `pos`: a point if one is due; waits while the window is
   * full, or until `stop` resolves (the transfer is about to start over).
   */
  async sent(n: number, pos: number, stop?: Promise<void>): Promise<void> {
    this.since += n;
    // Within 1/16 of the interval counts: chunks a byte short of a power of two (a frame less
    // its kind byte) still make a point every syncEveryBytes, not every two intervals.
    if (this.since < this.every - (this.every >> 4)) return;
    this.since = 0;
    const epoch = this.epoch;
    const p = this.session.syncMinor({
      confirm: true,
      userData: encodeOffset(pos),
      ...(this.signal ? { signal: this.signal } : {}),
    });
    p.then(
      () => {
        if (epoch === this.epoch) this.onConfirmed?.(pos);
      },
      () => {},
    );
    this.pending.push(p);
    while (this.pending.length > this.window) {
      const oldest = this.pending.shift() as Promise<number>;
      if (!stop) await oldest;
      else if ((await Promise.race([oldest, stop.then(() => STOPPED)])) === STOPPED) return;
    }
  }

  /** The major sync point at `pos` (the end): resolves once confirmed, so every point before it. */
  async end(pos: number): Promise<void> {
    this.reset();
    await this.session.syncMajor(encodeOffset(pos), this.signal ? { signal: this.signal } : {});
    this.onConfirmed?.(pos);
  }

  /** Forgets the points outstanding (the transfer starts over after a takeover). */
  reset(): void {
    this.epoch++;
    this.pending = [];
    this.since = 0;
  }
}
const STOPPED = Symbol('stopped');

/** A sync point as the receiver sees it, in arrival order. */
interface Point<T> {
  serial: number;
  major: boolean;
  offset: number;
  /** Data units delivered before it. */
  until: number;
  /** What the application's `snapshot()` said when those units were done. */
  at?: T;
  reached: boolean;
  /** For a major point: settles the handler's answer. */
  answer?: { resolve: () => void; reject: (e: Error) => void };
}

export interface DurablePointsOptions<T> {
  /** What the receiver knows when a point's data units are done (its position, its upload). */
  snapshot(): T;
  /** Throws (a protocol error) when the point's offset is not where the data before it ends. */
  check(offset: number, at: T): void;
  /**
   * Makes the point at `offset` durable (its bytes written and flushed, the checkpoint or record
   * saved), given the snapshot taken at the point (for a run of points, the last). Throwing
   * aborts the session; returning without doing it (the transfer is over) still confirms.
   */
  durable(offset: number, at: T, major: boolean): Promise<void>;
}

/**
 * The receiver's side: counts the data units delivered and those the application finished with,
 * and confirms each sync point (minor points that ask for it, major points through the session's
 * syncMajor handler) once the application has made it durable, strictly in order. Minor points
 * that are all reached when their turn comes are made durable once, for the last of them.
 */
export class DurablePoints<T> {
  private delivered = 0;
  private processed = 0;
  private readonly points: Point<T>[] = [];
  private readonly majors = new Map<number, Point<T>>();
  private running = false;
  private open = false;
  private readonly offs: (() => void)[];
  /** The point being made durable: the end of a transfer waits for it. */
  working: Promise<void> = Promise.resolve();

  constructor(
    private readonly session: Session,
    private readonly o: DurablePointsOptions<T>,
    private readonly onError: (e: unknown) => void,
  ) {
    this.offs = [
      session.on('event', (e) => {
        if (e.type === 'data') this.delivered++;
        else if (e.type === 'sync-major') this.add(e.serial, true, e.userData);
        else if (e.type === 'sync-minor' && e.confirm) this.add(e.serial, false, e.userData);
      }),
    ];
    session.setHandlers({
      syncMajor: (serial) => {
        const p = this.majors.get(serial);
        if (!p) return undefined;
        return new Promise<void>((resolve, reject) => {
          p.answer = { resolve, reject };
          this.run();
        });
      },
    });
  }

  private add(serial: number, major: boolean, userData: Uint8Array): void {
    let offset = -1;
    try {
      offset = decodeOffset(userData);
    } catch (e) {
      this.onError(e);
    }
    const p: Point<T> = { serial, major, offset, until: this.delivered, reached: false };
    if (p.until <= this.processed) this.reach(p);
    this.points.push(p);
    if (major) this.majors.set(serial, p);
    this.run();
  }

  /** The application has finished with one data unit. */
  done(): void {
    this.processed++;
    let woke = false;
    for (const p of this.points) {
      if (p.reached) continue;
      if (p.until > this.processed) break;
      this.reach(p);
      woke = true;
    }
    if (woke) this.run();
  }

  private reach(p: Point<T>): void {
    p.reached = true;
    p.at = this.o.snapshot();
  }

  private run(): void {
    if (this.running) return;
    const head = this.points[0];
    if (!head?.reached || (head.major && !head.answer && !this.open)) return;
    this.running = true;
    this.working = this.step().finally(() => {
      this.running = false;
      this.run();
    });
  }

  private async step(): Promise<void> {
    // The run of reached minor points at the head, up to a major point (it goes alone).
    let n = 1;
    const first = this.points[0] as Point<T>;
    if (!first.major)
      while (n < this.points.length) {
        const q = this.points[n] as Point<T>;
        if (!q.reached || q.major) break;
        n++;
      }
    const run = this.points.splice(0, n);
    const last = run[run.length - 1] as Point<T>;
    if (last.major) this.majors.delete(last.serial);
    try {
      if (!this.open) {
        for (const p of run) if (p.offset >= 0) this.o.check(p.offset, p.at as T);
        if (last.offset >= 0) await this.o.durable(last.offset, last.at as T, last.major);
      }
      if (last.major) last.answer?.resolve();
      else if (!this.open && !this.session.closed) {
        try {
          this.session.confirmMinorSync(undefined, last.serial);
        } catch (e) {
          // Superseded meanwhile (a major point or resync confirmed it, or the session ended).
          if (!(e instanceof SessionError) || this.session.closed) return;
          if (e.code !== 'ERR_NOTHING_TO_CONFIRM' && e.code !== 'ERR_INVALID_ARGUMENT') throw e;
        }
      }
    } catch (e) {
      if (this.open)
        last.answer?.resolve(); // given up: nothing to report
      else if (last.major && last.answer) last.answer.reject(e instanceof Error ? e : new Error(String(e)));
      else this.onError(e);
    }
  }

  /** Stops making points durable: later points are confirmed as mere markers (major) or left. */
  release(): void {
    this.open = true;
    for (const p of this.points.splice(0)) p.answer?.resolve();
    this.majors.clear();
  }

  dispose(): void {
    this.release();
    for (const off of this.offs) off();
  }
}
