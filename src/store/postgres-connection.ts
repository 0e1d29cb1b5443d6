// Reaching PostgreSQL (node-postgres, `pg`) for PostgresStore and PostgresBus: the pool, one
// bounded query, the error mapping, and the dedicated LISTEN connection.
//
// Theory of operation
//   - A store or bus opens its own pg.Pool from a connection string (and owns it), or uses the
//     application's pool (`{ pool }`, never ended by us).
//   - Every query checks a client out of the pool, bounded by the call's signal: a call that ends
//     (timeout, abort) while it waits for a client or for the answer destroys that client (pg
//     cannot cancel a query in flight on its own connection, and a hung server must not keep it),
//     so a paused or unreachable server never pins the pool. Calls waiting at once are bounded
//     (`maxPendingCalls`): past it a call fails at once, never queues without end.
//   - Statements with parameters are prepared once per connection (named by a hash of their
//     text), so a call is one bind-and-execute round trip.
//   - SQLSTATE classes map to the store's codes: out of disk or memory (53100, 53200) is
//     ERR_STORE_FULL, statement_timeout (57014) ERR_STORE_TIMEOUT, anything else (refused,
//     reset, too many connections, shut down) ERR_STORE_UNAVAILABLE with the server's message.
//   - The listener holds one client of the pool for LISTEN; when it breaks it is destroyed and a
//     new one is taken after a back-off (50 ms doubling to 1 s, for as long as the owner is open).
//     Notifications sent while it was away are lost (PostgreSQL keeps none for an absent
//     listener); `ready` and `down` say when that happens.

import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Notification, Pool, PoolClient, PoolConfig } from 'pg';
import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';

/** How a PostgresStore (or PostgresBus) reaches PostgreSQL: a URL, or the application's pool. */
export type PostgresConnection =
  { connectionString: string; poolOptions?: Omit<PoolConfig, 'connectionString'> } | { pool: Pool };

export interface OpenedPool {
  pool: Pool;
  /** True when we created it (and close() ends it). */
  owned: boolean;
}

/** Opens (or adopts) the pool. `max` is the pool size we create; the caller's poolOptions win. */
export function openPool(options: PostgresConnection, timeoutMs: number, max: number, who: string): OpenedPool {
  if ('pool' in options && options.pool) return { pool: options.pool, owned: false };
  if (!('connectionString' in options) || typeof options.connectionString !== 'string') {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `${who} needs { connectionString: 'postgres://…' } or { pool }`,
      'local',
    );
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max,
    connectionTimeoutMillis: Math.max(timeoutMs, 500),
    // The server ends a statement that runs past the call's own bound (ERR_STORE_TIMEOUT).
    statement_timeout: Math.max(Math.ceil(timeoutMs), 100),
    idleTimeoutMillis: 30_000,
    allowExitOnIdle: true,
    keepAlive: true,
    ...options.poolOptions,
  });
  // An idle client's error (the server went away) must not crash the process; the next call
  // reports it with a code.
  pool.on('error', () => undefined);
  return { pool, owned: true };
}

/** Counts calls in flight so that a stalled server cannot make them pile up without bound. */
export class PendingCalls {
  private count = 0;
  constructor(
    private readonly max: number,
    private readonly who: string,
  ) {}

  /** Runs `fn` on a pooled client, bounded by `call` (see the header). */
  async query<R extends pg.QueryResultRow>(
    pool: Pool,
    call: AbortSignal,
    op: string,
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (this.count >= this.max) {
      throw new SessionError(
        'ERR_STORE_UNAVAILABLE',
        `${this.who}: ${this.max} calls are already waiting for PostgreSQL (maxPendingCalls)`,
        'local',
        { op, limit: 'maxPendingCalls' },
      );
    }
    this.count++;
    try {
      // Statements with parameters are prepared once per connection (by name), then only bound
      // and executed: no parse and plan per call.
      const query = values.length > 0 ? { name: statementName(text), text, values } : text;
      return await onClient(pool, call, (client) => client.query<R>(query));
    } finally {
      this.count--;
    }
  }
}

const names = new Map<string, string>();

