// ReplicatedStore: session clustering, all-to-all. Every node keeps every session in memory;
// every change is sent to every other node; a joining node bootstraps from snapshots.
//
// Theory of operation
//   Links. Each node listens (a Colloquy Server) and dials every peer (src/cluster/peer-link.ts).
//   A dialed session carries that node's stream only: hello, a snapshot of its whole state,
//   then its changes, and the answers to the requests the peer sent it. Colloquy sessions
//   resume across transport cuts with nothing lost or duplicated, so a flapping link needs no
//   repair; a link whose session ends starts over with a snapshot.
//
//   Ownership. Every write of a key (set, compareAndSet, touch, destroy) is made by one node,
//   the key's owner: the first node in the key's rendezvous-hash order (highest
//   hash(node, key) first) that this node considers eligible (itself once bootstrapped; a peer
//   that said it is ready and whose link is up or has been down for less than `failoverMs`).
//   The owner decides versions and compare-and-set against its own copy, one write at a time,
//   stamps the record (hybrid logical clock + node id, src/cluster/replica-state.ts) and sends it
//   to everyone; the answer to a remote caller travels in the owner's stream, so the caller has
//   merged the change before its call resolves (read-your-writes on the calling node).
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

import { createHash } from 'node:crypto';
import { Emitter } from '../driver/emitter.js';
import { SessionError, type ErrorCode } from '../engine/errors.js';
import { Refusal, Server } from '../server/server.js';
import type { Session } from '../driver/session.js';
import type { EndpointOptions } from '../server/endpoints.js';
import { constantTimeEqual } from '../engine/bytes.js';
import { PeerLink, type LinkStats } from '../cluster/peer-link.js';
import { ReplicaState, view, type Replica } from '../cluster/replica-state.js';
import { decode, type Message, type Op, type Result } from '../cluster/replication-protocol.js';
import { checkId, checkPrincipal, checkTtl, nonNegative, positive, runBounded, serialise } from './shared.js';
import type { CallOptions, SessionStore, StoredSession, StoreEvents, WriteOptions } from './store.js';

export interface ReplicatedPeer {
  id: string;
  /** Where that node's replication endpoint listens, e.g. tcp://10.0.0.2:7300. */
  url: string;
}

export interface ReplicatedStoreOptions {
  /** This node's id: unique in the cluster, stable across restarts. */
  nodeId: string;
  /** Where this node listens for its peers. Default { tcp: { host: '127.0.0.1', port: 0 } }. */
  listen?: Pick<EndpointOptions, 'tcp' | 'tls' | 'memory'>;
  /** The other nodes. A node joining a running cluster must be given them here, so it bootstraps before it serves. */
  peers?: ReplicatedPeer[];
  /** Shared secret every node presents to every other (compared in constant time). Strongly recommended. */
  clusterSecret?: string;
  /** Default per-call timeout. Default 1000 ms. */
  timeoutMs?: number;
  /** Sessions an owner accepts at most (replicas apply what owners sent). Default 100,000. */
  maxEntries?: number;
  /** Bytes of serialised data an owner accepts at most. Default 256 MiB. */
  maxBytes?: number;
  /** Largest serialised session accepted (ERR_STORE_FULL, limit maxEntryBytes). Default 1 MiB. */
  maxEntryBytes?: number;
  /** How long a destroyed session's tombstone is kept (so late copies do not revive it). Default 60 s. */
  tombstoneMs?: number;
  /** Tombstones kept at most (oldest forgotten first). Default 100,000. */
  maxTombstones?: number;
  /** How often expired sessions are swept (and `expired` emitted). Default 1 s; 0: never (call sweep()). */
  sweepIntervalMs?: number;
  /** How long a peer's link may be down before its keys are owned by the next node. Default 3 s. */
  failoverMs?: number;
  /** How long a starting node waits for the snapshot of a peer it cannot reach before it serves anyway. Default 3 s. */
  bootstrapWaitMs?: number;
  /** Changes queued for one peer at most (bytes) before that link is reset and resynchronised by snapshot. Default 16 MiB. */
  maxQueueBytes?: number;
  /** Target size of one snapshot message. Default 64 KiB. */
  snapshotChunkBytes?: number;
  /** Requests waiting for a remote owner at most (ERR_STORE_FULL, limit maxPendingRequests). Default 10,000. */
  maxPendingRequests?: number;
  /** The replication sessions: resume window, heartbeat, frame size, redial backoff. */
  link?: { resumeWindowMs?: number; heartbeatMs?: number; maxFrameSize?: number; maxSendQueueBytes?: number; initialDelayMs?: number; maxDelayMs?: number };
  /** The clock, for tests. Default Date.now. Nodes' clocks should agree within a second or so (expiry is local). */
  now?: () => number;
}

