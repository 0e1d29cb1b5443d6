// RedisStore: the SessionStore contract on Redis (ioredis), standalone, Sentinel or Cluster.
//
// Keys (P is the store's prefix; every session's keys share the hash tag {P:id}, so they live
// in one slot under Cluster):
//   {P:<id>}:session            hash: d (data as JSON), v, p (principal, absent for null), c, u, e
//   {P:principal:<p>}:index     sorted set of session ids, scored by a deadline (see below)
//   {P}:deadlines               sorted set of session ids scored by deadline, swept for `expired`
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
// Every call is raced against its timeout (ERR_STORE_TIMEOUT); a client that is not connected
// fails the call at once (ERR_STORE_UNAVAILABLE) instead of queueing it. A timed-out write may
// still have happened (Redis got the command); the store never reports success for it.

import type { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { Emitter } from '../driver/emitter.js';
import { SessionError } from '../engine/errors.js';
import { runBounded, checkId, checkPrincipal, checkTtl, nonNegative, positive, serialise } from './shared.js';
import type { CallOptions, SessionStore, StoredSession, StoreEvents, WriteOptions } from './store.js';

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
}

export type RedisConnection =
  | { client: Redis | Cluster }
  | { url: string; redisOptions?: RedisOptions }
  | { sentinels: { host: string; port: number }[]; name: string; redisOptions?: RedisOptions }
  | { cluster: ClusterNode[]; clusterOptions?: ClusterOptions };

export type RedisStoreOptions = RedisStoreTuning & RedisConnection;

const MAX_ATTEMPTS = 16;

type Client = Redis | Cluster;
type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

// ---------------------------------------------------------------------------------------------
// Lua. Every script takes exactly one key (KEYS[1]); in one-node mode scripts also reach keys
// they build from the prefix (allowed outside Cluster), which is what makes them atomic.

const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function enc(p) if p then return '=' .. p else return '-' end end
local function idx_key(prefix, p) return '{' .. prefix .. ':principal:' .. p .. '}:index' end
local function s_key(prefix, id) return '{' .. prefix .. ':' .. id .. '}:session' end
local function extend(key, margin)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] then
    local want = tonumber(top[2]) + margin
    if redis.call('PEXPIRETIME', key) < want then redis.call('PEXPIREAT', key, want) end
  end
end
local function load(key, id, now, full, prefix, dkey)
  local h = redis.call('HMGET', key, 'v', 'p', 'c', 'e')
  if not h[1] then return nil, '' end
  if tonumber(h[4]) > now then return h, '' end
  redis.call('DEL', key)
  if full then
    if h[2] then redis.call('ZREM', idx_key(prefix, h[2]), id) end
    redis.call('ZREM', dkey, id)
  end
  return nil, enc(h[2])
end
`;

const SCRIPTS = {
  // ARGV: id, full, prefix, dkey, what ('all' | 'meta')
  colloquyStoreGet: `${PRELUDE}
local now = now_ms()
local key, id = KEYS[1], ARGV[1]
local h, expired = load(key, id, now, ARGV[2] == '1', ARGV[3], ARGV[4])
if not h then return {'absent', expired} end
if ARGV[5] == 'meta' then return {'ok', expired, enc(h[2]), h[1]} end
local f = redis.call('HMGET', key, 'd', 'v', 'p', 'c', 'u', 'e')
return {'ok', expired, f[1], f[2], enc(f[3]), f[4], f[5], f[6]}
`,
  // ARGV: id, json, ttl, expected (-1: none), pmode ('keep' | 'set'), penc, grace, full, prefix,
  //       dkey, bound ('' none), expectP ('*' any)
  colloquyStoreWrite: `${PRELUDE}
