// PostgresStore: the SessionStore contract on PostgreSQL (node-postgres), one table per store.
//
// The pieces: postgres-schema.ts (the table, the write function, the SQL of each call, the
// migration as text), postgres-connection.ts (the pool, bounded queries, error codes, the
// LISTEN connection).
//
// Theory of operation
//   - Each call is ONE statement, so each is atomic on its own: get, touch, destroy, list and
//     revoke are plain SQL filtered by `expires_at > now` (the server's clock); set and
//     compareAndSet(0) call the write function (row locked while read, an expired row deleted
//     and reported, a lost insert race retried inside); compareAndSet(v >= 1) is one UPDATE
//     conditional on the version.
//   - The table is created on first use (one migration per store, under an advisory lock so
//     that nodes starting together do not race), unless `createTable: false` says the schema is
//     managed by hand from `postgresMigration()`.
//   - Events: the store that made a change emits created / destroyed before its call resolves;
//     expired comes from whichever store's DELETE removed the row (the sweeper's batches, or a
//     write over an expired id), exactly once. With `listen` (the default) every store on the
//     table also hears the others' events through LISTEN/NOTIFY, sent in the same statement as
//     the change: each store then emits every event on its table once (the ones it caused at
//     once, the others when the notification arrives), except while its LISTEN connection is down
//     (notifications then are lost; see `ready` / `down` in docs/stores.md). `notify: false`
//     sends none (each NOTIFY serialises commits a little), `listen: false` hears none.
//   - Expired rows are deleted by the sweeper every `sweepIntervalMs`, in batches of `sweepBatch`
//     (at most 8 batches a sweep), `FOR UPDATE SKIP LOCKED` so nodes sweeping together split the
//     work instead of waiting on each other.
//   - Every call is raced against its timeout (ERR_STORE_TIMEOUT) and signal; the server also
//     ends a statement past the timeout (statement_timeout on our own pool). A call that ends
//     while PostgreSQL still holds it destroys its connection (postgres-connection.ts). A
//     timed-out write may still have happened; the store never reports success for it.

import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import {
  openPool,
  PendingCalls,
  PostgresListener,
  postgresFailure,
  type PostgresConnection,
} from './postgres-connection.js';
import { postgresMigration, postgresNames, postgresQueries, type PostgresNames } from './postgres-schema.js';
import {
  checkExpected,
  checkId,
  checkPrincipal,
  checkTtl,
  checkWrite,
  positive,
  runBounded,
  sweepTimer,
  SweepGate,
} from './shared.js';
import type { CallOptions, Expected, SessionStore, StoredSession, StoreEvents, WriteOptions } from './store.js';
import type {} from './errors.js';

export type { PostgresConnection } from './postgres-connection.js';

export interface PostgresStoreTuning {
  /** Schema of the table (created if missing). Default 'public'. */
  schema?: string;
  /** The table's name. Default 'colloquy_sessions'. */
  table?: string;
  /** Create the schema, table, indexes and function on first use. Default true. */
  createTable?: boolean;
  /** Hear other stores' events on this table through LISTEN/NOTIFY. Default true. */
  listen?: boolean;
  /** Send this store's events to the others (pg_notify in the statement). Default true. */
  notify?: boolean;
  /** Default per-call timeout, in milliseconds. Default 1000. */
  timeoutMs?: number;
  /** How often expired rows are swept (and `expired` emitted). Default 1000 ms; 0 disables. */
  sweepIntervalMs?: number;
  /** Rows deleted per sweep batch (at most 8 batches a sweep). Default 500. */
  sweepBatch?: number;
  /** Connections of the pool the store opens (with a connection string). Default 10. */
  poolSize?: number;
  /** Calls that may wait for PostgreSQL at once; past it a call fails at once. Default 1000. */
  maxPendingCalls?: number;
}

export type PostgresStoreOptions = PostgresStoreTuning & PostgresConnection;

export interface PostgresStoreEvents extends StoreEvents {
  /** The LISTEN connection is up (again): other stores' events are heard. */
  ready: undefined;
  /** The LISTEN connection broke: other stores' events are lost until `ready`. */
  down: { cause: string };
}

interface Row {
  id: string;
  data: string;
  version: string;
  principal: string | null;
  created_at: string;
  updated_at: string;
  expires_at: string;
  tag: string;
}

const EVENTS = new Set(['created', 'destroyed', 'expired']);

