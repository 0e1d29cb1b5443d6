// RedisStore: the SessionStore contract on Redis (ioredis), standalone, Sentinel or Cluster.
//
// The pieces, each with its own header: redis-connection.ts (opening and watching the client,
// shared with RedisBus), redis-keys.ts (the key layout: a session hash, one index per principal,
// one deadlines set), redis-scripts.ts (the Lua), redis-sweep.ts (the expiry sweeper).
//
// The store's clock is the Redis server's (TIME, read inside the scripts). A session is live
// while `e` (its expiresAt) is in the future; every script checks that, so an expired session is
// never returned even before it is swept. Its hash is kept `graceMs` past `e` (PEXPIREAT e+grace)
// so that whoever reaps it (the sweeper, or any call that meets it) still knows its principal:
// the reap is a DEL inside a script, and only the caller whose DEL removed the hash emits
// `expired` (exactly once across every node sharing the Redis).
//
// Standalone and Sentinel ("one-node mode"): each operation is ONE Lua script that updates the
// session hash, both principal indexes and the deadlines set together, so they are atomic with
// each other; index and deadline scores are the session's exact expiresAt.
//
// Cluster: a script may only touch one slot, and a principal's index and the deadlines set live
// in other slots than the session. There a write runs in three steps:
//   1. "prepare": a script on the index slot (and one on the deadlines slot) raises the id's
//      score to a bound B >= now + ttl + slackMs/2 (never lowers it) and returns it;
//   2. the session script commits only if the expiresAt it computes is <= B (else it retries),
//      and only if the principal it prepared for is still the session's principal;
//   3. nothing else: index entries are never deleted by writers (a moved or destroyed session's
//      old entry stays until its score passes), readers check every entry against the session
//      hash, and an entry is dropped only once its score is older than maxClockSkewMs by the
//      index node's clock, when any session it could stand for has expired on every node.
// So under Cluster: listByPrincipal never returns a session that is not the principal's, and a
// live session is always in its principal's index, provided the nodes' clocks agree within
// maxClockSkewMs (and slackMs/2 covers that skew plus the prepare-to-commit latency, or writes
// retry). The same bound rule keeps the deadlines set complete; the sweeper checks entries due by
// `score - slackMs`, reaps the expired ones and drops an entry only under the same age rule.
//
// With `waitForReplicas`, set and compareAndSet resolve only after WAIT on the connection that
// made the write (redis-wait.ts: the slot owner's under Cluster); on a WAIT timeout the write
// stands and the shortfall is counted, not thrown.
//
// Every call is raced against its timeout (ERR_STORE_TIMEOUT); a client that is not connected
// fails the call at once (ERR_STORE_UNAVAILABLE) instead of queueing it. A timed-out write may
// still have happened (Redis got the command); the store never reports success for it.

import type { EventEmitter } from 'node:events';
import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import {
  createStoreClient,
  RedisHealth,
  redisFailure,
  tickBatch,
  type RedisClient,
  type RedisConnection,
} from './redis-connection.js';
import { decP, encP, RedisKeys, sessionFrom } from './redis-keys.js';
import { defineScripts, scriptsOn, type ScriptFn, type ScriptName } from './redis-scripts.js';
import { sweepCluster, sweepOneNode, type SweepContext } from './redis-sweep.js';
import { checkReplicaWait, waitForReplicas, type ReplicaWait } from './redis-wait.js';
import {
  backoff,
  checkExpected,
  checkId,
  checkPrincipal,
  checkTtl,
  checkWrite,
  nonNegative,
  positive,
  runBoundedPlain,
  type CallState,
  stillOn,
  sweepTimer,
  SweepGate,
} from './shared.js';
import type { CallOptions, Expected, SessionStore, StoredSession, StoreEvents, WriteOptions } from './store.js';
import type {} from './errors.js';

export type { RedisConnection } from './redis-connection.js';
export type { ReplicaWait } from './redis-wait.js';

