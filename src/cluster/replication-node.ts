// ReplicationNode: one node of a replicated store on the network: its endpoint, its links to
// every peer, bootstrap, ownership of keys and the writes it makes as owner. The SessionStore
// face (argument checks, reads, events, timeouts) is src/store/replicated-store.ts.
//
// Theory of operation
//   Links. Each node listens (a Colloquy Server) and dials every peer (peer-link.ts). A dialed
//   session carries that node's stream only: hello, a snapshot of its whole state, then its
//   changes, and the answers to the requests the peer sent it. Colloquy sessions resume across
//   transport cuts with nothing lost or duplicated, so a flapping link needs no repair; a link
//   whose session ends starts over with a snapshot.
//
//   Ownership. Every write of a key is made by one node, the key's owner: the first node in the
//   key's rendezvous-hash order (highest hash(node, key) first) that this node considers eligible
//   (itself once bootstrapped; a peer that said it is ready and whose link is up or has been down
//   for less than `failoverMs`). The owner decides versions and compare-and-set against its own
//   copy, one write at a time, stamps the record (replica-state.ts) and sends it to everyone; the
//   answer to a remote caller travels in the owner's stream, after the record, so the caller has
//   merged the change before its call resolves.
//
//   Failover. When a peer falls out of eligibility, every node re-offers the records that peer
//   made to every other peer (watchPeers), so a change the failed owner got to at least one node
//   reaches all of them.
//
//   Bootstrap. A node serves (owns keys) once it has the complete snapshot of every peer whose
//   stream has begun; one that has not begun within `bootstrapWaitMs` is not waited for.

import { createHash } from 'node:crypto';
import { Emitter } from '../driver/emitter.js';
import type { Session } from '../driver/session.js';
import { constantTimeEqual } from '../engine/bytes.js';
import { SessionError, type ErrorCode } from '../engine/errors.js';
import type { DialOptions } from '../client/dial.js';
import type { EndpointOptions } from '../server/endpoints.js';
import { Refusal, Server } from '../server/server.js';
import { nonNegative, positive } from '../store/shared.js';
import { PeerLink, type LinkStats } from './peer-link.js';
import { ReplicaState, type Replica } from './replica-state.js';
import { decode, type Message, type Op, type Result } from './replication-protocol.js';

export interface ReplicatedPeer {
  id: string;
  /** Where that node's replication endpoint listens, e.g. tcp://10.0.0.2:7300. */
  url: string;
}

export interface ReplicationOptions {
  /** This node's id: unique in the cluster, stable across restarts. */
  nodeId: string;
  /** Where this node listens for its peers. Default { tcp: { host: '127.0.0.1', port: 0 } }. */
  listen?: Pick<EndpointOptions, 'tcp' | 'tls' | 'memory'>;
  /** The other nodes. A node joining a running cluster must be given them here, so it bootstraps before it serves. */
  peers?: ReplicatedPeer[];
  /** Shared secret every node presents to every other (compared in constant time). Strongly recommended. */
  clusterSecret?: string;
  /** Sessions an owner accepts at most (replicas apply what owners sent). Default 100,000. */
  maxEntries?: number;
  /** Bytes of serialised data an owner accepts at most. Default 256 MiB. */
  maxBytes?: number;
  /** How long a destroyed session's tombstone is kept (so late copies do not revive it). Default 60 s. */
  tombstoneMs?: number;
  /** Tombstones kept at most (oldest forgotten first). Default 100,000. */
  maxTombstones?: number;
  /**
   * False: this node never owns keys. It keeps a full copy, serves reads locally and sends every
   * write to an owner (a reporting node, or to keep owner duties on fewer nodes). Default true.
   */
  owner?: boolean;
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
  /** The replication sessions: resume window, heartbeat, frame size, send queue, redial backoff. */
  link?: { resumeWindowMs?: number; heartbeatMs?: number; maxFrameSize?: number; maxSendQueueBytes?: number; initialDelayMs?: number; maxDelayMs?: number; tls?: DialOptions['tls'] };
  /** The clock, for tests. Default Date.now. Nodes' clocks should agree within a second or so (expiry is local). */
  now?: () => number;
}

export interface ReplicationEvents extends Record<string, unknown> {
  /** A peer link went up or down, a peer said it is ready, or a link was reset (`reason`). */
  peer: { id: string; connected: boolean; ready: boolean; reason?: string };
  /** A peer sent something unparseable; its session was aborted. */
  'protocol-error': { id: string | null; error: SessionError };
}

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

interface Inbound { session: Session; ready: boolean; owner: boolean; snapshotDone: boolean }
interface Pending { owner: string; resolve: (r: Result) => void; reject: (e: unknown) => void }

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** How long an inbound replication session may take to send its hello. */
export const HELLO_TIMEOUT_MS = 10_000;