export class PostgresStore extends Emitter<PostgresStoreEvents> implements SessionStore {
  /** The pool (owned when the store opened it from a connection string). */
  readonly pool: Pool;
  readonly names: PostgresNames;
  readonly timeoutMs: number;
  private readonly owned: boolean;
  private readonly sql: ReturnType<typeof postgresQueries>;
  private readonly createTable: boolean;
  private readonly batch: number;
  private readonly pending: PendingCalls;
  private readonly listener: PostgresListener | null;
  /** This store instance, in the notifications it sends (so it ignores its own). */
  private readonly origin = randomBytes(9).toString('base64url');
  /** The origin passed to the SQL: null sends no notifications (`notify: false`). */
  private readonly sender: string | null;
  private readonly sweeps = new SweepGate();
  private readonly timer: ReturnType<typeof setInterval> | null;
  private migrated: Promise<void> | null = null;
  private closed = false;

  constructor(options: PostgresStoreOptions) {
    super();
    this.names = postgresNames(options.schema ?? 'public', options.table ?? 'colloquy_sessions');
    this.sql = postgresQueries(this.names);
    this.timeoutMs = positive(options.timeoutMs ?? 1000, 'timeoutMs');
    this.createTable = options.createTable ?? true;
    this.batch = Math.max(1, Math.floor(options.sweepBatch ?? 500));
    this.pending = new PendingCalls(Math.max(1, Math.floor(options.maxPendingCalls ?? 1000)), 'postgres store');
    const listen = options.listen ?? true;
    this.sender = (options.notify ?? true) ? this.origin : null;
    // The LISTEN connection takes one client of our pool, so the pool has one more.
    const opened = openPool(
      options,
      this.timeoutMs,
      Math.max(1, Math.floor(options.poolSize ?? 10)) + (listen ? 1 : 0),
      'PostgresStore',
    );
    this.pool = opened.pool;
    this.owned = opened.owned;
    this.listener = listen
      ? new PostgresListener(this.pool, {
          notification: (_channel, payload) => this.onNotification(payload),
          ready: () => this.emit('ready', undefined),
          down: (cause) => this.emit('down', { cause }),
        })
      : null;
    this.listener?.listen(this.names.channel).catch(() => undefined);
    this.timer = sweepTimer(options.sweepIntervalMs ?? 1000, this.sweeps, () => this.sweep());
  }

  async get<T = unknown>(id: string, options?: CallOptions): Promise<StoredSession<T> | null> {
    checkId(id);
    return this.run('get', options, async (q) => {
      const { rows } = await q<Row>(this.sql.get, [id]);
      return rows[0] ? sessionFrom<T>(rows[0]) : null;
    });
  }

  async set<T = unknown>(id: string, data: T, options: WriteOptions): Promise<number> {
    return (await this.write(id, -1, data, options)) as number;
  }

  async compareAndSet<T = unknown>(
    id: string,
    expected: Expected,
    data: T,
    options: WriteOptions,
  ): Promise<number | null> {
    const e = checkExpected(expected);
    return this.write(id, e.version, data, options, e.tag);
  }

  async touch(id: string, ttlMs: number, options?: CallOptions): Promise<boolean> {
    checkId(id);
    const ttl = checkTtl(ttlMs);
    return this.run('touch', options, async (q) => (await q(this.sql.touch, [id, ttl])).rowCount === 1);
  }

  async destroy(id: string, options?: CallOptions): Promise<boolean> {
    checkId(id);
    return this.run('destroy', options, async (q) => {
      const { rows } = await q<{ id: string; principal: string | null }>(this.sql.destroy, [id, this.sender]);
      for (const r of rows) this.emit('destroyed', { id: r.id, principal: r.principal });
      return rows.length > 0;
    });
  }

  async listByPrincipal<T = unknown>(principal: string, options?: CallOptions): Promise<StoredSession<T>[]> {
    checkPrincipal(principal);
    return this.run('listByPrincipal', options, async (q) =>
      (await q<Row>(this.sql.list, [principal])).rows.map((r) => sessionFrom<T>(r)),
    );
  }

  async destroyByPrincipal(principal: string, options?: CallOptions): Promise<number> {
    checkPrincipal(principal);
    return this.run('destroyByPrincipal', options, async (q) => {
      const { rows } = await q<{ id: string; principal: string | null }>(this.sql.revoke, [principal, this.sender]);
      for (const r of rows) this.emit('destroyed', { id: r.id, principal: r.principal });
      return rows.length;
    });
  }

  /** The store's clock: the PostgreSQL server's time in milliseconds. */
  async now(options?: CallOptions): Promise<number> {
    return this.run('now', options, async (q) => Number((await q<{ now: string }>(this.sql.now, [])).rows[0]?.now));
  }

  /**
   * Deletes expired rows in batches and emits `expired` for each one this store deleted (the
   * timer does this every sweepIntervalMs). Resolves with how many it emitted.
   */
  async sweep(options?: CallOptions): Promise<number> {
    return this.sweeps.run(() =>
      this.run('sweep', options, async (q, call) => {
        let emitted = 0;
        for (let i = 0; i < 8 && !call.aborted; i++) {
          const { rows } = await q<{ id: string; principal: string | null }>(this.sql.sweep, [this.batch, this.sender]);
          for (const r of rows) this.emit('expired', { id: r.id, principal: r.principal });
          emitted += rows.length;
          if (rows.length < this.batch) break;
        }
        return emitted;
      }),
    );
  }

