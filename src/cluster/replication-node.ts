// ReplicationNode: one node of a replicated store on the network: its endpoint, its links to
// every peer, bootstrap, ownership of keys and the writes it makes as owner. The SessionStore
// face (argument checks, reads, events, timeouts) is src/cluster/replicated-store.ts.
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
//
//   Identity. The listening side of every link challenges the dialer, whose hello must prove the
//   cluster secret and/or carry its own Ed25519 signature (node-identity.ts); a hello that does
//   not is ERR_CLUSTER_AUTH and its session is aborted before it can touch anything, so a rogue
//   cannot supersede a real peer's session or inject records. Records stamped more than
//   maxClockSkewMs ahead of this node's clock are refused (the hybrid clock would never recover).
//
//   Elsewhere: replication-types.ts (options, events, stats), replication-endpoint.ts (the
//   Server peers dial), replication-inbound.ts (the streams peers send here: hello checks,
//   merging, requests), rendezvous.ts (the ownership order), pending-requests.ts (writes waiting
//   for a remote owner's answer), peer-link.ts, replica-state.ts, replication-protocol.ts.

import type { KeyObject } from 'node:crypto';
import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import type { Server } from '../server/server.js';
import { nonNegative, positive } from '../store/shared.js';
import { PendingRequests } from './pending-requests.js';
import { checkListen, createEndpoint, endpointUrl, sessionTuning } from './replication-endpoint.js';
import { clusterTag, privateKeyOf, proveHello, publicKeyOf } from './node-identity.js';
import { PeerLink, sumLinkStats } from './peer-link.js';
import { rendezvous } from './rendezvous.js';
import { ReplicaState, type Replica } from './replica-state.js';
import { Bootstrap } from './replication-bootstrap.js';
import { InboundStreams } from './replication-inbound.js';
import type { Op, Result } from './replication-protocol.js';
import type { ReplicatedPeer, ReplicatedStats, ReplicationEvents, ReplicationOptions } from './replication-types.js';
import type {} from './errors.js';
import type {} from '../store/errors.js';

export type { ReplicatedPeer, ReplicatedStats, ReplicationEvents, ReplicationOptions } from './replication-types.js';

export { HELLO_TIMEOUT_MS } from './replication-inbound.js';

export class ReplicationNode extends Emitter<ReplicationEvents> {
  readonly state: ReplicaState;
  private readonly links = new Map<string, PeerLink>();
  private readonly inbound: InboundStreams;
  private readonly pending = new PendingRequests();
  private server: Server | null = null;
  private closed = false;
  private readonly bootstrap: Bootstrap;
  private readyTimer: ReturnType<typeof setInterval> | null = null;
  private watchTimer: ReturnType<typeof setInterval> | null = null;
  private readonly wasEligible = new Map<string, boolean>();
  private reoffered = 0;
  private readonly requests = { sent: 0, served: 0 };
  private readonly nowFn: () => number;
  private readonly privateKey: KeyObject | undefined;
  /** Peers' Ed25519 public keys, by node id (their hellos must be signed). */
  private readonly peerKeys = new Map<string, KeyObject>();
  private readonly maxClockSkewMs: number;

  /** Creates a node, opens its endpoint and starts dialing its peers. */
  static async start(options: ReplicationOptions): Promise<ReplicationNode> {
    const node = new ReplicationNode(options);
    await node.listen();
    return node;
  }

