// SessionDirectory: where each session lives, and delivery to a session wherever it is, over a
// RedisBus; plus room broadcasts (one topic per room).
//
// Theory of operation
//   A node registers each session attached to it: the key `<prefix><sessionId>` is set to the
//   node id with a TTL (`ttlMs`), and a refresh timer renews every registered key each
//   `refreshMs` while the session lives. When the session ends the node deletes its key (only if
//   it still names this node). A node that dies stops refreshing, so its keys vanish within
//   `ttlMs`: `where()` never points at a dead node for longer than that.
//
//   Moving: `register` overwrites (the session lives here now, e.g. a durable session restored
//   after its node died, or a resume on another node); a refresh only renews a key that still
//   names this node (one Lua script: compare, then set). A refresh that finds another node's id
//   drops the local registration and emits `moved`, so two nodes never both claim a session.
//
//   deliver(sessionId, message): a session registered here gets it at once (its handler runs on a
//   later microtask); otherwise the directory looks the owner up and publishes to that node's
//   topic `node:<id>`, where the owner's directory hands it to the session's handler. Delivery is
//   at most once (the bus's guarantee): a message for a session that left the owner between the
//   lookup and the arrival is dropped and counted (`undeliverable` event).
//
//   Every key lives in its own slot, so the directory runs unchanged on Redis Cluster.

import type { Redis } from 'ioredis';
import type { Server } from '../server/server.js';
import type { Session } from '../driver/session.js';
import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import type { RedisBus } from './redis-bus.js';
import type {} from './errors.js';

export interface SessionDirectoryOptions {
  bus: RedisBus;
  /** This node's id (its topic is `node:<nodeId>`). */
  nodeId: string;
  /** Key prefix. Default 'colloquy:dir:'. */
  prefix?: string;
  /** How long a registration lives without refresh. Default 30 s. */
  ttlMs?: number;
  /** How often registrations are refreshed. Default ttlMs / 3. */
  refreshMs?: number;
  /** Sessions registered on this node at most (ERR_BUS_FULL, limit maxLocalSessions, past it). Default 100,000. */
  maxLocalSessions?: number;
  /** How long a directory call waits for Redis. Default 1000 ms. */
  timeoutMs?: number;
}

export interface DirectoryEvents extends Record<string, unknown> {
  /** A refresh found that another node registered the session: it was dropped here. */
  moved: { sessionId: string; node: string };
  /** A message arrived for a session no longer on this node; dropped. */
  undeliverable: { sessionId: string; bytes: number };
  /** A refresh round failed (Redis unreachable); registrations are retried at the next round. */
  'refresh-failed': { error: SessionError };
}

export type DeliveryResult = 'local' | 'remote' | 'unknown';

type Deliver = (message: Uint8Array) => void;