local now = now_ms()
local key, id = KEYS[1], ARGV[1]
local full, prefix, dkey = ARGV[8] == '1', ARGV[9], ARGV[10]
local grace = tonumber(ARGV[7])
local h, expired = load(key, id, now, full, prefix, dkey)
local ver, oldp = 0, false
if h then ver = tonumber(h[1]); oldp = h[2] end
local expected = tonumber(ARGV[4])
if expected >= 0 and ver ~= expected then return {'conflict', expired} end
if ARGV[12] ~= '*' and enc(oldp) ~= ARGV[12] then return {'moved', expired} end
local newp = oldp
if ARGV[5] == 'set' then
  if ARGV[6] == '-' then newp = false else newp = string.sub(ARGV[6], 2) end
end
local e = now + tonumber(ARGV[3])
if ARGV[11] ~= '' and e > tonumber(ARGV[11]) then return {'late', expired} end
local c = now
if h then c = tonumber(h[3]) end
redis.call('HSET', key, 'd', ARGV[2], 'v', ver + 1, 'c', c, 'u', now, 'e', e)
if newp then redis.call('HSET', key, 'p', newp) else redis.call('HDEL', key, 'p') end
redis.call('PEXPIREAT', key, e + grace)
if full then
  if oldp and oldp ~= newp then redis.call('ZREM', idx_key(prefix, oldp), id) end
  if newp then
    local k = idx_key(prefix, newp)
    redis.call('ZADD', k, e, id)
    extend(k, grace)
  end
  redis.call('ZADD', dkey, e, id)
  extend(dkey, grace)
end
local created = 0
if not h then created = 1 end
return {'ok', expired, ver + 1, created}
`,
  // ARGV: id, ttl, grace, full, prefix, dkey, bound ('' none), expectP ('*' any)
  colloquyStoreTouch: `${PRELUDE}
local now = now_ms()
local key, id = KEYS[1], ARGV[1]
local full, prefix, dkey = ARGV[4] == '1', ARGV[5], ARGV[6]
local grace = tonumber(ARGV[3])
local h, expired = load(key, id, now, full, prefix, dkey)
if not h then return {'absent', expired} end
if ARGV[8] ~= '*' and enc(h[2]) ~= ARGV[8] then return {'moved', expired} end
local e = now + tonumber(ARGV[2])
if ARGV[7] ~= '' and e > tonumber(ARGV[7]) then return {'late', expired} end
redis.call('HSET', key, 'e', e)
redis.call('PEXPIREAT', key, e + grace)
if full then
  if h[2] then
    local k = idx_key(prefix, h[2])
    redis.call('ZADD', k, e, id)
    extend(k, grace)
  end
  redis.call('ZADD', dkey, e, id)
  extend(dkey, grace)
end
return {'ok', expired}
`,
  // ARGV: id, full, prefix, dkey, expectP ('*' any)
  colloquyStoreDestroy: `${PRELUDE}
local now = now_ms()
local key, id = KEYS[1], ARGV[1]
local full, prefix, dkey = ARGV[2] == '1', ARGV[3], ARGV[4]
local h, expired = load(key, id, now, full, prefix, dkey)
if not h then return {'absent', expired} end
if ARGV[5] ~= '*' and enc(h[2]) ~= ARGV[5] then return {'other', expired} end
redis.call('DEL', key)
if full then
  if h[2] then redis.call('ZREM', idx_key(prefix, h[2]), id) end
  redis.call('ZREM', dkey, id)
end
return {'ok', expired, enc(h[2])}
`,
  // KEYS[1]: an index. ARGV: margin. Drops entries whose score is older than margin, lists the rest.
  colloquyStoreIndex: `${PRELUDE}
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`,
  // One-node mode. KEYS[1]: the principal's index. ARGV: prefix, dkey, principal.
  colloquyStoreRevoke: `${PRELUDE}
