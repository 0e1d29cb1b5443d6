// MemcachedStore: the SessionStore contract on Memcached (memjs, binary protocol), for web
// sessions.
//
// Memcached has no sets, no scripts and no transactions; what it has is CAS: every item carries a
// 64-bit CAS value that changes with each write, and SET or DELETE can be made conditional on it
// (memjs does not expose CAS, so this store builds those binary requests itself and sends them
// through memjs's `perform`). Everything atomic here is one conditional operation on one item:
// the session item, or a principal's index item.
//
// The pieces, each with its own header: memcached-protocol.ts (the binary requests and their
// outcomes), memcached-records.ts (key layout and item formats), memcached-tracker.ts (the
// sessions this store remembers for its sweeper).
//
// Guarantees
//   - compareAndSet/set/touch/destroy: read the item with its CAS value, decide, write with that
//     CAS value (a new session with ADD, which fails if it exists). A lost race re-reads and
//     decides again (bounded; ERR_STORE_CONFLICT when it keeps losing). Versions, createdAt and
//     the "0: must not exist" rule are therefore exact, and each write is all-or-nothing.
//   - touch rewrites the item (same data, version and updatedAt; new expiresAt): Memcached cannot
//     change a value's deadline field without rewriting it.
//   - The store's clock is this process's Date.now(); nodes sharing a Memcached must keep their
//     clocks within maxClockSkewMs of each other. Memcached's own expiry (whole seconds) is set
//     graceMs past the session's deadline, as a backstop; the deadline in the value is what counts.
//   - The principal index is a separate item, so it cannot change in the same step as the session.
//     Instead, before a session is written (or touched) under principal p, p's list gets an entry
//     for it whose bound is >= the session's new expiresAt (CAS-updated list). Writers never remove
//     entries; a list entry is dropped only when its bound is older than maxClockSkewMs, when the
//     session it stood for has expired on every node's clock. Readers check every entry against
//     the session item. Hence: listByPrincipal never returns a session that is not p's, and a live
//     session of p is always in p's list (given the clock bound); a moved or destroyed session's
//     stale entry costs one extra read until its bound passes.
//   - Events: created (the ADD that succeeded) and destroyed (the CAS DELETE that succeeded) are
//     emitted by the store that performed the write. expired is detected lazily: any call that
//     meets a session past its deadline deletes it with CAS and, if that delete won, emits expired
//     (exactly once across nodes). Every store also remembers the sessions it wrote, read or
//     touched (up to maxTracked) and sweeps them at their deadlines, and listByPrincipal reaps the
//     expired sessions its index scan meets. A session that no live store has seen, and that no
//     call touches within graceMs after its deadline, vanishes from Memcached without an event.
//   - Memcached is a cache: under memory pressure it evicts items (sessions included) by LRU.
//     Size it so it does not evict (watch `evictions` in `stats`), or use Redis.
//   - No call waits forever: each is raced against its timeout (ERR_STORE_TIMEOUT); connection
//     failures are ERR_STORE_UNAVAILABLE; memjs's own retries are off (a CAS write is never sent
//     twice).

import memjs, { type Client as MemjsClient } from 'memjs';
import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import { OP, removeItem, request, STATUS, statusError, storeItem, type Outcome } from './memcached-protocol.js';
import {
  keyPart,
  liveEntries,
  parseIndex,
  parseRec,
  topBound,
  view,
  type Loaded,
  type Rec,
} from './memcached-records.js';
import { ExpiryTracker } from './memcached-tracker.js';
import {
  backoff,
  checkExpected,
  checkId,
  checkPrincipal,
  checkTtl,
  checkWrite,
  nonNegative,
  positive,
  runBounded,
  stillOn,
  sweepTimer,
  SweepGate,
} from './shared.js';
import type { CallOptions, Expected, SessionStore, StoredSession, StoreEvents, WriteOptions } from './store.js';
import type {} from './errors.js';

export interface MemcachedStoreTuning {
  /** Key prefix: printable ASCII, at most 40 characters. Default 'colloquy'. */
  prefix?: string;
  /** Default per-call timeout, in milliseconds. Default 1000. */
  timeoutMs?: number;
  /** How long Memcached keeps a session past its deadline, for its `expired` event. Default 60 s. */
  graceMs?: number;
  /** How often tracked sessions are swept (and `expired` emitted). Default 1000 ms; 0 disables. */
  sweepIntervalMs?: number;
  /** Sessions this store remembers for its sweeper. Default 100,000. */
  maxTracked?: number;
  /** How far an index entry's bound runs ahead of its session's expiresAt. Default 5000 ms. */
  slackMs?: number;
  /** How far the clocks of the nodes sharing the Memcached may disagree. Default 1000 ms. */
  maxClockSkewMs?: number;
}

