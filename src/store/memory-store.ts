// MemoryStore: the embedded default SessionStore.
//
// Bounded by entries and bytes (a write past either bound fails with ERR_STORE_FULL: a session
// store that silently evicted live sessions would log users out at random). Expiry needs no
// timer per entry: a min-heap of deadlines is swept by one timer, and every read checks the
// deadline too, so an expired session is never returned even between sweeps. Data is stored as
// JSON text, so callers get copies and see what a remote store would give them.

import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import { checkExpected, checkTag, checkTtl, popMin, pushHeap } from './shared.js';
import type { CallOptions, Expected, SessionStore, StoredSession, StoreEvents, WriteOptions } from './store.js';
import type {} from './errors.js';

export interface MemoryStoreOptions {
  /** Sessions held at most. Default 100,000. */
  maxEntries?: number;
  /** Bytes of serialised data held at most (UTF-16 length x 2). Default 256 MiB. */
  maxBytes?: number;
  /** How often expired sessions are swept (and `expired` emitted). Default 1 s; 0 disables the timer. */
  sweepIntervalMs?: number;
  /** The clock, for tests. Default Date.now. */
  now?: () => number;
}

interface Entry {
  json: string;
  version: number;
  tag: string;
  principal: string | null;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
  /** getNow's frozen view of this entry, parsed once (null until asked, or after a touch). */
  view: StoredSession<unknown> | null;
}

export class MemoryStore extends Emitter<StoreEvents> implements SessionStore {
  private readonly entries = new Map<string, Entry>();
  private readonly byPrincipal = new Map<string, Set<string>>();
  private readonly heap: { at: number; id: string }[] = [];
  private bytes = 0;
  private closed = false;
  private readonly timer: ReturnType<typeof setInterval> | null;
  private readonly now: () => number;

  constructor(private readonly options: MemoryStoreOptions = {}) {
    super();
    this.now = options.now ?? Date.now;
    const every = options.sweepIntervalMs ?? 1000;
    this.timer = every > 0 ? setInterval(() => this.sweep(), every) : null;
    (this.timer as { unref?: () => void } | null)?.unref?.();
  }

  /** Live sessions and their serialised bytes. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  async get<T = unknown>(id: string, options?: CallOptions): Promise<StoredSession<T> | null> {
    this.check(options);
    const e = this.live(id);
    return e ? view<T>(id, e) : null;
  }

  /**
   * @internal get() without the promise, for WebSessions' fast path on this store (which answers
   * within the call anyway): a request then loads its session with no microtask in between. The
   * view is shared by every caller until the entry changes (frozen below the data's top level,
   * not to be changed above it): the JSON is parsed once per write, not once per read, so a
   * request that only reads its session parses nothing.
   */
  getNow<T = unknown>(id: string): StoredSession<T> | null {
    this.check();
    const e = this.live(id);
    if (!e) return null;
    return (e.view ??= frozenView(id, e)) as StoredSession<T>;
  }

  /** @internal compareAndSet() without the promise (see getNow). */
  compareAndSetNow<T = unknown>(id: string, expected: Expected, data: T, options: WriteOptions): number | null {
    this.check(options);
    return this.write(id, data, options, checkExpected(expected));
  }

  async set<T = unknown>(id: string, data: T, options: WriteOptions): Promise<number> {
    this.check(options);
    return this.write(id, data, options, null) as number;
  }

  async compareAndSet<T = unknown>(
    id: string,
    expected: Expected,
    data: T,
    options: WriteOptions,
  ): Promise<number | null> {
    this.check(options);
    return this.write(id, data, options, checkExpected(expected));
  }

  async touch(id: string, ttlMs: number, options?: CallOptions): Promise<boolean> {
    this.check(options);
    checkTtl(ttlMs);
    const e = this.live(id);
    if (!e) return false;
    e.expiresAt = this.now() + ttlMs;
    e.view = null;
    this.schedule(id, e.expiresAt);
    return true;
  }

  async destroy(id: string, options?: CallOptions): Promise<boolean> {
    this.check(options);
    const e = this.live(id);
    if (!e) return false;
    this.remove(id, e, 'destroyed');
    return true;
  }