local now = now_ms()
local prefix, dkey, p = ARGV[1], ARGV[2], ARGV[3]
local destroyed, expired = {}, {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = s_key(prefix, id)
  local h = redis.call('HMGET', key, 'p', 'e')
  if h[1] == p then
    redis.call('DEL', key)
    redis.call('ZREM', dkey, id)
    if tonumber(h[2]) > now then destroyed[#destroyed + 1] = id else expired[#expired + 1] = id end
  end
end
redis.call('DEL', KEYS[1])
return {destroyed, expired}
`,
  // One-node mode. KEYS[1]: the deadlines set. ARGV: prefix, limit. Reaps what is due.
  colloquyStoreSweep: `${PRELUDE}
local now = now_ms()
local prefix = ARGV[1]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {#due}
for _, id in ipairs(due) do
  local key = s_key(prefix, id)
  local h = redis.call('HMGET', key, 'p', 'e')
  if h[2] and tonumber(h[2]) > now then
    redis.call('ZADD', KEYS[1], h[2], id)
  else
    if h[2] then
      redis.call('DEL', key)
      if h[1] then redis.call('ZREM', idx_key(prefix, h[1]), id) end
      out[#out + 1] = id
      out[#out + 1] = enc(h[1])
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`,
  // Cluster. KEYS[1]: an index or the deadlines set. ARGV: id, ttl, slack. Returns the bound.
  colloquyStorePrepare: `${PRELUDE}
local now = now_ms()
local ttl, slack = tonumber(ARGV[2]), tonumber(ARGV[3])
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not cur) or tonumber(cur) < now + ttl + math.floor(slack / 2) then
  cur = now + ttl + slack
  redis.call('ZADD', KEYS[1], cur, ARGV[1])
end
extend(KEYS[1], slack)
return tonumber(cur)
`,
  // Cluster. KEYS[1]: the deadlines set. ARGV: slack, limit. Returns now, then id/score pairs.
  colloquyStoreDue: `${PRELUDE}
local now = now_ms()
local out = {now}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now + tonumber(ARGV[1]), 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
for _, v in ipairs(due) do out[#out + 1] = v end
return out
`,
  // Cluster. KEYS[1]: the deadlines set. ARGV: id/score pairs; removes each if its score is unchanged.
  colloquyStoreUnhint: `
local n = 0
for i = 1, #ARGV, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) == tonumber(ARGV[i + 1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`,
} as const;

type ScriptName = keyof typeof SCRIPTS;

// ---------------------------------------------------------------------------------------------

export class RedisStore extends Emitter<StoreEvents> implements SessionStore {
  /** The ioredis client (owned when the store created it). */
  readonly client: Client;
  readonly prefix: string;
  readonly timeoutMs: number;
  /** True under Redis Cluster (the three-step writes described above). */
  readonly isCluster: boolean;
  private readonly owned: boolean;
  private readonly graceMs: number;
  private readonly slackMs: number;
  private readonly skewMs: number;
  private readonly sweepBatch: number;
  private readonly timer: ReturnType<typeof setInterval> | null;
  private closed = false;
  private sweeping: Promise<number> | null = null;
  private connecting: Promise<void> | null = null;
  private lastError: Error | null = null;
  private readonly onError = (error: Error): void => { this.lastError = error; };
  private readonly onNodeError = (error: Error): void => { this.lastError = error; };

  constructor(options: RedisStoreOptions) {
    super();
    this.prefix = options.prefix ?? 'colloquy';
    this.timeoutMs = positive(options.timeoutMs ?? 1000, 'timeoutMs');
    this.graceMs = Math.ceil(positive(options.graceMs ?? 60_000, 'graceMs'));
    this.slackMs = Math.ceil(positive(options.slackMs ?? 5000, 'slackMs'));
    this.skewMs = Math.ceil(nonNegative(options.maxClockSkewMs ?? 1000, 'maxClockSkewMs'));
    this.sweepBatch = Math.max(1, Math.floor(options.sweepBatch ?? 500));
    if ('client' in options) {
      this.client = options.client;
      this.owned = false;
    } else {
      this.client = createClient(options, this.timeoutMs);
      this.owned = true;
    }
    if ((this.client.options as { keyPrefix?: string }).keyPrefix) {
      if (this.owned) this.client.disconnect();
      throw new SessionError('ERR_INVALID_ARGUMENT', 'the ioredis client must not have a keyPrefix (use the store\'s prefix option)', 'local', { option: 'keyPrefix' });
    }
    this.isCluster = this.client.isCluster;
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      if (!(name in this.client)) this.client.defineCommand(name, { numberOfKeys: 1, lua });
    }
    (this.client as EventEmitter).on('error', this.onError);
    if (this.isCluster) (this.client as EventEmitter).on('node error', this.onNodeError);
    const every = options.sweepIntervalMs ?? 1000;
    this.timer = every > 0 ? setInterval(() => { if (!this.sweeping) this.sweep().catch(() => undefined); }, every) : null;
    this.timer?.unref?.();
  }

  async get<T = unknown>(id: string, options?: CallOptions): Promise<StoredSession<T> | null> {
    checkId(id);
    return this.run('get', options, async () => {
      const r = await this.script('colloquyStoreGet')(this.sessionKey(id), id, this.full, this.prefix, this.deadlinesKey, 'all') as string[];
      this.reaped(id, r[1]);
      return r[0] === 'ok' ? sessionFrom<T>(id, r) : null;
    });
  }

  async set<T = unknown>(id: string, data: T, options: WriteOptions): Promise<number> {
    return await this.write(id, -1, data, options) as number;
  }

  async compareAndSet<T = unknown>(id: string, expected: number, data: T, options: WriteOptions): Promise<number | null> {
    if (!Number.isSafeInteger(expected) || expected < 0) throw new SessionError('ERR_INVALID_ARGUMENT', 'expected must be a version (0: absent)', 'local', { expected });
    return this.write(id, expected, data, options);
  }

  async touch(id: string, ttlMs: number, options?: CallOptions): Promise<boolean> {
    checkId(id);
    const ttl = checkTtl(ttlMs);
    return this.run('touch', options, async (call) => {
      const touch = this.script('colloquyStoreTouch');
      if (!this.isCluster) {
        const r = await touch(this.sessionKey(id), id, ttl, this.graceMs, '1', this.prefix, this.deadlinesKey, '', '*') as string[];
        this.reaped(id, r[1]);
        return r[0] === 'ok';
      }
      let last = '';
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        await backoff(attempt);
        const meta = await this.meta(id);
        if (!meta) return false;
        live(call);
        const bound = await this.prepare(id, meta.principal, ttl);
        live(call);
        const r = await touch(this.sessionKey(id), id, ttl, this.graceMs, '0', this.prefix, this.deadlinesKey, bound, encP(meta.principal)) as string[];
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
      live(call);
      if (ids.length === 0) return [];
      let replies: string[][];
      if (this.isCluster) {
        // Sessions live in many slots: the reads go out together (ioredis pipelines them per node).
        replies = await Promise.all(ids.map((id) => this.script('colloquyStoreGet')(this.sessionKey(id), id, '0', this.prefix, this.deadlinesKey, 'all') as Promise<string[]>));
      } else {
        const pipe = this.client.pipeline() as unknown as Record<string, (...args: (string | number)[]) => unknown> & { exec(): Promise<[Error | null, unknown][] | null> };
        for (const id of ids) pipe.colloquyStoreGet?.(this.sessionKey(id), id, '1', this.prefix, this.deadlinesKey, 'all');
        const results = await pipe.exec();
        if (!results) throw new SessionError('ERR_STORE_UNAVAILABLE', 'redis pipeline was discarded', 'local', { op: 'listByPrincipal' });
        replies = results.map(([error, value]) => { if (error) throw error; return value as string[]; });
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
        const [destroyed, expired] = await this.script('colloquyStoreRevoke')(this.indexKey(principal), this.prefix, this.deadlinesKey, principal) as [string[], string[]];
        for (const id of expired) this.emit('expired', { id, principal });
        for (const id of destroyed) this.emit('destroyed', { id, principal });
        return destroyed.length;
      }
      const ids = await this.indexed(principal);
      live(call);
      const done = await Promise.all(ids.map((id) => this.destroyOne(id, encP(principal))));
      return done.filter(Boolean).length;
    });
  }

  /** The store's clock: the Redis server's time in milliseconds (any node's under Cluster). */
  async now(options?: CallOptions): Promise<number> {
    return this.run('now', options, async () => {
      const [s, us] = await this.client.time() as [number | string, number | string];
      return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    });
  }

  /**
   * Reaps sessions past their deadline and emits `expired` for each one this store reaped (the
   * timer does this every sweepIntervalMs). Resolves with how many it emitted.
   */
  async sweep(options?: CallOptions): Promise<number> {
    if (this.sweeping) await this.sweeping.catch(() => undefined);
    const p = this.run('sweep', options, (call) => (this.isCluster ? this.sweepCluster(call) : this.sweepOneNode(call)));
    this.sweeping = p;
    try {
      return await p;
    } finally {
      if (this.sweeping === p) this.sweeping = null;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    (this.client as EventEmitter).off('error', this.onError);
    (this.client as EventEmitter).off('node error', this.onNodeError);
    if (!this.owned) return;
    // Ends our own client: a polite QUIT bounded by the timeout, then the socket either way.
    if (this.client.status === 'ready') {
      const quit = this.client.quit().catch(() => undefined);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([quit, new Promise<void>((resolve) => { timer = setTimeout(resolve, this.timeoutMs); })]);
      clearTimeout(timer);
    }
    this.client.disconnect();
  }

  // -- internals ------------------------------------------------------------------------------

  private get full(): string { return this.isCluster ? '0' : '1'; }
  private get deadlinesKey(): string { return `{${this.prefix}}:deadlines`; }
  private sessionKey(id: string): string { return `{${this.prefix}:${id}}:session`; }
  private indexKey(principal: string): string { return `{${this.prefix}:principal:${principal}}:index`; }

  private script(name: ScriptName): ScriptFn {
    const fn = (this.client as unknown as Record<string, ScriptFn | undefined>)[name];
    if (!fn) throw new SessionError('ERR_STORE_UNAVAILABLE', `redis script ${name} is not defined on the client`, 'local');
    return fn.bind(this.client);
  }

  /** Emits `expired` when a script reports that it reaped the session (its DEL won). */
  private reaped(id: string, tag: string | undefined): void {
    if (tag) this.emit('expired', { id, principal: decP(tag) });
  }

  private async write<T>(id: string, expected: number, data: T, options: WriteOptions): Promise<number | null> {
    checkId(id);
    if (!options) throw new SessionError('ERR_INVALID_ARGUMENT', 'write options (ttlMs) are required', 'local');
    const ttl = checkTtl(options.ttlMs);
    const json = serialise(data);
    if (options.principal !== undefined && options.principal !== null) checkPrincipal(options.principal);
    const pmode = options.principal === undefined ? 'keep' : 'set';
    const penc = options.principal === undefined ? '-' : encP(options.principal);
    const op = expected < 0 ? 'set' : 'compareAndSet';
    return this.run(op, options, async (call) => {
      const write = this.script('colloquyStoreWrite');
      const finish = (r: (string | number)[]): number | null | undefined => {
        this.reaped(id, r[1] as string);
        if (r[0] === 'conflict') return null;
        if (r[0] !== 'ok') return undefined;
        // A created session had no previous principal: it is the one named, or null.
        if (Number(r[3]) === 1) this.emit('created', { id, principal: options.principal ?? null });
        return Number(r[2]);
      };
      if (!this.isCluster) {
        const r = await write(this.sessionKey(id), id, json, ttl, expected, pmode, penc, this.graceMs, '1', this.prefix, this.deadlinesKey, '', '*') as (string | number)[];
        const v = finish(r);
        if (v === undefined) throw new SessionError('ERR_STORE_UNAVAILABLE', `redis ${op}: unexpected reply ${String(r[0])}`, 'local', { op });
        return v;
      }
      let last = '';
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        await backoff(attempt);
        let principal: string | null;
        let expectP = '*';
        if (options.principal === undefined) {
          const meta = await this.meta(id);
          live(call);
          if (expected >= 0 && (meta?.version ?? 0) !== expected) return null;
          principal = meta?.principal ?? null;
          expectP = encP(principal);
        } else {
          principal = options.principal;
        }
        const bound = await this.prepare(id, principal, ttl);
        live(call);
        const r = await write(this.sessionKey(id), id, json, ttl, expected, pmode, penc, this.graceMs, '0', this.prefix, this.deadlinesKey, bound, expectP) as (string | number)[];
        const v = finish(r);
        if (v !== undefined) return v;
        last = String(r[0]);
      }
      throw exhausted(id, op, last);
    });
  }

  /** Cluster: the session's principal and version (reaping it when expired), or null. */
  private async meta(id: string): Promise<{ principal: string | null; version: number } | null> {
    const r = await this.script('colloquyStoreGet')(this.sessionKey(id), id, '0', this.prefix, this.deadlinesKey, 'meta') as string[];
    this.reaped(id, r[1]);
    return r[0] === 'ok' ? { principal: decP(r[2] as string), version: Number(r[3]) } : null;
  }

  /** Cluster: raises the index and deadline bounds for a write of `ttl`; resolves with the smaller. */
  private async prepare(id: string, principal: string | null, ttl: number): Promise<number> {
    const prepare = this.script('colloquyStorePrepare');
    const bounds = await Promise.all([
      prepare(this.deadlinesKey, id, ttl, this.slackMs),
      ...(principal === null ? [] : [prepare(this.indexKey(principal), id, ttl, this.slackMs)]),
    ]);
    return Math.min(...bounds.map(Number));
  }

  private async destroyOne(id: string, expectP: string): Promise<boolean> {
    const r = await this.script('colloquyStoreDestroy')(this.sessionKey(id), id, this.full, this.prefix, this.deadlinesKey, expectP) as string[];
    this.reaped(id, r[1]);
    if (r[0] !== 'ok') return false;
    this.emit('destroyed', { id, principal: decP(r[2] as string) });
    return true;
  }

  /** The ids in a principal's index (stale entries are dropped by score, see the header). */
  private async indexed(principal: string): Promise<string[]> {
    return await this.script('colloquyStoreIndex')(this.indexKey(principal), this.isCluster ? this.skewMs : 0) as string[];
  }

  private async sweepOneNode(call: AbortSignal): Promise<number> {
    let emitted = 0;
    for (let batch = 0; batch < 8; batch++) {
      const out = await this.script('colloquyStoreSweep')(this.deadlinesKey, this.prefix, this.sweepBatch) as (string | number)[];
      for (let i = 1; i + 1 < out.length; i += 2) {
        this.emit('expired', { id: String(out[i]), principal: decP(String(out[i + 1])) });
        emitted++;
      }
      if (Number(out[0]) < this.sweepBatch || call.aborted) break;
    }
    return emitted;
  }

  private async sweepCluster(call: AbortSignal): Promise<number> {
    const out = await this.script('colloquyStoreDue')(this.deadlinesKey, this.slackMs, this.sweepBatch) as (string | number)[];
    const now = Number(out[0]);
    const due: { id: string; score: number }[] = [];
    for (let i = 1; i + 1 < out.length; i += 2) due.push({ id: String(out[i]), score: Number(out[i + 1]) });
    if (due.length === 0) return 0;
    live(call);
    const checked = await Promise.all(due.map(async ({ id }) => {
      const r = await this.script('colloquyStoreGet')(this.sessionKey(id), id, '0', this.prefix, this.deadlinesKey, 'meta') as string[];
      return r;
    }));
    let emitted = 0;
    const removable: (string | number)[] = [];
    checked.forEach((r, i) => {
      const { id, score } = due[i] as { id: string; score: number };
      if (r[1]) { this.emit('expired', { id, principal: decP(r[1]) }); emitted++; }
      // Only entries older than the skew bound go: no write that relied on them can still commit.
      if (r[0] !== 'ok' && score <= now - this.skewMs) removable.push(id, score);
    });
    if (removable.length > 0) {
      live(call);
      await this.script('colloquyStoreUnhint')(this.deadlinesKey, ...removable);
    }
    return emitted;
  }

  /** Runs one call: fails fast when closed or disconnected, races the timeout and the signal. */
  private run<T>(op: string, options: CallOptions | undefined, fn: (call: AbortSignal) => Promise<T>): Promise<T> {
    return runBounded('redis', op, this.closed, this.timeoutMs, options, (call) => this.ready().then(() => fn(call)), (error, name) => this.failure(error, name));
  }


  /**
   * Resolves when the client can take commands; rejects at once when it is down. Calls made
   * while it is still connecting share one wait (bounded by each call's own timeout).
   */
  private ready(): Promise<void> {
    const c = this.client;
    const status = c.status;
    if (status === 'ready') return Promise.resolve();
    if (status === 'end' || status === 'close' || status === 'reconnecting' || status === 'disconnecting') return Promise.reject(this.down(status));
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
      const onReady = (): void => { done(); resolve(); };
      const onClose = (): void => { done(); reject(this.down('close')); };
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
    return new SessionError('ERR_STORE_UNAVAILABLE', `redis is not reachable (${status}): ${cause}`, 'local', { status, cause });
  }

  private failure(error: unknown, op: string): unknown {
    if (error instanceof SessionError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (/^OOM\b/.test(message)) return new SessionError('ERR_STORE_FULL', `redis refused the write: ${message}`, 'local', { limit: 'maxmemory', op });
    return new SessionError('ERR_STORE_UNAVAILABLE', `redis ${op} failed: ${message}`, 'local', { op, cause: message });
  }
}

// ---------------------------------------------------------------------------------------------

function createClient(options: RedisConnection, timeoutMs: number): Client {
  // Nothing waits in an unbounded queue: commands are refused while disconnected (the store
  // fails the call with ERR_STORE_UNAVAILABLE), a command in flight when the connection drops is
  // failed rather than resent, and reconnect attempts back off to at most one per second.
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    connectTimeout: Math.max(timeoutMs, 500),
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
  };
  if ('url' in options) return new Redis(options.url, { ...common, ...options.redisOptions });
  if ('sentinels' in options) {
    return new Redis({ ...common, sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000), ...options.redisOptions, sentinels: options.sentinels, name: options.name });
  }
  if ('cluster' in options) {
    return new Cluster(options.cluster, {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      scaleReads: 'master',
      maxRedirections: 8,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: Math.max(timeoutMs, 1000),
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      ...options.clusterOptions,
      redisOptions: { ...common, ...options.clusterOptions?.redisOptions },
    });
  }
  throw new SessionError('ERR_INVALID_ARGUMENT', 'RedisStore needs one of: client, url, sentinels + name, cluster', 'local');
}

function sessionFrom<T>(id: string, r: (string | number | null)[]): StoredSession<T> {
  return {
    id,
    data: JSON.parse(String(r[2])) as T,
    version: Number(r[3]),
    principal: decP(String(r[4])),
    createdAt: Number(r[5]),
    updatedAt: Number(r[6]),
    expiresAt: Number(r[7]),
  };
}

function encP(principal: string | null): string { return principal === null ? '-' : `=${principal}`; }
function decP(tag: string): string | null { return tag === '-' ? null : tag.slice(1); }

/** After a lost race or two, a short random pause (at most 50 ms) spreads the contenders out. */
async function backoff(attempt: number): Promise<void> {
  if (attempt >= 2) await delay(Math.random() * Math.min(2 ** attempt, 50));
}

function live(call: AbortSignal): void {
  // The call already settled (timeout or abort): send nothing more.
  if (call.aborted) throw new SessionError('ERR_STORE_TIMEOUT', 'the call ended', 'local');
}

/** Cluster: the commit kept refusing. 'late' means its deadline overran the prepared bound: clock skew. */
function exhausted(id: string, op: string, last: string): SessionError {
  if (last === 'late') {
    return new SessionError('ERR_STORE_UNAVAILABLE', `session ${id}: ${op} could not commit within its index bound; the Cluster nodes' clocks disagree by more than slackMs/2`, 'local', { id, op, cause: 'clock-skew' });
  }
  return new SessionError('ERR_STORE_CONFLICT', `session ${id}: ${op} kept racing other writers`, 'local', { id, op, retries: MAX_ATTEMPTS });
}