export type MemcachedConnection =
  | { client: MemjsClient }
  /** memjs server list, e.g. "127.0.0.1:11211,127.0.0.1:11212". */
  | { servers: string };

export type MemcachedStoreOptions = MemcachedStoreTuning & MemcachedConnection;

const MAX_ATTEMPTS = 64;

export class MemcachedStore extends Emitter<StoreEvents> implements SessionStore {
  readonly client: MemjsClient;
  readonly prefix: string;
  readonly timeoutMs: number;
  private readonly owned: boolean;
  private readonly graceMs: number;
  private readonly slackMs: number;
  private readonly skewMs: number;
  private readonly tracker: ExpiryTracker;
  private readonly sweeps = new SweepGate();
  private readonly timer: ReturnType<typeof setInterval> | null;
  private closed = false;

  constructor(options: MemcachedStoreOptions) {
    super();
    this.prefix = options.prefix ?? 'colloquy';
    if (!/^[\x21-\x7e]{1,40}$/.test(this.prefix))
      throw new SessionError('ERR_INVALID_ARGUMENT', 'prefix must be 1 to 40 printable ASCII characters', 'local', {
        prefix: this.prefix,
      });
    this.timeoutMs = positive(options.timeoutMs ?? 1000, 'timeoutMs');
    this.graceMs = positive(options.graceMs ?? 60_000, 'graceMs');
    this.slackMs = positive(options.slackMs ?? 5000, 'slackMs');
    this.skewMs = nonNegative(options.maxClockSkewMs ?? 1000, 'maxClockSkewMs');
    this.tracker = new ExpiryTracker(Math.max(0, Math.floor(options.maxTracked ?? 100_000)));
    if ('client' in options) {
      this.client = options.client;
      this.owned = false;
    } else {
      // No memjs retries (a CAS write must not be replayed), no logging to the console, and a
      // socket timeout above ours so memjs drops a dead connection after our callers gave up.
      this.client = memjs.Client.create(options.servers, {
        retries: 1,
        failover: false,
        timeout: (2 * this.timeoutMs) / 1000,
        conntimeout: Math.max(this.timeoutMs, 500) / 1000,
        keepAlive: true,
        logger: { log: () => undefined },
      });
      this.owned = true;
    }
    this.timer = sweepTimer(options.sweepIntervalMs ?? 1000, this.sweeps, () => this.sweep());
  }

  async get<T = unknown>(id: string, options?: CallOptions): Promise<StoredSession<T> | null> {
    checkId(id);
    return this.run('get', options, async (call) => {
      const cur = await this.live(id, call);
      return cur ? view<T>(cur.rec) : null;
    });
  }

  async set<T = unknown>(id: string, data: T, options: WriteOptions): Promise<number> {
    return (await this.write(id, -1, data, options)) as number;
  }

  async compareAndSet<T = unknown>(
    id: string,
    expected: Expected,
    data: T,
    options: WriteOptions,
  ): Promise<number | null> {
    const e = checkExpected(expected);
    return this.write(id, e.version, data, options, e.tag);
  }