  /**
   * Creates the schema, table, indexes and write function if they are missing (what the first
   * call does by itself unless `createTable: false`). Idempotent; safe from several nodes at once.
   */
  async migrate(options?: CallOptions): Promise<void> {
    await this.run('migrate', options, async (_q, call) => this.runMigration(call), false);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.listener?.close();
    if (!this.owned) return;
    // Bounded: a pool whose server hangs must not hold close() forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.pool.end().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  // -- internals ------------------------------------------------------------------------------

  private async write<T>(
    id: string,
    expected: number,
    data: T,
    options: WriteOptions,
    expectedTag: string | null = null,
  ): Promise<number | null> {
    const { ttl, json, op, tag } = checkWrite(id, expected, data, options);
    const keep = options.principal === undefined;
    const principal = options.principal ?? null;
    return this.run(op, options, async (q) => {
      if (expected > 0) {
        const { rows } = await q<{ version: string }>(this.sql.casUpdate, [
          id,
          json,
          ttl,
          expected,
          keep,
          principal,
          tag,
          expectedTag,
        ]);
        return rows[0] ? Number(rows[0].version) : null;
      }
      const { rows } = await q<{
        outcome: string;
        new_version: string | null;
        reaped: boolean;
        reaped_principal: string | null;
      }>(this.sql.write, [id, json, ttl, expected, keep, principal, this.sender, tag, expectedTag]);
      const r = rows[0];
      if (!r)
        throw new SessionError(
          'ERR_STORE_UNAVAILABLE',
          `postgres ${op}: the write function returned nothing`,
          'local',
          { op },
        );
      if (r.reaped) this.emit('expired', { id, principal: r.reaped_principal });
      if (r.outcome === 'conflict') return null;
      if (r.outcome === 'busy')
        throw new SessionError('ERR_STORE_CONFLICT', `session ${id}: ${op} kept racing other writers`, 'local', {
          id,
          op,
        });
      if (r.outcome === 'created') this.emit('created', { id, principal: keep ? null : principal });
      return Number(r.new_version);
    });
  }

  private onNotification(payload: string): void {
    let m: { o?: unknown; e?: unknown; i?: unknown; p?: unknown };
    try {
      m = JSON.parse(payload) as typeof m;
    } catch {
      return;
    }
    if (m.o === this.origin || typeof m.e !== 'string' || !EVENTS.has(m.e) || typeof m.i !== 'string') return;
    const principal = typeof m.p === 'string' ? m.p : null;
    this.emit(m.e as 'created' | 'destroyed' | 'expired', { id: m.i, principal });
  }

  /** Runs the migration once per store (again after a failure), under a transaction-scoped advisory lock. */
  private async runMigration(call: AbortSignal): Promise<void> {
    const sql = postgresMigration({ schema: this.names.schema, table: this.names.name });
    const key = `colloquy:${this.names.table}`;
    await this.pending.query(
      this.pool,
      call,
      'migrate',
      `BEGIN; SELECT pg_advisory_xact_lock(hashtext('${key.replace(/'/g, "''")}')); ${sql} COMMIT;`,
      [],
    );
  }

  private ensureTable(call: AbortSignal): Promise<void> {
    if (!this.createTable) return Promise.resolve();
    this.migrated ??= this.runMigration(call).catch((error: unknown) => {
      this.migrated = null;
      throw error;
    });
    return this.migrated;
  }

  /** Runs one call: fails fast when closed, races the timeout and the signal, maps errors to codes. */
  private run<T>(
    op: string,
    options: CallOptions | undefined,
    fn: (
      q: <R extends object>(text: string, values: unknown[]) => Promise<{ rows: R[]; rowCount: number | null }>,
      call: AbortSignal,
    ) => Promise<T>,
    migrateFirst = true,
  ): Promise<T> {
    return runBounded(
      'postgres',
      op,
      this.closed,
      this.timeoutMs,
      options,
      async (call) => {
        if (migrateFirst) await this.ensureTable(call);
        const q = <R extends object>(text: string, values: unknown[]) =>
          this.pending.query<R & Record<string, unknown>>(this.pool, call, op, text, values);
        return fn(q, call);
      },
      postgresFailure,
    );
  }
}

function sessionFrom<T>(r: Row): StoredSession<T> {
  return {
    id: r.id,
    data: JSON.parse(r.data) as T,
    version: Number(r.version),
    tag: r.tag ?? '',
    principal: r.principal,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    expiresAt: Number(r.expires_at),
  };
}
