// WebSessions: the framework-free core of HTTP sessions. Adapters (node.ts for node:http,
// Connect and Express; fastify.ts; `handle()` here for Web Request/Response) only move headers.
//
//   request --load()--> WebSession --handler--> save() --cookies()--> Set-Cookie --> response
//
// Rules
//   - The cookie carries only a split token `<id>.<secret>` (cookie.ts); the record stores
//     SHA-256(secret). A cookie that does not parse, is unknown, does not match or has expired
//     yields a fresh session (the old cookie is cleared unless a new one replaces it).
//   - Expiry is decided by THIS layer's clock, from the record: idle (`s`, last seen + idleMs)
//     and absolute (`c`, created + absoluteMs), both on by default. The store TTL follows the
//     earlier deadline, so the store drops what this layer would refuse anyway.
//   - A new session is stored only once something is put in it (no empty sessions, no cookie).
//     Writes go through the Writer (writer.ts): diffs merged key by key onto the newest record.
//   - Last-seen is refreshed at most every `touchAfterMs` (a write), and each write re-sends the
//     cookie so that its Max-Age follows the idle deadline. `rolling` re-sends it on every
//     response.
//   - Every store call is bounded (`storeTimeoutMs`, and a guard above the store's own timer).
//     A store failure fails the request closed (503) unless `onStoreError: 'anonymous'`, which
//     runs it without a session. A request never waits on the store longer than the bound.
//   - Store keys and principal index names are namespaced (`web:`), so token families
//     (tokens.ts) and real-time resume state can share the same store.

import { SessionError } from '../engine/errors.js';
import { MemoryStore } from '../store/memory-store.js';
import type { SessionStore, StoredSession } from '../store/store.js';
import {
  formatToken,
  hashSecret,
  MAX_CACHED_HASHES,
  newToken,
  parseToken,
  readCookie,
  sameHash,
  serializeCookie,
  type CookieAttributes,
  type SessionToken,
} from './cookie.js';
import { WebSession, type SessionData } from './web-session.js';
import { handleFetch } from './fetch.js';
import {
  bounded,
  GONE,
  QUEUED,
  Writer,
  type Change,
  type Current,
  type Outcome,
  type WriterOptions,
} from './writer.js';
import { Revocations } from './revocation.js';

export type { WebSessionsOptions, SessionRecord, SessionInfo, LoadInput } from './web-sessions-types.js';
import type { WebSessionsOptions, SessionRecord, SessionInfo, LoadInput } from './web-sessions-types.js';
import type {} from '../store/errors.js';
import type {} from './errors.js';

const MAX_USER_AGENT = 256;
/** Store keys remembered per WebSessions (key()); as many as the token cache in cookie.ts. */
const MAX_CACHED_KEYS = MAX_CACHED_HASHES;
/** What cookies() returns when the response sets none (the usual case): no array per response. */
const NO_COOKIES: readonly string[] = Object.freeze([]);

export class WebSessions {
  /** @internal */
  readonly store: SessionStore;
  /** @internal */
  readonly idleMs: number;
  /** @internal */
  readonly absoluteMs: number;
  /** @internal */
  readonly touchAfterMs: number;
  /** @internal */
  readonly storeTimeoutMs: number;
  /** @internal */
  readonly failClosed: boolean;
  /** @internal */
  readonly trustProxy: boolean;
  /** Each logout (WebSession.destroy), revoke and revokeAll, for endRealtimeOnRevoke (src/web/revocation.ts). */
  readonly revocations = new Revocations();
  private readonly now: () => number;
  private readonly ns: string;
  private readonly writer: Writer<SessionRecord>;
  private readonly maxDataBytes: number;
  private readonly coalesce: boolean;
  /** The store is exactly a MemoryStore (not a subclass or wrapper). */
  private readonly memory: boolean;
  /** Store keys of recently seen ids (key()). */
  private readonly keys = new Map<string, string>();
  /** Store reads in flight, by key, that later requests may join (coalesceReads). */
  private readonly reads = new Map<string, Promise<StoredSession<SessionRecord> | null>>();

