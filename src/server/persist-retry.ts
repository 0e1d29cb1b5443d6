// Outage tolerance for the write-ahead persist (durable.ts): a store that cannot be reached for
// a while (a Redis primary failing over to a replica, a restart, a network blip) does not end the
// sessions that want to persist meanwhile.
//
// Theory of operation
//   A persist that fails because the store is unreachable (ERR_STORE_UNAVAILABLE, ERR_STORE_TIMEOUT)
//   is tried again, after a pause that doubles from PERSIST_RETRY_FIRST_PAUSE_MS up to
//   PERSIST_RETRY_MAX_PAUSE_MS, until `persistRetryMs` (DurabilityOptions, default
//   DEFAULT_PERSIST_RETRY_MS) have passed since the first failure (the last try is made then;
//   each try is itself bounded by the store's call timeout); then the last error ends the
//   session as before (an orderly abort the peer hears, with the reason).
//   Never retried: a version conflict (the session moved to another node: ERR_STORE_CONFLICT),
//   a full store, a stored chunk that is gone or malformed (trying again cannot bring it back).
//   While a persist retries, its session holds what the snapshot covers: nothing is written to
//   the peer or delivered to the application before it is stored (the driver waits for the
//   persist), and what the session can produce meanwhile is bounded by its replay buffer and the
//   server's held-bytes budget, as during any slow persist.
//   A retried write may have landed even though its call failed (a reply lost with the
//   connection): durable.ts tells its own earlier write from another node's by a token in the
//   record, so such a write is not mistaken for a takeover. A retry belongs to the copy of the
//   session that started it (its DurableHold): if the session was restored again meanwhile,
//   here or elsewhere, the retry fails as a takeover instead of writing for the new copy.

import { setTimeout as delay } from 'node:timers/promises';
import { SessionError } from '../engine/errors.js';
import type {} from '../store/errors.js';

/** How long a persist keeps trying while the store is unreachable, by default. */
export const DEFAULT_PERSIST_RETRY_MS = 30_000;
/** The pause before the first retry; it doubles with each failure. */
export const PERSIST_RETRY_FIRST_PAUSE_MS = 50;
/** The longest pause between two tries. */
export const PERSIST_RETRY_MAX_PAUSE_MS = 1000;

/** Store failures that may pass: the store is unreachable or slow, not refusing. */
export function storeUnreachable(error: unknown): boolean {
  if (!(error instanceof SessionError)) return false;
  if (error.code === 'ERR_STORE_TIMEOUT') return true;
  if (error.code !== 'ERR_STORE_UNAVAILABLE') return false;
  const cause = (error.details as { cause?: unknown }).cause;
  return cause !== 'chunk-missing' && cause !== 'chunk-malformed';
}

/**
 * Runs `attempt` until it succeeds, fails with anything but an unreachable store, or `boundMs`
 * have passed since the first failure (then the last error, with the bound in its message).
 * `onRetry` hears each failure that is retried (for diagnostics).
 */
export async function retryWhileUnreachable<T>(
  boundMs: number,
  attempt: (n: number) => Promise<T>,
  onRetry?: (error: SessionError, n: number) => void,
): Promise<T> {
  let deadline = 0;
  let pause = PERSIST_RETRY_FIRST_PAUSE_MS;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!storeUnreachable(error)) throw error;
      const e = error as SessionError;
      const now = Date.now();
      if (n === 0) deadline = now + boundMs;
      if (now >= deadline || boundMs <= 0) {
        if (n === 0) throw e;
        throw new SessionError(
          e.code,
          `the store stayed unreachable for ${boundMs} ms (persistRetryMs, ${n + 1} tries): ${e.message}`,
          'local',
          { ...e.details, tries: n + 1, persistRetryMs: boundMs },
        );
      }
      onRetry?.(e, n);
      await delay(Math.min(pause, deadline - now)); // the last try is made at the bound
      pause = Math.min(2 * pause, PERSIST_RETRY_MAX_PAUSE_MS);
    }
  }
}
