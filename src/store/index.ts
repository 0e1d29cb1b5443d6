// The session stores: one contract (store.ts), the embedded memory store, and the remote stores
// (Redis standalone / Sentinel / Cluster on ioredis, Memcached on memjs, PostgreSQL on pg). docs/stores.md says
// what each guarantees.

export type { CallOptions, SessionStore, StoredSession, StoreEvents, WriteOptions } from './store.js';
export { updateSession } from './store.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { RedisStore, type RedisConnection, type RedisStoreOptions, type RedisStoreTuning } from './redis-store.js';
export {
  MemcachedStore,
  type MemcachedConnection,
  type MemcachedStoreOptions,
  type MemcachedStoreTuning,
} from './memcached-store.js';
export {
  PostgresStore,
  type PostgresConnection,
  type PostgresStoreEvents,
  type PostgresStoreOptions,
  type PostgresStoreTuning,
} from './postgres-store.js';
export { postgresMigration } from './postgres-schema.js';
export { STORE_ERROR_CODES } from './errors.js';