export interface ReplicatedStoreEvents extends StoreEvents {
  /** A peer link went up or down, a peer said it is ready, or a link was reset (`reason`). */
  peer: { id: string; connected: boolean; ready: boolean; reason?: string };
  /** A peer sent something unparseable; its session was aborted. */
  'protocol-error': { id: string | null; error: SessionError };
}

interface Inbound { session: Session; ready: boolean; snapshotDone: boolean }
interface Pending { owner: string; resolve: (r: Result) => void; reject: (e: unknown) => void }

export interface ReplicatedStats {
  entries: number;
  bytes: number;
  tombstones: number;
  /** Everything this node sent to peers (all links): messages and bytes. */
  sent: { messages: number; bytes: number; snapshotRecords: number; resets: number; sessions: number };
  /** Records re-offered to peers after their owner failed over. */
  reoffered: number;
  /** Writes this node sent to a remote owner, and writes it made as owner for a peer. */
  requests: { sent: number; served: number };
  received: { messages: number; bytes: number };
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** How long an inbound replication session may take to send its hello. */
export const HELLO_TIMEOUT_MS = 10_000;

export class ReplicatedStore extends Emitter<ReplicatedStoreEvents> implements SessionStore {
  private readonly state: ReplicaState;
  private readonly links = new Map<string, PeerLink>();
  private readonly inbound = new Map<string, Inbound>();
  private readonly pending = new Map<number, Pending>();
  private readonly readyWaiters = new Set<() => void>();
  private server: Server | null = null;
  private seq = 0;
  private isReady = false;
  private closed = false;
  private readonly startedAt = performance.now();
  private readonly sweepTimer: ReturnType<typeof setInterval> | null;
  private readyTimer: ReturnType<typeof setInterval> | null = null;
  private readonly received = { messages: 0, bytes: 0 };
  private readonly wasEligible = new Map<string, boolean>();
  private reoffered = 0;
  private readonly requests = { sent: 0, served: 0 };
  private watchTimer: ReturnType<typeof setInterval> | null = null;
  private readonly nowFn: () => number;
  private readonly timeoutMs: number;

  /** Creates a node, opens its endpoint and starts dialing its peers. */
  static async start(options: ReplicatedStoreOptions): Promise<ReplicatedStore> {
    const store = new ReplicatedStore(options);
    await store.listen();
    return store;
  }

  private constructor(private readonly options: ReplicatedStoreOptions) {
    super();
    if (typeof options.nodeId !== 'string' || options.nodeId === '') throw new SessionError('ERR_INVALID_ARGUMENT', 'nodeId must be a non-empty string', 'local');
    this.nowFn = options.now ?? Date.now;
    this.timeoutMs = positive(options.timeoutMs ?? 1000, 'timeoutMs');
    this.state = new ReplicaState(options.nodeId, {
      maxEntries: positive(options.maxEntries ?? 100_000, 'maxEntries'),
      maxBytes: positive(options.maxBytes ?? 256 * 1024 * 1024, 'maxBytes'),
      tombstoneMs: positive(options.tombstoneMs ?? 60_000, 'tombstoneMs'),
      maxTombstones: nonNegative(options.maxTombstones ?? 100_000, 'maxTombstones'),
    });
    const every = options.sweepIntervalMs ?? 1000;
    this.sweepTimer = every > 0 ? setInterval(() => this.sweep(), every) : null;
    (this.sweepTimer as { unref?: () => void } | null)?.unref?.();
  }

  get nodeId(): string { return this.options.nodeId; }

