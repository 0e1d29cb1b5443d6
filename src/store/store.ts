// The SessionStore contract: one interface for web sessions and for the resume state of
// real-time sessions, implemented by the memory store (the embedded default) and by remote
// stores (Redis, Memcached, replicated). One conformance suite (test/store) runs against each.
//
// Rules every store keeps
//   - Every write carries a TTL; `touch` extends it without rewriting the data.
//   - Every write bumps `version`; `compareAndSet` writes only over the version it names (0: the
//     session must not exist), which is the atomic update everything else builds on.
//   - A write may carry a `tag` (the writer's random token), kept with the version; a
//     compareAndSet that names a version and a tag writes only over that very write. A version
//     number alone can come back: when a Redis failover loses the newest writes, the promoted
//     replica counts on from an older version, and another writer's write gets the number again.
//   - A session's principal index is updated in the same atomic step as the session, so "list"
//     and "revoke all" never see a session without its index entry or the reverse.
//   - Data is serialised (JSON) on the way in and parsed on the way out: callers never share
//     objects with the store, and the memory store behaves as a remote one would.
//   - Events (created, expired, destroyed) come from the store itself, not from Redis keyspace
//     notifications.
//   - No call waits forever: each has a timeout (`timeoutMs`, default 1 s) and an optional
//     `signal`; a timeout is ERR_STORE_TIMEOUT, an unreachable store ERR_STORE_UNAVAILABLE.

import type { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';

export interface StoredSession<T = unknown> {
  id: string;
  data: T;
  /** Starts at 1 and grows by one with every write. */
  version: number;
  /** The tag the write that stored this version carried ('' when none, WriteOptions.tag). */
  tag: string;
  /** Who the session belongs to (indexed), or null. */
  principal: string | null;
  /** Milliseconds since the epoch (the store's clock). */
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

export interface CallOptions {
  /** Give up after this long with ERR_STORE_TIMEOUT. Default: the store's `timeoutMs` (1 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface WriteOptions extends CallOptions {
  /** Time to live from now, in milliseconds (required: nothing lives forever). */
  ttlMs: number;
  /** The principal to index the session under; omit to keep the current one. */
  principal?: string | null;
  /**
   * A tag kept with this write, read back as StoredSession.tag and compared by a compareAndSet
   * that names it (at most 64 characters; default ''): a random token per write tells this write
   * from another one that got the same version number after a failover.
   */
  tag?: string;
}

/**
 * compareAndSet's `expected`: a version (0: the session must not exist), or a version and the tag
 * its write carried, to write only over that very write (a version number that came back after a
 * failover lost writes, written by someone else, does not match).
 */
export type Expected = number | { version: number; tag: string };

export interface StoreEvents extends Record<string, unknown> {
  created: { id: string; principal: string | null };
  expired: { id: string; principal: string | null };
  destroyed: { id: string; principal: string | null };
}

export interface SessionStore extends Pick<Emitter<StoreEvents>, 'on' | 'once' | 'off'> {
  get<T = unknown>(id: string, options?: CallOptions): Promise<StoredSession<T> | null>;
  /** Creates or replaces; resolves with the new version. */
  set<T = unknown>(id: string, data: T, options: WriteOptions): Promise<number>;
  /** Writes only when the stored version (and tag, if named) is `expected` (0: absent); null when it moved. */
  compareAndSet<T = unknown>(id: string, expected: Expected, data: T, options: WriteOptions): Promise<number | null>;
  /** Extends the TTL without rewriting the data; false when the session does not exist. */
  touch(id: string, ttlMs: number, options?: CallOptions): Promise<boolean>;
  destroy(id: string, options?: CallOptions): Promise<boolean>;
  listByPrincipal<T = unknown>(principal: string, options?: CallOptions): Promise<StoredSession<T>[]>;
  /** Destroys every session of `principal`; resolves with how many there were. */
  destroyByPrincipal(principal: string, options?: CallOptions): Promise<number>;
  close(): Promise<void>;
}

/**
 * Read-modify-write with compare-and-set, retried when another writer got there first.
 * `change` returns the new data, or undefined to leave the session as it is. Resolves with the
 * stored session after the write (or as it was), or null when it does not exist.
 */
export async function updateSession<T>(
  store: SessionStore,
  id: string,
  change: (current: T) => T | undefined,
  options: WriteOptions & { retries?: number },
): Promise<StoredSession<T> | null> {
  const retries = options.retries ?? 16;
  for (let attempt = 0; attempt <= retries; attempt++) {
    const current = await store.get<T>(id, options);
    if (!current) return null;
    const next = change(current.data);
    if (next === undefined) return current;
    const version = await store.compareAndSet(id, current.version, next, options);
    if (version !== null) return { ...current, data: next, version };
  }
  throw new SessionError('ERR_STORE_CONFLICT', `session ${id} kept changing under ${retries + 1} attempts`, 'local', {
    id,
    retries,
  });
}
