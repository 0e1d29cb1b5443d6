// Helpers every store shares: argument checks with coded errors, JSON serialisation, the
// min-heap of deadlines that drives expiry sweeps, one-sweep-at-a-time with its timer, and the
// pieces of a bounded call (the time limit, the retry pause, the check that the call still runs).

import { setTimeout as delay } from 'node:timers/promises';
import { SessionError } from '../engine/errors.js';
import { storeCallStarted } from './diagnostics.js';
import type { CallOptions, Expected, WriteOptions } from './store.js';
import type {} from './errors.js';

/** The longest TTL accepted (about 317 years): anything longer is a mistake, not a policy. */
export const MAX_TTL_MS = 1e13;

export function serialise(data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `session data must be JSON-serialisable: ${(error as Error).message}`,
      'local',
    );
  }
  if (json === undefined)
    throw new SessionError('ERR_INVALID_ARGUMENT', 'session data must be JSON-serialisable', 'local');
  return json;
}

export function checkTtl(ttlMs: number | undefined): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `ttlMs must be a positive number of milliseconds up to ${MAX_TTL_MS}`,
      'local',
      { ttlMs },
    );
  }
  return Math.ceil(ttlMs);
}

export function checkId(id: string): void {
  if (typeof id !== 'string')
    throw new SessionError('ERR_INVALID_ARGUMENT', 'a session id must be a string', 'local', { id });
}

export function checkPrincipal(principal: string): void {
  if (typeof principal !== 'string')
    throw new SessionError('ERR_INVALID_ARGUMENT', 'a principal must be a string', 'local', { principal });
}

export function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new SessionError('ERR_INVALID_ARGUMENT', `${name} must be a positive number`, 'local', { [name]: value });
  return value;
}

export function nonNegative(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new SessionError('ERR_INVALID_ARGUMENT', `${name} must be zero or more`, 'local', { [name]: value });
  return value;
}

/** The longest WriteOptions.tag. */
export const MAX_TAG_LENGTH = 64;

/**
 * compareAndSet's `expected` checked and split: the version (0 for "must not exist") and the tag
 * the stored write must carry (null: any).
 */
export function checkExpected(expected: Expected): { version: number; tag: string | null } {
  const version = typeof expected === 'number' ? expected : expected?.version;
  const tag = typeof expected === 'number' ? null : expected?.tag;
  if (!Number.isSafeInteger(version) || (version as number) < 0)
    throw new SessionError('ERR_INVALID_ARGUMENT', 'expected must be a version (0: absent)', 'local', { expected });
  if (tag !== null) checkTag(tag);
  return { version: version as number, tag };
}

/** A write's tag: a string of at most MAX_TAG_LENGTH characters ('' when none). */
export function checkTag(tag: unknown): string {
  if (tag === undefined) return '';
  if (typeof tag !== 'string' || tag.length > MAX_TAG_LENGTH)
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `tag must be a string of at most ${MAX_TAG_LENGTH} characters`,
      'local',
      {
        option: 'tag',
      },
    );
  return tag;
}

/**
 * The checks before a write (set: expected < 0; compareAndSet: expected >= 0), in the order the
 * remote stores make them; returns the TTL, the data as JSON and the operation's name.
 */
export function checkWrite(
  id: string,
  expected: number,
  data: unknown,
  options: WriteOptions,
): { ttl: number; json: string; op: 'set' | 'compareAndSet'; tag: string } {
  checkId(id);
  if (!options) throw new SessionError('ERR_INVALID_ARGUMENT', 'write options (ttlMs) are required', 'local');
  const ttl = checkTtl(options.ttlMs);
  const json = serialise(data);
  if (options.principal !== undefined && options.principal !== null) checkPrincipal(options.principal);
  const tag = checkTag(options.tag);
  return { ttl, json, op: expected < 0 ? 'set' : 'compareAndSet', tag };
}

/** After a lost race or two, a short random pause (at most 50 ms) spreads the contenders out. */
export async function backoff(attempt: number): Promise<void> {
  if (attempt >= 2) await delay(Math.random() * Math.min(2 ** attempt, 50));
}

/** Throws when the call already settled (timeout or abort): a call that ended sends nothing more. */
export function stillOn(call: CallState): void {
  if (call.aborted) throw new SessionError('ERR_STORE_TIMEOUT', 'the call ended', 'local');
}

/** Runs one sweep at a time: a sweep asked for while another runs starts once that one settled. */
export class SweepGate {
  private current: Promise<number> | null = null;

  /** True while a sweep runs (the timer then skips its tick). */
  get busy(): boolean {
    return this.current !== null;
  }

  async run(start: () => Promise<number>): Promise<number> {
    if (this.current) await this.current.catch(() => undefined);
    const p = start();
    this.current = p;
    try {
      return await p;
    } finally {
      if (this.current === p) this.current = null;
    }
  }
}