  constructor(private readonly options: WebSessionsOptions = {}) {
    this.store = options.store ?? new MemoryStore();
    this.idleMs = positive(options.idleTimeoutMs ?? 30 * 60_000, 'idleTimeoutMs');
    this.absoluteMs = positive(options.absoluteTimeoutMs ?? 12 * 3600_000, 'absoluteTimeoutMs');
    this.touchAfterMs = options.touchAfterMs ?? Math.min(60_000, Math.floor(this.idleMs / 10));
    this.storeTimeoutMs = positive(options.storeTimeoutMs ?? 1000, 'storeTimeoutMs');
    this.failClosed = (options.onStoreError ?? 'fail') === 'fail';
    this.trustProxy = options.trustProxy ?? false;
    this.now = options.now ?? Date.now;
    this.ns = options.namespace ?? 'web';
    this.maxDataBytes = options.maxDataBytes ?? 64 * 1024;
    this.coalesce = options.coalesceReads ?? true;
    this.memory = Object.getPrototypeOf(this.store) === MemoryStore.prototype;
    if (options.sameSite === 'None' && options.secure === false)
      throw new SessionError('ERR_INVALID_ARGUMENT', 'sameSite None needs secure cookies', 'local');
    this.writer = new Writer<SessionRecord>({
      store: this.store,
      ttl: (rec) => this.deadline(rec) - this.now(),
      timeoutMs: this.storeTimeoutMs,
      maxRetries: options.maxRetries ?? 64,
      guard: (p, op) => this.guard(p, op),
      written: (key) => this.reads.delete(key),
      ...(this.memory ? { now: memoryNow(this.store as MemoryStore) } : {}),
    });
  }

  // -- requests -----------------------------------------------------------------------------