  private constructor(private readonly options: ReplicationOptions) {
    super();
    if (typeof options.nodeId !== 'string' || options.nodeId === '')
      throw new SessionError('ERR_INVALID_ARGUMENT', 'nodeId must be a non-empty string', 'local');
    checkListen(options);
    this.nowFn = options.now ?? Date.now;
    this.privateKey = options.nodeKey !== undefined ? privateKeyOf(options.nodeKey) : undefined;
    this.maxClockSkewMs = positive(options.maxClockSkewMs ?? 60_000, 'maxClockSkewMs');
    this.state = new ReplicaState(options.nodeId, {
      maxEntries: positive(options.maxEntries ?? 100_000, 'maxEntries'),
      maxBytes: positive(options.maxBytes ?? 256 * 1024 * 1024, 'maxBytes'),
      tombstoneMs: positive(options.tombstoneMs ?? 60_000, 'tombstoneMs'),
      maxTombstones: nonNegative(options.maxTombstones ?? 100_000, 'maxTombstones'),
    });
    this.bootstrap = new Bootstrap(options.bootstrapWaitMs ?? 3000);
    this.inbound = new InboundStreams({
      nodeId: options.nodeId,
      state: this.state,
      pending: this.pending,
      maxClockSkewMs: this.maxClockSkewMs,
      now: () => this.nowFn(),
      isPeer: (id) => this.links.has(id),
      linkConnected: (id) => this.links.get(id)?.connected === true,
      proofOf: (id) => {
        const secret = this.options.clusterSecret;
        const publicKey = this.peerKeys.get(id);
        return { ...(secret !== undefined ? { secret } : {}), ...(publicKey ? { publicKey } : {}) };
      },
      emit: this.emit.bind(this),
      peersChanged: () => this.watchPeers(),
      checkReady: () => this.checkReady(),
      serve: (peer, n, op) => this.serve(peer, n, op),
    });
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  /** The node's clock. */
  now(): number {
    return this.nowFn();
  }

  /** The URL peers dial to reach this node. */
  get url(): string {
    return endpointUrl(this.server, this.options);
  }

  /** Whether this node has bootstrapped (snapshots from its reachable peers) and may own keys. */
  get ready(): boolean {
    return this.bootstrap.ready;
  }

  get stats(): ReplicatedStats {
    return {
      ...this.state.size,
      sent: sumLinkStats(this.links.values()),
      reoffered: this.reoffered,
      requests: { ...this.requests },
      received: { ...this.inbound.received },
    };
  }

  /** Each peer as this node sees it. */
  peers(): { id: string; connected: boolean; ready: boolean; backlogBytes: number; dialError: string }[] {
    return [...this.links.values()].map((l) => ({
      id: l.peer,
      connected: l.connected,
      ready: this.inbound.get(l.peer)?.ready === true,
      backlogBytes: l.backlogBytes,
      dialError: l.dialError,
    }));
  }

  /**
   * A digest of every live session this node holds (id, version, principal, times, data), to
   * check that nodes have converged: equal digests, equal contents.
   */
  digest(): { entries: number; sha256: string } {
    return this.state.digest(this.nowFn());
  }

  /** The node that owns `id` now, as this node sees it (null: none eligible). */
  ownerOf(id: string): string | null {
    for (const m of this.rendezvous(id)) if (this.eligible(m)) return m;
    return null;
  }

  private eligible(m: string): boolean {
    if (m === this.nodeId) return this.bootstrap.ready && this.options.owner !== false;
    const inbound = this.inbound.get(m);
    return (
      inbound?.ready === true && inbound.owner && this.links.get(m)?.reachable(this.options.failoverMs ?? 3000) === true
    );
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
  owns(id: string): boolean {
    return this.ownerOf(id) === this.nodeId;
  }

  /**
   * Sets the other nodes (add or remove links). Changing membership moves keys between owners:
   * do it on every node, and expect last-writer-wins while the nodes disagree.
   */
  setPeers(peers: ReplicatedPeer[]): void {
    const wanted = new Map(peers.map((p) => [p.id, p.url]));
    if (wanted.has(this.nodeId)) wanted.delete(this.nodeId);
    this.setPeerKeys(peers);
    for (const [id, link] of this.links) {
      if (wanted.get(id) !== link.config.url) {
        void link.close();
        this.links.delete(id);
        this.wasEligible.delete(id);
        this.pending.failPeer(id, 'the peer was removed');
      }
    }
    for (const [id, url] of wanted) if (!this.links.has(id)) this.addLink(id, url);
  }

  /** Resolves when this node is ready and sees every peer connected and ready (or rejects on signal). */
  async settled(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    const deadline = performance.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      options.signal?.throwIfAborted();
      if (
        this.bootstrap.ready &&
        [...this.links.values()].every((l) => l.connected && this.inbound.get(l.peer)?.ready === true)
      )
        return;
      if (performance.now() > deadline)
        throw new SessionError(
          'ERR_STORE_TIMEOUT',
          `node ${this.nodeId} did not see all peers ready in time`,
          'local',
          { op: 'settled', timeoutMs: options.timeoutMs ?? 30_000 },
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.readyTimer) clearInterval(this.readyTimer);
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.bootstrap.release();
    for (const id of [...this.links.keys()]) this.pending.failPeer(id, 'the store was closed');
    await Promise.all([...this.links.values()].map((l) => l.close()));
    this.inbound.abortAll('replicated store closed');
    await this.server?.destroy();
  }

  /** Runs `op` on the key's owner: here, or through the link to it. */
  async execute(op: Op, signal: AbortSignal): Promise<Result> {
    if (!this.bootstrap.ready) await this.bootstrap.whenReady(signal);
    const owner = this.ownerOf(op.id);
    if (owner === null)
      throw new SessionError(
        'ERR_STORE_UNAVAILABLE',
        `no node can own session ${op.id} now (no ready owner node is reachable)`,
        'local',
        { cause: 'no-owner' },
      );
    if (owner === this.nodeId) return this.apply(op, null);
    const link = this.links.get(owner) as PeerLink;
    return this.pending.request(owner, op.id, this.options.maxPendingRequests ?? 10_000, signal, (n) => {
      this.requests.sent++;
      return link.send({ t: 'req', n, ...op });
    });
  }

  /** A peer's write request: made here as owner, the answer (or the error) in our stream. */
  private serve(peer: string, n: number, op: Op): void {
    this.requests.served++;
    try {
      this.apply(op, { peer, n });
    } catch (error) {
      const e =
        error instanceof SessionError ? error : new SessionError('ERR_STORE_UNAVAILABLE', String(error), 'local');
      this.links.get(peer)?.send({ t: 'res', n, err: { code: e.code, message: e.message } });
    }
  }

  /** Makes a write as the owner; broadcasts the change; `requester` (a peer) gets its answer in our stream. */
  private apply(op: Op, requester: { peer: string; n: number } | null): Result {
    const now = this.nowFn();
    let record: Replica | null = null;
    let result: Result;
    if (op.op === 'set') {
      const out = this.state.mutateWrite(op.id, op.json, op.p, op.ttl, op.expected, now, op.tag, op.et ?? null);
      if (out) {
        record = out.record;
        result = { v: out.record.version, created: out.created, principal: out.record.principal };
      } else result = { v: null };
    } else if (op.op === 'touch') {
      record = this.state.mutateTouch(op.id, op.ttl, now);
      result = { ok: record !== null };
    } else {
      const out = this.state.mutateDestroy(op.id, now, op.only);
      if (out) {
        record = out.record;
        result = { ok: true, principal: out.principal };
      } else result = { ok: false };
    }
    if (record) {
      for (const link of this.links.values()) {
        link.send(
          requester?.peer === link.peer ? { t: 'up', e: record, n: requester.n, r: result } : { t: 'up', e: record },
        );
      }
    } else if (requester) {
      this.links.get(requester.peer)?.send({ t: 'res', n: requester.n, r: result });
    }
    return result;
  }

  private async listen(): Promise<void> {
    this.server = createEndpoint(this.options);
    this.server.on('session', (s) => {
      void this.inbound.accept(s);
    });
    await this.server.start();
    this.setPeerKeys(this.options.peers ?? []);
    for (const p of this.options.peers ?? []) if (p.id !== this.nodeId) this.addLink(p.id, p.url);
    this.readyTimer = setInterval(() => this.checkReady(), 50);
    (this.readyTimer as { unref?: () => void }).unref?.();
    this.watchTimer = setInterval(() => this.watchPeers(), 100);
    (this.watchTimer as { unref?: () => void }).unref?.();
    this.checkReady();
  }

  private setPeerKeys(peers: ReplicatedPeer[]): void {
    this.peerKeys.clear();
    for (const p of peers)
      if (p.publicKey !== undefined && p.id !== this.nodeId) this.peerKeys.set(p.id, publicKeyOf(p.publicKey, p.id));
  }

  private addLink(id: string, url: string): void {
    const l = this.options.link ?? {};
    const link = new PeerLink({
      self: this.nodeId,
      peer: id,
      url,
      ...(this.options.clusterSecret !== undefined ? { credentials: clusterTag(this.options.clusterSecret) } : {}),
      maxQueueBytes: positive(this.options.maxQueueBytes ?? 16 * 1024 * 1024, 'maxQueueBytes'),
      snapshotChunkBytes: positive(this.options.snapshotChunkBytes ?? 64 * 1024, 'snapshotChunkBytes'),
      ...sessionTuning(this.options),
      maxSendQueueBytes: l.maxSendQueueBytes ?? 4 * 1024 * 1024,
      initialDelayMs: l.initialDelayMs ?? 50,
      maxDelayMs: l.maxDelayMs ?? 1000,
      ...(l.tls ? { tls: l.tls } : {}),
      hello: (challenge) => ({
        t: 'hello',
        node: this.nodeId,
        ready: this.bootstrap.ready,
        ...(this.options.owner === false ? { owner: false } : {}),
        ...proveHello(
          {
            ...(this.options.clusterSecret !== undefined ? { secret: this.options.clusterSecret } : {}),
            ...(this.privateKey ? { privateKey: this.privateKey } : {}),
          },
          this.nodeId,
          id,
          challenge,
        ),
      }),
      snapshot: () => this.state.snapshot(),
      onChange: (link, lost, reason) => {
        if (lost) this.pending.failPeer(link.peer, reason ?? 'session lost');
        this.emit('peer', {
          id: link.peer,
          connected: link.connected,
          ready: this.inbound.get(link.peer)?.ready === true,
          ...(reason ? { reason } : {}),
        });
        this.checkReady();
        this.watchPeers();
      },
    });
    this.links.set(id, link);
    link.start();
  }

  private checkReady(): void {
    if (this.closed || !this.bootstrap.check(this.links.keys(), this.inbound)) return;
    if (this.readyTimer) {
      clearInterval(this.readyTimer);
      this.readyTimer = null;
    }
    for (const link of this.links.values()) link.send({ t: 'ready' });
  }

  private rendezvous(id: string): string[] {
    return rendezvous([this.nodeId, ...this.links.keys()], id);
  }
}
