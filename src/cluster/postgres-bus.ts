// PostgresBus: the node-to-node Bus (src/apps/service.ts) over PostgreSQL LISTEN/NOTIFY, on pg.
// What `colloquy serve --store postgres://…` uses between nodes, so PostgreSQL alone is enough.
//
// Theory of operation
//   - A topic is a channel of its own, `colloquy_bus_<first 96 bits of sha256(prefix + topic)>`
//     (channels are identifiers of at most 63 bytes; topics are any text), so PostgreSQL delivers
//     a message only to the nodes listening to its topic. One pooled connection holds every LISTEN
//     (postgres-connection.ts: re-established after a failure, with the channels listened again).
//   - A NOTIFY payload is at most 8,000 bytes. A message is sent as base64 in parts of at most
//     7,600 characters, each `<origin>.<seq>.<i>.<n>|<part>`, all in ONE statement (so one
//     transaction: delivered together, or not at all); the receiver joins the n parts. Messages
//     up to `maxMessageBytes` (default 1 MiB) go through.
//   - Order: one publisher's messages are sent one after another (each statement commits before
//     the next is sent), so subscribers see them in publish order; at most `maxQueuedMessages`
//     wait (ERR_BUS_FULL past it).
//   - Delivery is what LISTEN/NOTIFY gives: at most once, only to the nodes listening when the
//     message commits; a subscriber whose connection is down misses what is sent meanwhile. A
//     publish while PostgreSQL is unreachable fails within `timeoutMs` (ERR_BUS_UNAVAILABLE);
//     there is no offline queue. The publisher's own node hears its messages too, as with Redis.
//   - Handlers run on the listener connection's event; one that throws is reported as
//     `handler-error` and does not disturb the others.

import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { Bus } from './bus.js';
import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import { onClient, openPool, PostgresListener, type PostgresConnection } from '../store/postgres-connection.js';
import type {} from './errors.js';

export interface PostgresBusTuning {
  /** Prefix of the topics' channel names (hashed with the topic). Default 'colloquy:bus:'. */
  prefix?: string;
  /** How long publish and subscribe wait for PostgreSQL. Default 1000 ms. */
  timeoutMs?: number;
  /** Largest message accepted (ERR_INVALID_ARGUMENT past it). Default 1 MiB. */
  maxMessageBytes?: number;
  /** Messages waiting to be sent, at most (ERR_BUS_FULL past it). Default 10,000. */
  maxQueuedMessages?: number;
}

export type PostgresBusOptions = PostgresBusTuning & PostgresConnection;

export interface PostgresBusEvents extends Record<string, unknown> {
  /** The LISTEN connection is up (again). */
  ready: undefined;
  /** The LISTEN connection broke: messages are missed until `ready`. */
  down: { cause: string };
  /** A subscriber's handler threw. */
  'handler-error': { topic: string; error: unknown };
}

/** Base64 characters per NOTIFY part (a multiple of 4; the header takes the rest of 8,000 bytes). */
const PART = 7600;
/** Messages being joined from parts at once; the oldest is dropped past it. */
const MAX_PARTIAL = 256;

interface Partial {
  n: number;
  parts: (string | undefined)[];
  got: number;
}

export class PostgresBus extends Emitter<PostgresBusEvents> implements Bus {
  readonly pool: Pool;
  private readonly owned: boolean;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly maxQueued: number;
  private readonly listener: PostgresListener;
  private readonly origin = randomBytes(9).toString('base64url');
  private seq = 0;
  /** channel -> topic and its handlers */
  private readonly topics = new Map<string, { topic: string; handlers: Set<(message: Uint8Array) => void> }>();
  private readonly partial = new Map<string, Partial>();
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private closed = false;

  constructor(options: PostgresBusOptions) {
    super();
    this.prefix = options.prefix ?? 'colloquy:bus:';
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.maxMessageBytes = options.maxMessageBytes ?? 1024 * 1024;
    this.maxQueued = options.maxQueuedMessages ?? 10_000;
    const opened = openPool(options, this.timeoutMs, 3, 'PostgresBus');
    this.pool = opened.pool;
    this.owned = opened.owned;
    this.listener = new PostgresListener(this.pool, {
      notification: (channel, payload) => this.onNotification(channel, payload),
      ready: () => this.emit('ready', undefined),
      down: (cause) => {
        this.partial.clear();
        this.emit('down', { cause });
      },
    });
  }

