// LinkPolicy: when a client redials a lost transport and when it closes an idle one. Pure: time
// comes in as `now`, randomness from the `random` source given to the constructor, and the one
// deadline it needs goes out through nextDeadline() (the client arms one timer for it).
//
// Theory of operation
//   The session outlives its transports. This policy only decides about the transport:
//
//     up --transport down--> backoff --deadline--> dial --dial failed--> backoff ...
//      ^                       |                     \--dialed--> connecting --established/resumed--> up
//      |                       \--maxAttempts reached--> give-up (the client ends the session)
//      \--idleTimeoutMs quiet, nothing in flight--> idle (transport closed; the next send redials)
//
//   Backoff is exponential with full jitter: attempt n (n = 0, 1, ...) waits
//   random() * min(maxDelayMs, initialDelayMs * 2^n), except attempt 0, which dials at once.
//   The attempt count starts again at 0 once the session is established or resumed.
//   A transport that closes while connecting (dialed, but the session was not yet established or
//   resumed: a server that is full closes new connections without a word) is a failed attempt
//   like a failed dial: it backs off and counts toward maxAttempts. With reconnect off it gives
//   up at once, so connect() fails instead of waiting for a session that cannot come.
//   Idle: checked idleTimeoutMs after the link came up, then again when the last activity (a
//   send, a received message) is idleTimeoutMs old; a link with frames in flight is checked
//   again 1 ms later, and a session that is no longer established stops the checks until the
//   link comes up again.
//
// Rules
//   - Inputs are handle*(now); outputs are actions from poll(), in order; nextDeadline() is the
//     only time it needs to be called back (handleTimeout).
//   - It never reads a clock or Math.random, and owns no timer.

export interface LinkPolicyOptions {
  /** False: a lost transport is not redialed. */
  reconnect: boolean;
  /** First backoff ceiling, ms. */
  initialDelayMs: number;
  /** The backoff ceiling never exceeds this, ms. */
  maxDelayMs: number;
  /** Give up after this many failed attempts in a row (dials, or transports closed while connecting; undefined: never). */
  maxAttempts?: number;
  /** Close a quiet transport after this long, ms (0: never). */
  idleTimeoutMs: number;
}

/** A number in [0, 1), like Math.random. */
export type RandomSource = () => number;

export type LinkAction =
  /** An attempt is scheduled (the client's `reconnecting` event). */
  | { readonly type: 'reconnecting'; readonly attempt: number; readonly delayMs: number }
  /** Dial now; answer with handleDialed or handleDialFailed. */
  | { readonly type: 'dial' }
  /**
   * maxAttempts attempts failed in a row (with reconnect off: the one connection closed before
   * the session came up): end the session (ERR_CONNECT_FAILED). `closedBeforeUp`: the last
   * attempt reached the server, which closed the connection before accepting the session.
   */
  | { readonly type: 'give-up'; readonly attempts: number; readonly closedBeforeUp: boolean }
  /** Close the transport: it was quiet for idleTimeoutMs (the client's `idle` event). */
  | { readonly type: 'idle' };

/** What the client sees of its session when an idle check is due. */
export type IdleCheck = 'quiet' | 'in-flight' | 'not-established';

/** `down`: reconnect is off and the transport is gone; the session's resume window decides. */
type Phase = 'connecting' | 'up' | 'down' | 'backoff' | 'dialing' | 'idle' | 'closed';

export class LinkPolicy {
  private phase: Phase = 'connecting';
  private attempts = 0;
  /** The last failed attempt was a transport that closed while connecting (not a failed dial). */
  private closedBeforeUp = false;
  private lastActive: number;
  /** When the next dial is due (backoff) or the next idle check (up). */
  private at: number | undefined;
  private readonly actions: LinkAction[] = [];

  constructor(
    private readonly options: LinkPolicyOptions,
    private readonly random: RandomSource,
    now: number,
  ) {
    this.lastActive = now;
  }

  /** A send, or a message received: the link is not idle. */
  handleActivity(now: number): void {
    this.lastActive = now;
  }

  /** The session is established or resumed on its transport. */
  handleUp(now: number): void {
    if (this.phase === 'closed') return;
    this.attempts = 0;
    if (this.phase === 'up' && this.at !== undefined) return; // checks already running
    this.phase = 'up';
    this.at = this.options.idleTimeoutMs > 0 ? now + this.options.idleTimeoutMs : undefined;
  }

  /** The transport went away (the session goes on). */
  handleTransportDown(now: number): void {
    if (this.phase !== 'up' && this.phase !== 'connecting') return;
    this.closedBeforeUp = this.phase === 'connecting';
    if (!this.options.reconnect) {
      if (this.closedBeforeUp) {
        this.giveUp(this.attempts + 1);
        return;
      }
      this.phase = 'down';
      this.at = undefined;
      return;
    }
    this.schedule(now);
  }

  /** A send while the idle transport is closed: redial. */
  /** The transport was closed for being quiet: the next send must reopen it (handleReopen). */
  get idle(): boolean {
    return this.phase === 'idle';
  }

  handleReopen(now: number): void {
    if (this.phase !== 'idle') return;
    this.schedule(now);
  }

  handleDialed(_now: number): void {
    if (this.phase === 'dialing') this.phase = 'connecting';
  }

  handleDialFailed(now: number): void {
    if (this.phase !== 'dialing') return;
    this.closedBeforeUp = false;
    this.schedule(now);
  }

  /** The session ended: nothing more to decide. */
  handleClosed(): void {
    this.phase = 'closed';
    this.at = undefined;
  }

  /** At nextDeadline(); `check` says what an idle check would find (asked only when one is due). */
  handleTimeout(now: number, check: () => IdleCheck): void {
    if (this.at === undefined || now < this.at) return;
    if (this.phase === 'backoff') {
      this.phase = 'dialing';
      this.at = undefined;
      this.actions.push({ type: 'dial' });
      return;
    }
    if (this.phase !== 'up') return;
    const state = check();
    if (state === 'not-established') {
      this.at = undefined;
      return;
    }
    const quiet = now - this.lastActive;
    if (quiet >= this.options.idleTimeoutMs && state === 'quiet') {
      this.phase = 'idle';
      this.at = undefined;
      this.actions.push({ type: 'idle' });
      return;
    }
    this.at = now + Math.max(1, this.options.idleTimeoutMs - quiet);
  }

  nextDeadline(): number | undefined {
    return this.at;
  }

  poll(): LinkAction | undefined {
    return this.actions.shift();
  }

  private schedule(now: number): void {
    const { maxAttempts, maxDelayMs, initialDelayMs } = this.options;
    if (maxAttempts !== undefined && this.attempts >= maxAttempts) {
      this.giveUp(this.attempts);
      return;
    }
    const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(this.attempts, 30));
    const delayMs = this.attempts === 0 ? 0 : this.random() * ceiling;
    this.attempts++;
    this.actions.push({ type: 'reconnecting', attempt: this.attempts, delayMs });
    if (delayMs > 0) {
      this.phase = 'backoff';
      this.at = now + delayMs;
      return;
    }
    this.phase = 'dialing';
    this.at = undefined;
    this.actions.push({ type: 'dial' });
  }

  private giveUp(attempts: number): void {
    this.phase = 'closed';
    this.at = undefined;
    this.actions.push({ type: 'give-up', attempts, closedBeforeUp: this.closedBeforeUp });
  }
}
