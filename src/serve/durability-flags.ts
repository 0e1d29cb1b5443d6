// The durability knobs of a shared store as `colloquy serve` flags (issue 19):
//
//   --persist-retry-ms MS   how long a session's write-ahead persist keeps trying while the store
//                           cannot be reached (a Redis failover, a restart) before the session
//                           ends: durability.persistRetryMs (src/server/persist-retry.ts). Any
//                           shared store (Redis, PostgreSQL); 0: no retry.
//   --wait-replicas N       after each store write, WAIT until N replicas have it
//                           (RedisStore waitForReplicas.replicas, src/store/redis-wait.ts); 0: off.
//                           Redis only. Default 1 under Sentinel and Cluster, off on redis://.
//   --wait-timeout-ms MS    how long that WAIT may take (waitForReplicas.timeoutMs); below the
//                           store's call timeout. Default 500.
//
//   parseDurabilityFlags({ 'wait-replicas': '2' }, parseStoreSpec('redis+sentinel://h:26379/m'))
//     -> { replicaWait: { replicas: 2, timeoutMs: 500 } }
//
// Each value is checked against the store it is for before serve opens anything: a flag the store
// cannot honour (WAIT on PostgreSQL, a retry on the memory store) is an error naming the flag, not
// a setting silently ignored.

import { DEFAULT_PERSIST_RETRY_MS } from '../server/persist-retry.js';
import { DEFAULT_REPLICA_WAIT } from '../store/redis-wait.js';
import { STORE_PROBE_TIMEOUT_MS, type DurabilityKnobs, type StoreSpec } from './backing.js';

/** The store's call timeout under serve (backing.ts): a WAIT must end before it. */
const STORE_CALL_TIMEOUT_MS = STORE_PROBE_TIMEOUT_MS;
/** The longest --persist-retry-ms accepted (an hour: a session held longer is better ended). */
export const MAX_PERSIST_RETRY_MS = 3_600_000;
/** The most replicas --wait-replicas accepts. */
export const MAX_WAIT_REPLICAS = 100;

/** The parseArgs options of the three flags (strings, validated by parseDurabilityFlags). */
export function durabilityFlagOptions(): Record<
  'persist-retry-ms' | 'wait-replicas' | 'wait-timeout-ms',
  { type: 'string' }
> {
  return {
    'persist-retry-ms': { type: 'string' },
    'wait-replicas': { type: 'string' },
    'wait-timeout-ms': { type: 'string' },
  };
}

/** The --help lines (serve's layout: descriptions from column 23). */
export const DURABILITY_FLAGS_HELP = `  --persist-retry-ms MS
                       with a shared store: how long a session's write-ahead persist keeps
                       trying while the store cannot be reached (a Redis failover) before the
                       session ends; nothing reaches its client meanwhile. 0: no retry
                       (default ${DEFAULT_PERSIST_RETRY_MS}; set it above your failover time)
  --wait-replicas N    Redis: after each store write, WAIT until N replicas have it, so a
                       failover that follows does not lose it; 0: off (default ${DEFAULT_REPLICA_WAIT.replicas} with
                       redis+sentinel:// and redis+cluster://, 0 with redis://)
  --wait-timeout-ms MS how long that WAIT may take; past it the write stands on the primary
                       and counts as a shortfall in /metrics (default ${DEFAULT_REPLICA_WAIT.timeoutMs}, below ${STORE_CALL_TIMEOUT_MS})`;

function whole(text: unknown, flag: string, min: number, max: number, unit: string, why = ''): number {
  if (typeof text !== 'string' || !/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max)
    throw new Error(`${flag} takes a whole number${unit} from ${min} to ${max}${why}, not '${String(text)}'`);
  return Number(text);
}

/**
 * The knobs the flags in `values` set for the store `store` (absent flags are left out, so the
 * mode's defaults apply). Throws an Error naming the flag, what it takes and why.
 */
export function parseDurabilityFlags(values: Readonly<Record<string, unknown>>, store: StoreSpec): DurabilityKnobs {
  const out: DurabilityKnobs = {};
  const retry = values['persist-retry-ms'];
  if (retry !== undefined) {
    out.persistRetryMs = whole(retry, '--persist-retry-ms', 0, MAX_PERSIST_RETRY_MS, ' of milliseconds');
    if (store.kind === 'memory')
      throw new Error(
        '--persist-retry-ms needs a shared store (--store redis://… or postgres://…): the memory store persists nothing',
      );
  }
  const replicasText = values['wait-replicas'];
  const timeoutText = values['wait-timeout-ms'];
  if (replicasText === undefined && timeoutText === undefined) return out;
  const flag = replicasText !== undefined ? '--wait-replicas' : '--wait-timeout-ms';
  if (store.kind !== 'redis')
    throw new Error(
      `${flag} is Redis's WAIT: it needs --store redis://, redis+sentinel:// or redis+cluster://, not ${store.kind === 'memory' ? 'the memory store' : 'PostgreSQL'}`,
    );
  const replicas =
    replicasText === undefined
      ? store.redis.mode === 'standalone'
        ? 0
        : DEFAULT_REPLICA_WAIT.replicas
      : whole(replicasText, '--wait-replicas', 0, MAX_WAIT_REPLICAS, '');
  const timeoutMs =
    timeoutText === undefined
      ? DEFAULT_REPLICA_WAIT.timeoutMs
      : whole(
          timeoutText,
          '--wait-timeout-ms',
          1,
          STORE_CALL_TIMEOUT_MS - 1,
          ' of milliseconds',
          ` (a WAIT ends before the store's ${STORE_CALL_TIMEOUT_MS} ms call timeout)`,
        );
  if (replicas === 0) {
    if (timeoutText !== undefined)
      throw new Error(
        replicasText === undefined
          ? '--wait-timeout-ms needs --wait-replicas N (N >= 1): with redis:// no write waits for a replica unless you ask'
          : '--wait-timeout-ms needs --wait-replicas N with N >= 1 (--wait-replicas 0 turns WAIT off)',
      );
    out.replicaWait = false;
    return out;
  }
  out.replicaWait = { replicas, timeoutMs };
  return out;
}