  async touch(id: string, ttlMs: number, options?: CallOptions): Promise<boolean> {
    checkId(id);
    const ttl = checkTtl(ttlMs);
    return this.run('touch', options, async (call) => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        await backoff(attempt);
        const cur = await this.live(id, call);
        if (!cur) return false;
        const e = Date.now() + ttl;
        if (cur.rec.p !== null) await this.indexAdd(cur.rec.p, id, e, call);
        stillOn(call);
        const rec: Rec = { ...cur.rec, e };
        const r = await this.store(OP.SET, this.sessionKey(id), rec, e + this.graceMs, cur.cas);
        if (r === 'ok') {
          this.track(id, e);
          return true;
        }
      }
      throw conflict(id, 'touch');
    });
  }

  async destroy(id: string, options?: CallOptions): Promise<boolean> {
    checkId(id);
    return this.run('destroy', options, (call) => this.destroyOne(id, undefined, call));
  }

  async listByPrincipal<T = unknown>(principal: string, options?: CallOptions): Promise<StoredSession<T>[]> {
    checkPrincipal(principal);
    return this.run('listByPrincipal', options, async (call) => {
      const ids = await this.indexed(principal);
      stillOn(call);
      // The reads go out together on the connection (the binary protocol matches replies by opaque).
      const found = await Promise.all(ids.map((id) => this.live(id, call)));
      return found
        .filter((x): x is Loaded => x !== null && x.rec.p === principal)
        .map((x) => view<T>(x.rec))
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    });
  }

  async destroyByPrincipal(principal: string, options?: CallOptions): Promise<number> {
    checkPrincipal(principal);
    return this.run('destroyByPrincipal', options, async (call) => {
      const ids = await this.indexed(principal);
      stillOn(call);
      const done = await Promise.all(ids.map((id) => this.destroyOne(id, principal, call)));
      return done.filter(Boolean).length;
    });
  }

  /**
   * Checks the sessions this store tracks whose deadline has passed, reaping the expired ones
   * (emitting `expired` for those whose CAS delete won). The timer does this every sweepIntervalMs.
   */
  async sweep(options?: CallOptions): Promise<number> {
    return this.sweeps.run(() =>
      this.run('sweep', options, async (call) => {
        const now = Date.now();
        const due = this.tracker.takeDue(now, 1000);
        let emitted = 0;
        await Promise.all(
          due.map((id) =>
            this.live(id, call, () => {
              emitted++;
            }).catch((error: unknown) => {
              // Not checked this time (store down, or the call ran out of time): keep it for the next sweep.
              this.track(id, now);
              throw error;
            }),
          ),
        );
        return emitted;
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.tracker.clear();
    if (this.owned) this.client.close();
  }

  // -- internals ------------------------------------------------------------------------------

  private sessionKey(id: string): string {
    return `${this.prefix}:s:${keyPart(id)}`;
  }
  private indexKey(principal: string): string {
    return `${this.prefix}:p:${keyPart(principal)}`;
  }

  private async write<T>(
    id: string,
    expected: number,
    data: T,
    options: WriteOptions,
    expectedTag: string | null = null,
  ): Promise<number | null> {
    const { ttl, json, op, tag } = checkWrite(id, expected, data, options);
    return this.run(op, options, async (call) => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        await backoff(attempt);
        const cur = await this.live(id, call);
        if (expected >= 0 && (cur?.rec.v ?? 0) !== expected) return null;
        if (expectedTag !== null && (cur?.rec.t ?? '') !== expectedTag) return null;
        const principal = options.principal !== undefined ? options.principal : (cur?.rec.p ?? null);
        const now = Date.now();
        const e = now + ttl;
        // The index entry first, with a bound >= e: the session is never live without it.
        if (principal !== null) await this.indexAdd(principal, id, e, call);
        stillOn(call);
        const rec: Rec = { i: id, d: json, v: (cur?.rec.v ?? 0) + 1, p: principal, c: cur?.rec.c ?? now, u: now, e };
        if (tag !== '') rec.t = tag;
        const r = cur
          ? await this.store(OP.SET, this.sessionKey(id), rec, e + this.graceMs, cur.cas)
          : await this.store(OP.ADD, this.sessionKey(id), rec, e + this.graceMs);
        if (r === 'ok') {
          if (!cur) this.emit('created', { id, principal });
          this.track(id, e);
          return rec.v;
        }
        // Another writer got there first (or the item vanished): decide again on fresh data.
      }
      throw conflict(id, op);
    });
  }

  /** The live session with its CAS value, or null; one found past its deadline is reaped here. */
  private async live(id: string, call: AbortSignal, onReaped?: () => void): Promise<Loaded | null> {
    const key = this.sessionKey(id);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      stillOn(call);
      const res = await this.request(OP.GET, key);
      if (res.header.status === STATUS.NOT_FOUND) {
        this.untrack(id);
        return null;
      }
      if (res.header.status !== STATUS.OK) throw statusError(res, 'get');
      const rec = parseRec(res.val, id);
      const cas = Buffer.from(res.header.cas);
      if (rec.e > Date.now()) {
        this.track(id, rec.e);
        return { rec, cas };
      }
      // Past its deadline: whoever's CAS delete removes it reports it (exactly once).
      const r = await this.remove(key, cas);
      if (r === 'ok') {
        this.untrack(id);
        this.emit('expired', { id, principal: rec.p });
        onReaped?.();
        return null;
      }
      if (r === 'missing') {
        this.untrack(id);
        return null;
      }
      // 'exists': rewritten meanwhile; look again.
    }
    throw conflict(id, 'read');
  }

  private async destroyOne(id: string, principal: string | undefined, call: AbortSignal): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const cur = await this.live(id, call);
      if (!cur) return false;
      if (principal !== undefined && cur.rec.p !== principal) return false;
      stillOn(call);
      const r = await this.remove(this.sessionKey(id), cur.cas);
      if (r === 'ok') {
        this.untrack(id);
        this.emit('destroyed', { id, principal: cur.rec.p });
        return true;
      }
      if (r === 'missing') return false;
    }
    throw conflict(id, 'destroy');
  }

  /** Makes sure `principal`'s list holds `id` with a bound >= e (CAS loop on the list item). */
  private async indexAdd(principal: string, id: string, e: number, call: AbortSignal): Promise<void> {
    const key = this.indexKey(principal);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await backoff(attempt);
      stillOn(call);
      const res = await this.request(OP.GET, key);
      if (res.header.status === STATUS.NOT_FOUND) {
        const bound = e + this.slackMs;
        if ((await this.store(OP.ADD, key, [[id, bound]], bound + this.slackMs)) === 'ok') return;
        continue;
      }
      if (res.header.status !== STATUS.OK) throw statusError(res, 'get');
      const entries = parseIndex(res.val);
      const kept = liveEntries(entries, this.skewMs);
      const mine = kept.find(([x]) => x === id);
      if (mine && mine[1] >= e && kept.length === entries.length) return;
      if (!mine) kept.push([id, e + this.slackMs]);
      else if (mine[1] < e) mine[1] = e + this.slackMs;
      if ((await this.store(OP.SET, key, kept, topBound(kept) + this.slackMs, Buffer.from(res.header.cas))) === 'ok')
        return;
    }
    throw conflict(principal, 'index');
  }

  /** The ids in a principal's list; entries past their bound are pruned (best effort, by CAS). */
  private async indexed(principal: string): Promise<string[]> {
    const key = this.indexKey(principal);
    const res = await this.request(OP.GET, key);
    if (res.header.status === STATUS.NOT_FOUND) return [];
    if (res.header.status !== STATUS.OK) throw statusError(res, 'get');
    const entries = parseIndex(res.val);
    const kept = liveEntries(entries, this.skewMs);
    if (kept.length < entries.length) {
      if (kept.length === 0) await this.remove(key, Buffer.from(res.header.cas));
      else await this.store(OP.SET, key, kept, topBound(kept) + this.slackMs, Buffer.from(res.header.cas));
    }
    return [...new Set(kept.map(([id]) => id))];
  }

  private track(id: string, at: number): void {
    if (!this.closed) this.tracker.track(id, at);
  }
  private untrack(id: string): void {
    this.tracker.untrack(id);
  }

  // -- the binary protocol (memcached-protocol.ts) on this store's client -----------------------

  private request(opcode: number, key: string): ReturnType<typeof request> {
    return request(this.client, opcode, key);
  }

  /** SET (conditional on `cas` when given) or ADD; `expiresAtMs` becomes Memcached's exptime. */
  private store(opcode: number, key: string, value: unknown, expiresAtMs: number, cas?: Buffer): Promise<Outcome> {
    return storeItem(this.client, opcode, key, value, expiresAtMs, cas);
  }

  private remove(key: string, cas: Buffer): Promise<Outcome> {
    return removeItem(this.client, key, cas);
  }

  /** Runs one call: fails fast when closed, races the timeout and the signal. */
  private run<T>(op: string, options: CallOptions | undefined, fn: (call: AbortSignal) => Promise<T>): Promise<T> {
    return runBounded('memcached', op, this.closed, this.timeoutMs, options, fn, failure);
  }
}

// ---------------------------------------------------------------------------------------------

function failure(error: unknown, op: string): unknown {
  if (error instanceof SessionError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SessionError('ERR_STORE_UNAVAILABLE', `memcached ${op} failed: ${message}`, 'local', {
    op,
    cause: message,
  });
}

function conflict(id: string, op: string): SessionError {
  return new SessionError('ERR_STORE_CONFLICT', `${id}: ${op} kept racing other writers`, 'local', {
    id,
    op,
    retries: MAX_ATTEMPTS,
  });
}
