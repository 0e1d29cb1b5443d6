// Several nodes: the Redis bus and session directory (cross-node delivery, rooms), the
// PostgreSQL bus (LISTEN/NOTIFY), and the
// replicated store (session clustering). docs/stores.md says what each guarantees.

export {
  RedisBus,
  type RedisBusConnection,
  type RedisBusEvents,
  type RedisBusOptions,
  type RedisBusStats,
  type RedisBusTuning,
} from './redis-bus.js';
export {
  PostgresBus,
  type PostgresBusEvents,
  type PostgresBusOptions,
  type PostgresBusTuning,
} from './postgres-bus.js';
export {
  SessionDirectory,
  type DeliveryResult,
  type DirectoryEvents,
  type SessionDirectoryOptions,
} from './session-directory.js';
export {
  ReplicatedStore,
  type ReplicatedPeer,
  type ReplicatedStats,
  type ReplicatedStoreEvents,
  type ReplicatedStoreOptions,
} from './replicated-store.js';
export { HELLO_TIMEOUT_MS, type ReplicationEvents, type ReplicationOptions } from './replication-node.js';
export { generateNodeKey } from './node-identity.js';
export { CLUSTER_ERROR_CODES } from './errors.js';
