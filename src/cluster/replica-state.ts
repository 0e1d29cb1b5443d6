// ReplicaState: one node's copy of every session of a replicated store, and the merge rule that
// makes all copies converge.
//
// Theory of operation
//   Each session is one immutable record (`Replica`); a change replaces the record, never edits
//   it, so a snapshot is a list of references taken in one synchronous step and stays consistent
//   while it is sent. A deleted session is a tombstone record (`json: null`) kept for
//   `tombstoneMs`, so a late copy of an older write cannot bring it back.
//
//   Order of records: every mutation is stamped with `rev` from a hybrid logical clock
//   (max(last + 1, now * 1000), and every rev seen from a peer pushes the clock past it), plus
//   the id of the node that made it. `(rev, origin)` is a total order, so merging is
//   "the greater record wins": commutative, idempotent and associative, which is why a snapshot
//   and the change stream may overlap or arrive in any order and every node still ends on the
//   same record. `version` (what users see) is decided by the node that made the mutation; it
//   is not the merge key because `touch` changes a record without a new version.
//
//   Mutations (write, touch, delete) are made only by `mutate*` on the node that owns the key
//   (src/cluster/replicated-store.ts routes them there); peers only `merge`. Expiry needs no
//   message: every node knows `expiresAt` and drops the session at that time by its own clock
//   (lazily on read, and by `sweep`).

import { createHash } from 'node:crypto';
import { SessionError } from '../engine/errors.js';
import { popMin, pushHeap, type Item } from '../store/shared.js';
import type { StoredSession } from '../store/store.js';
import type {} from './errors.js';
import type {} from '../store/errors.js';

export interface Replica {
  readonly id: string;
  /** The session's data as JSON text; null for a tombstone (the session was destroyed). */
  readonly json: string | null;
  readonly version: number;
  /** The tag of the write that made this version (WriteOptions.tag; '' for none). */
  readonly tag: string;
  readonly principal: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the session expires; for a tombstone, when the tombstone may be forgotten. */
  readonly expiresAt: number;
  /** Hybrid logical clock stamp of the mutation that made this record. */
  readonly rev: number;
  /** The node that made it (breaks rev ties). */
  readonly origin: string;
}

export interface ReplicaLimits {
  maxEntries: number;
  maxBytes: number;
  tombstoneMs: number;
  maxTombstones: number;
}

export type Removal = { id: string; principal: string | null; why: 'expired' | 'destroyed' };

/** True when `a` is ordered after `b`. */
export function newer(a: Replica, b: Replica): boolean {
  return a.rev > b.rev || (a.rev === b.rev && a.origin > b.origin);
}

const size = (r: Replica): number => (r.json === null ? 0 : r.json.length * 2);

export class ReplicaState {
  private readonly records = new Map<string, Replica>();
  private readonly byPrincipal = new Map<string, Set<string>>();
  private readonly heap: Item[] = [];
  private hlc = 0;
  private liveCount = 0;
  private tombstoneCount = 0;
  private bytes = 0;

  constructor(
    private readonly node: string,
    private readonly limits: ReplicaLimits,
  ) {}

  get size(): { entries: number; bytes: number; tombstones: number } {
    return { entries: this.liveCount, bytes: this.bytes, tombstones: this.tombstoneCount };
  }

  /** The record for `id` if it is a live session at `now`. */
  live(id: string, now: number): Replica | undefined {
    const r = this.records.get(id);
    return r && r.json !== null && r.expiresAt > now ? r : undefined;
  }

  /** Every record (live and tombstones), by reference: the snapshot a new peer link starts with. */
  snapshot(): Replica[] {
    return [...this.records.values()];
  }

  /** A digest of every live record (id, version, principal, times, data): equal digests, equal contents. */
  digest(now: number): { entries: number; sha256: string } {
    const live = this.snapshot()
      .filter((r) => r.json !== null && r.expiresAt > now)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const h = createHash('sha256');
    for (const r of live)
      h.update(JSON.stringify([r.id, r.version, r.principal, r.createdAt, r.updatedAt, r.expiresAt, r.json])).update(
        '\n',
      );
    return { entries: live.length, sha256: h.digest('hex') };
  }

  idsOf(principal: string): string[] {
    return [...(this.byPrincipal.get(principal) ?? [])];
  }

  /** Takes a peer's record if it is newer than ours. Returns what it replaced (or undefined when ignored). */
  merge(incoming: Replica, now: number): { applied: boolean; before: Replica | undefined } {
    if (incoming.rev > this.hlc) this.hlc = incoming.rev;
    const before = this.records.get(incoming.id);
    if (before && !newer(incoming, before)) return { applied: false, before };
    this.put(incoming, before, now);
    return { applied: true, before };
  }

  // ---- mutations on the owner --------------------------------------------------------------

