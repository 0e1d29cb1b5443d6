// Deadlines: one timer for every session driver of a process (per clock), instead of a Node
// Timeout per session. An idle server holds tens of thousands of sessions, each with a
// heartbeat deadline; a Timeout costs ~180 bytes of heap and a list entry each, this costs two
// number fields on the driver and one slot in an array.
//
// Theory of operation
//   - Entries are the drivers themselves (`DeadlineEntry`: a slot index, a time and a method),
//     kept in a binary min-heap on their time. schedule() inserts or moves one (O(log n)),
//     cancel() removes one; nothing is allocated per call.
//   - One setTimeout is armed at the earliest time. When it fires, every entry due by the
//     clock's now is taken out of the heap, then told (`onDeadline`); what an entry schedules
//     again from there goes back in. Then the timer is armed at the new earliest time.
//   - Firing a little early (timers round to milliseconds) is harmless: an entry not yet due
//     stays, and the timer is armed again for it.
//   - The timer is unref'd, as the per-session timers were: deadlines never keep a process alive.
//   - An entry that throws does not stop the others; the error is rethrown on a microtask.

import type { Clock } from './driver.js';

export interface DeadlineEntry {
  /** Where the entry sits in its scheduler's heap; -1 while not scheduled. Owned by Deadlines. */
  deadlineSlot: number;
  /** The time it is scheduled for (meaningful while deadlineSlot >= 0). Owned by Deadlines. */
  deadlineAt: number;
  /** Its time has come (`now` on the scheduler's clock). */
  onDeadline(now: number): void;
}

export class Deadlines {
  private readonly heap: DeadlineEntry[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Infinity;

  constructor(private readonly clock: Clock) {}

  /** Entries scheduled now. */
  get size(): number {
    return this.heap.length;
  }

  /** Schedules `entry` for `at` (moving it when already scheduled). */
  schedule(entry: DeadlineEntry, at: number): void {
    const heap = this.heap;
    if (entry.deadlineSlot < 0) {
      entry.deadlineSlot = heap.length;
      entry.deadlineAt = at;
      heap.push(entry);
      this.up(entry.deadlineSlot);
    } else {
      const earlier = at < entry.deadlineAt;
      entry.deadlineAt = at;
      if (earlier) this.up(entry.deadlineSlot);
      else this.down(entry.deadlineSlot);
    }
    this.arm();
  }

  /** Takes `entry` out (nothing when it is not scheduled). The timer stays; it fires and finds nothing due. */
  cancel(entry: DeadlineEntry): void {
    const i = entry.deadlineSlot;
    if (i < 0) return;
    this.removeAt(i);
    if (this.heap.length === 0) this.disarm();
  }

  private removeAt(i: number): DeadlineEntry {
    const heap = this.heap;
    const entry = heap[i] as DeadlineEntry;
    const last = heap.pop() as DeadlineEntry;
    entry.deadlineSlot = -1;
    if (last !== entry) {
      heap[i] = last;
      last.deadlineSlot = i;
      this.up(i);
      this.down(last.deadlineSlot);
    }
    return entry;
  }

  private arm(): void {
    const top = this.heap[0];
    if (top === undefined) return this.disarm();
    if (this.timer !== null && this.timerAt <= top.deadlineAt) return; // fires first; arms again then
    this.disarm();
    this.timerAt = top.deadlineAt;
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(top.deadlineAt - this.clock())));
    (this.timer as { unref?: () => void }).unref?.();
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.clock();
    const heap = this.heap;
    while (heap.length > 0 && (heap[0] as DeadlineEntry).deadlineAt <= now) {
      const entry = this.removeAt(0);
      try {
        entry.onDeadline(now);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    this.arm();
  };

  private up(i: number): void {
    const heap = this.heap;
    const entry = heap[i] as DeadlineEntry;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as DeadlineEntry;
      if (p.deadlineAt <= entry.deadlineAt) break;
      heap[i] = p;
      p.deadlineSlot = i;
      i = parent;
    }
    heap[i] = entry;
    entry.deadlineSlot = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[i] as DeadlineEntry;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && (heap[right] as DeadlineEntry).deadlineAt < (heap[child] as DeadlineEntry).deadlineAt)
        child = right;
      const c = heap[child] as DeadlineEntry;
      if (c.deadlineAt >= entry.deadlineAt) break;
      heap[i] = c;
      c.deadlineSlot = i;
      i = child;
    }
    heap[i] = entry;
    entry.deadlineSlot = i;
  }
}

const byClock = new WeakMap<Clock, Deadlines>();

/** The one scheduler of every driver on `clock` (drivers share the default clock, so one timer). */
export function deadlinesFor(clock: Clock): Deadlines {
  let d = byClock.get(clock);
  if (d === undefined) {
    d = new Deadlines(clock);
    byClock.set(clock, d);
  }
  return d;
}
