// TimerTable: every deadline of one machine, and the earliest of them; the heartbeat's times too.
//
// The machine arms and disarms the named timers as its state changes and never computes a
// deadline anywhere else, so `nextDeadline()` is this table's `next()` and nothing more. Times
// are the caller's milliseconds (the engine reads no clock); a timer is due when `now >= at`. A
// disarmed timer is Infinity, so arming, disarming and asking cost no allocation.
//
// Heartbeats: the table keeps when a frame last went out and when the peer was last heard from.
// While they run (established on a transport, with a non-zero agreed interval) two timers
// follow from those times: keepalive (a HEARTBEAT after one interval of our own silence) and
// peer-silent (the transport is given up after two intervals of the peer's). They are computed
// when asked, not stored, and the times are kept while heartbeats are stopped, so the timers
// start from the last real traffic.
//
// Plain fields, not a record by name nor a part per concern: an idle session keeps one small
// object with five numbers here (a keyed record, its property array and a heartbeat part were
// ~300 bytes of every idle session, issue 14).

export type Timer = 'handshake' | 'ack' | 'resume-window' | 'peer-silent' | 'keepalive';
/** The timers the machine arms itself; the heartbeat's two follow from the traffic. */
type ArmedTimer = 'handshake' | 'ack' | 'resume-window';

export class TimerTable {
  private handshakeAt = Infinity;
  private ackAt = Infinity;
  private resumeWindowAt = Infinity;
  private lastSent = 0;
  private lastHeard = 0;
  /** The agreed interval while heartbeats run, else 0. */
  private heartbeatMs = 0;

  set(key: ArmedTimer, at: number): void {
    if (key === 'handshake') this.handshakeAt = at;
    else if (key === 'ack') this.ackAt = at;
    else this.resumeWindowAt = at;
  }
  clear(key: ArmedTimer): void {
    this.set(key, Infinity);
  }
  isSet(key: Timer): boolean {
    return this.at(key) !== Infinity;
  }
  /** Whether `key` is armed and due by `now`. */
  due(key: Timer, now: number): boolean {
    return now >= this.at(key);
  }

  private at(key: Timer): number {
    switch (key) {
      case 'handshake':
        return this.handshakeAt;
      case 'ack':
        return this.ackAt;
      case 'resume-window':
        return this.resumeWindowAt;
      case 'peer-silent':
        return this.heartbeatMs > 0 ? this.lastHeard + 2 * this.heartbeatMs : Infinity;
      case 'keepalive':
        return this.heartbeatMs > 0 ? this.lastSent + this.heartbeatMs : Infinity;
    }
  }

  /** The earliest armed deadline, or undefined when none is armed. */
  next(): number | undefined {
    let t = Math.min(this.handshakeAt, this.ackAt, this.resumeWindowAt);
    const hb = this.heartbeatMs;
    if (hb > 0) t = Math.min(t, this.lastHeard + 2 * hb, this.lastSent + hb);
    return t === Infinity ? undefined : t;
  }

  // ---- heartbeat --------------------------------------------------------------------------

  /** A new transport: both directions count as active from `now`. */
  restart(now: number): void {
    this.lastSent = this.lastHeard = now;
  }
  /** A frame went out at `now`. */
  sent(now: number): void {
    this.lastSent = now;
  }
  /** The peer was heard from at `now`. */
  heard(now: number): void {
    this.lastHeard = now;
  }
  /** Runs heartbeats at `intervalMs`, or stops them with 0. */
  runHeartbeat(intervalMs: number): void {
    this.heartbeatMs = intervalMs;
  }
}
