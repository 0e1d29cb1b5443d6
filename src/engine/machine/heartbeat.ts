// Heartbeat: when a frame last went out and when the peer was last heard from, and the two
// timers they arm in the machine's table: keepalive (a HEARTBEAT after one interval of our own
// silence) and peer-silent (the transport is given up after two intervals of the peer's). Both
// run only while the machine says so (established on a transport, with a non-zero agreed
// interval); the times are kept meanwhile, so the timers start from the last real traffic.

import type { TimerTable } from './timer-table.js';

export type HeartbeatTimer = 'peer-silent' | 'keepalive';

export class Heartbeat {
  private lastSent = 0;
  private lastHeard = 0;
  /** The agreed interval while heartbeats run, else 0. */
  private intervalMs = 0;

  constructor(private readonly timers: Pick<TimerTable<HeartbeatTimer>, 'set' | 'clear'>) {}

  /** A new transport: both directions count as active from `now`. */
  restart(now: number): void {
    this.lastSent = this.lastHeard = now;
    this.arm();
  }

  sent(now: number): void {
    this.lastSent = now;
    this.arm();
  }

  heard(now: number): void {
    this.lastHeard = now;
    this.arm();
  }

  /** Runs heartbeats at `intervalMs`, or stops them with 0. */
  run(intervalMs: number): void {
    this.intervalMs = intervalMs;
    this.arm();
  }

  private arm(): void {
    const hb = this.intervalMs;
    if (hb > 0) {
      this.timers.set('peer-silent', this.lastHeard + 2 * hb);
      this.timers.set('keepalive', this.lastSent + hb);
    } else {
      this.timers.clear('peer-silent');
      this.timers.clear('keepalive');
    }
  }
}
