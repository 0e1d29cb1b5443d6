// RedisStore's optional replica wait (`waitForReplicas`): after a write, `WAIT numreplicas
// timeout` on the connection that made it, so the write is known to be on that many replicas
// before the call resolves. Redis replicates asynchronously; without it, a write acknowledged by a
// primary that dies before replicating it is lost when Sentinel or Cluster promotes a replica.
//
// Theory of operation
//   - WAIT counts the replicas that acknowledged every write made so far on *its* connection, so
//     it must go where the write went: the store's one connection (standalone, Sentinel), or under
//     Cluster the connection to the primary owning the key's slot (found from the client's slot
//     map: CRC16 of the key's hash tag, as Redis computes it).
//   - On timeout (fewer replicas than asked within `timeoutMs`) the write stands on the primary
//     and the call succeeds anyway: availability is kept, and the shortfall is counted
//     (`replicaShortfalls`) and published on the store-call channel as op `wait` with error
//     ERR_STORE_TIMEOUT (serve's /metrics counts it). A write lost to a failover after such a
//     shortfall is what the stale-state check on resume exists for.
//   - A WAIT that fails (the connection died) leaves the write's fate unknown: the call fails with
//     ERR_STORE_UNAVAILABLE, as any write whose reply was lost (durable sessions retry it and
//     recognise their own write by its token, src/server/durable.ts).
//   - A primary without the replicas asked for is not waited on. WAIT blocks its connection, and
//     every call of this process to that primary shares the connection: each write would hold
//     all the others for the full timeout, one after another (seen after a Cluster failover: the
//     promoted replica had no replica of its own, and writes to its slots took 5 s and more, so
//     durable sessions there gave up). After a WAIT falls short the primary is asked how many
//     replicas it has (ROLE, which does not block); while it has fewer than asked, writes to it
//     skip the WAIT (each counted as a shortfall, as before) and ROLE is asked again at most
//     every REPLICA_RECHECK_MS, so the WAIT comes back as soon as a replica does.

import type { Cluster, Redis } from 'ioredis';
import { SessionError } from '../engine/errors.js';
import { storeCallStarted } from './diagnostics.js';
import type { RedisClient } from './redis-connection.js';
import { sentinelVerdict, sentinelsOf } from './redis-wait-sentinel.js';
import { positive } from './shared.js';
import type {} from './errors.js';

export interface ReplicaWait {
  /** Replicas that must acknowledge a write (WAIT numreplicas). At least 1. */
  replicas: number;
  /** How long to wait for them (WAIT timeout), in milliseconds; less than the store's timeoutMs. */
  timeoutMs: number;
}

/** What serve turns on under Sentinel and Cluster: one replica, half a second. */
export const DEFAULT_REPLICA_WAIT: ReplicaWait = { replicas: 1, timeoutMs: 500 };

export function checkReplicaWait(wait: ReplicaWait, storeTimeoutMs: number): ReplicaWait {
  const replicas = positive(wait.replicas, 'waitForReplicas.replicas');
  const timeoutMs = positive(wait.timeoutMs, 'waitForReplicas.timeoutMs');
  if (!Number.isInteger(replicas) || !Number.isInteger(timeoutMs) || timeoutMs >= storeTimeoutMs)
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `waitForReplicas needs whole numbers, and a timeoutMs below the store's timeoutMs (${storeTimeoutMs} ms)`,
      'local',
      { replicas, timeoutMs, storeTimeoutMs },
    );
  return { replicas, timeoutMs };
}

/** How often a primary found without enough replicas is asked again (ROLE) before writes to it WAIT again. */
export const REPLICA_RECHECK_MS = 1000;

/** Per primary connection: its replicas at the last look (after a WAIT fell short), and when. */
const short = new WeakMap<Redis, { replicas: number; at: number }>();

/** The replicas a primary has now (ROLE); null when it cannot say (not a primary, an error). */
async function replicasOf(node: Redis): Promise<number | null> {
  try {
    const role = (await node.call('ROLE')) as unknown[];
    return role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : null;
  } catch {
    return null;
  }
}