export interface RedisStoreTuning {
  /** Key prefix (inside the hash tag). Default 'colloquy'. */
  prefix?: string;
  /** Default per-call timeout, in milliseconds. Default 1000. */
  timeoutMs?: number;
  /** How long an expired session's hash is kept for its `expired` event to be emitted. Default 60 s. */
  graceMs?: number;
  /** How often the deadlines set is swept (and `expired` emitted). Default 1000 ms; 0 disables. */
  sweepIntervalMs?: number;
  /** Sessions examined per sweep batch. Default 500. */
  sweepBatch?: number;
  /** Cluster: how far an index or deadline bound runs ahead of the session's expiresAt. Default 5000 ms. */
  slackMs?: number;
  /** Cluster: how far the nodes' clocks may disagree. Default 1000 ms. */
  maxClockSkewMs?: number;
  /**
   * After each set and compareAndSet, WAIT until this many replicas have the write, up to
   * timeoutMs (which must be below the store's timeoutMs). On timeout the write stands and the
   * call succeeds; `replicaShortfalls` counts it. Default: off.
   */
  waitForReplicas?: ReplicaWait | false;
}

export type RedisStoreOptions = RedisStoreTuning & RedisConnection;

const MAX_ATTEMPTS = 16;

export class RedisStore extends Emitter<StoreEvents> implements SessionStore {
  /** The ioredis client (owned when the store created it). */
  readonly client: RedisClient;
  readonly prefix: string;
  readonly timeoutMs: number;
  /** True under Redis Cluster (the three-step writes described above). */
  readonly isCluster: boolean;
  private readonly owned: boolean;
  private readonly graceMs: number;
  private readonly slackMs: number;
  private readonly skewMs: number;
  private readonly keys: RedisKeys;
  private readonly health: RedisHealth;
  private readonly sweepContext: SweepContext;
  private readonly sweeps = new SweepGate();
  private readonly timer: ReturnType<typeof setInterval> | null;
  /** Each script as a function bound to the client, made once (not per call). */
  private readonly scripts: Record<ScriptName, ScriptFn>;
  private closed = false;
  /** The replica wait after writes, or null (off). */
  readonly replicaWait: ReplicaWait | null;
  /** Writes whose WAIT saw fewer replicas than `waitForReplicas.replicas` within its timeout. */
  replicaShortfalls = 0;

  constructor(options: RedisStoreOptions) {
    super();
    this.prefix = options.prefix ?? 'colloquy';
    this.timeoutMs = positive(options.timeoutMs ?? 1000, 'timeoutMs');
    this.graceMs = Math.ceil(positive(options.graceMs ?? 60_000, 'graceMs'));
    this.slackMs = Math.ceil(positive(options.slackMs ?? 5000, 'slackMs'));
    this.skewMs = Math.ceil(nonNegative(options.maxClockSkewMs ?? 1000, 'maxClockSkewMs'));
    this.keys = new RedisKeys(this.prefix);
    this.replicaWait = options.waitForReplicas ? checkReplicaWait(options.waitForReplicas, this.timeoutMs) : null;
    if ('client' in options) {
      this.client = options.client;
      this.owned = false;
    } else {
      this.client = createStoreClient(options, this.timeoutMs);
      this.owned = true;
    }
    if ((this.client.options as { keyPrefix?: string }).keyPrefix) {
      if (this.owned) this.client.disconnect();
      throw new SessionError(
        'ERR_INVALID_ARGUMENT',
        "the ioredis client must not have a keyPrefix (use the store's prefix option)",
        'local',
        { option: 'keyPrefix' },
      );
    }
    this.isCluster = this.client.isCluster;
    defineScripts(this.client);
    this.scripts = scriptsOn(this.client, tickBatch(this.client));
    this.health = new RedisHealth(this.client);
    (this.client as EventEmitter).on('error', this.health.onError);
    if (this.isCluster) (this.client as EventEmitter).on('node error', this.health.onError);
    this.sweepContext = {
      keys: this.keys,
      batch: Math.max(1, Math.floor(options.sweepBatch ?? 500)),
      slackMs: this.slackMs,
      skewMs: this.skewMs,
      script: (name) => this.script(name),
      expired: (id, principal) => {
        this.emit('expired', { id, principal });
      },
    };
    this.timer = sweepTimer(options.sweepIntervalMs ?? 1000, this.sweeps, () => this.sweep());
  }

