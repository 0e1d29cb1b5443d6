// HeldBudget: one server's bound on the bytes all its sessions hold for their peers: data sent
// and not yet acknowledged (the replay buffer, kept through the resume window) and data not yet
// sent (the send queue). A client that never reads nor acknowledges makes its session hold up
// to maxReplayBytes + maxSendQueueBytes (about 12 MiB by default); without a total, ten thousand
// such clients would pin ~100 GB.
//
// Rules
//   - Each session's driver reports its held bytes and the count its peer has acknowledged
//     after every input (O(1): a difference, and the time the count last moved).
//   - When the total passes `max`, sessions are aborted (reason buffer-overflow,
//     ERR_BUDGET_EXCEEDED) until the total is back under it: among the sessions holding at least
//     max/16 bytes, the one whose peer has gone longest without acknowledging anything first
//     (else the one holding the most). A peer that reads acknowledges within milliseconds even
//     while it is sent all it can take, so the slow or hostile reader pays, not the sessions
//     whose peers keep up.

import { SessionError } from '../engine/errors.js';
import { AbortReason } from '../engine/frames.js';
import type { DriverOwner, HeldBudgetLike } from '../driver/driver.js';
import type { Session } from '../driver/session.js';
import type {} from './errors.js';

interface Held {
  bytes: number;
  acknowledged: number;
  since: number;
}

export class HeldBudget implements HeldBudgetLike {
  private readonly held = new Map<Session, Held>();
  private total = 0;
  private enforcing = false;

  constructor(private readonly max: number) {}

  /** Bytes held by every session now. */
  get bytes(): number {
    return this.total;
  }

  track(session: Session): void {
    session.driver.heldBudget = this;
  }

  forget(session: Session): void {
    const was = this.held.get(session);
    if (was === undefined) return;
    this.total -= was.bytes;
    this.held.delete(session);
  }

  /** @internal From a tracked session's driver (its owner is the session). */
  update(owner: DriverOwner, bytes: number, acknowledged: number): void {
    const session = owner as Session;
    if (session.closed) {
      this.forget(session);
      return;
    }
    const h = this.held.get(session);
    if (h === undefined) {
      // A session that never held a byte has no entry: an idle server keeps none.
      if (bytes === 0) return;
      this.total += bytes;
      this.held.set(session, { bytes, acknowledged, since: performance.now() });
    } else {
      this.total += bytes - h.bytes;
      h.bytes = bytes;
      if (acknowledged !== h.acknowledged || bytes === 0) {
        h.acknowledged = acknowledged;
        h.since = performance.now();
      }
    }
    if (this.total > this.max && !this.enforcing) this.enforce();
  }

  private enforce(): void {
    this.enforcing = true;
    try {
      while (this.total > this.max && this.held.size > 0) {
        const significant = this.max / 16;
        let worst: [Session, Held] | null = null;
        for (const entry of this.held) {
          if (worst === null) {
            worst = entry;
            continue;
          }
          const [, h] = entry;
          const w = worst[1];
          const hBig = h.bytes >= significant;
          const wBig = w.bytes >= significant;
          if (
            hBig !== wBig
              ? hBig
              : hBig
                ? h.since < w.since || (h.since === w.since && h.bytes > w.bytes)
                : h.bytes > w.bytes
          )
            worst = entry;
        }
        const [victim, { bytes: most }] = worst as [Session, Held];
        this.forget(victim);
        const error = new SessionError(
          'ERR_BUDGET_EXCEEDED',
          `the server holds more than ${this.max} bytes for unacknowledged and unsent data (maxHeldBytes); this session held ${most} bytes its peer did not acknowledge, the most for the longest: its peer does not read`,
          'local',
          { limit: 'maxHeldBytes', heldBytes: most },
        );
        victim.driver.input(() => victim.machine.terminate(error, true, AbortReason.bufferOverflow));
      }
    } finally {
      this.enforcing = false;
    }
  }
}