/** Whether a WAIT for `wanted` replicas on `node` is worth making (it has them, or was not seen without). */
async function worthWaiting(node: Redis, wanted: number): Promise<boolean> {
  const seen = short.get(node);
  if (seen === undefined || seen.replicas >= wanted) return true;
  if (Date.now() - seen.at < REPLICA_RECHECK_MS) return false;
  const replicas = await replicasOf(node);
  short.set(node, { replicas: replicas ?? wanted, at: Date.now() });
  return replicas === null || replicas >= wanted;
}

/**
 * WAIT after a write of `key`: resolves with whether enough replicas acknowledged it; throws
 * ERR_STORE_UNAVAILABLE when the WAIT itself fails.
 */
export async function waitForReplicas(
  client: RedisClient,
  key: string,
  wait: ReplicaWait,
  call?: { readonly aborted: boolean },
): Promise<boolean> {
  const finished = storeCallStarted('redis', 'wait');
  let acked: number;
  try {
    const node = client.isCluster ? ownerOf(client as Cluster, key) : (client as Redis);
    if (node === null) acked = 0;
    else if (!(await worthWaiting(node, wait.replicas))) acked = 0;
    else {
      acked = Number(await node.wait(wait.replicas, wait.timeoutMs));
      if (acked < wait.replicas) {
        const replicas = await replicasOf(node);
        short.set(node, { replicas: replicas ?? wait.replicas, at: Date.now() });
      } else short.delete(node);
    }
    // Under Sentinel, a primary without the replicas asked for may be one Sentinel is replacing
    // or has replaced (./redis-wait-sentinel.ts): then the write does not stand as a shortfall.
    if (node !== null && acked < wait.replicas && !client.isCluster && sentinelsOf(node) !== null)
      acked = await untilAlone(node, wait, acked, call);
  } catch (error) {
    const e =
      error instanceof SessionError
        ? error
        : new SessionError('ERR_STORE_UNAVAILABLE', `redis WAIT failed: ${errorText(error)}`, 'local', {
            op: 'wait',
            cause: errorText(error),
          });
    finished?.(e);
    throw e;
  }
  const enough = acked >= wait.replicas;
  finished?.(enough ? undefined : { code: 'ERR_STORE_TIMEOUT' });
  return enough;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Sentinel, a write `node` took without the replicas asked for: resolves with the replicas that
 * acknowledged it once it may stand (acknowledged after all, or the Sentinels see nothing wrong
 * with this primary: it is alone); WAITs again while a Sentinel sees it down or failing over
 * (until the call's timeout: ERR_STORE_TIMEOUT); throws ERR_STORE_UNAVAILABLE and reconnects (to
 * the master they name) once they name another master: the write is on a deposed primary and
 * would be dropped with everything it took.
 */
async function untilAlone(
  node: Redis,
  wait: ReplicaWait,
  acked: number,
  call?: { readonly aborted: boolean },
): Promise<number> {
  for (;;) {
    const verdict = await sentinelVerdict(node);
    if (verdict === 'deposed') {
      node.disconnect(true);
      throw new SessionError(
        'ERR_STORE_UNAVAILABLE',
        'the Redis primary this write went to is no longer the master the Sentinels name (the write would be lost): reconnecting',
        'local',
        { op: 'wait', cause: 'deposed' },
      );
    }
    if (verdict !== 'replacing') return acked;
    if (call?.aborted)
      throw new SessionError(
        'ERR_STORE_TIMEOUT',
        'no replica acknowledged the write while a Sentinel sees its primary down or failing over',
        'local',
        { op: 'wait' },
      );
    acked = Number(await node.wait(wait.replicas, wait.timeoutMs));
    if (acked >= wait.replicas) {
      short.delete(node);
      return acked;
    }
  }
}

/** Cluster: the connection to the primary that owns `key`'s slot, per the client's slot map (null: unknown). */
export function ownerOf(cluster: Cluster, key: string): Redis | null {
  const owner = cluster.slots[keySlot(key)]?.[0];
  if (owner === undefined) return null;
  return cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner) ?? null;
}

/** The Cluster slot of a key: CRC16 (XMODEM) of its hash tag (the part in the first {…}, if not empty), mod 16384. */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key);
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b); // {
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc ^= (bytes[i] as number) << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
