// A replication node's endpoint (replication-node.ts): the Server its peers dial, the URL they
// dial, and the session tuning both ends of a replication link share.
//
// Theory of operation
//   Every node listens (tcp, tls or memory; by default tcp on 127.0.0.1 with an ephemeral port)
//   and dials every peer; the sessions it accepts and the ones it dials use the same frame size,
//   resume window and heartbeat (sessionTuning), so a link behaves the same in both directions.
//   With a clusterSecret, an inbound session must present its tag (an HMAC of a fixed label, never
//   the secret; compared in constant time) or is refused as unauthorized: a cheap first filter.
//   Who the peer is, is proven afterwards by the challenge and hello (node-identity.ts). Without a
//   secret or node keys the endpoint may only listen on loopback (checkListen).

import { constantTimeEqual } from '../engine/bytes.js';
import { SessionError } from '../engine/errors.js';
import { Refusal, Server } from '../server/server.js';
import { clusterTag, isLoopback } from './node-identity.js';
import type { ReplicationOptions } from './replication-types.js';

/** The session settings shared by accepted and dialed replication sessions. */
export function sessionTuning(options: ReplicationOptions): {
  maxFrameSize: number;
  resumeWindowMs: number;
  heartbeatMs: number;
} {
  const l = options.link ?? {};
  return {
    maxFrameSize: l.maxFrameSize ?? 4 * 1024 * 1024,
    resumeWindowMs: l.resumeWindowMs ?? 30_000,
    heartbeatMs: l.heartbeatMs ?? 2000,
  };
}

/** The (not yet started) Server a node's peers dial. */
export function createEndpoint(options: ReplicationOptions): Server {
  const secret = options.clusterSecret;
  return new Server({
    ...(options.listen ?? { tcp: { host: '127.0.0.1', port: 0 } }),
    ...sessionTuning(options),
    authenticate: (request) => {
      if (secret === undefined) return null;
      if (!constantTimeEqual(request.credentials, new TextEncoder().encode(clusterTag(secret))))
        throw new Refusal('wrong cluster secret', 'unauthorized');
      return null;
    },
  });
}

/** Refuses (ERR_INVALID_ARGUMENT) to listen beyond loopback with neither clusterSecret nor nodeKey. */
export function checkListen(options: ReplicationOptions): void {
  if (options.clusterSecret !== undefined || options.nodeKey !== undefined) return;
  const l = options.listen;
  for (const host of [l?.tcp?.host, l?.tls?.host]) {
    if (host !== undefined && !isLoopback(host)) {
      throw new SessionError(
        'ERR_INVALID_ARGUMENT',
        `a replicated store listening on ${host} must authenticate its peers: set clusterSecret (and, so no node can pose as another, nodeKey with each peer's publicKey); without them it may listen on loopback only`,
        'local',
        { host },
      );
    }
  }
}

/** The URL peers dial to reach `server` (ERR_INVALID_STATE when it does not listen). */
export function endpointUrl(server: Server | null, options: ReplicationOptions): string {
  const a = server?.addresses ?? {};
  const host = options.listen?.tcp?.host ?? options.listen?.tls?.host ?? '127.0.0.1';
  if (a.tcp !== undefined) return `tcp://${host}:${a.tcp}`;
  if (a.tls !== undefined) return `tls://${host}:${a.tls}`;
  if (a.memory !== undefined) return `memory://${a.memory}`;
  throw new SessionError('ERR_INVALID_STATE', 'the replication node is not listening', 'local', { state: 'closed' });
}