export class ReplicationNode extends Emitter<ReplicationEvents> {
  readonly state: ReplicaState;
  private readonly links = new Map<string, PeerLink>();
  private readonly inbound = new Map<string, Inbound>();
  private readonly pending = new Map<number, Pending>();
  private readonly readyWaiters = new Set<() => void>();
  private server: Server | null = null;
  private seq = 0;
  private isReady = false;
  private closed = false;
  private readonly startedAt = performance.now();
  private readyTimer: ReturnType<typeof setInterval> | null = null;
  private watchTimer: ReturnType<typeof setInterval> | null = null;
  private readonly received = { messages: 0, bytes: 0 };
  private readonly wasEligible = new Map<string, boolean>();
  private reoffered = 0;
  private readonly requests = { sent: 0, served: 0 };
  private readonly nowFn: () => number;

  /** Creates a node, opens its endpoint and starts dialing its peers. */
  static async start(options: ReplicationOptions): Promise<ReplicationNode> {
    const node = new ReplicationNode(options);
    await node.listen();
    return node;
  }

  private constructor(private readonly options: ReplicationOptions) {
    super();
    if (typeof options.nodeId !== 'string' || options.nodeId === '') throw new SessionError('ERR_INVALID_ARGUMENT', 'nodeId must be a non-empty string', 'local');
    this.nowFn = options.now ?? Date.now;
    this.state = new ReplicaState(options.nodeId, {
      maxEntries: positive(options.maxEntries ?? 100_000, 'maxEntries'),
      maxBytes: positive(options.maxBytes ?? 256 * 1024 * 1024, 'maxBytes'),
      tombstoneMs: positive(options.tombstoneMs ?? 60_000, 'tombstoneMs'),
      maxTombstones: nonNegative(options.maxTombstones ?? 100_000, 'maxTombstones'),
    });
  }

  get nodeId(): string { return this.options.nodeId; }

  /** The node's clock. */
  now(): number { return this.nowFn(); }

  /** The URL peers dial to reach this node. */
  get url(): string {
    const a = this.server?.addresses ?? {};
    const host = this.options.listen?.tcp?.host ?? this.options.listen?.tls?.host ?? '127.0.0.1';
    if (a.tcp !== undefined) return `tcp://${host}:${a.tcp}`;
    if (a.tls !== undefined) return `tls://${host}:${a.tls}`;
    if (a.memory !== undefined) return `memory://${a.memory}`;
    throw new SessionError('ERR_INVALID_STATE', 'the replication node is not listening', 'local', { state: 'closed' });
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
  peers(): { id: string; connected: boolean; ready: boolean; backlogBytes: number; dialError: string }[] {
    return [...this.links.values()].map((l) => ({ id: l.peer, connected: l.connected, ready: this.inbound.get(l.peer)?.ready === true, backlogBytes: l.backlogBytes, dialError: l.dialError }));
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
    if (m === this.nodeId) return this.isReady && this.options.owner !== false;
    const inbound = this.inbound.get(m);
    return inbound?.ready === true && inbound.owner && this.links.get(m)?.reachable(this.options.failoverMs ?? 3000) === true;
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.readyTimer) clearInterval(this.readyTimer);
    if (this.watchTimer) clearInterval(this.watchTimer);
    for (const w of this.readyWaiters) w();
    for (const id of [...this.links.keys()]) this.failPending(id, 'the store was closed');
    await Promise.all([...this.links.values()].map((l) => l.close()));
    for (const i of this.inbound.values()) i.session.abort('replicated store closed');
    await this.server?.destroy();
  }

  /** Runs `op` on the key's owner: here, or through the link to it. */
  async execute(op: Op, signal: AbortSignal): Promise<Result> {
    if (!this.isReady) await this.whenReady(signal);
    const owner = this.ownerOf(op.id);
    if (owner === null) throw new SessionError('ERR_STORE_UNAVAILABLE', `no node can own session ${op.id} now (no ready owner node is reachable)`, 'local', { cause: 'no-owner' });
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
      ...(l.tls ? { tls: l.tls } : {}),
      hello: () => ({ t: 'hello', node: this.nodeId, ready: this.isReady, ...(this.options.owner === false ? { owner: false } : {}) }),
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
          record = { session: s, ready: m.ready, owner: m.owner !== false, snapshotDone: false };
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

  private rendezvous(id: string): string[] {
    const members = [this.nodeId, ...this.links.keys()];
    return members.map((m) => ({ m, h: score(m, id) })).sort((a, b) => b.h - a.h || (a.m < b.m ? -1 : 1)).map((x) => x.m);
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
