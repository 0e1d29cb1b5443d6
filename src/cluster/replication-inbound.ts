// The inbound half of a replication node, as a part ReplicationNode owns: the sessions its peers
// dial to it, each carrying one peer's stream (hello, snapshot, changes, answers). It checks the
// hello (the challenge answered with the cluster secret and/or the peer's Ed25519 signature,
// node-identity.ts) before anything else is read, merges the records a stream brings, refuses
// stamps too far ahead of this node's clock, and hands requests and answers to the node.
//
// A session that never says hello is aborted after HELLO_TIMEOUT_MS; a second session from the
// same node supersedes the first (the answers still in the old stream are failed).

import type { KeyObject } from 'node:crypto';
import type { Session } from '../driver/session.js';
import { SessionError } from '../engine/errors.js';
import { checkHello, newChallenge } from './node-identity.js';
import type { PendingRequests } from './pending-requests.js';
import type { Replica, ReplicaState } from './replica-state.js';
import { decode, encode, type Message, type Op } from './replication-protocol.js';
import type { ReplicationEvents } from './replication-types.js';
import type {} from './errors.js';

/** How long an inbound replication session may take to send its hello. */
export const HELLO_TIMEOUT_MS = 10_000;

/** One peer's stream into this node, once its hello was accepted. */
export interface Inbound {
  readonly session: Session;
  ready: boolean;
  readonly owner: boolean;
  snapshotDone: boolean;
}

/** What the inbound streams need of the node that owns them. */
export interface InboundHost {
  readonly nodeId: string;
  readonly state: ReplicaState;
  readonly pending: PendingRequests;
  readonly maxClockSkewMs: number;
  now(): number;
  /** A node this one has a link to (only those may open a stream). */
  isPeer(id: string): boolean;
  /** Whether this node's own link to `id` is connected (for the `peer` event). */
  linkConnected(id: string): boolean;
  /** What `id`'s hello must prove: the cluster secret, its public key, or both. */
  proofOf(id: string): { secret?: string; publicKey?: KeyObject };
  emit<K extends keyof ReplicationEvents>(type: K, value: ReplicationEvents[K]): void;
  /** A peer's readiness or stream changed: eligibility may have too. */
  peersChanged(): void;
  /** A snapshot completed: bootstrap may be done. */
  checkReady(): void;
  /** A peer asks this node, as owner, to make a write; the answer goes back in this node's stream. */
  serve(peer: string, n: number, op: Op): void;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

export class InboundStreams {
  private readonly streams = new Map<string, Inbound>();
  readonly received = { messages: 0, bytes: 0 };

  constructor(private readonly host: InboundHost) {}

  /** The stream from `peer`, once its hello was accepted. */
  get(peer: string): Inbound | undefined {
    return this.streams.get(peer);
  }

  has(peer: string): boolean {
    return this.streams.has(peer);
  }

  /** Aborts every inbound session (the node is closing). */
  abortAll(reason: string): void {
    for (const i of this.streams.values()) i.session.abort(reason);
  }

  /** Reads one dialed session until it ends. */
  async accept(s: Session): Promise<void> {
    const host = this.host;
    let peer: string | null = null;
    let record: Inbound | null = null;
    // A session that never says hello must not hold a slot for ever.
    const helloTimer = setTimeout(() => {
      if (record === null) s.abort(`no hello within ${HELLO_TIMEOUT_MS} ms`);
    }, HELLO_TIMEOUT_MS);
    (helloTimer as { unref?: () => void }).unref?.();
    // The dialer must answer this challenge in its hello (node-identity.ts).
    const challenge = newChallenge();
    s.send(encode({ t: 'challenge', node: host.nodeId, c: challenge })).catch(() => {});
    try {
      for await (const bytes of s) {
        this.received.messages++;
        this.received.bytes += bytes.length;
        let m: Message;
        try {
          m = decode(textDecoder.decode(bytes));
        } catch (error) {
          const e =
            error instanceof SessionError
              ? error
              : new SessionError(
                  'ERR_REPLICATION_PROTOCOL',
                  'a replication peer sent text that is not UTF-8',
                  'remote',
                  { reason: 'utf-8' },
                );
          host.emit('protocol-error', { id: peer, error: e });
          s.abort(e.message);
          return;
        }
        if (record === null) {
          const refused = this.refuseHello(m, challenge);
          if (refused) {
            host.emit('protocol-error', { id: m.t === 'hello' ? m.node : null, error: refused });
            s.abort(refused.message);
            return;
          }
          const hello = m as Extract<Message, { t: 'hello' }>;
          peer = hello.node;
          const previous = this.streams.get(peer);
          if (previous && previous.session !== s) {
            previous.session.abort('superseded by a newer session from the same node');
            host.pending.failPeer(peer, 'its stream restarted'); // answers still in the old stream are gone
          }
          record = { session: s, ready: hello.ready, owner: hello.owner !== false, snapshotDone: false };
          this.streams.set(peer, record);
          host.emit('peer', { id: peer, connected: host.linkConnected(peer), ready: hello.ready });
          host.peersChanged();
          continue;
        }
        this.handle(peer as string, record, m);
      }
    } catch {
      // The session ended with an error; the peer dials again.
    } finally {
      clearTimeout(helloTimer);
      if (peer !== null && this.streams.get(peer)?.session === s) {
        this.streams.delete(peer);
        host.pending.failPeer(peer, 'its stream ended'); // answers travel in that stream
        host.emit('peer', {
          id: peer,
          connected: host.linkConnected(peer),
          ready: false,
          reason: 'inbound session ended',
        });
        host.peersChanged();
      }
    }
  }

