// Opening and watching ioredis connections, shared by RedisStore and RedisBus (src/cluster/redis-bus.ts).
//
// Theory of operation
//   Both open their clients the same way from the same three shapes of configuration (a URL,
//   Sentinels + a master name, or Cluster seed nodes): no unbounded waiting, a command in flight
//   when the connection drops is failed rather than resent, and reconnect attempts back off to at
//   most one per second (Sentinel and Cluster topology refreshes likewise). What differs between
//   the two (offline queues, resubscription, pipelining, sharded pub/sub) is passed in by the
//   caller as extra options; the caller's own redisOptions / clusterOptions always win.
//
//   The store's client is then watched by RedisHealth: a call made while the client is down fails
//   at once (ERR_STORE_UNAVAILABLE, with the last error ioredis reported), calls made while it is
//   still connecting share one wait, and errors from Redis map to coded SessionErrors.

import type { EventEmitter } from 'node:events';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';

export type RedisClient = Redis | Cluster;

/** How a RedisStore reaches Redis: a client of the caller's, or one it opens (and owns). */
export type RedisConnection =
  | { client: Redis | Cluster }
  | { url: string; redisOptions?: RedisOptions }
  | { sentinels: { host: string; port: number }[]; name: string; redisOptions?: RedisOptions }
  | { cluster: ClusterNode[]; clusterOptions?: ClusterOptions };

/** The shapes of configuration openRedis accepts (a RedisStore's or a RedisBus's, minus `client`). */
export type RedisTarget =
  | { url: string; redisOptions?: RedisOptions }
  | { sentinels: { host: string; port: number }[]; name: string; redisOptions?: RedisOptions }
  | { cluster: ClusterNode[]; clusterOptions?: ClusterOptions }
  | { client: RedisClient };

export interface RedisOpenTuning {
  /** Added to (or replacing) the per-connection defaults. */
  redis?: RedisOptions;
  /** Added to (or replacing) the Cluster defaults. */
  cluster?: ClusterOptions;
  /** The error message when the options name no known shape. */
  missing: string;
}

/**
 * Opens a client for `options`: a standalone connection by URL, one through Sentinels, or a
 * Cluster. Defaults, then the caller's tuning, then the user's redisOptions / clusterOptions.
 */
export function openRedis(options: RedisTarget, timeoutMs: number, tuning: RedisOpenTuning): RedisClient {
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    ...tuning.redis,
    connectTimeout: Math.max(timeoutMs, 500),
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
  };
  if ('url' in options) return new Redis(options.url, { ...common, ...options.redisOptions });
  if ('sentinels' in options) {
    return new Redis({
      ...common,
      sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      ...options.redisOptions,
      sentinels: options.sentinels,
      name: options.name,
    });
  }
  if ('cluster' in options) {
    return new Cluster(options.cluster, {
      enableOfflineQueue: false,
      scaleReads: 'master',
      maxRedirections: 8,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      slotsRefreshTimeout: Math.max(timeoutMs, 1000),
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      ...tuning.cluster,
      ...options.clusterOptions,
      redisOptions: { ...common, ...options.clusterOptions?.redisOptions },
    });
  }
  throw new SessionError('ERR_INVALID_ARGUMENT', tuning.missing, 'local');
}

/**
 * The store's client: nothing waits in an unbounded queue (commands are refused while
 * disconnected and the store fails the call with ERR_STORE_UNAVAILABLE); Cluster commands are
 * auto-pipelined per node and retried after a TRYAGAIN.
 */
export function createStoreClient(options: RedisConnection, timeoutMs: number): RedisClient {
  return openRedis(options, timeoutMs, {
    cluster: { enableAutoPipelining: true, retryDelayOnTryAgain: 100 },
    missing: 'RedisStore needs one of: client, url, sentinels + name, cluster',
  });
}

/**
 * Commands of one tick in one socket write, on a standalone (or Sentinel) client: returns a
 * function to call before sending a command. The first call in a tick corks the client's socket
 * and schedules the uncork for the end of the tick (process.nextTick, which runs once the
 * current microtasks are drained), so the commands that concurrent calls send in the same tick
 * leave in one writev instead of one write each. Nothing else changes: every command is still
 * written (in order) by ioredis at once, and a reply is matched as before. ioredis's own
 * auto-pipelining does this too, but builds a Pipeline per tick and keeps one pipeline in flight,
 * which costs more than it saves one call at a time (docs/stores.md). Cluster clients are
 * auto-pipelined instead (createStoreClient), so this returns a no-op for them.
 */
export function tickBatch(client: RedisClient): () => void {
  if (client.isCluster) return () => undefined;
  const redis = client as Redis;
  let corked: Redis['stream'] | null = null;
  const flush = (): void => {
    const stream = corked;
    corked = null;
    stream?.uncork();
  };
  return () => {
    if (corked !== null) return;
    const stream = redis.stream as Redis['stream'] | undefined;
    if (stream === undefined || redis.status !== 'ready' || typeof stream.cork !== 'function') return;
    stream.cork();
    corked = stream;
    process.nextTick(flush);
  };
}

/** Watches a store's client: whether it can take commands now, and what went wrong last. */
export class RedisHealth {
  lastError: Error | null = null;
  private connecting: Promise<void> | null = null;
  /** The listener for the client's 'error' (and, under Cluster, 'node error') events. */
  readonly onError = (error: Error): void => {
    this.lastError = error;
  };

  constructor(private readonly client: RedisClient) {}

  /**
   * Resolves when the client can take commands; rejects at once when it is down. Calls made
   * while it is still connecting share one wait (bounded by each call's own timeout).
   */
  ready(): Promise<void> {
    const c = this.client;
    const status = c.status;
    if (status === 'ready') return Promise.resolve();
    if (status === 'end' || status === 'close' || status === 'reconnecting' || status === 'disconnecting')
      return Promise.reject(this.down(status));
    if (this.connecting) return this.connecting;
    if (status === 'wait') c.connect().catch(() => undefined);
    const em = c as EventEmitter;
    const wait = new Promise<void>((resolve, reject) => {
      const done = (): void => {
        em.off('ready', onReady);
        em.off('close', onClose);
        em.off('end', onClose);
        if (this.connecting === wait) this.connecting = null;
      };
      const onReady = (): void => {
        done();
        resolve();
      };
      const onClose = (): void => {
        done();
        reject(this.down('close'));
      };
      em.on('ready', onReady);
      em.on('close', onClose);
      em.on('end', onClose);
    });
    wait.catch(() => undefined);
    this.connecting = wait;
    return wait;
  }

  private down(status: string): SessionError {
    const cause = this.lastError?.message ?? `connection ${status}`;
    return new SessionError('ERR_STORE_UNAVAILABLE', `redis is not reachable (${status}): ${cause}`, 'local', {
      status,
      cause,
    });
  }
}

/** Maps an error from a store call: OOM is ERR_STORE_FULL, anything else ERR_STORE_UNAVAILABLE. */
export function redisFailure(error: unknown, op: string): unknown {
  if (error instanceof SessionError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/^OOM\b/.test(message))
    return new SessionError('ERR_STORE_FULL', `redis refused the write: ${message}`, 'local', {
      limit: 'maxmemory',
      op,
    });
  return new SessionError('ERR_STORE_UNAVAILABLE', `redis ${op} failed: ${message}`, 'local', { op, cause: message });
}
