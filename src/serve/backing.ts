// What a serve node runs on: the session store and the bus between nodes.
//
//   memory (default)  MemoryStore + LocalBus: one process, nothing to install. Sessions live in
//                     this process (a restart ends them); the store holds the web logins.
//   redis://…         RedisStore + durable sessions + the Redis bus: every node started with
//                     the same URL forms one service. A session's resume state is written to
//                     Redis ahead of every output, so its client resumes on any node after the
//                     one holding it died, and chat messages cross nodes on the bus.

import { LocalBus } from '../apps/service.js';
import type { Bus } from '../apps/service.js';
import type { DurabilityOptions } from '../server/durable.js';
import { RedisBus } from '../cluster/redis-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { RedisStore } from '../store/redis-store.js';
import type { SessionStore } from '../store/store.js';

export interface Backing {
  kind: 'memory' | 'redis';
  store: SessionStore;
  bus: Bus;
  /** Set with a shared store: the server keeps its sessions' resume state there. */
  durability?: DurabilityOptions;
  /** For the banner: where the state lives, without a password. */
  description: string;
  close(): Promise<void>;
}

/** How long serve waits for a Redis store to answer its first call before giving up. */
export const STORE_PROBE_TIMEOUT_MS = 5000;

/** `memory` or a redis:// / rediss:// URL; throws a message for the user on anything else. */
export function parseStoreSpec(spec: string): { kind: 'memory' } | { kind: 'redis'; url: string } {
  if (spec === 'memory') return { kind: 'memory' };
  if (/^rediss?:\/\//.test(spec)) {
    try {
      new URL(spec);
    } catch {
      throw new Error(`--store '${spec}' is not a valid URL`);
    }
    return { kind: 'redis', url: spec };
  }
  throw new Error(`--store takes 'memory' or a redis://HOST:PORT URL, not '${spec}'`);
}

export async function openBacking(spec: string): Promise<Backing> {
  const parsed = parseStoreSpec(spec);
  if (parsed.kind === 'memory') {
    const store = new MemoryStore();
    const bus = new LocalBus();
    return { kind: 'memory', store, bus, description: 'memory (this process only)', close: async () => { await bus.close(); await store.close(); } };
  }
  const store = new RedisStore({ url: parsed.url, prefix: 'colloquy', timeoutMs: STORE_PROBE_TIMEOUT_MS });
  try {
    // A first call proves the store answers, so a wrong URL fails at start, not at the first session.
    await store.get('serve:probe');
  } catch (error) {
    await store.close().catch(() => {});
    throw new Error(`cannot use the Redis store at ${redact(parsed.url)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const bus = await openRedisBus(parsed.url);
  return {
    kind: 'redis',
    store,
    bus,
    durability: { store, keyPrefix: 'colloquy:rt:' },
    description: `redis ${redact(parsed.url)} (durable sessions, shared with every node on it)`,
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