  async publish(topic: string, message: Uint8Array): Promise<void> {
    if (this.closed) throw new SessionError('ERR_BUS_UNAVAILABLE', 'the bus is closed', 'local', { cause: 'closed' });
    if (message.length > this.maxMessageBytes)
      throw new SessionError(
        'ERR_INVALID_ARGUMENT',
        `the message is ${message.length} bytes; at most ${this.maxMessageBytes} (maxMessageBytes)`,
        'local',
        { limit: 'maxMessageBytes' },
      );
    if (this.queued >= this.maxQueued)
      throw new SessionError(
        'ERR_BUS_FULL',
        `${this.maxQueued} messages already wait to be sent (maxQueuedMessages); the message was dropped`,
        'local',
        { limit: 'maxQueuedMessages' },
      );
    const channel = this.channelOf(topic);
    const b64 = Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('base64');
    const n = Math.max(1, Math.ceil(b64.length / PART));
    const id = `${this.origin}.${++this.seq}`;
    const parts = Array.from({ length: n }, (_, i) => `${id}.${i}.${n}|${b64.slice(i * PART, (i + 1) * PART)}`);
    this.queued++;
    // One after another: each statement commits before the next is sent (order per publisher).
    const sent = this.tail.then(() => this.send(channel, parts));
    this.tail = sent.catch(() => undefined);
    try {
      await sent;
    } finally {
      this.queued--;
    }
  }

  async subscribe(topic: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new SessionError('ERR_BUS_UNAVAILABLE', 'the bus is closed', 'local', { cause: 'closed' });
    const channel = this.channelOf(topic);
    let entry = this.topics.get(channel);
    const first = !entry;
    if (!entry) this.topics.set(channel, (entry = { topic, handlers: new Set() }));
    const h = (m: Uint8Array): void => handler(m);
    entry.handlers.add(h);
    const off = async (): Promise<void> => {
      const e = this.topics.get(channel);
      if (!e) return;
      e.handlers.delete(h);
      if (e.handlers.size === 0) {
        this.topics.delete(channel);
        if (!this.closed) await this.listener.unlisten(channel);
      }
    };
    try {
      if (first || !this.listener.up) await this.bounded('subscribe', this.listener.listen(channel));
    } catch (error) {
      await off();
      throw error;
    }
    return off;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.topics.clear();
    this.partial.clear();
    this.listener.close();
    if (this.owned) await this.bounded('close', this.pool.end()).catch(() => undefined);
  }

  private channelOf(topic: string): string {
    return `colloquy_bus_${createHash('sha256')
      .update(this.prefix + topic)
      .digest('hex')
      .slice(0, 24)}`;
  }

  private async send(channel: string, parts: string[]): Promise<void> {
    const call = new AbortController();
    try {
      await this.bounded(
        'publish',
        onClient(this.pool, call.signal, (client) =>
          client.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [channel, parts]),
        ),
        call,
      );
    } finally {
      call.abort();
    }
  }

  private onNotification(channel: string, payload: string): void {
    const entry = this.topics.get(channel);
    if (!entry) return;
    const bar = payload.indexOf('|');
    const head = payload.slice(0, bar).split('.');
    if (bar < 0 || head.length !== 4) return;
    const [origin, seq, i, n] = [head[0], head[1], Number(head[2]), Number(head[3])];
    const maxParts = Math.ceil((this.maxMessageBytes * 4) / 3 / PART) + 1;
    if (!Number.isInteger(i) || !Number.isInteger(n) || n < 1 || n > maxParts || i < 0 || i >= n) return;
    const part = payload.slice(bar + 1);
    let whole: string;
    if (n === 1) {
      whole = part;
    } else {
      const key = `${channel}/${origin}.${seq}`;
      let p = this.partial.get(key);
      if (!p) {
        if (this.partial.size >= MAX_PARTIAL) this.partial.delete(this.partial.keys().next().value as string);
        this.partial.set(key, (p = { n, parts: new Array<string | undefined>(n), got: 0 }));
      }
      if (p.n !== n || p.parts[i] !== undefined) return;
      p.parts[i] = part;
      if (++p.got < n) return;
      this.partial.delete(key);
      whole = p.parts.join('');
    }
    const bytes = new Uint8Array(Buffer.from(whole, 'base64'));
    for (const h of [...entry.handlers]) {
      try {
        h(bytes);
      } catch (error) {
        this.emit('handler-error', { topic: entry.topic, error });
      }
    }
  }

  /** `p` within timeoutMs, or ERR_BUS_UNAVAILABLE (and `call` aborted, which drops its connection). */
  private bounded<T>(op: string, p: Promise<T>, call?: AbortController): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        call?.abort();
        reject(
          new SessionError(
            'ERR_BUS_UNAVAILABLE',
            `PostgreSQL did not answer ${op} within ${this.timeoutMs} ms: ${this.listener.lastError || 'no answer'}`,
            'local',
            { op, cause: 'timeout' },
          ),
        );
      }, this.timeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          if (e instanceof SessionError) {
            reject(e);
            return;
          }
          const message = e instanceof Error ? e.message : String(e);
          reject(
            new SessionError('ERR_BUS_UNAVAILABLE', `PostgreSQL ${op} failed: ${message}`, 'local', {
              op,
              cause: message,
            }),
          );
        },
      );
    });
  }
}
