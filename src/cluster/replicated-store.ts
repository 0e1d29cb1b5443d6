// ReplicatedStore: session clustering, all-to-all. Every node keeps every session in memory;
// every change is sent to every other node; a joining node bootstraps from snapshots.
//
// Theory of operation
//   The network side (links, snapshots, ownership, failover, bootstrap) is a ReplicationNode
//   (src/cluster/replication-node.ts); records and their merge rule are src/cluster/replica-state.ts.
//   This file is the SessionStore face: every write (set, compareAndSet, touch, destroy) goes to
//   the key's owner through the node, and the calling node has merged the result before the call
//   resolves (read-your-writes on the calling node).
//
//   Reads (get, listByPrincipal) are local: no network, and possibly behind the owner by the
//   time a change takes to arrive (normally well under a millisecond on a LAN).
//
// Consistency (docs/stores.md says the same to users)
//   - While all nodes agree on a key's owner (every node up and connected, links not down for
//     longer than `failoverMs`), compareAndSet, versions and "0: must not exist" are exactly as
//     strong as the memory store's: one node serialises every write of the key.
//   - When views differ (a partition, a node dying, a node starting), two nodes may own the same
//     key for a while and both accept writes. Every node still converges to the same record:
//     the greater (rev, node id) wins. So during failover compareAndSet is last-writer-wins, not
//     atomic, and a lost update is possible. This is an AP design; use RedisStore when CAS must
//     hold through failures.
//   - A write is acknowledged once the owner applied it and queued it to its peers (and a remote
//     caller has merged it). When a peer falls out of eligibility, every node re-offers the
//     records that peer made to the others (watchPeers), so a change the failed owner got to at
//     least one node reaches all of them.
//
// Events: `created` and `destroyed` are emitted by the node where the call was made (like the
// Redis store: from the writer). `expired` is emitted by every node when its own copy reaches its
// deadline (so N times across N nodes; listen on one node, or filter with `owns(id)`).

import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import {
  ReplicationNode,
  type ReplicatedPeer,
  type ReplicatedStats,
  type ReplicationEvents,
  type ReplicationOptions,
} from './replication-node.js';
import { view, type Replica } from './replica-state.js';
import type { Op } from './replication-protocol.js';
import {
  checkExpected,
  checkId,
  checkPrincipal,
  checkTag,
  checkTtl,
  positive,
  runBounded,
  serialise,
} from '../store/shared.js';
import type { CallOptions, Expected, SessionStore, StoredSession, StoreEvents, WriteOptions } from '../store/store.js';
import type {} from '../store/errors.js';

export type { ReplicatedPeer, ReplicatedStats } from './replication-node.js';

export interface ReplicatedStoreOptions extends ReplicationOptions {
  /** Default per-call timeout. Default 1000 ms. */
  timeoutMs?: number;
  /** Largest serialised session accepted (ERR_STORE_FULL, limit maxEntryBytes). Default 1 MiB. */
  maxEntryBytes?: number;
  /** How often expired sessions are swept (and `expired` emitted). Default 1 s; 0: never (call sweep()). */
  sweepIntervalMs?: number;
}

export interface ReplicatedStoreEvents extends StoreEvents, ReplicationEvents {}

export class ReplicatedStore extends Emitter<ReplicatedStoreEvents> implements SessionStore {
  private closed = false;
  private readonly sweepTimer: ReturnType<typeof setInterval> | null;
  private readonly timeoutMs: number;

  /** Creates a node, opens its endpoint and starts dialing its peers. */
  static async start(options: ReplicatedStoreOptions): Promise<ReplicatedStore> {
    const timeoutMs = positive(options.timeoutMs ?? 1000, 'timeoutMs');
    const node = await ReplicationNode.start(options);
    return new ReplicatedStore(node, options, timeoutMs);
  }

  private constructor(
    private readonly node: ReplicationNode,
    private readonly options: ReplicatedStoreOptions,
    timeoutMs: number,
  ) {
    super();
    this.timeoutMs = timeoutMs;
    node.on('peer', (e) => this.emit('peer', e));
    node.on('protocol-error', (e) => this.emit('protocol-error', e));
    const every = options.sweepIntervalMs ?? 1000;
    this.sweepTimer = every > 0 ? setInterval(() => this.sweep(), every) : null;
    (this.sweepTimer as { unref?: () => void } | null)?.unref?.();
  }

  get nodeId(): string {
    return this.node.nodeId;
  }
  /** The URL peers dial to reach this node. */
  get url(): string {
    return this.node.url;
  }
  /** Whether this node has bootstrapped and may own keys. */
  get ready(): boolean {
    return this.node.ready;
  }
  get stats(): ReplicatedStats {
    return this.node.stats;
  }
  /** Each peer as this node sees it. */
  peers(): ReturnType<ReplicationNode['peers']> {
    return this.node.peers();
  }
  /** A SHA-256 over every live session this node holds: equal on converged nodes. */
  digest(): { entries: number; sha256: string } {
    return this.node.digest();
  }
  /** The node that owns `id` now, as this node sees it (null: none eligible). */
  ownerOf(id: string): string | null {
    return this.node.ownerOf(id);
  }
  owns(id: string): boolean {
    return this.node.owns(id);
  }
  /** Sets the other nodes; do it on every node (keys move between owners). */
  setPeers(peers: ReplicatedPeer[]): void {
    this.node.setPeers(peers);
  }
  /** Resolves when this node is ready and sees every peer connected and ready. */
  settled(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    return this.node.settled(options);
  }

