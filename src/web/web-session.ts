// WebSession: one request's view of one HTTP session.
//
// Reads come from the record loaded at the start of the request. Writes are recorded as a diff
// (key set / key deleted, principal changed) and written when the response is committed, merged
// key by key onto the newest stored record, so two concurrent requests that change different keys
// both survive. `update()` and `increment()` are atomic read-modify-writes applied to the newest
// record at once (no lost update, whatever the concurrency). `regenerate()` and `destroy()` act on
// the store at once and change the cookie in this response.

import { SessionError } from '../engine/errors.js';
import type { SessionToken } from './cookie.js';
import type { SessionRecord } from './web-sessions.js';
import type { SessionManagerInternals } from './web-sessions-types.js';
import { GONE, QUEUED, type Outcome } from './writer.js';
import type {} from '../store/errors.js';
import type {} from './errors.js';

export type SessionData = Record<string, unknown>;

const REMOVED = Symbol('removed');

export type SessionState = 'new' | 'stored' | 'destroyed';

export interface RegenerateOptions {
  /** Keys carried over to the new session; everything else is dropped. Default: none. */
  keep?: readonly string[];
  /** The principal the new session belongs to (indexed for listing and revoke-all). Default: unchanged. */
  principal?: string | null;
}

export class WebSession<T extends SessionData = SessionData> {
  /** @internal */ token: SessionToken | null;
  /** @internal */ state: SessionState;
  /** @internal */ record: SessionRecord | null;
  /** @internal The stored version `record` is (0: none). */ version: number;
  /** @internal The tag of the write that stored that version (src/web/writer.ts). */ tag: string;
  /** @internal */ readonly changes = new Map<string, unknown>();
  /** @internal */ principalChange: string | null | undefined = undefined;
  /** @internal */ cookieChanged = false;
  /** @internal The request carried a session cookie (a clearing cookie is due if it is not replaced). */
  readonly hadCookie: boolean;

  /** @internal */
  constructor(
    private readonly m: SessionManagerInternals,
    init: {
      token: SessionToken | null;
      record: SessionRecord | null;
      version?: number;
      tag?: string;
      principal: string | null;
      hadCookie: boolean;
      available: boolean;
      userAgent?: string;
      address?: string;
      secure?: boolean;
    },
  ) {
    this.token = init.token;
    this.record = init.record;
    this.version = init.version ?? 0;
    this.tag = init.tag ?? '';
    this.state = init.record ? 'stored' : 'new';
    this.principalValue = init.principal;
    this.hadCookie = init.hadCookie;
    this.available = init.available;
    this.userAgent = init.userAgent;
    this.address = init.address;
    this.secure = init.secure ?? false;
  }

  /** @internal */ principalValue: string | null;
  /** False when the store could not be reached and the request runs anonymous (`onStoreError: 'anonymous'`): nothing is saved. */
  readonly available: boolean;
  /** @internal */ readonly userAgent: string | undefined;
  /** @internal */ readonly address: string | undefined;
  /** Whether the request came over TLS (decides the cookie's name and Secure). */
  readonly secure: boolean;

  /** The session's public id (what listSessions shows and revoke takes), or null before it is first saved. */
  get id(): string | null {
    return this.state === 'destroyed' ? null : (this.token?.id ?? null);
  }
  /** True until the session has been stored (a request with no valid cookie starts one). */
  get isNew(): boolean {
    return this.state !== 'stored';
  }
  get principal(): string | null {
    return this.principalChange !== undefined ? this.principalChange : this.principalValue;
  }
  get createdAt(): number | null {
    return this.record?.c ?? null;
  }
  get lastSeenAt(): number | null {
    return this.record?.s ?? null;
  }
  get destroyed(): boolean {
    return this.state === 'destroyed';
  }

  get<K extends keyof T & string>(key: K): T[K] | undefined {
    if (this.changes.has(key)) {
      const v = this.changes.get(key);
      return v === REMOVED ? undefined : (v as T[K]);
    }
    return this.record?.d[key] as T[K] | undefined;
  }

