// A replication node's endpoint (replication-node.ts): the Server its peers dial, the URL they
// dial, and the session tuning both ends of a replication link share.
//
// Theory of operation
//   Every node listens (tcp, tls or memory; by default tcp on 127.0.0.1 with an ephemeral port)
//   and dials every peer; the sessions it accepts and the ones it dials use the same frame size,
//   resume window and heartbeat (sessionTuning), so a link behaves the same in both directions.
//   With a clusterSecret, an inbound session must present it (compared in constant time) or is
//   refused as unauthorized; without one, anyone who can reach the endpoint is a peer.

import { constantTimeEqual } from '../engine/bytes.js';
import { SessionError } from '../engine/errors.js';
import { Refusal, Server } from '../server/server.js';
import type { ReplicationOptions } from './replication-types.js';

/** The session settings shared by accepted and dialed replication sessions. */
export function sessionTuning(options: ReplicationOptions): { maxFrameSize: number; resumeWindowMs: number; heartbeatMs: number } {
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
      if (!constantTimeEqual(request.credentials, new TextEncoder().encode(secret))) throw new Refusal('wrong cluster secret', 'unauthorized');
      return null;
    },
  });
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
