// Writer: every write to one stored record goes through here, as a pure change applied to the
// newest record and written with compare-and-set.
//
// Within this process the writes to one id are queued and applied in batches (group commit): the
// batch's changes are applied in order to the newest record and written with ONE compare-and-set.
// While a batch is in flight the next batch collects; it starts from the record the previous
// batch wrote (its version is known), so under contention the steady state is one store round
// trip per batch, not per change, and no change is lost. Another process writing the same record
// makes the compare-and-set miss: the record is read again and the whole batch re-applied, up to
// `maxRetries` times (ERR_STORE_CONFLICT after that). Changes must therefore be pure functions of
// the record they are given.
//
//   change(current) -> { value, principal } : write this
//                   -> undefined            : nothing to write (the caller still gets `current`)
//                   -> GONE                 : the record must not be (re)created; the caller is told
//
// Every write carries a tag unique to it (the store keeps it with the version), and every
// compare-and-set names the version AND the tag it read. A version number alone can come back:
// a Redis failover that lost the newest write leaves the record one version older, and the next
// write on the new primary gets the lost write's number again. A change read from the lost
// write then misses its compare-and-set (the tag differs) instead of writing over the other
// one; read again, the record shows that very version with another tag, and the change fails
// with ERR_STORE_CONFLICT, details.reason 'version-reused' (docs/web-sessions.md): the request
// read a state the store no longer has, and another request has built on the older one since.
// A record found at an older version (the lost write and nothing since) takes the change as any
// newer record does: the write that was lost is lost once, the one after it is kept.

import { randomBytes } from 'node:crypto';
import { SessionError } from '../engine/errors.js';
import type { Expected, SessionStore, StoredSession, WriteOptions } from '../store/store.js';
import type {} from '../store/errors.js';

/** Tags: this process's random prefix and a count, so no two writes anywhere carry one tag. */
const TAG_PREFIX = randomBytes(9).toString('base64url');
let tags = 0;
function newTag(): string {
  return `${TAG_PREFIX}.${(++tags).toString(36)}`;
}

/** What a change's compare-and-set must find: the very write it read, or nothing. */
function expectedOf<R>(base: Current<R> | null): Expected {
  return base ? { version: base.version, tag: base.tag } : 0;
}

/**
 * After a missed compare-and-set: the change read `base`, and the store now holds `fresh`. The
 * same version with another tag is a version written again after a failover lost `base`.
 */
function reusedVersion<R>(base: Current<R> | null, fresh: Current<R> | null): SessionError | null {
  if (!base || !fresh || fresh.version !== base.version || fresh.tag === base.tag) return null;
  return new SessionError(
    'ERR_STORE_CONFLICT',
    `the session changed under this request in a way it cannot follow: the store lost the version it read (${base.version}, in a failover) and another write has that version now; nothing was written, repeat the request`,
    'local',
    { reason: 'version-reused', version: base.version, retries: 0 },
  );
}

export const GONE = Symbol('gone');
/** applyIfIdle: the change could not be applied within the call (queue it with apply()). */
export const QUEUED = Symbol('queued');

export interface Current<R> {
  value: R;
  principal: string | null;
  version: number;
  /** The tag of the write that stored `version` ('' for none). */
  tag: string;
}

export interface Next<R> {
  value: R;
  principal: string | null;
}

export type Change<R> = (current: Current<R> | null) => Next<R> | undefined | typeof GONE;

/** What a change saw: the record after the batch it was part of, or GONE. */
export type Outcome<R> = Current<R> | null | typeof GONE;

interface Op<R> {
  change: Change<R>;
  resolve(outcome: Outcome<R>): void;
  reject(error: unknown): void;
}

interface Line<R> {
  queue: Op<R>[];
  running: boolean;
  /** The record as this process last read or wrote it, while the line is busy. */
  cached: Current<R> | null | undefined;
}

