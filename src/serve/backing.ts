// What a serve node runs on: the session store and the bus between nodes.
//
//   memory (default)  MemoryStore + LocalBus: one process, nothing to install. Sessions live in
//                     this process (a restart ends them); the store holds the web logins.
//   redis://…         RedisStore + durable sessions + the Redis bus: every node started with
//                     the same URL forms one service. A session's resume state is written to
//                     Redis ahead of every output, so its client resumes on any node after the
//                     one holding it died, and chat messages cross nodes on the bus.
//   redis+sentinel://, redis+cluster://, rediss…   the same through Sentinel or on a Redis
//                     Cluster, store and bus alike (./redis-url.ts parses the forms); every
//                     store write WAITs for one replica (DEFAULT_REPLICA_WAIT), and a persist
//                     rides out a failover (durability.persistRetryMs, src/server/persist-retry.ts).
//                     Both are serve flags (DurabilityKnobs, ./durability-flags.ts); WAIT can be
//                     turned on for redis:// too (a primary with replicas promoted by hand).
//   postgres://…      PostgresStore + durable sessions + the PostgreSQL bus (LISTEN/NOTIFY):
//                     the same as redis://, with PostgreSQL alone. `?schema=NAME` (ours, taken
//                     out of the URL before pg sees it) puts the table in that schema, so several
//                     services (or test runs) can share one database.

import { LocalBus } from '../cluster/bus.js';
import type { Bus } from '../cluster/bus.js';
import type { DurabilityOptions } from '../server/durable.js';
import { PostgresBus } from '../cluster/postgres-bus.js';
import { RedisBus } from '../cluster/redis-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { PostgresStore } from '../store/postgres-store.js';
import { RedisStore } from '../store/redis-store.js';
import { DEFAULT_REPLICA_WAIT, type ReplicaWait } from '../store/redis-wait.js';
import type { SessionStore } from '../store/store.js';
import { isRedisUrl, parseRedisSpec, redact, type RedisSpec } from './redis-url.js';

export { redact };

export interface Backing {
  kind: 'memory' | 'redis' | 'postgres';
  store: SessionStore;
  bus: Bus;
  /** Set with a shared store: the server keeps its sessions' resume state there. */
  durability?: DurabilityOptions;
  /** For the banner: where the state lives, without a password. */
  description: string;
  close(): Promise<void>;
}

/** How long serve waits for a shared store to answer its first call (and any call) before giving up. */
export const STORE_PROBE_TIMEOUT_MS = 5000;

/** The durability knobs (serve's --persist-retry-ms, --wait-replicas, --wait-timeout-ms; ./durability-flags.ts). */
export interface DurabilityKnobs {
  /** durability.persistRetryMs; absent: DEFAULT_PERSIST_RETRY_MS. */
  persistRetryMs?: number;
  /** RedisStore waitForReplicas; false: no WAIT; absent: the mode's default (replicaWaitFor). */
  replicaWait?: ReplicaWait | false;
}

/** The WAIT a Redis mode gets: the knobs' choice, else one replica for 500 ms under Sentinel and Cluster, none standalone. */
export function replicaWaitFor(mode: RedisSpec['mode'], knobs: DurabilityKnobs = {}): ReplicaWait | false {
  if (knobs.replicaWait !== undefined) return knobs.replicaWait;
  return mode === 'standalone' ? false : DEFAULT_REPLICA_WAIT;
}

export type StoreSpec =
  { kind: 'memory' } | { kind: 'redis'; redis: RedisSpec } | { kind: 'postgres'; url: string; schema: string };