  get<T = unknown>(id: string, options?: CallOptions): Promise<StoredSession<T> | null> {
    return this.local(options, () => {
      checkId(id);
      const r = this.liveOrExpire(id);
      return r ? view<T>(r) : null;
    });
  }

  set<T = unknown>(id: string, data: T, options: WriteOptions): Promise<number> {
    return this.bounded(
      'set',
      options,
      async (signal) => (await this.write(id, data, options, null, signal)) as number,
    );
  }

  compareAndSet<T = unknown>(id: string, expected: Expected, data: T, options: WriteOptions): Promise<number | null> {
    return this.bounded('compareAndSet', options, async (signal) => {
      const e = checkExpected(expected);
      return this.write(id, data, options, e.version, signal, e.tag);
    });
  }

  touch(id: string, ttlMs: number, options?: CallOptions): Promise<boolean> {
    return this.bounded('touch', options, async (signal) => {
      checkId(id);
      const ttl = checkTtl(ttlMs);
      return (await this.node.execute({ op: 'touch', id, ttl }, signal)).ok === true;
    });
  }

  destroy(id: string, options?: CallOptions): Promise<boolean> {
    return this.bounded('destroy', options, async (signal) => {
      checkId(id);
      return this.destroyOne(id, undefined, signal);
    });
  }

  listByPrincipal<T = unknown>(principal: string, options?: CallOptions): Promise<StoredSession<T>[]> {
    return this.local(options, () => {
      checkPrincipal(principal);
      const out: StoredSession<T>[] = [];
      for (const id of this.node.state.idsOf(principal)) {
        const r = this.liveOrExpire(id);
        if (r) out.push(view<T>(r));
      }
      return out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    });
  }

  /** Destroys each session of `principal` this node knows, through its owner, only if it is still the principal's. Not one atomic step. */
  destroyByPrincipal(principal: string, options?: CallOptions): Promise<number> {
    return this.bounded('destroyByPrincipal', options, async (signal) => {
      checkPrincipal(principal);
      const ids = this.node.state.idsOf(principal).filter((id) => this.liveOrExpire(id));
      const done = await Promise.all(ids.map((id) => this.destroyOne(id, principal, signal)));
      return done.filter(Boolean).length;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.node.close();
  }

  /** Drops expired sessions (emitting `expired`) and old tombstones now. */
  sweep(): number {
    const removed = this.node.state.sweep(this.node.now());
    for (const r of removed) this.emit('expired', { id: r.id, principal: r.principal });
    return removed.length;
  }

  private async write<T>(
    id: string,
    data: T,
    options: WriteOptions,
    expected: number | null,
    signal: AbortSignal,
    expectedTag: string | null = null,
  ): Promise<number | null> {
    checkId(id);
    const tag = checkTag(options?.tag);
    const ttl = checkTtl(options?.ttlMs);
    const json = serialise(data);
    const max = this.options.maxEntryBytes ?? 1024 * 1024;
    if (json.length * 2 > max)
      throw new SessionError(
        'ERR_STORE_FULL',
        `the session is ${json.length * 2} bytes; at most ${max} (maxEntryBytes)`,
        'local',
        { limit: 'maxEntryBytes' },
      );
    if (options.principal !== undefined && options.principal !== null) checkPrincipal(options.principal);
    const op: Op = {
      op: 'set',
      id,
      json,
      ttl,
      expected,
      ...(options.principal !== undefined ? { p: options.principal } : {}),
      ...(tag !== '' ? { tag } : {}),
      ...(expectedTag !== null ? { et: expectedTag } : {}),
    };
    const r = await this.node.execute(op, signal);
    if (r.created) this.emit('created', { id, principal: r.principal ?? null });
    return r.v ?? null;
  }

  private async destroyOne(id: string, only: string | undefined, signal: AbortSignal): Promise<boolean> {
    const r = await this.node.execute({ op: 'destroy', id, ...(only !== undefined ? { only } : {}) }, signal);
    if (r.ok) this.emit('destroyed', { id, principal: r.principal ?? null });
    return r.ok === true;
  }

  private liveOrExpire(id: string): Replica | undefined {
    const now = this.node.now();
    const r = this.node.state.live(id, now);
    if (r) return r;
    const removed = this.node.state.expireIfDue(id, now);
    if (removed) this.emit('expired', { id: removed.id, principal: removed.principal });
    return undefined;
  }

  /** A local read: it cannot wait, so no timer; closed and an aborted signal still fail it. */
  private local<T>(options: CallOptions | undefined, fn: () => T): Promise<T> {
    if (this.closed)
      return Promise.reject(
        new SessionError('ERR_STORE_UNAVAILABLE', 'the store is closed', 'local', { cause: 'closed' }),
      );
    if (options?.signal?.aborted) return Promise.reject(options.signal.reason);
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private bounded<T>(
    op: string,
    options: CallOptions | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return runBounded('replicated', op, this.closed, this.timeoutMs, options, fn, (error) => error);
  }
}
