// RedisStore's key layout and reply decoding (redis-store.ts).
//
// Keys (P is the store's prefix; every session's keys share the hash tag {P:id}, so they live
// in one slot under Cluster):
//   {P:<id>}:session            hash: d (data as JSON), v, p (principal, absent for null), c, u, e,
//                               t (the write's tag; absent in hashes written before tags: '')
//   {P:principal:<p>}:index     sorted set of session ids, scored by a deadline
//   {P}:deadlines               sorted set of session ids scored by deadline, swept for `expired`
//
// The Lua side (redis-scripts.ts: idx_key, s_key) builds the same names. A principal travels
// through the scripts tagged: '-' for none, '=<principal>' otherwise (so '' can mean "no tag").

import type { StoredSession } from './store.js';

export class RedisKeys {
  constructor(readonly prefix: string) {}
  get deadlines(): string {
    return `{${this.prefix}}:deadlines`;
  }
  session(id: string): string {
    return `{${this.prefix}:${id}}:session`;
  }
  index(principal: string): string {
    return `{${this.prefix}:principal:${principal}}:index`;
  }
}

export function encP(principal: string | null): string {
  return principal === null ? '-' : `=${principal}`;
}
export function decP(tag: string): string | null {
  return tag === '-' ? null : tag.slice(1);
}

/** A session from colloquyStoreGet's 'all' reply: ok, reap tag, d, v, p (tagged), c, u, e, t. */
export function sessionFrom<T>(id: string, r: (string | number | null)[]): StoredSession<T> {
  return {
    id,
    data: JSON.parse(String(r[2])) as T,
    version: Number(r[3]),
    tag: typeof r[8] === 'string' ? r[8] : '',
    principal: decP(String(r[4])),
    createdAt: Number(r[5]),
    updatedAt: Number(r[6]),
    expiresAt: Number(r[7]),
  };
}