  /** The URL peers dial to reach this node. */
  get url(): string {
    const a = this.server?.addresses ?? {};
    const host = this.options.listen?.tcp?.host ?? this.options.listen?.tls?.host ?? '127.0.0.1';
    if (a.tcp !== undefined) return `tcp://${host}:${a.tcp}`;
    if (a.tls !== undefined) return `tls://${host}:${a.tls}`;
    if (a.memory !== undefined) return `memory://${a.memory}`;
    throw new SessionError('ERR_INVALID_STATE', 'the replicated store is not listening', 'local', { state: 'closed' });
  }

  /** Whether this node has bootstrapped (snapshots from its reachable peers) and may own keys. */
  get ready(): boolean { return this.isReady; }

  get stats(): ReplicatedStats {
    const sent = { messages: 0, bytes: 0, snapshotRecords: 0, resets: 0, sessions: 0 };
    for (const l of this.links.values()) {
      const s: LinkStats = l.stats;
      sent.messages += s.messages; sent.bytes += s.bytes; sent.snapshotRecords += s.snapshotRecords; sent.resets += s.resets; sent.sessions += s.sessions;
    }
    return { ...this.state.size, sent, reoffered: this.reoffered, requests: { ...this.requests }, received: { ...this.received } };
  }

  /** Each peer as this node sees it. */
  peers(): { id: string; connected: boolean; ready: boolean; backlogBytes: number }[] {
    return [...this.links.values()].map((l) => ({ id: l.peer, connected: l.connected, ready: this.inbound.get(l.peer)?.ready === true, backlogBytes: l.backlogBytes }));
  }

  /**
   * A digest of every live session this node holds (id, version, principal, times, data), to
   * check that nodes have converged: equal digests, equal contents.
   */
  digest(): { entries: number; sha256: string } {
    const now = this.nowFn();
    const live = this.state.snapshot().filter((r) => r.json !== null && r.expiresAt > now).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const h = createHash('sha256');
    for (const r of live) h.update(JSON.stringify([r.id, r.version, r.principal, r.createdAt, r.updatedAt, r.expiresAt, r.json])).update('\n');
    return { entries: live.length, sha256: h.digest('hex') };
  }

  /** The node that owns `id` now, as this node sees it (null: none eligible). */
  ownerOf(id: string): string | null {
    for (const m of this.rendezvous(id)) if (this.eligible(m)) return m;
    return null;
  }

  private eligible(m: string): boolean {
    if (m === this.nodeId) return this.isReady;
    return this.inbound.get(m)?.ready === true && this.links.get(m)?.reachable(this.options.failoverMs ?? 3000) === true;
  }

  /**
   * Watches peers fall out of eligibility (failover). When one does, the records it made are
   * offered again to every other peer: a change the failed owner acknowledged (so its caller has
   * it) but did not get out to everyone before it died still reaches every node.
   */
  private watchPeers(): void {
    if (this.closed) return;
    for (const id of this.links.keys()) {
      const now = this.eligible(id);
      const was = this.wasEligible.get(id) ?? false;
      this.wasEligible.set(id, now);
      if (!was || now) continue;
      const records = this.state.snapshot().filter((r) => r.origin === id);
      this.reoffered += records.length;
      for (const [peer, link] of this.links) if (peer !== id) link.sendRecords(records);
    }
  }

  /** True when this node owns `id` now. */
  owns(id: string): boolean { return this.ownerOf(id) === this.nodeId; }

  /**
   * Sets the other nodes (add or remove links). Changing membership moves keys between owners:
   * do it on every node, and expect last-writer-wins while the nodes disagree.
   */
  setPeers(peers: ReplicatedPeer[]): void {
    const wanted = new Map(peers.map((p) => [p.id, p.url]));
    if (wanted.has(this.nodeId)) wanted.delete(this.nodeId);
    for (const [id, link] of this.links) {
      if (wanted.get(id) !== link.config.url) { void link.close(); this.links.delete(id); this.wasEligible.delete(id); this.failPending(id, 'the peer was removed'); }
    }
    for (const [id, url] of wanted) if (!this.links.has(id)) this.addLink(id, url);
  }

