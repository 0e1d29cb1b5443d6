// RedisBus: the node-to-node Bus (src/apps/service.ts) over Redis pub/sub, on ioredis.
//
// Theory of operation
//   Two connections: one publishes (and serves the session directory's keys), one is in
//   subscriber mode. A topic is the channel `<prefix><topic>`. Standalone and Sentinel use
//   PUBLISH/SUBSCRIBE; under Cluster, regular pub/sub is broadcast by Redis to every shard (it
//   works everywhere, and costs cluster-bus traffic per message; this bus publishes through one
//   master so that order per publisher holds), or with `sharded: true` the bus uses
//   SPUBLISH/SSUBSCRIBE (Redis 7: a channel lives on its slot's shard only).
//
//   Delivery is what Redis pub/sub gives: at most once, in order per publishing connection, and
//   only to subscribers connected at the time. A message published while Redis is unreachable
//   waits in a bounded offline queue (`maxQueuedMessages`, `maxQueuedBytes`: past either,
//   ERR_BUS_FULL at once) for at most `offlineTimeoutMs` (then ERR_BUS_UNAVAILABLE); queued
//   messages go out in order as soon as the connection is ready again (./offline-queue.ts).
//   ioredis's own offline queue is off, so nothing else grows without bound. A message in flight
//   when the connection drops is failed, never resent (no duplicates). Subscriptions are restored
//   by ioredis after a reconnect; messages published meanwhile are lost (pub/sub has no history).
//
//   Handlers run on the subscriber connection's event; one that throws is reported as the
//   `handler-error` event and does not disturb the others.

import { Cluster, type ClusterNode, type ClusterOptions, type Redis, type RedisOptions } from 'ioredis';
import type { EventEmitter } from 'node:events';
import type { Bus } from './bus.js';
import { OfflineQueue } from './offline-queue.js';
import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import { openRedis, type RedisClient } from '../store/redis-connection.js';
import type {} from './errors.js';

export type RedisBusConnection =
  | { url: string; redisOptions?: RedisOptions }
  | { sentinels: { host: string; port: number }[]; name: string; redisOptions?: RedisOptions }
  | { cluster: ClusterNode[]; clusterOptions?: ClusterOptions; sharded?: boolean };

export interface RedisBusTuning {
  /** Channel prefix. Default 'colloquy:bus:'. */
  prefix?: string;
  /** How long publish and subscribe wait for Redis. Default 1000 ms. */
  timeoutMs?: number;
  /** How long a message may wait in the offline queue. Default 5000 ms. */
  offlineTimeoutMs?: number;
  /** Messages the offline queue holds at most. Default 10,000. */
  maxQueuedMessages?: number;
  /** Bytes the offline queue holds at most. Default 16 MiB. */
  maxQueuedBytes?: number;
  /** Largest message accepted (ERR_INVALID_ARGUMENT past it). Default 1 MiB. */
  maxMessageBytes?: number;
}

export type RedisBusOptions = RedisBusTuning & RedisBusConnection;

export interface RedisBusEvents extends Record<string, unknown> {
  /** The publishing connection is ready (again); the offline queue is being flushed. */
  ready: undefined;
  /** The publishing connection went down (`cause`). */
  down: { cause: string };
  /** A subscriber's handler threw. */
  'handler-error': { topic: string; error: unknown };
}

export interface RedisBusStats {
  published: number;
  received: number;
  queued: number;
  dropped: number;
}

type Client = RedisClient;

export class RedisBus extends Emitter<RedisBusEvents> implements Bus {
  /** The publishing connection (the session directory keeps its keys through it). */
  readonly redis: Client;
  private readonly sub: Client;
  private readonly sharded: boolean;
  private readonly prefix: string;
  private readonly handlers = new Map<string, Set<(message: Uint8Array) => void>>();
  /** Messages published while the publisher is not ready (./offline-queue.ts). */
  private readonly queue: OfflineQueue;
  private closed = false;
  private lastError = '';
  private readonly counters: RedisBusStats = { published: 0, received: 0, queued: 0, dropped: 0 };