/** `memory`, a redis URL of any form (./redis-url.ts) or a postgres:// / postgresql:// URL; throws a message for the user on anything else. */
export function parseStoreSpec(spec: string): StoreSpec {
  if (spec === 'memory') return { kind: 'memory' };
  if (/^postgres(ql)?:\/\//.test(spec)) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new Error(`--store '${redact(spec)}' is not a valid URL`);
    }
    const schema = url.searchParams.get('schema') ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
      throw new Error(`--store: schema '${schema}' must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)`);
    url.searchParams.delete('schema');
    return { kind: 'postgres', url: url.toString(), schema };
  }
  if (isRedisUrl(spec)) return { kind: 'redis', redis: parseRedisSpec(spec) };
  throw new Error(
    `--store takes 'memory', redis://HOST:PORT, redis+sentinel://H1:26379,H2:26379/NAME, redis+cluster://H1:7000,H2:7001 or postgres://USER@HOST:PORT/DATABASE, not '${redact(spec)}'`,
  );
}

export async function openBacking(spec: string, knobs: DurabilityKnobs = {}): Promise<Backing> {
  const parsed = parseStoreSpec(spec);
  if (parsed.kind === 'memory') {
    const store = new MemoryStore();
    const bus = new LocalBus();
    return {
      kind: 'memory',
      store,
      bus,
      description: 'memory (this process only)',
      close: async () => {
        await bus.close();
        await store.close();
      },
    };
  }
  const postgres = parsed.kind === 'postgres';
  const where = postgres ? redact(parsed.url) : parsed.redis.display;
  const store = postgres
    ? // serve uses no store events: none are sent or listened to (each NOTIFY serialises commits).
      new PostgresStore({
        connectionString: parsed.url,
        schema: parsed.schema,
        timeoutMs: STORE_PROBE_TIMEOUT_MS,
        listen: false,
        notify: false,
      })
    : new RedisStore({
        ...parsed.redis.target,
        prefix: 'colloquy',
        timeoutMs: STORE_PROBE_TIMEOUT_MS,
        // With replicas to fail over to, a write is confirmed on one before it counts (docs/stores.md).
        waitForReplicas: replicaWaitFor(parsed.redis.mode, knobs),
      });
  try {
    // A first call proves the store answers (and creates the PostgreSQL table), so a wrong URL
    // fails at start, not at the first session.
    await store.get('serve:probe');
  } catch (error) {
    await store.close().catch(() => {});
    throw new Error(
      `cannot use the ${postgres ? 'PostgreSQL' : 'Redis'} store at ${where}: ${scrub(error instanceof Error ? error.message : String(error), parsed)}`,
    );
  }
  const bus = postgres
    ? new PostgresBus({ connectionString: parsed.url, prefix: `${parsed.schema}:colloquy:bus:` })
    : // The bus waits as long as the store does (a Cluster client's first ready takes a round of every node).
      new RedisBus({ ...parsed.redis.target, prefix: 'colloquy:bus:', timeoutMs: STORE_PROBE_TIMEOUT_MS });
  return {
    kind: parsed.kind,
    store,
    bus,
    durability: {
      store,
      keyPrefix: 'colloquy:rt:',
      ...(knobs.persistRetryMs !== undefined ? { persistRetryMs: knobs.persistRetryMs } : {}),
    },
    description: `${postgres ? 'postgres' : 'redis'} ${where} (durable sessions, shared with every node on it)`,
    close: async () => {
      await bus.close();
      await store.close();
    },
  };
}

/** An error message without the store's passwords (a driver may echo what it was given). */
function scrub(message: string, parsed: StoreSpec): string {
  const secrets: string[] = [];
  if (parsed.kind === 'redis') {
    const t = parsed.redis.target;
    const options = 'cluster' in t ? t.clusterOptions?.redisOptions : t.redisOptions;
    if (options?.password) secrets.push(options.password);
    if (options?.sentinelPassword) secrets.push(options.sentinelPassword);
  } else if (parsed.kind === 'postgres') {
    try {
      const pw = decodeURIComponent(new URL(parsed.url).password);
      if (pw) secrets.push(pw);
    } catch {
      /* no password */
    }
  }
  return secrets.reduce((m, secret) => m.split(secret).join('***'), redact(message));
}
