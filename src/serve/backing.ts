// What a serve node runs on: the session store and the bus between nodes.
//
//   memory (default)  MemoryStore + LocalBus: one process, nothing to install. Sessions live in
//                     this process (a restart ends them); the store holds the web logins.
//   redis://…         RedisStore + durable sessions + the Redis bus: every node started with
//                     the same URL forms one service. A session's resume state is written to
//                     Redis ahead of every output, so its client resumes on any node after the
//                     one holding it died, and chat messages cross nodes on the bus.
//   postgres://…      PostgresStore + durable sessions + the PostgreSQL bus (LISTEN/NOTIFY):
//                     the same as redis://, with PostgreSQL alone. `?schema=NAME` (ours, taken
//                     out of the URL before pg sees it) puts the table in that schema, so several
//                     services (or test runs) can share one database.

import { LocalBus } from '../apps/service.js';
import type { Bus } from '../apps/service.js';
import type { DurabilityOptions } from '../server/durable.js';
import { PostgresBus } from '../cluster/postgres-bus.js';
import { RedisBus } from '../cluster/redis-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { PostgresStore } from '../store/postgres-store.js';
import { RedisStore } from '../store/redis-store.js';
import type { SessionStore } from '../store/store.js';

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

/** How long serve waits for a shared store to answer its first call before giving up. */
export const STORE_PROBE_TIMEOUT_MS = 5000;

export type StoreSpec = { kind: 'memory' } | { kind: 'redis'; url: string } | { kind: 'postgres'; url: string; schema: string };

/** `memory`, a redis:// / rediss:// URL or a postgres:// / postgresql:// URL; throws a message for the user on anything else. */
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
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`--store: schema '${schema}' must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)`);
    url.searchParams.delete('schema');
    return { kind: 'postgres', url: url.toString(), schema };
  }
  if (/^rediss?:\/\//.test(spec)) {
    try {
      new URL(spec);
    } catch {
      throw new Error(`--store '${spec}' is not a valid URL`);
    }
    return { kind: 'redis', url: spec };
  }
  throw new Error(`--store takes 'memory', a redis://HOST:PORT URL or a postgres://USER@HOST:PORT/DATABASE URL, not '${redact(spec)}'`);
}

export async function openBacking(spec: string): Promise<Backing> {
  const parsed = parseStoreSpec(spec);
  if (parsed.kind === 'memory') {
    const store = new MemoryStore();
    const bus = new LocalBus();
    return { kind: 'memory', store, bus, description: 'memory (this process only)', close: async () => { await bus.close(); await store.close(); } };
  }
  const postgres = parsed.kind === 'postgres';
  const store = postgres
    // serve uses no store events: none are sent or listened to (each NOTIFY serialises commits).
    ? new PostgresStore({ connectionString: parsed.url, schema: parsed.schema, timeoutMs: STORE_PROBE_TIMEOUT_MS, listen: false, notify: false })
    : new RedisStore({ url: parsed.url, prefix: 'colloquy', timeoutMs: STORE_PROBE_TIMEOUT_MS });
  try {
    // A first call proves the store answers (and creates the PostgreSQL table), so a wrong URL
    // fails at start, not at the first session.
    await store.get('serve:probe');
  } catch (error) {
    await store.close().catch(() => {});
    throw new Error(`cannot use the ${postgres ? 'PostgreSQL' : 'Redis'} store at ${redact(parsed.url)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const bus = postgres ? new PostgresBus({ connectionString: parsed.url, prefix: `${parsed.schema}:colloquy:bus:` }) : await openRedisBus(parsed.url);
  return {
    kind: parsed.kind,
    store,
    bus,
    durability: { store, keyPrefix: 'colloquy:rt:' },
    description: `${postgres ? 'postgres' : 'redis'} ${redact(parsed.url)} (durable sessions, shared with every node on it)`,
    close: async () => { await bus.close(); await store.close(); },
  };
}

/** The cross-node bus on Redis pub/sub (src/cluster/redis-bus.ts). */
async function openRedisBus(url: string): Promise<Bus> {
  return new RedisBus({ url, prefix: 'colloquy:bus:' });
}

/** A URL without its password, for messages and the banner. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