  constructor(private readonly options: RedisBusOptions) {
    super();
    this.prefix = options.prefix ?? 'colloquy:bus:';
    this.sharded = 'cluster' in options && options.sharded === true;
    this.redis = createClient(options, this.timeoutMs, false);
    this.queue = new OfflineQueue(options, {
      ready: () => this.redis.status === 'ready',
      lastError: () => this.lastError,
      send: (channel, message) => this.send(channel, message),
      dropped: () => void this.counters.dropped++,
    });
    this.sub = createClient(options, this.timeoutMs, true);
    const pub = this.redis as EventEmitter;
    pub.on('error', (e: Error) => {
      this.lastError = e.message;
    });
    pub.on('ready', () => {
      this.emit('ready', undefined);
      this.queue.flush();
    });
    pub.on('close', () => {
      if (!this.closed) this.emit('down', { cause: this.lastError || 'connection closed' });
    });
    const sub = this.sub as EventEmitter;
    sub.on('error', (e: Error) => {
      this.lastError = e.message;
    });
    sub.on(this.sharded ? 'smessageBuffer' : 'messageBuffer', (channel: Buffer | string, message: Buffer) =>
      this.dispatch(channel.toString(), message),
    );
  }

  get stats(): RedisBusStats {
    return { ...this.counters, queued: this.queue.length };
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? 1000;
  }

  async publish(topic: string, message: Uint8Array): Promise<void> {
    if (this.closed) throw new SessionError('ERR_BUS_UNAVAILABLE', 'the bus is closed', 'local', { cause: 'closed' });
    const max = this.options.maxMessageBytes ?? 1024 * 1024;
    if (message.length > max)
      throw new SessionError(
        'ERR_INVALID_ARGUMENT',
        `the message is ${message.length} bytes; at most ${max} (maxMessageBytes)`,
        'local',
        { limit: 'maxMessageBytes' },
      );
    const channel = this.prefix + topic;
    const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    if (this.redis.status === 'ready' && this.queue.length === 0) return this.send(channel, buf);
    return this.queue.add(channel, buf);
  }

  async subscribe(topic: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new SessionError('ERR_BUS_UNAVAILABLE', 'the bus is closed', 'local', { cause: 'closed' });
    const channel = this.prefix + topic;
    let set = this.handlers.get(channel);
    const first = !set;
    if (!set) this.handlers.set(channel, (set = new Set()));
    const entry = (m: Uint8Array): void => handler(m);
    set.add(entry);
    if (first) {
      try {
        // SUBSCRIBE only once the connection is ready: sent earlier from the offline queue, it can
        // overtake ioredis's own checks (ROLE under Sentinel), which subscriber mode then refuses.
        await this.connectionReady(this.sub, 'subscribe');
        await this.bounded(
          'subscribe',
          this.sharded ? (this.sub as Redis).ssubscribe(channel) : this.sub.subscribe(channel),
        );
      } catch (error) {
        set.delete(entry);
        if (set.size === 0 && this.handlers.get(channel) === set) this.handlers.delete(channel);
        throw error;
      }
    }
    return async () => {
      set.delete(entry);
      if (set.size === 0 && this.handlers.get(channel) === set) {
        this.handlers.delete(channel);
        if (!this.closed)
          await (this.sharded ? (this.sub as Redis).sunsubscribe(channel) : this.sub.unsubscribe(channel)).catch(
            () => undefined,
          );
      }
    };
  }

  /**
   * Resolves when the publishing connection can take commands: at once when ready; while it first
   * connects, when it is (within `timeoutMs`); rejects at once with ERR_BUS_UNAVAILABLE while it
   * is down and reconnecting (calls fail fast during an outage rather than pile up).
   */
  whenReady(): Promise<void> {
    return this.connectionReady(this.redis, 'connect');
  }