/** Calls `sweep` every `everyMs` (0: never) unless one still runs; the timer does not hold the process. */
export function sweepTimer(
  everyMs: number,
  gate: SweepGate,
  sweep: () => Promise<number>,
): ReturnType<typeof setInterval> | null {
  const timer =
    everyMs > 0
      ? setInterval(() => {
          if (!gate.busy) sweep().catch(() => undefined);
        }, everyMs)
      : null;
  timer?.unref?.();
  return timer;
}

export type Item = { at: number; id: string };

export function pushHeap(h: Item[], item: Item): void {
  h.push(item);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if ((h[p] as Item).at <= item.at) break;
    h[i] = h[p] as Item;
    i = p;
  }
  h[i] = item;
}

export function popMin(h: Item[]): Item {
  const top = h[0] as Item;
  const last = h.pop() as Item;
  if (h.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mAt = last.at;
      if (l < h.length && (h[l] as Item).at < mAt) {
        m = l;
        mAt = (h[l] as Item).at;
      }
      if (r < h.length && (h[r] as Item).at < mAt) m = r;
      if (m === i) break;
      h[i] = h[m] as Item;
      i = m;
    }
    h[i] = last;
  }
  return top;
}

/** The reason a bounded call's own signal carries once the call settled (nothing reads it). */
const SETTLED = Object.freeze({ settled: true });

/** What a call body may ask of its call: whether it already settled (timed out, aborted, done). */
export interface CallState {
  readonly aborted: boolean;
}

/**
 * Runs one store call bounded in time: fails fast when the store is closed, races the call's
 * timeout (ERR_STORE_TIMEOUT) and its signal, and maps the call's own errors with `failure`.
 * `fn` gets a signal that is aborted as soon as the call is settled either way.
 */
export function runBounded<T>(
  store: string,
  op: string,
  closed: boolean,
  defaultTimeoutMs: number,
  options: CallOptions | undefined,
  fn: (call: AbortSignal) => Promise<T>,
  failure: (error: unknown, op: string) => unknown,
): Promise<T> {
  const inner = new AbortController();
  // A reason of our own: abort() without one builds a DOMException (a stack trace) per call.
  return bounded(store, op, closed, defaultTimeoutMs, options, inner.signal, () => inner.abort(SETTLED), fn, failure);
}

/**
 * runBounded for a body that only ever asks `call.aborted` (RedisStore's): the same bounds,
 * without an AbortController and its abort Event per call (measured: about a fifth of the CPU
 * of a Redis get in Node, docs/stores.md).
 */
export function runBoundedPlain<T>(
  store: string,
  op: string,
  closed: boolean,
  defaultTimeoutMs: number,
  options: CallOptions | undefined,
  fn: (call: CallState) => Promise<T>,
  failure: (error: unknown, op: string) => unknown,
): Promise<T> {
  const call = { aborted: false };
  return bounded(store, op, closed, defaultTimeoutMs, options, call, () => (call.aborted = true), fn, failure);
}

function bounded<T, C extends CallState>(
  store: string,
  op: string,
  closed: boolean,
  defaultTimeoutMs: number,
  options: CallOptions | undefined,
  call: C,
  end: () => void,
  fn: (call: C) => Promise<T>,
  failure: (error: unknown, op: string) => unknown,
): Promise<T> {
  if (closed) return Promise.reject(new SessionError('ERR_STORE_UNAVAILABLE', 'the store is closed', 'local', { op }));
  const outer = options?.signal;
  if (outer?.aborted) return Promise.reject(outer.reason);
  let timeoutMs = Math.min(defaultTimeoutMs, 2 ** 31 - 1);
  if (options?.timeoutMs !== undefined) {
    try {
      timeoutMs = Math.min(positive(options.timeoutMs, 'timeoutMs'), 2 ** 31 - 1);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  const finished = storeCallStarted(store, op); // null unless someone listens (./diagnostics.ts)
  return new Promise<T>((resolve, reject) => {
    const settle = (finish: () => void, error?: unknown): void => {
      if (call.aborted) return;
      end();
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
      finished?.(error);
      finish();
    };
    const timer = setTimeout(() => {
      const error = new SessionError(
        'ERR_STORE_TIMEOUT',
        `${store} store: ${op} did not finish within ${timeoutMs} ms`,
        'local',
        { op, timeoutMs },
      );
      settle(() => reject(error), error);
    }, timeoutMs);
    const onAbort = (): void => settle(() => reject(outer?.reason), outer?.reason ?? new Error('aborted'));
    outer?.addEventListener('abort', onAbort, { once: true });
    fn(call).then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => {
        const mapped = failure(error, op);
        settle(() => reject(mapped), mapped);
      },
    );
  });
}