  // get, set and compareAndSet are plain functions over promise chains (no async frames: each
  // was a promise and a microtask per call); an invalid argument still rejects, never throws.

  get<T = unknown>(id: string, options?: CallOptions): Promise<StoredSession<T> | null> {
    try {
      checkId(id);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.run('get', options, () => {
      const key = this.keys.session(id);
      const reply = this.isCluster
        ? this.scripts.colloquyStoreGet(key, 'all', id)
        : this.scripts.colloquyStoreGet(key, 'all', id, this.prefix);
      return reply.then((reply) => {
        const r = reply as string[];
        this.reaped(id, r[1]);
        return r[0] === 'ok' ? sessionFrom<T>(id, r) : null;
      });
    });
  }

  set<T = unknown>(id: string, data: T, options: WriteOptions): Promise<number> {
    return this.write(id, -1, data, options) as Promise<number>;
  }

  compareAndSet<T = unknown>(id: string, expected: Expected, data: T, options: WriteOptions): Promise<number | null> {
    let e: { version: number; tag: string | null };
    try {
      e = checkExpected(expected);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.write(id, e.version, data, options, e.tag);
  }

  async touch(id: string, ttlMs: number, options?: CallOptions): Promise<boolean> {
    checkId(id);
    const ttl = checkTtl(ttlMs);
    return this.run('touch', options, async (call) => {
      const touch = this.script('colloquyStoreTouch');
      if (!this.isCluster) {
        const r = (await touch(this.keys.session(id), ttl, this.graceMs, id, this.prefix)) as number | string[];
        if (typeof r === 'number') return true;
        this.reaped(id, r[1]);
        return r[0] === 'ok';
      }
      let last = '';
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        await backoff(attempt);
        const meta = await this.meta(id);
        if (!meta) return false;
        stillOn(call);
        const bound = await this.prepare(id, meta.principal, ttl);
        stillOn(call);
        const r = (await touch(this.keys.session(id), ttl, this.graceMs, id, bound, encP(meta.principal))) as
          number | string[];
        if (typeof r === 'number') return true;
        this.reaped(id, r[1]);
        if (r[0] === 'ok') return true;
        if (r[0] === 'absent') return false;
        last = r[0] as string;
      }
      throw exhausted(id, 'touch', last);
    });
  }

  async destroy(id: string, options?: CallOptions): Promise<boolean> {
    checkId(id);
    return this.run('destroy', options, async () => this.destroyOne(id, '*'));
  }

  async listByPrincipal<T = unknown>(principal: string, options?: CallOptions): Promise<StoredSession<T>[]> {
    checkPrincipal(principal);
    return this.run('listByPrincipal', options, async (call) => {
      const ids = await this.indexed(principal);
      stillOn(call);
      if (ids.length === 0) return [];
      let replies: string[][];
      if (this.isCluster) {
        // Sessions live in many slots: the reads go out together (ioredis pipelines them per node).
        replies = await Promise.all(
          ids.map((id) => this.script('colloquyStoreGet')(this.keys.session(id), 'all', id) as Promise<string[]>),
        );
      } else {
        const pipe = this.client.pipeline() as unknown as Record<string, (...args: (string | number)[]) => unknown> & {
          exec(): Promise<[Error | null, unknown][] | null>;
        };
        for (const id of ids) pipe.colloquyStoreGet?.(this.keys.session(id), 'all', id, this.prefix);
        const results = await pipe.exec();
        if (!results)
          throw new SessionError('ERR_STORE_UNAVAILABLE', 'redis pipeline was discarded', 'local', {
            op: 'listByPrincipal',
          });
        replies = results.map(([error, value]) => {
          if (error) throw error;
          return value as string[];
        });
      }
      const out: StoredSession<T>[] = [];
      ids.forEach((id, i) => {
        const r = replies[i] as string[];
        this.reaped(id, r[1]);
        if (r[0] === 'ok' && decP(r[4] as string) === principal) out.push(sessionFrom<T>(id, r));
      });
      return out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    });
  }

  async destroyByPrincipal(principal: string, options?: CallOptions): Promise<number> {
    checkPrincipal(principal);
    return this.run('destroyByPrincipal', options, async (call) => {
      if (!this.isCluster) {
        const [destroyed, expired] = (await this.script('colloquyStoreRevoke')(
          this.keys.index(principal),
          this.prefix,
          this.keys.deadlines,
          principal,
        )) as [string[], string[]];
        for (const id of expired) this.emit('expired', { id, principal });
        for (const id of destroyed) this.emit('destroyed', { id, principal });
        return destroyed.length;
      }
      const ids = await this.indexed(principal);
      stillOn(call);
      const done = await Promise.all(ids.map((id) => this.destroyOne(id, encP(principal))));
      return done.filter(Boolean).length;
    });
  }

  /** The store's clock: the Redis server's time in milliseconds (any node's under Cluster). */
  async now(options?: CallOptions): Promise<number> {
    return this.run('now', options, async () => {
      const [s, us] = (await this.client.time()) as [number | string, number | string];
      return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    });
  }

  /**
   * Reaps sessions past their deadline and emits `expired` for each one this store reaped (the
   * timer does this every sweepIntervalMs). Resolves with how many it emitted.
   */
  async sweep(options?: CallOptions): Promise<number> {
    const ctx = this.sweepContext;
    return this.sweeps.run(() =>
      this.run('sweep', options, (call) => (this.isCluster ? sweepCluster(ctx, call) : sweepOneNode(ctx, call))),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    (this.client as EventEmitter).off('error', this.health.onError);
    (this.client as EventEmitter).off('node error', this.health.onError);
    if (!this.owned) return;
    // Ends our own client: a polite QUIT bounded by the timeout, then the socket either way.
    if (this.client.status === 'ready') {
      const quit = this.client.quit().catch(() => undefined);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        quit,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.client.disconnect();
  }

  // -- internals ------------------------------------------------------------------------------

  private get full(): string {
    return this.isCluster ? '0' : '1';
  }

  private script(name: ScriptName): ScriptFn {
    return this.scripts[name];
  }

  /** Emits `expired` when a script reports that it reaped the session (its DEL won). */
  private reaped(id: string, tag: string | undefined): void {
    if (tag) this.emit('expired', { id, principal: decP(tag) });
  }

  private write<T>(
    id: string,
    expected: number,
    data: T,
    options: WriteOptions,
    expectedTag: string | null = null,
  ): Promise<number | null> {
    let checked: ReturnType<typeof checkWrite>;
    try {
      checked = checkWrite(id, expected, data, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { ttl, json, op, tag } = checked;
    const expectT = expectedTag === null ? '*' : `=${expectedTag}`;
    const penc = options.principal === undefined ? '*' : encP(options.principal);
    /** The write script's reply: the version, null (conflict) or undefined (moved, late: Cluster retries). */
    const outcome = (reply: unknown): number | null | undefined => {
      if (typeof reply === 'number') {
        // Version 1 is a created session: it had no previous principal, so it has the one named, or null.
        if (reply === 1) this.emit('created', { id, principal: options.principal ?? null });
        return reply;
      }
      const r = reply as (string | number)[];
      this.reaped(id, r[1] as string);
      if (r[0] === 'conflict') return null;
      if (r[0] !== 'ok') return undefined;
      if (Number(r[3]) === 1) this.emit('created', { id, principal: options.principal ?? null });
      return Number(r[2]);
    };
    const write = this.scripts.colloquyStoreWrite;
    if (!this.isCluster) {
      return this.run(op, options, (call) =>
        write(this.keys.session(id), json, ttl, expected, penc, tag, expectT, this.graceMs, id, this.prefix).then(
          (reply) => {
            const v = outcome(reply);
            if (v === undefined)
              throw new SessionError('ERR_STORE_UNAVAILABLE', `redis ${op}: unexpected reply`, 'local', { op });
            return v === null || this.replicaWait === null ? v : this.replicated(id, call).then(() => v);
          },
        ),
      );
    }
    return this.run(op, options, async (call) => {
      let last = '';
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        await backoff(attempt);
        let principal: string | null;
        let expectP = '*';
        if (options.principal === undefined) {
          const meta = await this.meta(id);
          stillOn(call);
          if (expected >= 0 && (meta?.version ?? 0) !== expected) return null;
          principal = meta?.principal ?? null;
          expectP = encP(principal);
        } else {
          principal = options.principal;
        }
        const bound = await this.prepare(id, principal, ttl);
        stillOn(call);
        const reply = await write(
          this.keys.session(id),
          json,
          ttl,
          expected,
          penc,
          tag,
          expectT,
          this.graceMs,
          id,
          bound,
          expectP,
        );
        const v = outcome(reply);
        if (v !== undefined) {
          if (v !== null) await this.replicated(id, call);
          return v;
        }
        last = String((reply as unknown[])[0]);
      }
      throw exhausted(id, op, last);
    });
  }

  /** With waitForReplicas: WAIT for the write just made to `id`'s session; a shortfall is counted, not thrown. */
  private async replicated(id: string, call: CallState): Promise<void> {
    if (this.replicaWait === null) return;
    stillOn(call);
    if (!(await waitForReplicas(this.client, this.keys.session(id), this.replicaWait, call))) this.replicaShortfalls++;
  }

  /** Cluster: the session's principal and version (reaping it when expired), or null. */
  private async meta(id: string): Promise<{ principal: string | null; version: number } | null> {
    const r = (await this.script('colloquyStoreGet')(this.keys.session(id), 'meta', id)) as string[];
    this.reaped(id, r[1]);
    return r[0] === 'ok' ? { principal: decP(r[2] as string), version: Number(r[3]) } : null;
  }

  /** Cluster: raises the index and deadline bounds for a write of `ttl`; resolves with the smaller. */
  private async prepare(id: string, principal: string | null, ttl: number): Promise<number> {
    const prepare = this.script('colloquyStorePrepare');
    const bounds = await Promise.all([
      prepare(this.keys.deadlines, id, ttl, this.slackMs),
      ...(principal === null ? [] : [prepare(this.keys.index(principal), id, ttl, this.slackMs)]),
    ]);
    return Math.min(...bounds.map(Number));
  }

  private async destroyOne(id: string, expectP: string): Promise<boolean> {
    const r = (await this.script('colloquyStoreDestroy')(
      this.keys.session(id),
      id,
      this.full,
      this.prefix,
      this.keys.deadlines,
      expectP,
    )) as string[];
    this.reaped(id, r[1]);
    if (r[0] !== 'ok') return false;
    this.emit('destroyed', { id, principal: decP(r[2] as string) });
    return true;
  }

  /** The ids in a principal's index (stale entries are dropped by score, see the header). */
  private async indexed(principal: string): Promise<string[]> {
    return (await this.script('colloquyStoreIndex')(
      this.keys.index(principal),
      this.isCluster ? this.skewMs : 0,
    )) as string[];
  }

  /** Runs one call: fails fast when closed or disconnected, races the timeout and the signal. */
  private run<T>(op: string, options: CallOptions | undefined, fn: (call: CallState) => Promise<T>): Promise<T> {
    return runBoundedPlain(
      'redis',
      op,
      this.closed,
      this.timeoutMs,
      options,
      // A ready client (the usual case) runs the call at once, without a promise hop first.
      (call) => (this.client.status === 'ready' ? fn(call) : this.health.ready().then(() => fn(call))),
      redisFailure,
    );
  }
}

// ---------------------------------------------------------------------------------------------

/** Cluster: the commit kept refusing. 'late' means its deadline overran the prepared bound: clock skew. */
function exhausted(id: string, op: string, last: string): SessionError {
  if (last === 'late') {
    return new SessionError(
      'ERR_STORE_UNAVAILABLE',
      `session ${id}: ${op} could not commit within its index bound; the Cluster nodes' clocks disagree by more than slackMs/2`,
      'local',
      { id, op, cause: 'clock-skew' },
    );
  }
  return new SessionError('ERR_STORE_CONFLICT', `session ${id}: ${op} kept racing other writers`, 'local', {
    id,
    op,
    retries: MAX_ATTEMPTS,
  });
}