const REFRESH = `
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ''
end
return v`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SessionDirectory extends Emitter<DirectoryEvents> {
  private readonly local = new Map<string, Deliver>();
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private closed = false;
  private refreshing = false;

  constructor(private readonly options: SessionDirectoryOptions) {
    super();
    this.prefix = options.prefix ?? 'colloquy:dir:';
    this.ttlMs = options.ttlMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 1000;
    if (!(this.ttlMs > 0))
      throw new SessionError('ERR_INVALID_ARGUMENT', 'ttlMs must be positive', 'local', { ttlMs: this.ttlMs });
    const redis = options.bus.redis as Redis;
    if (!('colloquyDirRefresh' in redis)) {
      redis.defineCommand('colloquyDirRefresh', { numberOfKeys: 1, lua: REFRESH });
      redis.defineCommand('colloquyDirRelease', { numberOfKeys: 1, lua: RELEASE });
    }
  }

  get nodeId(): string {
    return this.options.nodeId;
  }
  /** Sessions registered on this node. */
  get size(): number {
    return this.local.size;
  }

  /** Subscribes to this node's topic and starts the refresh timer. */
  async start(): Promise<this> {
    this.unsubscribe = await this.options.bus.subscribe(`node:${this.nodeId}`, (m) => this.onNodeMessage(m));
    this.timer = setInterval(
      () => {
        void this.refresh();
      },
      this.options.refreshMs ?? Math.max(1, Math.floor(this.ttlMs / 3)),
    );
    (this.timer as { unref?: () => void }).unref?.();
    return this;
  }

  /** The session lives here now: `deliver` gets the messages sent to it from any node. */
  async register(sessionId: string, deliver: Deliver): Promise<void> {
    this.check();
    const max = this.options.maxLocalSessions ?? 100_000;
    if (!this.local.has(sessionId) && this.local.size >= max)
      throw new SessionError(
        'ERR_BUS_FULL',
        `this node already registers ${max} sessions (maxLocalSessions)`,
        'local',
        { limit: 'maxLocalSessions' },
      );
    this.local.set(sessionId, deliver);
    try {
      await this.call('register', () => this.options.bus.redis.set(this.key(sessionId), this.nodeId, 'PX', this.ttlMs));
    } catch (error) {
      this.local.delete(sessionId);
      throw error;
    }
  }

  /** The session ended (or left): forget it here, and in Redis if the key still names this node. */
  async unregister(sessionId: string): Promise<void> {
    this.local.delete(sessionId);
    if (this.closed) return;
    await this.call('unregister', () =>
      (
        this.options.bus.redis as unknown as { colloquyDirRelease(k: string, n: string): Promise<number> }
      ).colloquyDirRelease(this.key(sessionId), this.nodeId),
    );
  }

  /** The node the session lives on, or null when no live node has it. */
  async where(sessionId: string): Promise<string | null> {
    this.check();
    if (this.local.has(sessionId)) return this.nodeId;
    return this.call('where', () => this.options.bus.redis.get(this.key(sessionId)));
  }

  /** Delivers to the session here, or publishes to the node that has it; 'unknown' when none does. */
  async deliver(sessionId: string, message: Uint8Array): Promise<DeliveryResult> {
    this.check();
    const here = this.local.get(sessionId);
    if (here) {
      queueMicrotask(() => this.run(sessionId, here, message));
      return 'local';
    }
    const node = await this.where(sessionId);
    if (node === null) return 'unknown';
    if (node === this.nodeId) return 'unknown'; // registered here in Redis but not in memory: a stale key of ours
    await this.options.bus.publish(`node:${node}`, envelope(sessionId, message));
    return 'remote';
  }

  /** Every node that joined `room` gets the message (at most once, in order per publisher). */
  broadcast(room: string, message: Uint8Array): Promise<void> {
    return this.options.bus.publish(`room:${room}`, message);
  }

  /** Receives a room's broadcasts on this node; the returned function leaves. */
  joinRoom(room: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>> {
    return this.options.bus.subscribe(`room:${room}`, handler);
  }

  /**
   * Registers every session `server` emits (its id: `session.id`), delivering messages to it with
   * `session.send`, and unregisters it when it closes. Returns a function that stops this.
   */
  attach(
    server: Server,
    deliver: (session: Session, message: Uint8Array) => void = (s, m) => {
      s.send(m).catch(() => undefined);
    },
  ): () => void {
    const onSession = (s: Session): void => {
      const id = s.id;
      this.register(id, (m) => deliver(s, m)).catch(() => undefined);
      s.once('closed', () => {
        this.unregister(id).catch(() => undefined);
      });
    };
    server.on('session', onSession);
    return () => server.off('session', onSession);
  }

  /** Renews every registration now (the timer does this every refreshMs). Resolves with how many were renewed. */
  async refresh(): Promise<number> {
    if (this.refreshing || this.closed) return 0;
    this.refreshing = true;
    try {
      const redis = this.options.bus.redis as unknown as {
        colloquyDirRefresh(k: string, n: string, ttl: number): Promise<string>;
      };
      const ids = [...this.local.keys()];
      const results = await Promise.all(
        ids.map((id) => this.call('refresh', () => redis.colloquyDirRefresh(this.key(id), this.nodeId, this.ttlMs))),
      );
      let renewed = 0;
      results.forEach((other, i) => {
        const id = ids[i] as string;
        if (other === '') {
          renewed++;
          return;
        }
        this.local.delete(id);
        this.emit('moved', { sessionId: id, node: other });
      });
      return renewed;
    } catch (error) {
      this.emit('refresh-failed', { error: error as SessionError });
      return 0;
    } finally {
      this.refreshing = false;
    }
  }

  /** Stops refreshing and leaves the node topic. Registrations are left to expire (use unregister for a clean leave). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.unsubscribe?.().catch(() => undefined);
    this.local.clear();
  }

  private onNodeMessage(m: Uint8Array): void {
    let opened: { sessionId: string; message: Uint8Array };
    try {
      opened = open(m);
    } catch {
      this.emit('undeliverable', { sessionId: '', bytes: m.length });
      return;
    }
    const handler = this.local.get(opened.sessionId);
    if (!handler) {
      this.emit('undeliverable', { sessionId: opened.sessionId, bytes: opened.message.length });
      return;
    }
    this.run(opened.sessionId, handler, opened.message);
  }

  private run(sessionId: string, handler: Deliver, message: Uint8Array): void {
    try {
      handler(message);
    } catch {
      this.emit('undeliverable', { sessionId, bytes: message.length });
    }
  }

  private key(sessionId: string): string {
    return this.prefix + sessionId;
  }

  private check(): void {
    if (this.closed)
      throw new SessionError('ERR_BUS_UNAVAILABLE', 'the session directory is closed', 'local', { cause: 'closed' });
  }

  /** One Redis command: waits (bounded) for a connection that is still coming up, fails fast on one that is down. */
  private async call<T>(op: string, command: () => Promise<T>): Promise<T> {
    await this.options.bus.whenReady();
    const p = command();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new SessionError(
              'ERR_BUS_UNAVAILABLE',
              `the session directory: Redis did not answer ${op} within ${this.timeoutMs} ms`,
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
            new SessionError('ERR_BUS_UNAVAILABLE', `the session directory: Redis ${op} failed: ${message}`, 'local', {
              op,
              cause: message,
            }),
          );
        },
      );
    });
  }
}

/** [u16 id length][id UTF-8][message] */
function envelope(sessionId: string, message: Uint8Array): Uint8Array {
  const id = encoder.encode(sessionId);
  if (id.length > 0xffff)
    throw new SessionError('ERR_INVALID_ARGUMENT', 'a session id longer than 65535 bytes', 'local');
  const out = new Uint8Array(2 + id.length + message.length);
  out[0] = id.length >> 8;
  out[1] = id.length & 0xff;
  out.set(id, 2);
  out.set(message, 2 + id.length);
  return out;
}

function open(m: Uint8Array): { sessionId: string; message: Uint8Array } {
  if (m.length < 2) throw new Error('short envelope');
  const n = ((m[0] as number) << 8) | (m[1] as number);
  if (2 + n > m.length) throw new Error('bad envelope length');
  return { sessionId: decoder.decode(m.subarray(2, 2 + n)), message: m.subarray(2 + n) };
}