  private connectionReady(client: Client, op: string): Promise<void> {
    const status = client.status;
    if (status === 'ready') return Promise.resolve();
    if (
      this.closed ||
      status === 'end' ||
      status === 'close' ||
      status === 'reconnecting' ||
      status === 'disconnecting'
    ) {
      return Promise.reject(
        new SessionError(
          'ERR_BUS_UNAVAILABLE',
          `Redis is not reachable (${status}): ${this.lastError || 'not connected'}`,
          'local',
          { op, cause: this.lastError || status },
        ),
      );
    }
    const em = client as EventEmitter;
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        em.off('ready', onReady);
        em.off('close', onClose);
        em.off('end', onClose);
      };
      const onReady = (): void => {
        done();
        resolve();
      };
      const onClose = (): void => {
        done();
        reject(
          new SessionError(
            'ERR_BUS_UNAVAILABLE',
            `Redis is not reachable: ${this.lastError || 'connection closed'}`,
            'local',
            { op, cause: this.lastError || 'closed' },
          ),
        );
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new SessionError(
            'ERR_BUS_UNAVAILABLE',
            `Redis did not become ready within ${this.timeoutMs} ms: ${this.lastError || 'no answer'}`,
            'local',
            { op, cause: 'timeout' },
          ),
        );
      }, this.timeoutMs);
      em.on('ready', onReady);
      em.on('close', onClose);
      em.on('end', onClose);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.clear(
      () =>
        new SessionError('ERR_BUS_UNAVAILABLE', 'the bus was closed before Redis took the message', 'local', {
          cause: 'closed',
        }),
    );
    this.handlers.clear();
    this.sub.disconnect();
    this.redis.disconnect();
  }

  private dispatch(channel: string, message: Buffer): void {
    const set = this.handlers.get(channel);
    if (!set) return;
    this.counters.received++;
    const bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
    for (const h of [...set]) {
      try {
        h(bytes);
      } catch (error) {
        this.emit('handler-error', { topic: channel.slice(this.prefix.length), error });
      }
    }
  }

  private async send(channel: string, message: Buffer): Promise<void> {
    const target = this.sharded ? null : await this.publisher();
    await this.bounded(
      'publish',
      target === null ? (this.redis as Cluster).spublish(channel, message) : target.publish(channel, message),
    );
    this.counters.published++;
  }

  /**
   * Under Cluster, regular PUBLISH without a key would go to a random node, and messages sent
   * through different nodes reach a subscriber over different cluster-bus links, out of order.
   * Publishing through one node (the first master by address that is not down) keeps the order per
   * publisher; a publish waits (bounded) for that node's connection when it is still coming up.
   */
  private async publisher(): Promise<Redis | Cluster> {
    if (!(this.redis instanceof Cluster)) return this.redis;
    const masters = this.redis.nodes('master').sort((a, b) => (nodeKey(a) < nodeKey(b) ? -1 : 1));
    // The first master whose connection is up or coming up; a master that is down is skipped (the
    // order per publisher may break across that switch, once).
    const pinned =
      masters.find(
        (m) => m.status === 'ready' || m.status === 'wait' || m.status === 'connecting' || m.status === 'connect',
      ) ?? masters[0];
    if (!pinned) return this.redis;
    const status = pinned.status;
    if (status === 'ready') return pinned;
    if (status !== 'wait' && status !== 'connecting' && status !== 'connect') {
      throw new SessionError(
        'ERR_BUS_UNAVAILABLE',
        `the Redis node ${nodeKey(pinned)} that publishes is down (${status}): ${this.lastError || 'not connected'}`,
        'local',
        { cause: this.lastError || status },
      );
    }
    if (status === 'wait') pinned.connect().catch(() => undefined);
    const em = pinned as EventEmitter;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        em.off('ready', onReady);
      };
      const onReady = (): void => {
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new SessionError(
            'ERR_BUS_UNAVAILABLE',
            `the Redis node ${nodeKey(pinned)} did not connect within ${this.timeoutMs} ms`,
            'local',
            { cause: 'timeout' },
          ),
        );
      }, this.timeoutMs);
      em.on('ready', onReady);
    });
    return pinned;
  }

  private bounded<T>(op: string, p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new SessionError(
              'ERR_BUS_UNAVAILABLE',
              `Redis did not answer ${op} within ${this.timeoutMs} ms: ${this.lastError || 'no answer'}`,
              'local',
              { op, cause: 'timeout' },
            ),
          ),
        this.timeoutMs,
      );
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          const message = e instanceof Error ? e.message : String(e);
          reject(
            new SessionError('ERR_BUS_UNAVAILABLE', `Redis ${op} failed: ${message}`, 'local', { op, cause: message }),
          );
        },
      );
    });
  }
}

function nodeKey(r: Redis): string {
  return `${r.options.host ?? ''}:${r.options.port ?? 0}`;
}

function createClient(options: RedisBusConnection, timeoutMs: number, subscriber: boolean): Client {
  // No ioredis offline queue on the publisher (ours is bounded). The subscriber keeps ioredis's
  // (its resubscription after a reconnect goes through it); our SUBSCRIBE waits for 'ready'.
  return openRedis(options, timeoutMs, {
    redis: { enableOfflineQueue: subscriber, autoResubscribe: true },
    cluster: {
      enableOfflineQueue: subscriber,
      ...('cluster' in options && options.sharded ? { shardedSubscribers: true } : {}),
    },
    missing: 'RedisBus needs one of: url, sentinels + name, cluster',
  });
}
