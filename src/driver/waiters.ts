// Waiters: the promises a Session hands out while the machine works, and what settles them.
//
// Theory of operation
//   - A confirmed service (major sync, resynchronize, capability data, give-control, activity
//     interrupt/discard/end, release, reauth) has at most one request outstanding, so its waiter
//     is kept under the service's key and settled by the confirming event (or rejected with
//     ERR_CANCELLED when superseded, or with the close error).
//   - Minor sync points may be many at once. Serials start again with every activity and move with
//     a resynchronize, so their waiters are kept in order and matched by order, not by serial:
//     confirming one confirms every earlier one (X.225), as do a major sync point and an activity
//     end; a resynchronize, an activity interrupt/discard or the end fails them.
//   - Senders waiting for room in the send queue are woken together by `writable` (and by the end
//     of the session: the send then fails with the close error).
//   - Every wait takes an optional AbortSignal. Aborting rejects that one promise and forgets its
//     waiter; it never undoes what was already sent. Settling removes the abort listener.

import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';

export interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new SessionError('ERR_CANCELLED', 'the wait was aborted');
}

/**
 * A waiter for a promise's `resolve`/`reject`, tied to `signal`: an abort calls `forget` (to drop
 * the waiter from wherever it is kept) and rejects; settling detaches the abort listener.
 */
export function abortable<T>(
  signal: AbortSignal | undefined,
  resolve: (value: T) => void,
  reject: (error: Error) => void,
  forget: () => void,
): Waiter<T> {
  // Without a signal the promise's own functions are the waiter: no closures per wait.
  if (signal === undefined) return { resolve, reject };
  const onAbort = (): void => {
    forget();
    reject(abortError(signal as AbortSignal));
  };
  // An already aborted signal never fires 'abort' again: reject now (after the caller has kept
  // the waiter, so that `forget` finds it).
  if (signal.aborted) queueMicrotask(onAbort);
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    resolve: (v) => {
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    },
    reject: (e) => {
      signal.removeEventListener('abort', onAbort);
      reject(e);
    },
  };
}

export class Waiters {
  /** Created on the first confirmed service (an idle session never needs it). */
  private confirms: Map<string, Waiter<unknown>> | undefined;
  /** Minor sync points awaiting confirmation, oldest first (made on first use, as `writers`). */
  private minors: { serial: number; waiter: Waiter<number> }[] | undefined;
  private writers: Waiter<void>[] | undefined;

  // ---- confirmed services ----------------------------------------------------------------

  /** Waits for the confirmation of the service under `key`. */
  confirmation<T>(key: string, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      signal?.throwIfAborted();
      (this.confirms ??= new Map()).set(
        key,
        abortable<unknown>(
          signal,
          (v) => resolve(v as T),
          reject,
          () => this.confirms?.delete(key),
        ),
      );
    });
  }

  settle(key: string, value: unknown, error?: Error): void {
    const w = this.confirms?.get(key);
    if (!w) return;
    this.confirms?.delete(key);
    if (error) w.reject(error);
    else w.resolve(value);
  }

  /** Rejects every waiting confirmation with `error`. */
  failConfirmations(error: Error): void {
    if (this.confirms) for (const key of [...this.confirms.keys()]) this.settle(key, undefined, error);
  }

  // ---- minor sync points -----------------------------------------------------------------

  /** Waits for the peer to confirm the minor sync point `serial` (or a later one). */
  minor(serial: number, signal?: AbortSignal): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const entry = {
        serial,
        waiter: abortable(signal, resolve, reject, () => {
          this.minors = this.minors?.filter((w) => w !== entry);
        }),
      };
      (this.minors ??= []).push(entry);
    });
  }

  /** The peer confirmed `serial`: settles it and every earlier point. */
  minorConfirmed(serial: number): void {
    // Waiters are in serial order; the point confirmed may have none (its waiter gave up).
    const minors = this.minors;
    if (!minors) return;
    let i = 0;
    while (i < minors.length && (minors[i] as { serial: number }).serial <= serial) i++;
    for (const w of minors.splice(0, i)) w.waiter.resolve(w.serial);
    if (minors.length === 0 && this.minors === minors) this.minors = undefined;
  }

  /** Settles every pending minor sync waiter: confirmed (a major point or activity end covered them) or failed. */
  settleMinors(error?: Error): void {
    const minors = this.minors;
    if (!minors) return;
    this.minors = undefined;
    for (const w of minors) {
      if (error) w.waiter.reject(error);
      else w.waiter.resolve(w.serial);
    }
  }

  // ---- room in the send queue ------------------------------------------------------------

  /** Waits for the next `writable` (or the end of the session). */
  writable(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w = abortable<void>(signal, resolve, reject, () => {
        this.writers = this.writers?.filter((x) => x !== w);
      });
      (this.writers ??= []).push(w);
    });
  }

  wakeWriters(): void {
    const writers = this.writers;
    this.writers = undefined;
    if (writers) for (const w of writers) w.resolve();
  }
}