  /** Why an inbound session's first message does not open it (not a hello, or no proof of who sent it); null when it does. */
  private refuseHello(m: Message, challenge: string): SessionError | null {
    if (m.t !== 'hello')
      return new SessionError('ERR_REPLICATION_PROTOCOL', 'the first message was not hello', 'remote', {
        reason: 'no-hello',
      });
    if (!this.host.isPeer(m.node))
      return new SessionError('ERR_CLUSTER_AUTH', `node ${m.node} is not a peer of ${this.host.nodeId}`, 'remote', {
        reason: 'unknown-node',
        node: m.node,
      });
    const problem = checkHello(this.host.proofOf(m.node), m.node, this.host.nodeId, challenge, m);
    return problem === null
      ? null
      : new SessionError('ERR_CLUSTER_AUTH', `a hello as node ${m.node} was refused: ${problem}`, 'remote', {
          reason: 'bad-proof',
          node: m.node,
        });
  }

  /** A record stamped too far ahead of this node's clock (its hybrid clock would jump there for good). */
  private refuseStamp(peer: string, inbound: Inbound, records: readonly Replica[], now: number): boolean {
    const skew = this.host.maxClockSkewMs;
    const limit = (Math.floor(now) + skew) * 1000;
    const bad = records.find((r) => r.rev > limit);
    if (!bad) return false;
    const e = new SessionError(
      'ERR_REPLICATION_PROTOCOL',
      `node ${peer} sent record ${bad.id} stamped ${Math.round(bad.rev / 1000 - now)} ms ahead of this node's clock (maxClockSkewMs ${skew})`,
      'remote',
      { reason: 'clock-skew', id: bad.id },
    );
    this.host.emit('protocol-error', { id: peer, error: e });
    inbound.session.abort(e.message);
    return true;
  }

  private handle(peer: string, inbound: Inbound, m: Message): void {
    const host = this.host;
    const now = host.now();
    switch (m.t) {
      case 'snap':
        if (this.refuseStamp(peer, inbound, m.e, now)) return;
        for (const e of m.e) host.state.merge(e, now);
        return;
      case 'snap-end':
        inbound.snapshotDone = true;
        host.checkReady();
        return;
      case 'ready':
        inbound.ready = true;
        host.emit('peer', { id: peer, connected: host.linkConnected(peer), ready: true });
        host.peersChanged();
        return;
      case 'up':
        if (this.refuseStamp(peer, inbound, [m.e], now)) return;
        host.state.merge(m.e, now);
        if (m.n !== undefined) host.pending.answer(peer, m.n, m.r ?? {});
        return;
      case 'res':
        if (m.err) host.pending.fail(peer, m.n, m.err);
        else host.pending.answer(peer, m.n, m.r ?? {});
        return;
      case 'req': {
        const { t: _t, n, ...op } = m;
        host.serve(peer, n, op as Op);
        return;
      }
      case 'challenge':
      case 'hello': {
        const e = new SessionError('ERR_REPLICATION_PROTOCOL', `a ${m.t} after the hello`, 'remote', {
          reason: 'hello-twice',
        });
        host.emit('protocol-error', { id: peer, error: e });
        inbound.session.abort(e.message);
        return;
      }
    }
  }
}