export interface WriterOptions<R> {
  store: SessionStore;
  /** The store TTL for a record about to be written (ms, > 0), or <= 0 when it is already over. */
  ttl(value: R): number;
  timeoutMs: number;
  /** Compare-and-set attempts before ERR_STORE_CONFLICT. */
  maxRetries: number;
  /** Bounds every store call even when the store ignores its own timeout. */
  guard<T>(p: Promise<T>, op: string): Promise<T>;
  /** Told after each successful write of `key`. */
  written?(key: string): void;
  /**
   * A store that answers within the call (the MemoryStore): a change to a record nobody else in
   * this process is writing is applied and written at once, with no queue, promise or microtask
   * in between. Concurrent changes to one record still queue as above.
   */
  now?: {
    get(key: string): StoredSession<R> | null;
    compareAndSet(key: string, expected: Expected, value: R, options: WriteOptions): number | null;
  };
}

/** Queued changes per record at most; past it a change fails at once with ERR_STORE_CONFLICT. */
export const MAX_QUEUED_CHANGES = 10_000;

export class Writer<R> {
  private readonly lines = new Map<string, Line<R>>();

  constructor(private readonly o: WriterOptions<R>) {}

  /**
   * Applies `change` to the newest record `key` and writes it; resolves with what it saw. `hint`:
   * the record as the caller last read it; when this process has nothing fresher it is tried
   * first (a stale hint only costs a missed compare-and-set and a read).
   */
  apply(key: string, change: Change<R>, hint?: Current<R>): Promise<Outcome<R>> {
    let line = this.lines.get(key);
    if (!line && this.o.now) {
      try {
        return Promise.resolve(this.applyNow(key, change, hint));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (!line) {
      line = { queue: [], running: false, cached: hint };
      this.lines.set(key, line);
    }
    if (line.queue.length >= MAX_QUEUED_CHANGES) {
      return Promise.reject(
        new SessionError(
          'ERR_STORE_CONFLICT',
          `more than ${MAX_QUEUED_CHANGES} changes queued for one session (MAX_QUEUED_CHANGES)`,
          'local',
          { retries: 0 },
        ),
      );
    }
    const p = new Promise<Outcome<R>>((resolve, reject) => line.queue.push({ change, resolve, reject }));
    if (!line.running) void this.run(key, line);
    return p;
  }

  /**
   * apply() within the call, when the store answers synchronously (`now`) and nobody else in this
   * process is writing `key`: the outcome itself, with no promise. QUEUED otherwise (nothing was
   * done: call apply()). Throws what apply() would reject with.
   */
  applyIfIdle(key: string, change: Change<R>, hint?: Current<R>): Outcome<R> | typeof QUEUED {
    return this.o.now && !this.lines.has(key) ? this.applyNow(key, change, hint) : QUEUED;
  }

  /** One change applied and written within the call (`now`: the store answers synchronously). */
  private applyNow(key: string, change: Change<R>, hint: Current<R> | undefined): Outcome<R> {
    const now = this.o.now as NonNullable<WriterOptions<R>['now']>;
    let base: Current<R> | null | undefined = hint;
    // Nothing can write between the read and the compare-and-set here except another process
    // sharing nothing with this one (a MemoryStore is in one process): a miss means the hint was
    // stale, and the second attempt, from a fresh read, succeeds. The bound is kept anyway.
    for (let attempt = 0; attempt <= this.o.maxRetries; attempt++) {
      if (base === undefined) base = current(now.get(key));
      const next = change(base);
      if (next === GONE) return GONE;
      if (next === undefined) return base;
      const ttlMs = this.o.ttl(next.value);
      if (ttlMs <= 0) return GONE;
      const tag = newTag();
      const version = now.compareAndSet(key, expectedOf(base), next.value, {
        ttlMs,
        principal: next.principal,
        timeoutMs: this.o.timeoutMs,
        tag,
      });
      if (version !== null) {
        this.o.written?.(key);
        return { value: next.value, principal: next.principal, version, tag };
      }
      const fresh = current(now.get(key));
      const reused = reusedVersion(base, fresh);
      if (reused) throw reused;
      base = fresh;
    }
    throw new SessionError(
      'ERR_STORE_CONFLICT',
      `session kept changing under ${this.o.maxRetries + 1} attempts`,
      'local',
      { retries: this.o.maxRetries },
    );
  }

  /** Forgets what this process knows about `key` (after a destroy). */
  forget(key: string): void {
    const line = this.lines.get(key);
    if (line) line.cached = undefined;
  }

  private async run(key: string, line: Line<R>): Promise<void> {
    line.running = true;
    while (line.queue.length > 0) {
      const batch = line.queue.splice(0, line.queue.length);
      try {
        const outcomes = await this.batch(key, line, batch);
        batch.forEach((op, i) => op.resolve(outcomes[i] as Outcome<R>));
      } catch (error) {
        line.cached = undefined;
        for (const op of batch) op.reject(error);
      }
    }
    line.running = false;
    this.lines.delete(key);
  }

  private async batch(key: string, line: Line<R>, batch: Op<R>[]): Promise<Outcome<R>[]> {
    for (let attempt = 0; attempt <= this.o.maxRetries; attempt++) {
      const base = line.cached !== undefined ? line.cached : await this.read(key);
      let state: Current<R> | null = base;
      let changed = false;
      const seen: (Current<R> | null | typeof GONE)[] = [];
      for (const op of batch) {
        const next = op.change(state);
        if (next === GONE) {
          seen.push(GONE);
          continue;
        }
        if (next !== undefined) {
          state = { value: next.value, principal: next.principal, version: (state?.version ?? 0) + 1, tag: '' };
          changed = true;
        }
        seen.push(state);
      }
      if (!changed || state === null) {
        line.cached = base;
        return seen;
      }
      const ttlMs = this.o.ttl(state.value);
      if (ttlMs <= 0) {
        // Over by the web clock: nothing to write; every change in the batch sees the record gone.
        line.cached = base;
        return batch.map(() => GONE);
      }
      const tag = newTag();
      const version = await this.o.guard(
        this.o.store.compareAndSet(key, expectedOf(base), state.value, {
          ttlMs,
          principal: state.principal,
          timeoutMs: this.o.timeoutMs,
          tag,
        }),
        'compareAndSet',
      );
      if (version !== null) {
        this.o.written?.(key);
        const written = state;
        const cached: Current<R> = { value: written.value, principal: written.principal, version, tag };
        line.cached = cached;
        for (let i = 0; i < seen.length; i++) if (seen[i] === written) seen[i] = cached;
        return seen;
      }
      // Another writer got there first: read again (and apply the batch to what it wrote).
      const fresh = await this.read(key);
      const reused = reusedVersion(base, fresh);
      if (reused) throw reused;
      line.cached = fresh;
      if (attempt >= 2) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
    }
    throw new SessionError(
      'ERR_STORE_CONFLICT',
      `session kept changing under ${this.o.maxRetries + 1} attempts`,
      'local',
      { retries: this.o.maxRetries },
    );
  }

  private async read(key: string): Promise<Current<R> | null> {
    const s: StoredSession<R> | null = await this.o.guard(
      this.o.store.get<R>(key, { timeoutMs: this.o.timeoutMs }),
      'get',
    );
    return current(s);
  }
}

function current<R>(s: StoredSession<R> | null): Current<R> | null {
  return s ? { value: s.data, principal: s.principal, version: s.version, tag: s.tag } : null;
}

/**
 * Bounds a store call even if the store ignores its own timeout: `ms` after its own timeout
 * (`timeoutMs`), the caller gets ERR_STORE_TIMEOUT. A request never hangs on a store.
 */
export function bounded<T>(p: Promise<T>, timeoutMs: number, op: string): Promise<T> {
  const ms = timeoutMs + 100;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new SessionError('ERR_STORE_TIMEOUT', `the store did not answer ${op} within ${ms} ms`, 'local', {
            op,
            timeoutMs: ms,
          }),
        ),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
