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
//   What a script costs Redis is mostly its redis.calls (8-27k instructions each under callgrind,
//   those returning arrays the dearest) and its arguments, against about 9k for a whole plain
//   SET: so the hot scripts (get, write, touch) make as few calls as the contract allows, take
//   only the arguments their mode needs (the mode follows from how many there are) and reply
//   with a bare number in the common case (docs/stores.md, "Store operations").

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
local function d_key(prefix) return '{' .. prefix .. '}:deadlines' end
local function extend(key, want)
  if redis.call('PEXPIRETIME', key) < want then redis.call('PEXPIREAT', key, want + 1000) end
end
local function place(prefix, dkey, p, id, e, grace)
  if p then
    local k = idx_key(prefix, p)
    redis.call('ZADD', k, e, id)
    extend(k, e + grace)
  end
  redis.call('ZADD', dkey, e, id)
  extend(dkey, e + grace)
end
local function unplace(prefix, dkey, p, id)
  if p then redis.call('ZREM', idx_key(prefix, p), id) end
  redis.call('ZREM', dkey, id)
end
local function load(key, id, now, full, prefix, dkey)
  local h = redis.call('HMGET', key, 'v', 'p', 'c', 'e', 't')
  if not h[1] then return nil, '' end
  if tonumber(h[4]) > now then return h, '' end
  redis.call('DEL', key)
  if full then unplace(prefix, dkey, h[2], id) end
  return nil, enc(h[2])
end
`;

const SCRIPTS = {
  // ARGV: what ('all' | 'meta'), id, then one-node mode only: prefix (so full = #ARGV == 3).
  //       A read of everything ('all') is one HMGET (the same checks as load(), inlined): a
  //       second HMGET cost about 2.5 us of Redis CPU per get (docs/stores.md).
  colloquyStoreGet: `${PRELUDE}
local now = now_ms()
local key, id, full, prefix = KEYS[1], ARGV[2], #ARGV == 3, ARGV[3]
if ARGV[1] == 'meta' then
  local h, expired = load(key, id, now, full, prefix, full and d_key(prefix))
  if not h then return {'absent', expired} end
  return {'ok', expired, enc(h[2]), h[1]}
end
local f = redis.call('HMGET', key, 'd', 'v', 'p', 'c', 'u', 'e', 't')
if not f[2] then return {'absent', ''} end
if tonumber(f[6]) > now then return {'ok', '', f[1], f[2], enc(f[3]), f[4], f[5], f[6], f[7] or ''} end
redis.call('DEL', key)
if full then unplace(prefix, d_key(prefix), f[3], id) end
return {'absent', enc(f[3])}
`,
  // ARGV: json, ttl, expected (-1: none), penc (the principal to set, tagged; '*': keep the
  //       current one), tag (kept with the write), expectT ('*' any, '=<tag>': the stored write's
  //       tag must be that one; a hash without 't' has tag ''), grace, id; then in one-node mode
  //       prefix (9 arguments: full), under Cluster bound and expectP ('*' any; 10 arguments).
  //       Reply: the new version (a number) when it wrote and reaped nothing (version 1: created),
  //       else {outcome ('ok' | 'conflict' | 'moved' | 'late'), reap tag, version, created}.
  //       Fields that do not change are not rewritten ('c' after creation, an unchanged 'p').
  colloquyStoreWrite: `${PRELUDE}
local now = now_ms()
local key, id = KEYS[1], ARGV[8]
local full = #ARGV == 9
local prefix, dkey = ARGV[9], nil
if full then dkey = d_key(prefix) end
local grace = tonumber(ARGV[7])
local h, expired = load(key, id, now, full, prefix, dkey)
local ver, oldp, oldt = 0, false, ''
if h then ver = tonumber(h[1]); oldp = h[2]; oldt = h[5] or '' end
local expected = tonumber(ARGV[3])
if expected >= 0 and ver ~= expected then return {'conflict', expired} end
if ARGV[6] ~= '*' and '=' .. oldt ~= ARGV[6] then return {'conflict', expired} end
if not full and ARGV[10] ~= '*' and enc(oldp) ~= ARGV[10] then return {'moved', expired} end
local newp = oldp
if ARGV[4] == '-' then newp = false elseif ARGV[4] ~= '*' then newp = string.sub(ARGV[4], 2) end
local e = now + tonumber(ARGV[2])
if not full and ARGV[9] ~= '' and e > tonumber(ARGV[9]) then return {'late', expired} end
local v = ver + 1
if not h then
  if newp then redis.call('HSET', key, 'd', ARGV[1], 'v', v, 'c', now, 'u', now, 'e', e, 't', ARGV[5], 'p', newp)
  else redis.call('HSET', key, 'd', ARGV[1], 'v', v, 'c', now, 'u', now, 'e', e, 't', ARGV[5]) end
elseif newp and newp ~= oldp then
  redis.call('HSET', key, 'd', ARGV[1], 'v', v, 'u', now, 'e', e, 't', ARGV[5], 'p', newp)
else
  redis.call('HSET', key, 'd', ARGV[1], 'v', v, 'u', now, 'e', e, 't', ARGV[5])
  if oldp and not newp then redis.call('HDEL', key, 'p') end
end
redis.call('PEXPIREAT', key, e + grace)
if full then
  if oldp and oldp ~= newp then redis.call('ZREM', idx_key(prefix, oldp), id) end
  place(prefix, dkey, newp, id, e, grace)
end
if expired == '' then return v end
local created = 0
if not h then created = 1 end
return {'ok', expired, v, created}
`,
  // ARGV: ttl, grace, id; then in one-node mode prefix (4 arguments: full), under Cluster bound
  //       and expectP ('*' any; 5 arguments). Reply: 1 when it extended the session and reaped
  //       nothing, else {outcome ('ok' | 'absent' | 'moved' | 'late'), reap tag}.
  colloquyStoreTouch: `${PRELUDE}
local now = now_ms()
local key, id = KEYS[1], ARGV[3]
local full = #ARGV == 4
local prefix, dkey = ARGV[4], nil
if full then dkey = d_key(prefix) end
local grace = tonumber(ARGV[2])
local h, expired = load(key, id, now, full, prefix, dkey)
if not h then return {'absent', expired} end
if not full and ARGV[5] ~= '*' and enc(h[2]) ~= ARGV[5] then return {'moved', expired} end
local e = now + tonumber(ARGV[1])
if not full and ARGV[4] ~= '' and e > tonumber(ARGV[4]) then return {'late', expired} end
redis.call('HSET', key, 'e', e)
redis.call('PEXPIREAT', key, e + grace)
if full then place(prefix, dkey, h[2], id, e, grace) end
if expired == '' then return 1 end
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
extend(KEYS[1], tonumber(cur) + slack)
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
