// The configuration, events and statistics of a replication node (replication-node.ts), which
// ReplicatedStore (src/cluster/replicated-store.ts) takes and reports as its own.
//
// Theory of operation
//   Only types live here: what a node is told (its id, where it listens, its peers, the limits
//   an owner enforces, the timings of failover and bootstrap, the link tuning), what it reports
//   as events (peer changes, protocol errors) and what it counts (stats). The defaults named in
//   the comments are applied by ReplicationNode, PeerLink and ReplicaState where each is used.

import type { DialOptions } from '../client/dial.js';
import type { SessionError } from '../engine/errors.js';
import type { EndpointOptions } from '../server/endpoints.js';

export interface ReplicatedPeer {
  id: string;
  /** Where that node's replication endpoint listens, e.g. tcp://10.0.0.2:7300. */
  url: string;
  /**
   * That node's Ed25519 public key (PEM, from generateNodeKey()). When set, its hellos must be
   * signed by its private key: no other node, even one holding clusterSecret, can speak for it.
   */
  publicKey?: string;
}

export interface ReplicationOptions {
  /** This node's id: unique in the cluster, stable across restarts. */
  nodeId: string;
  /** Where this node listens for its peers. Default { tcp: { host: '127.0.0.1', port: 0 } }. */
  listen?: Pick<EndpointOptions, 'tcp' | 'tls' | 'memory'>;
  /** The other nodes. A node joining a running cluster must be given them here, so it bootstraps before it serves. */
  peers?: ReplicatedPeer[];
  /**
   * Shared secret of the cluster. Every node proves it holds it by an HMAC over a fresh challenge
   * bound to both node ids; the secret itself is never sent. Required (or nodeKey) to listen on
   * anything but loopback.
   */
  clusterSecret?: string;
  /**
   * This node's Ed25519 private key (PEM, from generateNodeKey()): its hellos are signed, and
   * peers holding its public key accept no hello for this node without that signature.
   */
  nodeKey?: string;
  /**
   * Records stamped further ahead of this node's clock than this are refused (the link is
   * aborted with ERR_REPLICATION_PROTOCOL, reason clock-skew): one bad stamp would otherwise push
   * the hybrid clock past it for good. Default 60 s.
   */
  maxClockSkewMs?: number;
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
  link?: {
    resumeWindowMs?: number;
    heartbeatMs?: number;
    maxFrameSize?: number;
    maxSendQueueBytes?: number;
    initialDelayMs?: number;
    maxDelayMs?: number;
    tls?: DialOptions['tls'];
  };
  /** The clock, for tests. Default Date.now. Nodes' clocks should agree within a second or so (expiry is local). */
  now?: () => number;
}

export interface ReplicationEvents extends Record<string, unknown> {
  /** A peer link went up or down, a peer said it is ready, or a link was reset (`reason`). */
  peer: { id: string; connected: boolean; ready: boolean; reason?: string };
  /** A peer sent something unparseable, could not prove its identity (ERR_CLUSTER_AUTH), or sent a stamp too far ahead; its session was aborted. */
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