  async listByPrincipal<T = unknown>(principal: string, options?: CallOptions): Promise<StoredSession<T>[]> {
    this.check(options);
    const out: StoredSession<T>[] = [];
    for (const id of [...(this.byPrincipal.get(principal) ?? [])]) {
      const e = this.live(id);
      if (e) out.push(view<T>(id, e));
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  async destroyByPrincipal(principal: string, options?: CallOptions): Promise<number> {
    this.check(options);
    let n = 0;
    for (const id of [...(this.byPrincipal.get(principal) ?? [])]) {
      const e = this.live(id);
      if (e) {
        this.remove(id, e, 'destroyed');
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Removes every expired session now (the timer does this every sweepIntervalMs). */
  sweep(): number {
    const now = this.now();
    let n = 0;
    while (this.heap.length > 0 && (this.heap[0] as { at: number }).at <= now) {
      const { id } = popMin(this.heap);
      const e = this.entries.get(id);
      if (e && e.expiresAt <= now) {
        this.remove(id, e, 'expired');
        n++;
      }
    }
    return n;
  }

  private check(options?: CallOptions): void {
    if (this.closed) throw new SessionError('ERR_STORE_UNAVAILABLE', 'the store is closed', 'local');
    options?.signal?.throwIfAborted();
  }

  /** The entry if it exists and has not expired (an expired one is removed on the spot). */
  private live(id: string): Entry | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.remove(id, e, 'expired');
      return undefined;
    }
    return e;
  }

  private write<T>(
    id: string,
    data: T,
    options: WriteOptions,
    expected: { version: number; tag: string | null } | null,
  ): number | null {
    checkTtl(options.ttlMs);
    const tag = checkTag(options.tag);
    const json = JSON.stringify(data);
    if (json === undefined)
      throw new SessionError('ERR_INVALID_ARGUMENT', 'session data must be JSON-serialisable', 'local');
    const current = this.live(id);
    if (expected !== null && (current?.version ?? 0) !== expected.version) return null;
    if (expected?.tag != null && (current?.tag ?? '') !== expected.tag) return null;
    const size = json.length * 2;
    const maxEntries = this.options.maxEntries ?? 100_000;
    const maxBytes = this.options.maxBytes ?? 256 * 1024 * 1024;
    if (!current && this.entries.size >= maxEntries)
      throw new SessionError('ERR_STORE_FULL', `the memory store holds ${maxEntries} sessions (maxEntries)`, 'local', {
        limit: 'maxEntries',
      });
    if (this.bytes - (current ? current.json.length * 2 : 0) + size > maxBytes)
      throw new SessionError('ERR_STORE_FULL', `the memory store would exceed ${maxBytes} bytes (maxBytes)`, 'local', {
        limit: 'maxBytes',
      });
    const now = this.now();
    const principal = options.principal !== undefined ? options.principal : (current?.principal ?? null);
    const next: Entry = {
      json,
      version: (current?.version ?? 0) + 1,
      tag,
      principal,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
      expiresAt: now + options.ttlMs,
      view: null,
    };
    if (current) {
      this.bytes -= current.json.length * 2;
      if (current.principal !== principal) this.unindex(id, current.principal);
    }
    this.entries.set(id, next);
    this.bytes += size;
    if (principal !== null) {
      let set = this.byPrincipal.get(principal);
      if (!set) {
        set = new Set();
        this.byPrincipal.set(principal, set);
      }
      set.add(id);
    }
    this.schedule(id, next.expiresAt);
    if (!current) this.emit('created', { id, principal });
    return next.version;
  }

  private remove(id: string, e: Entry, why: 'expired' | 'destroyed'): void {
    this.entries.delete(id);
    this.bytes -= e.json.length * 2;
    this.unindex(id, e.principal);
    this.emit(why, { id, principal: e.principal });
  }

  private unindex(id: string, principal: string | null): void {
    if (principal === null) return;
    const set = this.byPrincipal.get(principal);
    set?.delete(id);
    if (set?.size === 0) this.byPrincipal.delete(principal);
  }

  /** Heap entries go stale when a session is touched or rewritten; sweep() skips those. */
  private schedule(id: string, at: number): void {
    pushHeap(this.heap, { at, id });
    // Stale entries are bounded: rebuild when the heap holds far more than the live sessions.
    if (this.heap.length > 4 * this.entries.size + 1024) {
      this.heap.length = 0;
      for (const [key, e] of this.entries) pushHeap(this.heap, { at: e.expiresAt, id: key });
    }
  }
}

/**
 * getNow's shared view: its data below the top level is deep-frozen (what a caller hands on to
 * user code: WebSessions' record `d`); the view and the data object themselves are not frozen, to
 * spare two freezes per parse, and getNow's callers must not change them.
 */
function frozenView(id: string, e: Entry): StoredSession<unknown> {
  const v = view<unknown>(id, e);
  const data = v.data;
  if (data !== null && typeof data === 'object') for (const k in data) deepFreeze((data as Record<string, unknown>)[k]);
  return v;
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const k in value) deepFreeze((value as Record<string, unknown>)[k]);
}

function view<T>(id: string, e: Entry): StoredSession<T> {
  return {
    id,
    data: JSON.parse(e.json) as T,
    version: e.version,
    tag: e.tag,
    principal: e.principal,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
    expiresAt: e.expiresAt,
  };
}
