// TimerTable: every deadline of one machine, and the earliest of them; the heartbeat's times too.
//
// The machine arms and disarms the named timers as its state changes and never computes a
// deadline anywhere else, so `nextDeadline()` is this table's `next()` and nothing more. Times
// are the caller's milliseconds (the engine reads no clock); a timer is due when `now >= at`. A
// disarmed timer is undefined, not Infinity: a field that ever holds a non-integer number keeps
// every value of it in a 16-byte box (V8's double fields), while whole milliseconds (the
// runtime's clock, ../../driver/driver.ts `monotonic`) and undefined are kept in the field
// itself (issue 14: five boxes, 80 bytes of every idle session).
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
  private handshakeAt: number | undefined = undefined;
  private ackAt: number | undefined = undefined;
  private resumeWindowAt: number | undefined = undefined;
  private lastSent = 0;
  private lastHeard = 0;
  /** The agreed interval while heartbeats run, else 0. */
  private heartbeatMs = 0;

  set(key: ArmedTimer, at: number | undefined): void {
    if (key === 'handshake') this.handshakeAt = at;
    else if (key === 'ack') this.ackAt = at;
    else this.resumeWindowAt = at;
  }
  clear(key: ArmedTimer): void {
    this.set(key, undefined);
  }
  isSet(key: Timer): boolean {
    return this.at(key) !== undefined;
  }
  /** Whether `key` is armed and due by `now`. */
  due(key: Timer, now: number): boolean {
    const at = this.at(key);
    return at !== undefined && now >= at;
  }

  private at(key: Timer): number | undefined {
    switch (key) {
      case 'handshake':
        return this.handshakeAt;
      case 'ack':
        return this.ackAt;
      case 'resume-window':
        return this.resumeWindowAt;
      case 'peer-silent':
        return this.heartbeatMs > 0 ? this.lastHeard + 2 * this.heartbeatMs : undefined;
      case 'keepalive':
        return this.heartbeatMs > 0 ? this.lastSent + this.heartbeatMs : undefined;
    }
  }

  /** The earliest armed deadline, or undefined when none is armed. */
  next(): number | undefined {
    let t = earlier(earlier(this.handshakeAt, this.ackAt), this.resumeWindowAt);
    const hb = this.heartbeatMs;
    if (hb > 0) t = earlier(earlier(t, this.lastHeard + 2 * hb), this.lastSent + hb);
    return t;
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

/** The earlier of two times, either of which may be unset. */
function earlier(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined || a <= b ? a : b;
}