  /** @internal The session a request's cookie names, or a fresh one. Rejects (ERR_STORE_*) when the store fails. */
  load<T extends SessionData = SessionData>(input: LoadInput): Promise<WebSession<T>> {
    try {
      return Promise.resolve(this.loadNow<T>(input));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * @internal load(), but the session itself when it is known within the call (no cookie, or the
   * memory store, which answers synchronously): the adapters then go on with no promise step.
   * Otherwise one .then after the store's answer (the read's own step included). Throws or
   * rejects (ERR_STORE_*) when the store fails.
   */
  loadNow<T extends SessionData = SessionData>(input: LoadInput): WebSession<T> | Promise<WebSession<T>> {
    const raw = readCookie(input.cookie, this.cookieName(input.secure));
    const token = parseToken(raw);
    const userAgent =
      input.userAgent !== undefined && input.userAgent.length > MAX_USER_AGENT
        ? input.userAgent.slice(0, MAX_USER_AGENT)
        : input.userAgent;
    if (!token) return this.fresh<T>(raw !== undefined, userAgent, input);
    const key = this.key(token.id);
    if (this.memory) return this.loaded<T>(token, freeze((this.store as MemoryStore).getNow(key)), userAgent, input);
    return this.read(key).then((stored) => this.loaded<T>(token, stored, userAgent, input));
  }

  private loaded<T extends SessionData>(
    token: SessionToken,
    stored: StoredSession<SessionRecord> | null,
    userAgent: string | undefined,
    input: LoadInput,
  ): WebSession<T> {
    const found = this.check(token, stored);
    return found
      ? new WebSession<T>(this, {
          token,
          record: found.data,
          version: found.version,
          tag: found.tag,
          principal: this.principalOf(found.principal),
          hadCookie: true,
          available: true,
          userAgent,
          address: input.address,
          secure: input.secure,
        })
      : this.fresh<T>(true, userAgent, input);
  }

  private fresh<T extends SessionData>(
    hadCookie: boolean,
    userAgent: string | undefined,
    input: LoadInput,
  ): WebSession<T> {
    return new WebSession<T>(this, {
      token: null,
      record: null,
      principal: null,
      hadCookie,
      available: true,
      userAgent,
      address: input.address,
      secure: input.secure,
    });
  }

  /** @internal A session that saves nothing, for a request run anonymously while the store is down. */
  anonymous<T extends SessionData = SessionData>(secure = false): WebSession<T> {
    return new WebSession<T>(this, {
      token: null,
      record: null,
      principal: null,
      hadCookie: false,
      available: false,
      secure,
    });
  }

  /**
   * Writes what the request changed (and a due touch). Idempotent; call it before the headers go.
   * `create`: store a new session even if nothing was put in it.
   * @internal
   */
  async save(session: WebSession<SessionData>, create = false): Promise<void> {
    if (!session.available || session.state === 'destroyed') return;
    const now = this.now();
    if (session.state === 'new') {
      if (!session.dirty && !create) return;
      const token = (session.token ??= newToken());
      const record: SessionRecord = { h: hashSecret(token.secret), d: session.mergeInto({}), c: now, s: now };
      if (session.userAgent) record.ua = session.userAgent;
      if (session.address) record.ip = session.address;
      this.checkSize(record.d);
      const principal = session.principal;
      const outcome = await this.writer.apply(this.key(token.id), (cur) =>
        cur ? GONE : { value: record, principal: this.indexName(principal) },
      );
      if (outcome === GONE || outcome === null)
        throw new SessionError('ERR_STORE_CONFLICT', 'a new session id was already taken', 'local', { retries: 0 });
      session.saved(outcome.value, outcome.version, outcome.tag, principal);
      session.cookieChanged = true;
      return;
    }
    const rec = session.record as SessionRecord;
    if (!session.dirty && now - rec.s < this.touchAfterMs) return;
    const outcome = await this.writeRecord(session, (r) => {
      if (!session.dirty) return now - r.s < this.touchAfterMs ? undefined : { ...r };
      const d = session.mergeInto(r.d);
      this.checkSize(d);
      return { ...r, d };
    });
    if (outcome === GONE || outcome === null) {
      // Destroyed, revoked or expired meanwhile: logout wins, this request's changes are dropped.
      session.state = 'destroyed';
      session.record = null;
      session.changes.clear();
      session.cookieChanged = true;
      return;
    }
    const principal = this.principalOf(outcome.principal);
    if (outcome.value.s !== rec.s) session.cookieChanged = true;
    session.saved(outcome.value, outcome.version, outcome.tag, principal);
  }

  /** @internal Whether save() would write anything now (changes, a new session with data, or a touch due). */
  needsSave(session: WebSession<SessionData>): boolean {
    if (!session.available || session.state === 'destroyed') return false;
    if (session.state === 'new' || session.dirty) return session.dirty;
    return this.now() - (session.record as SessionRecord).s >= this.touchAfterMs;
  }

  /** @internal The Set-Cookie values this response needs (none, a new or refreshed cookie, or a clearing one). */
  cookies(session: WebSession<SessionData>, secure: boolean): readonly string[] {
    if (!session.available) return NO_COOKIES;
    const name = this.cookieName(secure);
    const willStore = session.state === 'stored' || (session.state === 'new' && session.dirty);
    if (willStore && (session.cookieChanged || session.state === 'new' || this.options.rolling)) {
      const token = (session.token ??= newToken());
      const rec = session.record;
      const now = this.now();
      const deadline =
        rec && session.state === 'stored' ? this.deadline(rec) : Math.min(now + this.idleMs, now + this.absoluteMs);
      return [serializeCookie(name, formatToken(token), this.attributes(secure, Math.ceil((deadline - now) / 1000)))];
    }
    if (!willStore && (session.hadCookie || session.cookieChanged))
      return [serializeCookie(name, '', this.attributes(secure, 0))];
    return NO_COOKIES;
  }

  /**
   * The Web-standard adapter: runs `handler` with the request's session and returns its response
   * with the session saved and the cookie set. Fits any framework built on Request/Response.
   */
  handle<T extends SessionData = SessionData>(
    request: Request,
    handler: (request: Request, session: WebSession<T>) => Response | Promise<Response>,
    info: { address?: string } = {},
  ): Promise<Response> {
    return handleFetch(this, request, handler, info);
  }

  // -- read-only resolution (WebSocket upgrade, other services) ----------------------------------

  /**
   * Who a Cookie header belongs to, without touching it: null when no live session matches.
   * `secure` (the request came over TLS): only the cookie name this layer issues there is read
   * (`__Host-sid` over TLS, so a plain `sid` planted by a network attacker or a sibling subdomain
   * is ignored). Without it both names are tried (for callers that do not know the transport).
   */
  async resolve(
    cookie: string | string[] | null | undefined,
    options: { secure?: boolean } = {},
  ): Promise<(SessionInfo & { principal: string | null; data: SessionData }) | null> {
    for (const secure of options.secure === undefined ? [true, false] : [options.secure]) {
      const token = parseToken(readCookie(cookie, this.cookieName(secure)));
      if (!token) continue;
      const found = await this.lookup(token);
      if (found) return { ...this.info(token.id, found.record), principal: found.principal, data: found.record.d };
    }
    return null;
  }

  // -- per principal ----------------------------------------------------------------------------

  /** A principal's live sessions, oldest first. */
  async listSessions(principal: string): Promise<SessionInfo[]> {
    const all = await this.guard(
      this.store.listByPrincipal<SessionRecord>(this.indexName(principal) as string, {
        timeoutMs: this.storeTimeoutMs,
      }),
      'listByPrincipal',
    );
    const now = this.now();
    const prefix = `${this.ns}:`;
    return all
      .filter((s) => s.id.startsWith(prefix) && this.deadline(s.data) > now)
      .map((s) => this.info(s.id.slice(prefix.length), s.data));
  }

  /** Ends one of `principal`'s sessions (by its public id); false when it is not theirs or gone. */
  async revoke(principal: string, id: string): Promise<boolean> {
    const s = await this.guard(this.store.get<SessionRecord>(this.key(id), { timeoutMs: this.storeTimeoutMs }), 'get');
    if (!s || s.principal !== this.indexName(principal)) return false;
    await this.destroyStored(id);
    this.revocations.emit({ kind: 'web-session', id, principal });
    return true;
  }

  /** Ends every session of `principal` (one atomic step on stores that have one); resolves with how many. */
  async revokeAll(principal: string): Promise<number> {
    const ended = await this.guard(
      this.store.destroyByPrincipal(this.indexName(principal) as string, { timeoutMs: this.storeTimeoutMs }),
      'destroyByPrincipal',
    );
    this.revocations.emit({ kind: 'web-principal', principal });
    return ended;
  }

  async close(): Promise<void> {
    if (!this.options.store) await this.store.close();
  }

  // -- helpers used by adapters -----------------------------------------------------------------

  /** @internal */
  cookieName(secure: boolean): string {
    const base = this.options.cookieName ?? 'sid';
    return this.useSecure(secure) && !this.options.domain && (this.options.path ?? '/') === '/'
      ? `__Host-${base}`
      : base;
  }

  /** @internal Whether a request counts as served over TLS. */
  isSecure(tls: boolean, forwardedProto?: string | string[] | null): boolean {
    if (tls) return true;
    if (!this.trustProxy || !forwardedProto) return false;
    const first = (Array.isArray(forwardedProto) ? forwardedProto[0] : forwardedProto)
      ?.split(',')[0]
      ?.trim()
      .toLowerCase();
    return first === 'https';
  }

  /** @internal The expiry deadline of a record by this layer's clock. */
  deadline(rec: SessionRecord): number {
    return Math.min(rec.s + this.idleMs, rec.c + this.absoluteMs);
  }

  /** @internal Hands an error that did not fail a request (or failed it with a 500) to `onError`. */
  report(error: unknown): void {
    this.options.onError?.(error);
  }

  // -- internals (SessionManagerInternals) ----------------------------------------------------

  /** @internal */
  newToken(): SessionToken {
    return newToken();
  }

  /** @internal */
  async destroyStored(id: string): Promise<void> {
    this.writer.forget(this.key(id));
    this.reads.delete(this.key(id));
    await this.guard(this.store.destroy(this.key(id), { timeoutMs: this.storeTimeoutMs }), 'destroy');
  }

  /** @internal */
  writeRecord(
    session: WebSession<SessionData>,
    change: (rec: SessionRecord) => SessionRecord | undefined,
  ): Promise<Outcome<SessionRecord>> {
    return this.writer.apply(
      this.key((session.token as SessionToken).id),
      this.recordChange(session, change),
      this.hintOf(session),
    );
  }

  /**
   * @internal writeRecord() within the call when the store answers synchronously and nobody else
   * in this process is writing the record (the memory store's usual case): the outcome, no promise.
   * QUEUED when it must go through writeRecord(). Throws what writeRecord() would reject with.
   */
  writeRecordNow(
    session: WebSession<SessionData>,
    change: (rec: SessionRecord) => SessionRecord | undefined,
  ): Outcome<SessionRecord> | typeof QUEUED {
    if (!this.memory) return QUEUED;
    return this.writer.applyIfIdle(
      this.key((session.token as SessionToken).id),
      this.recordChange(session, change),
      this.hintOf(session),
    );
  }

  /** The record a session last read or wrote, as the Writer's first guess (a stale one only costs a read). */
  private hintOf(session: WebSession<SessionData>): Current<SessionRecord> | undefined {
    const rec = session.record;
    return rec && session.version > 0 && session.state === 'stored'
      ? { value: rec, version: session.version, tag: session.tag, principal: this.indexName(session.principalValue) }
      : undefined;
  }

  /** The Writer's change for a write of a stored session's record: refused (GONE) if it is gone, expired or not this token's. */
  private recordChange(
    session: WebSession<SessionData>,
    change: (rec: SessionRecord) => SessionRecord | undefined,
  ): Change<SessionRecord> {
    // The record's hash was checked against this token at load (or written from it at save).
    const loaded = session.record;
    const h = loaded?.h ?? hashSecret((session.token as SessionToken).secret);
    const now = this.now();
    return (cur) => {
      // The record this request loaded (or wrote) itself needs no second comparison.
      if (!cur || (cur.value !== loaded && !sameHash(cur.value.h, h)) || this.deadline(cur.value) <= now) return GONE;
      const next = change(cur.value);
      if (next === undefined) return undefined;
      const principal = session.principalChange !== undefined ? this.indexName(session.principalChange) : cur.principal;
      // Last seen moves (and the cookie's Max-Age with it) at most every touchAfterMs.
      return { value: now - cur.value.s >= this.touchAfterMs ? { ...next, s: now } : next, principal };
    };
  }

  private lookup(
    token: SessionToken,
  ): Promise<{ record: SessionRecord; version: number; principal: string | null } | null> {
    return this.read(this.key(token.id)).then((stored) => {
      const found = this.check(token, stored);
      return found
        ? { record: found.data, version: found.version, principal: this.principalOf(found.principal) }
        : null;
    });
  }

  /** The stored record if it belongs to `token` and is live by this layer's clock, else null. */
  private check(token: SessionToken, stored: StoredSession<SessionRecord> | null): StoredSession<SessionRecord> | null {
    if (!stored || typeof stored.data?.h !== 'string' || !sameHash(stored.data.h, hashSecret(token.secret)))
      return null;
    if (this.deadline(stored.data) <= this.now()) {
      // Over by this layer's clock: remove it (best effort; the store TTL would too).
      this.destroyStored(token.id).catch((error: unknown) => this.options.onError?.(error));
      return null;
    }
    return stored;
  }

  /**
   * One store read, shared by the requests that ask while it is in flight (coalesceReads). The
   * data is frozen: requests may share it, and changes go through set() anyway.
   */
  private read(key: string): Promise<StoredSession<SessionRecord> | null> {
    if (!this.coalesce)
      return this.guard(this.store.get<SessionRecord>(key, { timeoutMs: this.storeTimeoutMs }), 'get').then(freeze);
    const pending = this.reads.get(key);
    if (pending) return pending;
    // One step after the store's answer: freeze, and stop offering this read to later requests.
    const p: Promise<StoredSession<SessionRecord> | null> = this.guard(
      this.store.get<SessionRecord>(key, { timeoutMs: this.storeTimeoutMs }),
      'get',
    ).then(
      (s) => {
        if (this.reads.get(key) === p) this.reads.delete(key);
        return freeze(s);
      },
      (error: unknown) => {
        if (this.reads.get(key) === p) this.reads.delete(key);
        throw error;
      },
    );
    this.reads.set(key, p);
    return p;
  }

  private info(id: string, rec: SessionRecord): SessionInfo {
    const out: SessionInfo = { id, createdAt: rec.c, lastSeenAt: rec.s, expiresAt: this.deadline(rec) };
    if (rec.ua) out.userAgent = rec.ua;
    if (rec.ip) out.address = rec.ip;
    return out;
  }

  /**
   * The store key of a session id. Recent ones are kept (id -> key): a returning cookie's id is
   * the same string each time (cookie.ts keeps parsed tokens), and so is its key, whose hash the
   * store's map then has without flattening and hashing a new string, twice per request.
   */
  private key(id: string): string {
    let key = this.keys.get(id);
    if (key === undefined) {
      key = `${this.ns}:${id}`;
      if (this.keys.size >= MAX_CACHED_KEYS) this.keys.delete(this.keys.keys().next().value as string);
      this.keys.set(id, key);
    }
    return key;
  }
  private indexName(principal: string | null): string | null {
    return principal === null ? null : `${this.ns}:${principal}`;
  }
  private principalOf(index: string | null): string | null {
    return index !== null && index.startsWith(`${this.ns}:`) ? index.slice(this.ns.length + 1) : null;
  }

  private useSecure(secure: boolean): boolean {
    const s = this.options.secure ?? 'auto';
    return s === 'auto' ? secure : s;
  }

  private attributes(secure: boolean, maxAge: number): CookieAttributes {
    const a: CookieAttributes = {
      path: this.options.path ?? '/',
      secure: this.useSecure(secure),
      httpOnly: true,
      sameSite: this.options.sameSite ?? 'Lax',
      maxAge,
    };
    if (this.options.domain) a.domain = this.options.domain;
    return a;
  }

  private checkSize(d: SessionData): void {
    const bytes = JSON.stringify(d).length;
    if (bytes > this.maxDataBytes)
      throw new SessionError(
        'ERR_WEB_SESSION_TOO_LARGE',
        `session data would be ${bytes} bytes, over maxDataBytes (${this.maxDataBytes})`,
        'local',
        { bytes, limit: this.maxDataBytes },
      );
  }

  /** @internal Bounds a store call even if the store ignores its own timeout: a request never hangs on it. */
  guard<T>(p: Promise<T>, op: string): Promise<T> {
    // The memory store answers within the call (no I/O): no timer needed. Anything else, even a
    // wrapper around one, is bounded.
    return this.memory ? p : bounded(p, this.storeTimeoutMs, op);
  }
}

/** Store failures (as opposed to bugs): these are what fail-closed / anonymous are about. */
export function isStoreError(error: unknown): boolean {
  return (
    error instanceof SessionError &&
    (error.code === 'ERR_STORE_TIMEOUT' ||
      error.code === 'ERR_STORE_UNAVAILABLE' ||
      error.code === 'ERR_STORE_CONFLICT' ||
      error.code === 'ERR_STORE_FULL')
  );
}

export const UNAVAILABLE_BODY = 'Service unavailable: the session store cannot be reached. Try again shortly.\n';

/** The MemoryStore's synchronous calls, for the Writer's fast path. */
function memoryNow(store: MemoryStore): NonNullable<WriterOptions<SessionRecord>['now']> {
  return {
    get: (key) => store.getNow<SessionRecord>(key),
    compareAndSet: (key, expected, value, options) => store.compareAndSetNow(key, expected, value, options),
  };
}

function freeze(s: StoredSession<SessionRecord> | null): StoredSession<SessionRecord> | null {
  if (s && s.data && typeof s.data === 'object') deepFreeze(s.data.d);
  return s;
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}

function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new SessionError('ERR_INVALID_ARGUMENT', `${name} must be a positive number of milliseconds`, 'local', {
      [name]: value,
    });
  return value;
}
