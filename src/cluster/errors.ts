// The cluster's codes (SessionError): the message bus, the session directory and replication.

import type { ErrorTable } from '../util/colloquy-error.js';

export const CLUSTER_ERROR_CODES = {
  ERR_BUS_UNAVAILABLE: {
    what: 'The message bus cannot reach Redis (`details.cause`), or the bus was closed; the message was not published (or the subscription not made).',
    todo: 'Check that Redis runs and is reachable; publishes fail fast (or wait in the bounded offline queue) until it is back. Delivery is at most once: resend if the message matters.',
  },
  ERR_BUS_FULL: {
    what: "The bus's offline queue is at its bound (`details.limit`: maxQueuedMessages or maxQueuedBytes) while Redis is unreachable; the message was dropped.",
    todo: 'Wait until Redis is back (the `ready` event), publish less, or raise the bound.',
  },
  ERR_REPLICATION_PROTOCOL: {
    what: 'A replication peer sent a message that does not parse or breaks the replication rules (`details.reason`); the link to that peer is aborted and re-established with a fresh snapshot.',
    todo: 'Every node of one replicated store must run the same Colloquy version and share `clusterSecret`; check what dials the replication port.',
  },
  ERR_CLUSTER_AUTH: {
    what: "A replication peer did not prove it is the node it named (`details.reason`): no proof, a wrong HMAC of the cluster secret, a missing or bad Ed25519 signature, or a node id that is not a configured peer. Its session was aborted; the real peer's link is untouched.",
    todo: "Give every node the same `clusterSecret`, each node its own `nodeKey` and its peers' `publicKey`s; check what dials the replication port.",
  },
} as const satisfies ErrorTable;

declare module '../engine/errors.js' {
  interface SessionErrorTables {
    cluster: typeof CLUSTER_ERROR_CODES;
  }
}
