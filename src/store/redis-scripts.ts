// The Lua scripts behind RedisStore (redis-store.ts), and how they are installed on a client.
//
// Theory of operation
//   Every script takes exactly one key (KEYS[1]), so it may run under Cluster; in one-node mode
//   (standalone, Sentinel) the scripts also reach keys they build from the prefix (allowed
//   outside Cluster), which is what makes each store operation atomic there. The key layout the
//   scripts build (idx_key, s_key) is the one redis-keys.ts builds on the TypeScript side.
//   Each script reads the server's clock (TIME), so every node sharing the Redis agrees on it.
//   A reply's second element is the reap tag: non-empty when this script's DEL removed an
//   expired session ('-' or '=<principal>'), so that exactly one caller emits `expired`.
//   In one-node mode a session's index and deadline entries are placed (place) and removed
//   (unplace) in the same script as its hash changes.

import { SessionError } from '../engine/errors.js';
import type { RedisClient } from './redis-connection.js';
import type {} from './errors.js';

export type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

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
local function place(prefix, dkey, p, id, e, grace)
  if p then
    local k = idx_key(prefix, p)
    redis.call('ZADD', k, e, id)
    extend(k, grace)
  end
  redis.call('ZADD', dkey, e, id)
  extend(dkey, grace)
end
local function unplace(prefix, dkey, p, id)
  if p then redis.call('ZREM', idx_key(prefix, p), id) end
  redis.call('ZREM', dkey, id)
end
local function load(key, id, now, full, prefix, dkey)
  local h = redis.call('HMGET', key, 'v', 'p', 'c', 'e')
  if not h[1] then return nil, '' end
  if tonumber(h[4]) > now then return h, '' end
  redis.call('DEL', key)
  if full then unplace(prefix, dkey, h[2], id) end
  return nil, enc(h[2])
end
`;

const SCRIPTS = {
  // ARGV: id, full, prefix, dkey, what ('all' | 'meta')
  //       A read of everything ('all') is one HMGET (the same checks as load(), inlined): a
  //       second HMGET cost about 2.5 us of Redis CPU per get (docs/stores.md).
  colloquyStoreGet: `${PRELUDE}
local now = now_ms()
local key, id = KEYS[1], ARGV[1]
if ARGV[5] == 'meta' then
  local h, expired = load(key, id, now, ARGV[2] == '1', ARGV[3], ARGV[4])
  if not h then return {'absent', expired} end
  return {'ok', expired, enc(h[2]), h[1]}
end
local f = redis.call('HMGET', key, 'd', 'v', 'p', 'c', 'u', 'e', 't')
if not f[2] then return {'absent', ''} end
if tonumber(f[6]) > now then return {'ok', '', f[1], f[2], enc(f[3]), f[4], f[5], f[6], f[7] or ''} end
redis.call('DEL', key)
if ARGV[2] == '1' then unplace(ARGV[3], ARGV[4], f[3], id) end
return {'absent', enc(f[3])}
`,
  // ARGV: id, json, ttl, expected (-1: none), pmode ('keep' | 'set'), penc, grace, full, prefix,
  //       dkey, bound ('' none), expectP ('*' any), tag (kept with the write), expectT ('*' any,
  //       '=<tag>': the stored write's tag must be that one; a hash without 't' has tag '')
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
if ARGV[14] ~= '*' then
  local t = ''
  if h then t = redis.call('HGET', key, 't') or '' end
  if '=' .. t ~= ARGV[14] then return {'conflict', expired} end
end
if ARGV[12] ~= '*' and enc(oldp) ~= ARGV[12] then return {'moved', expired} end
local newp = oldp
if ARGV[5] == 'set' then
  if ARGV[6] == '-' then newp = false else newp = string.sub(ARGV[6], 2) end
end
local e = now + tonumber(ARGV[3])
if ARGV[11] ~= '' and e > tonumber(ARGV[11]) then return {'late', expired} end
local c = now
if h then c = tonumber(h[3]) end
redis.call('HSET', key, 'd', ARGV[2], 'v', ver + 1, 'c', c, 'u', now, 'e', e, 't', ARGV[13])
if newp then redis.call('HSET', key, 'p', newp) else redis.call('HDEL', key, 'p') end
redis.call('PEXPIREAT', key, e + grace)
if full then
  if oldp and oldp ~= newp then redis.call('ZREM', idx_key(prefix, oldp), id) end
  place(prefix, dkey, newp, id, e, grace)
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
if full then place(prefix, dkey, h[2], id, e, grace) end
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
if full then unplace(prefix, dkey, h[2], id) end
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

export type ScriptName = keyof typeof SCRIPTS;

/** Defines every script on the client (once per client: a shared client may carry them already). */
export function defineScripts(client: RedisClient): void {
  for (const [name, lua] of Object.entries(SCRIPTS)) {
    if (!(name in client)) client.defineCommand(name, { numberOfKeys: 1, lua });
  }
}

/**
 * Every script as a function bound to the client (ioredis runs it by EVALSHA); made once per
 * store. `beforeSend` runs before each (redis-connection.ts tickBatch).
 */
export function scriptsOn(client: RedisClient, beforeSend: () => void): Record<ScriptName, ScriptFn> {
  const out = {} as Record<ScriptName, ScriptFn>;
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    const fn = (client as unknown as Record<string, ScriptFn | undefined>)[name];
    if (!fn)
      throw new SessionError('ERR_STORE_UNAVAILABLE', `redis script ${name} is not defined on the client`, 'local');
    out[name] = (...args) => {
      beforeSend();
      return fn.apply(client, args);
    };
  }
  return out;
}