  set<K extends keyof T & string>(key: K, value: T[K]): void {
    if (value === undefined) {
      this.delete(key);
      return;
    }
    this.changes.set(key, value);
    if (this.state === 'destroyed') this.revive();
  }

  delete<K extends keyof T & string>(key: K): void {
    if (this.state === 'new' && !(key in (this.record?.d ?? {})) && !this.changes.has(key)) return;
    this.changes.set(key, REMOVED);
  }

  /** A copy of the data as this request sees it (loaded record plus this request's changes). */
  get data(): Readonly<Partial<T>> {
    const out: SessionData = { ...(this.record?.d ?? {}) };
    for (const [k, v] of this.changes) {
      if (v === REMOVED) delete out[k];
      else out[k] = v;
    }
    return out as Partial<T>;
  }

  /** Changes not yet written. */
  get dirty(): boolean {
    return this.changes.size > 0 || this.principalChange !== undefined;
  }

  /** Names the principal (indexed: listSessions, revokeAll). Prefer `regenerate({ principal })` at login. */
  setPrincipal(principal: string | null): void {
    this.principalChange = principal;
    if (this.state === 'destroyed') this.revive();
  }

  /**
   * Atomic read-modify-write on the newest stored data, written at once. `change` gets a copy and
   * returns the new data (or undefined to leave it). Creates the session if it is new.
   */
  async update(change: (data: Partial<T>) => Partial<T> | undefined): Promise<Readonly<Partial<T>>> {
    // The change may run more than once (another writer got there first): each run gets a fresh copy.
    await this.apply((d) => change(structuredClone(d) as Partial<T>));
    return this.data;
  }

  /** `change` must not mutate its argument (it is the stored record's data, not a copy). */
  private apply(change: (data: Partial<T>) => Partial<T> | undefined): Promise<void> {
    // Promise chains rather than async/await: increment() is on a hot path, and each async
    // function level costs promise hops. No named closures either (tsx/esbuild keepNames gives
    // each one a defineProperty per call).
    try {
      this.requireAvailable();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.state === 'destroyed') this.revive();
    return this.state === 'new'
      ? this.m.save(this as unknown as WebSession, true).then(() => this.write(change))
      : this.write(change);
  }

  private write(change: (data: Partial<T>) => Partial<T> | undefined): Promise<void> {
    return this.m.writeRecord(this, dataChange(change)).then((outcome) => this.wrote(outcome));
  }

  /** Takes a write's outcome: the record it wrote (or the one it left), or the session's end. */
  private wrote(outcome: Outcome<SessionRecord>): void {
    if (outcome === GONE || outcome === null) throw this.gone();
    if (outcome.value.s !== this.record?.s) this.cookieChanged = true;
    this.record = outcome.value;
    this.version = outcome.version;
    this.tag = outcome.tag;
  }