  /** set (expected null) or compareAndSet (with a tag: only over that write); null when the version did not match. */
  mutateWrite(
    id: string,
    json: string,
    principal: string | null | undefined,
    ttlMs: number,
    expected: number | null,
    now: number,
    tag = '',
    expectedTag: string | null = null,
  ): { record: Replica; created: boolean } | null {
    const current = this.live(id, now);
    if (expected !== null && (current?.version ?? 0) !== expected) return null;
    if (expectedTag !== null && (current?.tag ?? '') !== expectedTag) return null;
    const before = this.records.get(id);
    if (!current && this.liveCount >= this.limits.maxEntries) {
      throw new SessionError(
        'ERR_STORE_FULL',
        `the replicated store holds ${this.limits.maxEntries} sessions (maxEntries)`,
        'local',
        { limit: 'maxEntries' },
      );
    }
    if (this.bytes - (current ? size(current) : 0) + json.length * 2 > this.limits.maxBytes) {
      throw new SessionError(
        'ERR_STORE_FULL',
        `the replicated store would exceed ${this.limits.maxBytes} bytes (maxBytes)`,
        'local',
        { limit: 'maxBytes' },
      );
    }
    const record: Replica = {
      id,
      json,
      version: (current?.version ?? 0) + 1,
      tag,
      principal: principal !== undefined ? principal : (current?.principal ?? null),
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
      expiresAt: now + ttlMs,
      rev: this.stamp(now),
      origin: this.node,
    };
    this.put(record, before, now);
    return { record, created: !current };
  }

  mutateTouch(id: string, ttlMs: number, now: number): Replica | null {
    const current = this.live(id, now);
    if (!current) return null;
    const record: Replica = { ...current, expiresAt: now + ttlMs, rev: this.stamp(now), origin: this.node };
    this.put(record, current, now);
    return record;
  }

  /** Destroys the session (only if its principal is `onlyPrincipal`, when given). */
  mutateDestroy(id: string, now: number, onlyPrincipal?: string): { record: Replica; principal: string | null } | null {
    const current = this.live(id, now);
    if (!current) return null;
    if (onlyPrincipal !== undefined && current.principal !== onlyPrincipal) return null;
    const record: Replica = {
      ...current,
      json: null,
      expiresAt: now + this.limits.tombstoneMs,
      rev: this.stamp(now),
      origin: this.node,
    };
    this.put(record, current, now);
    return { record, principal: current.principal };
  }

  // ---- expiry --------------------------------------------------------------------------------

  /** Drops sessions past their deadline and tombstones past their keep time; returns the expired sessions. */
  sweep(now: number): Removal[] {
    const out: Removal[] = [];
    while (this.heap.length > 0 && (this.heap[0] as Item).at <= now) {
      const { id } = popMin(this.heap);
      const r = this.records.get(id);
      if (!r || r.expiresAt > now) continue;
      this.drop(r);
      if (r.json !== null) out.push({ id, principal: r.principal, why: 'expired' });
    }
    // Tombstones are bounded by count as well as time: the oldest go first.
    if (this.tombstoneCount > this.limits.maxTombstones) {
      const dead = [...this.records.values()].filter((r) => r.json === null).sort((a, b) => a.expiresAt - b.expiresAt);
      for (const r of dead.slice(0, this.tombstoneCount - this.limits.maxTombstones)) this.drop(r);
    }
    return out;
  }

  /** A read met `id` past its deadline: drop it now. Returns the removal to report, if any. */
  expireIfDue(id: string, now: number): Removal | null {
    const r = this.records.get(id);
    if (!r || r.json === null || r.expiresAt > now) return null;
    this.drop(r);
    return { id, principal: r.principal, why: 'expired' };
  }

  private stamp(now: number): number {
    this.hlc = Math.max(this.hlc + 1, Math.floor(now) * 1000);
    return this.hlc;
  }

  private put(record: Replica, before: Replica | undefined, now: number): void {
    if (before) this.unaccount(before);
    // A record that is already past its time is not kept (expiry needs no message); but a newer
    // dead record still removes what we had.
    if (record.expiresAt <= now) {
      this.records.delete(record.id);
      return;
    }
    this.records.set(record.id, record);
    if (record.json === null) this.tombstoneCount++;
    else {
      this.liveCount++;
      this.bytes += size(record);
      if (record.principal !== null) {
        let set = this.byPrincipal.get(record.principal);
        if (!set) this.byPrincipal.set(record.principal, (set = new Set()));
        set.add(record.id);
      }
    }
    pushHeap(this.heap, { at: record.expiresAt, id: record.id });
    if (this.heap.length > 4 * this.records.size + 1024) {
      this.heap.length = 0;
      for (const r of this.records.values()) pushHeap(this.heap, { at: r.expiresAt, id: r.id });
    }
  }

  private drop(r: Replica): void {
    this.records.delete(r.id);
    this.unaccount(r);
  }

  private unaccount(r: Replica): void {
    if (r.json === null) {
      this.tombstoneCount--;
      return;
    }
    this.liveCount--;
    this.bytes -= size(r);
    if (r.principal !== null) {
      const set = this.byPrincipal.get(r.principal);
      set?.delete(r.id);
      if (set?.size === 0) this.byPrincipal.delete(r.principal);
    }
  }
}

export function view<T>(r: Replica): StoredSession<T> {
  let data: T;
  try {
    data = JSON.parse(r.json as string) as T;
  } catch {
    // Only a peer can have put text here that is not JSON (this node serialises what it writes).
    throw new SessionError(
      'ERR_REPLICATION_PROTOCOL',
      `session ${r.id} holds data from node ${r.origin} that is not JSON`,
      'remote',
      { reason: 'data-not-json', origin: r.origin },
    );
  }
  return {
    id: r.id,
    data,
    version: r.version,
    tag: r.tag,
    principal: r.principal,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    expiresAt: r.expiresAt,
  };
}
