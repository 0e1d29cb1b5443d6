// DeadlineTimer: the one timer a driver arms at a machine's nextDeadline(). A timer already armed
// for the same time is kept; firing early (timers round) is harmless, since the machine's
// handleTimeout ignores a time before its deadline and the owner re-arms after it.

import type { Clock } from './driver.js';

export class DeadlineTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private at = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  /** Arms for `at` (a time on `clock`); undefined disarms. `unref: false`: the timer keeps the process alive. */
  set(at: number | undefined, { unref = true }: { unref?: boolean } = {}): void {
    if (at === undefined) return this.clear();
    if (this.timer && at === this.at) return;
    this.clear();
    this.at = at;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.at = Infinity;
        this.fire();
      },
      Math.max(0, Math.ceil(at - this.clock())),
    );
    if (unref) (this.timer as { unref?: () => void }).unref?.();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.at = Infinity;
  }
}
