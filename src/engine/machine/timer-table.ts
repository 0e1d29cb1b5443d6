// TimerTable: every deadline of one machine, by name, and the earliest of them.
//
// The machine arms and disarms named timers as its state changes and never computes a deadline
// anywhere else, so `nextDeadline()` is this table's `next()` and nothing more. Times are the
// caller's milliseconds (the engine reads no clock); a timer is due when `now >= at`. A disarmed
// timer is Infinity, so arming, disarming and asking cost no allocation.

export class TimerTable<K extends string> {
  private readonly at: Record<K, number>;

  constructor(private readonly keys: readonly K[]) {
    this.at = Object.fromEntries(keys.map((k) => [k, Infinity])) as Record<K, number>;
  }

  set(key: K, at: number): void {
    this.at[key] = at;
  }
  clear(key: K): void {
    this.at[key] = Infinity;
  }
  isSet(key: K): boolean {
    return this.at[key] !== Infinity;
  }
  /** Whether `key` is armed and due by `now`. */
  due(key: K, now: number): boolean {
    return now >= this.at[key];
  }

  /** The earliest armed deadline, or undefined when none is armed. */
  next(): number | undefined {
    let t = Infinity;
    for (const k of this.keys) t = Math.min(t, this.at[k]);
    return t === Infinity ? undefined : t;
  }
}