  /** Resolves when this node is ready and sees every peer connected and ready (or rejects on signal). */
  async settled(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    const deadline = performance.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      options.signal?.throwIfAborted();
      if (this.isReady && [...this.links.values()].every((l) => l.connected && this.inbound.get(l.peer)?.ready === true)) return;
      if (performance.now() > deadline) throw new SessionError('ERR_STORE_TIMEOUT', `node ${this.nodeId} did not see all peers ready in time`, 'local', { op: 'settled', timeoutMs: options.timeoutMs ?? 30_000 });
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  // ---- SessionStore ----------------------------------------------------------------------------

  get<T = unknown>(id: string, options?: CallOptions): Promise<StoredSession<T> | null> {
    return this.local(options, () => {
      checkId(id);
      const r = this.liveOrExpire(id);
      return r ? view<T>(r) : null;
    });
  }

  set<T = unknown>(id: string, data: T, options: WriteOptions): Promise<number> {
    return this.bounded('set', options, async (signal) => (await this.write(id, data, options, null, signal)) as number);
  }

  compareAndSet<T = unknown>(id: string, expected: number, data: T, options: WriteOptions): Promise<number | null> {
    return this.bounded('compareAndSet', options, async (signal) => {
      if (!Number.isInteger(expected) || expected < 0) throw new SessionError('ERR_INVALID_ARGUMENT', 'expected must be a version (0: absent)', 'local', { expected });
      return this.write(id, data, options, expected, signal);
    });
  }

  touch(id: string, ttlMs: number, options?: CallOptions): Promise<boolean> {
    return this.bounded('touch', options, async (signal) => {
      checkId(id);
      const ttl = checkTtl(ttlMs);
      return (await this.execute({ op: 'touch', id, ttl }, signal)).ok === true;
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
      for (const id of this.state.idsOf(principal)) {
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
      const ids = this.state.idsOf(principal).filter((id) => this.liveOrExpire(id));
      const done = await Promise.all(ids.map((id) => this.destroyOne(id, principal, signal)));
      return done.filter(Boolean).length;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.readyTimer) clearInterval(this.readyTimer);
    if (this.watchTimer) clearInterval(this.watchTimer);
    for (const w of this.readyWaiters) w();
    for (const id of [...this.links.keys()]) this.failPending(id, 'the store was closed');
    await Promise.all([...this.links.values()].map((l) => l.close()));
    for (const i of this.inbound.values()) i.session.abort('replicated store closed');
    await this.server?.destroy();
  }

  /** Drops expired sessions (emitting `expired`) and old tombstones now. */
  sweep(): number {
    const removed = this.state.sweep(this.nowFn());
    for (const r of removed) this.emit('expired', { id: r.id, principal: r.principal });
    return removed.length;
  }

  // ---- writes ----------------------------------------------------------------------------------

  private async write<T>(id: string, data: T, options: WriteOptions, expected: number | null, signal: AbortSignal): Promise<number | null> {
    checkId(id);
    const ttl = checkTtl(options?.ttlMs);
    const json = serialise(data);
    const max = this.options.maxEntryBytes ?? 1024 * 1024;
    if (json.length * 2 > max) throw new SessionError('ERR_STORE_FULL', `the session is ${json.length * 2} bytes; at most ${max} (maxEntryBytes)`, 'local', { limit: 'maxEntryBytes' });
    if (options.principal !== undefined && options.principal !== null) checkPrincipal(options.principal);
    const op: Op = { op: 'set', id, json, ttl, expected, ...(options.principal !== undefined ? { p: options.principal } : {}) };
    const r = await this.execute(op, signal);
    if (r.created) this.emit('created', { id, principal: r.principal ?? null });
    return r.v ?? null;
  }

  private async destroyOne(id: string, only: string | undefined, signal: AbortSignal): Promise<boolean> {
    const r = await this.execute({ op: 'destroy', id, ...(only !== undefined ? { only } : {}) }, signal);
    if (r.ok) this.emit('destroyed', { id, principal: r.principal ?? null });
    return r.ok === true;
  }

  /** Runs `op` on the key's owner: here, or through the link to it. */
  private async execute(op: Op, signal: AbortSignal): Promise<Result> {
    if (!this.isReady) await this.whenReady(signal);
    const owner = this.ownerOf(op.id);
    if (owner === null) throw new SessionError('ERR_STORE_UNAVAILABLE', `no node can own session ${op.id} now (this node is not ready and no ready peer is reachable)`, 'local', { cause: 'no-owner' });
    if (owner === this.nodeId) return this.apply(op, null);
    const limit = this.options.maxPendingRequests ?? 10_000;
    if (this.pending.size >= limit) throw new SessionError('ERR_STORE_FULL', `${limit} requests already wait for remote owners (maxPendingRequests)`, 'local', { limit: 'maxPendingRequests' });
    const n = ++this.seq;
    const link = this.links.get(owner) as PeerLink;
    return new Promise<Result>((resolve, reject) => {
      const done = (): void => { this.pending.delete(n); signal.removeEventListener('abort', onAbort); };
      const onAbort = (): void => { done(); reject(signal.reason); };
      this.pending.set(n, { owner, resolve: (r) => { done(); resolve(r); }, reject: (e) => { done(); reject(e); } });
      signal.addEventListener('abort', onAbort, { once: true });
      this.requests.sent++;
      if (!link.send({ t: 'req', n, ...op })) {
        done();
        reject(new SessionError('ERR_STORE_UNAVAILABLE', `the link to node ${owner}, which owns session ${op.id}, is down`, 'local', { cause: 'owner-unreachable', owner }));
      }
    });
  }

  /** Makes a write as the owner; broadcasts the change; `requester` (a peer) gets its answer in our stream. */
  private apply(op: Op, requester: { peer: string; n: number } | null): Result {
    const now = this.nowFn();
    let record: Replica | null = null;
    let result: Result;
    if (op.op === 'set') {
      const out = this.state.mutateWrite(op.id, op.json, op.p, op.ttl, op.expected, now);
      if (out) { record = out.record; result = { v: out.record.version, created: out.created, principal: out.record.principal }; } else result = { v: null };
    } else if (op.op === 'touch') {
      record = this.state.mutateTouch(op.id, op.ttl, now);
      result = { ok: record !== null };
    } else {
      const out = this.state.mutateDestroy(op.id, now, op.only);
      if (out) { record = out.record; result = { ok: true, principal: out.principal }; } else result = { ok: false };
    }
    if (record) {
      for (const link of this.links.values()) {
        link.send(requester?.peer === link.peer ? { t: 'up', e: record, n: requester.n, r: result } : { t: 'up', e: record });
      }
    } else if (requester) {
      this.links.get(requester.peer)?.send({ t: 'res', n: requester.n, r: result });
    }
    return result;
  }

  // ---- inbound streams ------------------------------------------------------------------------

  private async listen(): Promise<void> {
    const secret = this.options.clusterSecret;
    const l = this.options.link ?? {};
    this.server = new Server({
      ...(this.options.listen ?? { tcp: { host: '127.0.0.1', port: 0 } }),
      maxFrameSize: l.maxFrameSize ?? 4 * 1024 * 1024,
      resumeWindowMs: l.resumeWindowMs ?? 30_000,
      heartbeatMs: l.heartbeatMs ?? 2000,
      authenticate: (request) => {
        if (secret === undefined) return null;
        if (!constantTimeEqual(request.credentials, new TextEncoder().encode(secret))) throw new Refusal('wrong cluster secret', 'unauthorized');
        return null;
      },
    });
    this.server.on('session', (s) => { void this.onInbound(s); });
    await this.server.start();
    for (const p of this.options.peers ?? []) if (p.id !== this.nodeId) this.addLink(p.id, p.url);
    this.readyTimer = setInterval(() => this.checkReady(), 50);
    (this.readyTimer as { unref?: () => void }).unref?.();
    this.watchTimer = setInterval(() => this.watchPeers(), 100);
    (this.watchTimer as { unref?: () => void }).unref?.();
    this.checkReady();
  }

  private addLink(id: string, url: string): void {
    const l = this.options.link ?? {};
    const link = new PeerLink({
      self: this.nodeId,
      peer: id,
      url,
      ...(this.options.clusterSecret !== undefined ? { credentials: this.options.clusterSecret } : {}),
      maxQueueBytes: positive(this.options.maxQueueBytes ?? 16 * 1024 * 1024, 'maxQueueBytes'),
      snapshotChunkBytes: positive(this.options.snapshotChunkBytes ?? 64 * 1024, 'snapshotChunkBytes'),
      resumeWindowMs: l.resumeWindowMs ?? 30_000,
      heartbeatMs: l.heartbeatMs ?? 2000,
      maxFrameSize: l.maxFrameSize ?? 4 * 1024 * 1024,
      maxSendQueueBytes: l.maxSendQueueBytes ?? 4 * 1024 * 1024,
      initialDelayMs: l.initialDelayMs ?? 50,
      maxDelayMs: l.maxDelayMs ?? 1000,
      hello: () => ({ t: 'hello', node: this.nodeId, ready: this.isReady }),
      snapshot: () => this.state.snapshot(),
      onChange: (link, lost, reason) => {
        if (lost) this.failPending(link.peer, reason ?? 'session lost');
        this.emit('peer', { id: link.peer, connected: link.connected, ready: this.inbound.get(link.peer)?.ready === true, ...(reason ? { reason } : {}) });
        this.checkReady();
        this.watchPeers();
      },
    });
    this.links.set(id, link);
    link.start();
  }

  private async onInbound(s: Session): Promise<void> {
    let peer: string | null = null;
    let record: Inbound | null = null;
    // A session that never says hello must not hold a slot for ever.
    const helloTimer = setTimeout(() => { if (record === null) s.abort(`no hello within ${HELLO_TIMEOUT_MS} ms`); }, HELLO_TIMEOUT_MS);
    (helloTimer as { unref?: () => void }).unref?.();
    try {
      for await (const bytes of s) {
        this.received.messages++;
        this.received.bytes += bytes.length;
        let m: Message;
        try {
          m = decode(textDecoder.decode(bytes));
        } catch (error) {
          const e = error instanceof SessionError ? error : new SessionError('ERR_REPLICATION_PROTOCOL', 'a replication peer sent text that is not UTF-8', 'remote', { reason: 'utf-8' });
          this.emit('protocol-error', { id: peer, error: e });
          s.abort(e.message);
          return;
        }
        if (record === null) {
          if (m.t !== 'hello' || !this.links.has(m.node)) {
            const e = new SessionError('ERR_REPLICATION_PROTOCOL', m.t !== 'hello' ? 'the first message was not hello' : `node ${m.node} is not a peer of ${this.nodeId}`, 'remote', { reason: m.t !== 'hello' ? 'no-hello' : 'unknown-node' });
            this.emit('protocol-error', { id: m.t === 'hello' ? m.node : null, error: e });
            s.abort(e.message);
            return;
          }
          peer = m.node;
          const previous = this.inbound.get(peer);
          if (previous && previous.session !== s) {
            previous.session.abort('superseded by a newer session from the same node');
            this.failPending(peer, 'its stream restarted'); // answers still in the old stream are gone
          }
          record = { session: s, ready: m.ready, snapshotDone: false };
          this.inbound.set(peer, record);
          this.emit('peer', { id: peer, connected: this.links.get(peer)?.connected === true, ready: m.ready });
          this.watchPeers();
          continue;
        }
        this.handle(peer as string, record, m);
      }
    } catch {
      // The session ended with an error; the peer dials again.
    } finally {
      clearTimeout(helloTimer);
      if (peer !== null && this.inbound.get(peer)?.session === s) {
        this.inbound.delete(peer);
        this.failPending(peer, 'its stream ended'); // answers travel in that stream
        this.emit('peer', { id: peer, connected: this.links.get(peer)?.connected === true, ready: false, reason: 'inbound session ended' });
        this.watchPeers();
      }
    }
  }

  private handle(peer: string, inbound: Inbound, m: Message): void {
    const now = this.nowFn();
    switch (m.t) {
      case 'snap': for (const e of m.e) this.state.merge(e, now); return;
      case 'snap-end': inbound.snapshotDone = true; this.checkReady(); return;
      case 'ready': inbound.ready = true; this.emit('peer', { id: peer, connected: this.links.get(peer)?.connected === true, ready: true }); this.watchPeers(); return;
      case 'up':
        this.state.merge(m.e, now);
        if (m.n !== undefined) this.answer(peer, m.n, m.r ?? {});
        return;
      case 'res':
        if (m.err) this.fail(peer, m.n, m.err);
        else this.answer(peer, m.n, m.r ?? {});
        return;
      case 'req': {
        const { t: _t, n, ...op } = m;
        this.requests.served++;
        try {
          this.apply(op as Op, { peer, n });
        } catch (error) {
          const e = error instanceof SessionError ? error : new SessionError('ERR_STORE_UNAVAILABLE', String(error), 'local');
          this.links.get(peer)?.send({ t: 'res', n, err: { code: e.code, message: e.message } });
        }
        return;
      }
      case 'hello': {
        const e = new SessionError('ERR_REPLICATION_PROTOCOL', 'a second hello on one session', 'remote', { reason: 'hello-twice' });
        this.emit('protocol-error', { id: peer, error: e });
        inbound.session.abort(e.message);
        return;
      }
    }
  }

  private answer(peer: string, n: number, r: Result): void {
    const p = this.pending.get(n);
    if (p && p.owner === peer) p.resolve(r);
  }

  private fail(peer: string, n: number, err: { code: string; message: string }): void {
    const p = this.pending.get(n);
    if (!p || p.owner !== peer) return;
    const code = (['ERR_STORE_FULL', 'ERR_INVALID_ARGUMENT', 'ERR_STORE_UNAVAILABLE'].includes(err.code) ? err.code : 'ERR_STORE_UNAVAILABLE') as ErrorCode;
    p.reject(new SessionError(code, `owner ${peer}: ${err.message}`, 'remote', { owner: peer, cause: err.code }));
  }

  private failPending(peer: string, reason: string): void {
    for (const p of [...this.pending.values()]) {
      if (p.owner === peer) p.reject(new SessionError('ERR_STORE_UNAVAILABLE', `the link to node ${peer} was lost (${reason}); the write may or may not have been applied: read before retrying`, 'local', { cause: 'link-lost', owner: peer }));
    }
  }

  // ---- bootstrap ---------------------------------------------------------------------------

  private checkReady(): void {
    if (this.isReady || this.closed) return;
    const waited = performance.now() - this.startedAt >= (this.options.bootstrapWaitMs ?? 3000);
    for (const id of this.links.keys()) {
      if (this.inbound.get(id)?.snapshotDone) continue;
      // After bootstrapWaitMs, wait only for peers whose stream has begun (their snapshot is on its way).
      if (waited && !this.inbound.has(id)) continue;
      return;
    }
    this.isReady = true;
    if (this.readyTimer) { clearInterval(this.readyTimer); this.readyTimer = null; }
    for (const link of this.links.values()) link.send({ t: 'ready' });
    for (const w of [...this.readyWaiters]) w();
  }

  private whenReady(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => { this.readyWaiters.delete(done); signal.removeEventListener('abort', onAbort); resolve(); };
      const onAbort = (): void => { this.readyWaiters.delete(done); reject(signal.reason); };
      this.readyWaiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ---- helpers --------------------------------------------------------------------------------

  private liveOrExpire(id: string): Replica | undefined {
    const now = this.nowFn();
    const r = this.state.live(id, now);
    if (r) return r;
    const removed = this.state.expireIfDue(id, now);
    if (removed) this.emit('expired', { id: removed.id, principal: removed.principal });
    return undefined;
  }

  private rendezvous(id: string): string[] {
    const members = [this.nodeId, ...this.links.keys()];
    return members.map((m) => ({ m, h: score(m, id) })).sort((a, b) => b.h - a.h || (a.m < b.m ? -1 : 1)).map((x) => x.m);
  }

  /** A local read: it cannot wait, so no timer; closed and an aborted signal still fail it. */
  private local<T>(options: CallOptions | undefined, fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new SessionError('ERR_STORE_UNAVAILABLE', 'the store is closed', 'local', { cause: 'closed' }));
    if (options?.signal?.aborted) return Promise.reject(options.signal.reason);
    try { return Promise.resolve(fn()); } catch (error) { return Promise.reject(error); }
  }

  private bounded<T>(op: string, options: CallOptions | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return runBounded('replicated', op, this.closed, this.timeoutMs, options, fn, (error) => error);
  }
}

/** Rendezvous score: FNV-1a over node and key, then a murmur3 finaliser. */
function score(node: string, key: string): number {
  let h = 0x811c9dc5;
  const s = `${node}\u0000${key}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}