/** A prepared statement's name for `text` (the same text always gets the same name). */
function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `colloquy_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    if (names.size < 1000) names.set(text, name);
  }
  return name;
}

/** Checks a client out, runs `fn`, and destroys the client if `call` ended first. */
export async function onClient<T>(pool: Pool, call: AbortSignal, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  if (call.aborted) {
    client.release(true);
    throw ended();
  }
  // A connection error while the client is out of the pool fails the query in hand; the
  // client's own 'error' event must not become an uncaught exception.
  client.on('error', ignore);
  let released = false;
  const release = (error?: Error | boolean): void => {
    if (!released) {
      released = true;
      client.off('error', ignore);
      client.release(error);
    }
  };
  const onAbort = (): void => release(new Error('the call ended before PostgreSQL answered'));
  call.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(client);
  } catch (error) {
    // A client whose connection failed is not given back to the pool.
    release(isConnectionError(error) ? (error as Error) : undefined);
    throw error;
  } finally {
    call.removeEventListener('abort', onAbort);
    release();
  }
}

function ignore(): void {
  /* reported through the query's own rejection */
}

function ended(): SessionError {
  return new SessionError('ERR_STORE_TIMEOUT', 'the call ended', 'local');
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return !(typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57P'));
}

/** Maps an error from a store call to a coded SessionError (see the header). */
export function postgresFailure(error: unknown, op: string): unknown {
  if (error instanceof SessionError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  if (code === '53100' || code === '53200')
    return new SessionError('ERR_STORE_FULL', `PostgreSQL refused the write: ${message}`, 'local', {
      op,
      limit: code === '53100' ? 'disk' : 'memory',
      cause: message,
    });
  if (code === '57014')
    return new SessionError(
      'ERR_STORE_TIMEOUT',
      `PostgreSQL cancelled ${op} (statement_timeout): ${message}`,
      'local',
      { op, cause: message },
    );
  return new SessionError('ERR_STORE_UNAVAILABLE', `PostgreSQL ${op} failed: ${message}`, 'local', {
    op,
    cause: message,
    ...(typeof code === 'string' ? { sqlstate: code } : {}),
  });
}

export interface ListenerHandlers {
  notification(channel: string, payload: string): void;
  /** The LISTEN connection is (again) up: every channel is listened to. */
  ready?(): void;
  /** It broke: notifications are lost until ready() again. */
  down?(cause: string): void;
}

/** One pooled client kept for LISTEN, re-established after every failure (see the header). */
export class PostgresListener {
  private client: PoolClient | null = null;
  private readonly channels = new Set<string>();
  private closed = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private connecting: Promise<void> | null = null;
  lastError = '';

  constructor(
    private readonly pool: Pool,
    private readonly handlers: ListenerHandlers,
  ) {}

  /** True while the LISTEN connection is up. */
  get up(): boolean {
    return this.client !== null;
  }

  /** Listens to `channel` (an identifier we built, never user text); resolves once it is active or rejects when PostgreSQL cannot be reached now. */
  async listen(channel: string): Promise<void> {
    if (this.channels.has(channel)) {
      if (!this.client) await this.connect();
      return;
    }
    this.channels.add(channel);
    if (this.client) await this.client.query(`LISTEN ${channel}`);
    else await this.connect();
  }

  async unlisten(channel: string): Promise<void> {
    if (!this.channels.delete(channel)) return;
    await this.client?.query(`UNLISTEN ${channel}`).catch(() => undefined);
  }

  /** Opens the connection now if it is not up (one attempt at a time). */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new SessionError('ERR_STORE_UNAVAILABLE', 'closed', 'local'));
    if (this.client) return Promise.resolve();
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.drop(null);
  }

  private async open(): Promise<void> {
    let client: PoolClient | null = null;
    try {
      client = await this.pool.connect();
      client.on('notification', this.onNotification);
      client.on('error', this.onError);
      client.on('end', this.onEnd);
      for (const channel of this.channels) await client.query(`LISTEN ${channel}`);
      if (this.closed) {
        this.release(client, null);
        return;
      }
      this.client = client;
      this.attempt = 0;
      this.handlers.ready?.();
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      if (client) this.release(client, error as Error);
      this.retry();
      throw error;
    }
  }

  private readonly onNotification = (m: Notification): void => {
    this.handlers.notification(m.channel, m.payload ?? '');
  };

  private readonly onError = (error: Error): void => {
    this.lastError = error.message;
    this.drop(error);
  };

  private readonly onEnd = (): void => {
    this.drop(new Error('connection ended'));
  };

  private drop(error: Error | null): void {
    const client = this.client;
    this.client = null;
    if (client) {
      this.release(client, error ?? new Error('closed'));
      if (!this.closed) this.handlers.down?.(error?.message ?? 'closed');
    }
    if (!this.closed && error) this.retry();
  }

  private release(client: PoolClient, error: Error | null): void {
    client.off('notification', this.onNotification);
    client.off('error', this.onError);
    client.off('end', this.onEnd);
    client.on('error', () => undefined);
    try {
      client.release(error ?? true);
    } catch {
      /* released already */
    }
  }

  private retry(): void {
    if (this.closed || this.timer) return;
    const wait = Math.min(50 * 2 ** this.attempt, 1000);
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect().catch(() => undefined);
    }, wait);
    this.timer.unref?.();
  }
}