  /** Atomically adds `by` to a numeric key (missing counts as 0) and resolves with the new value. */
  increment<K extends keyof T & string>(key: K, by = 1): Promise<number> {
    const out = { result: 0 };
    const change = adder<T>(key, by, out);
    // A stored session on a store that answers within the call (the memory store), with nobody
    // else in this process writing it: written here, and the result handed back in a resolved
    // promise, no promise step in between.
    if (this.available && this.state === 'stored') {
      try {
        const outcome = this.m.writeRecordNow(this, dataChange(change));
        if (outcome !== QUEUED) {
          this.wrote(outcome);
          this.changes.delete(key);
          return Promise.resolve(out.result);
        }
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.apply(change).then(() => {
      // This request's own pending write of `key` would overwrite the atomic result: drop it.
      this.changes.delete(key);
      return out.result;
    });
  }

  /**
   * Replaces the session by a new one with a new id (call it at login: session fixation is then
   * impossible). The old record is destroyed now; the new one, with the `keep` keys and this
   * request's changes to them, is written with the response and its cookie set.
   */
  async regenerate(options: RegenerateOptions = {}): Promise<void> {
    this.requireAvailable();
    const keep = new Set(options.keep ?? []);
    const current = this.data as SessionData;
    if (this.state === 'stored' && this.token) await this.m.destroyStored(this.token.id);
    this.changes.clear();
    for (const k of keep) if (current[k] !== undefined) this.changes.set(k, current[k]);
    const principal = options.principal !== undefined ? options.principal : this.principal;
    this.principalValue = null;
    this.principalChange = principal;
    this.record = null;
    this.version = 0;
    this.tag = '';
    this.token = this.m.newToken();
    this.state = 'new';
    this.cookieChanged = true;
  }

  /** Regenerates (keeping `keep`) and names `principal`: the one call a login handler makes. */
  login(principal: string, options: { keep?: readonly string[] } = {}): Promise<void> {
    return this.regenerate({ keep: options.keep, principal });
  }

  /**
   * Removes the session from the store now (a logout); the response clears the cookie, and the
   * real-time sessions opened with it end where endRealtimeOnRevoke listens.
   */
  async destroy(): Promise<void> {
    this.requireAvailable();
    if (this.state === 'stored' && this.token) {
      await this.m.destroyStored(this.token.id);
      // A logout: the real-time sessions opened with this cookie end too (src/web/revocation.ts).
      this.m.revocations.emit({ kind: 'web-session', id: this.token.id, principal: this.principalValue });
    }
    this.changes.clear();
    this.principalChange = undefined;
    this.record = null;
    this.version = 0;
    this.tag = '';
    this.state = 'destroyed';
    this.cookieChanged = true;
  }

  /** A change after destroy() starts a new session (with a new id). */
  private revive(): void {
    this.state = 'new';
    this.token = this.m.newToken();
    this.principalValue = null;
  }

  private requireAvailable(): void {
    if (!this.available)
      throw new SessionError(
        'ERR_STORE_UNAVAILABLE',
        'the session store is unavailable and this request runs without a session',
        'local',
        { cause: 'anonymous' },
      );
  }

  /** @internal */
  gone(): SessionError {
    return new SessionError(
      'ERR_WEB_SESSION_GONE',
      'the session was destroyed, revoked or expired meanwhile',
      'local',
      { reason: 'gone' },
    );
  }

  /** @internal Applies this request's diff to a record. */
  mergeInto(data: SessionData): SessionData {
    const out = { ...data };
    for (const [k, v] of this.changes) {
      if (v === REMOVED) delete out[k];
      else out[k] = v;
    }
    return out;
  }

  /** @internal */
  saved(record: SessionRecord, version: number, tag: string, principal: string | null): void {
    this.record = record;
    this.version = version;
    this.tag = tag;
    this.principalValue = principal;
    this.principalChange = undefined;
    this.changes.clear();
    this.state = 'stored';
  }
}

/** A change of the session data as a change of the whole record (for update() and increment()). */
function dataChange<T extends SessionData>(
  change: (data: Partial<T>) => Partial<T> | undefined,
): (rec: SessionRecord) => SessionRecord | undefined {
  return (rec) => {
    const next = change(rec.d as Partial<T>);
    return next === undefined ? undefined : { ...rec, d: next as SessionData };
  };
}

/**
 * increment()'s change: adds `by` to `key` and leaves the sum in `out`. Made here rather than as
 * a named closure in increment() (under tsx/esbuild keepNames each of those costs a
 * defineProperty per call).
 */
function adder<T extends SessionData>(
  key: string,
  by: number,
  out: { result: number },
): (data: Partial<T>) => Partial<T> {
  return (d) => {
    const v = (d as SessionData)[key];
    out.result = (typeof v === 'number' && Number.isFinite(v) ? v : 0) + by;
    return { ...d, [key]: out.result } as Partial<T>;
  };
}
