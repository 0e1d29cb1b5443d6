// MemcachedStore's key layout and item formats (memcached-store.ts).
//
// Theory of operation
//   P:s:<id>   the session: JSON {i: id, d: data as JSON, v, p, c, u, e, t (the write's tag; absent: '')}
//   P:p:<p>    a principal's index: JSON [[id, bound], ...]
//   An id or principal that is not printable ASCII, is longer than 180 bytes or starts with '#'
//   goes into the key as '#' + its SHA-256 (keyPart); the id is kept in the value and checked on
//   read, so a hash collision or a foreign item is an error, never another session's data.
//   An index entry's bound is >= its session's expiresAt; an entry whose bound is older than the
//   clock skew allowance can no longer stand for a live session and is dropped (liveEntries).

import { createHash } from 'node:crypto';
import { SessionError } from '../engine/errors.js';
import type { StoredSession } from './store.js';
import type {} from './errors.js';

export interface Rec {
  i: string;
  d: string;
  v: number;
  p: string | null;
  c: number;
  u: number;
  e: number;
  t?: string;
}
export interface Loaded {
  rec: Rec;
  cas: Buffer;
}
export type IndexEntry = [string, number];

/** Printable ASCII up to 180 bytes goes into the key as is; anything else as a SHA-256. */
export function keyPart(s: string): string {
  return /^[\x21-\x7e]{1,180}$/.test(s) && !s.startsWith('#')
    ? s
    : `#${createHash('sha256').update(s, 'utf8').digest('base64url')}`;
}

export function parseRec(buf: Buffer, id: string): Rec {
  let rec: Rec;
  try {
    rec = JSON.parse(buf.toString('utf8')) as Rec;
  } catch {
    throw new SessionError('ERR_STORE_UNAVAILABLE', `session ${id}: the stored item is not a session record`, 'local', {
      id,
    });
  }
  if (!rec || rec.i !== id || typeof rec.e !== 'number' || typeof rec.d !== 'string') {
    throw new SessionError(
      'ERR_STORE_UNAVAILABLE',
      `session ${id}: the stored item belongs to something else`,
      'local',
      { id },
    );
  }
  return rec;
}

export function parseIndex(buf: Buffer): IndexEntry[] {
  try {
    const list = JSON.parse(buf.toString('utf8')) as unknown;
    return Array.isArray(list)
      ? list.filter((x): x is IndexEntry => Array.isArray(x) && typeof x[0] === 'string' && typeof x[1] === 'number')
      : [];
  } catch {
    return [];
  }
}

/** The entries that may still stand for a live session: bound newer than now - skewMs. */
export function liveEntries(entries: IndexEntry[], skewMs: number): IndexEntry[] {
  const now = Date.now();
  return entries.filter(([, bound]) => bound > now - skewMs);
}

/** The latest bound in a list (0 for none). */
export function topBound(entries: IndexEntry[]): number {
  return entries.reduce((m, [, b]) => Math.max(m, b), 0);
}

export function view<T>(rec: Rec): StoredSession<T> {
  return {
    id: rec.i,
    data: JSON.parse(rec.d) as T,
    version: rec.v,
    tag: typeof rec.t === 'string' ? rec.t : '',
    principal: rec.p,
    createdAt: rec.c,
    updatedAt: rec.u,
    expiresAt: rec.e,
  };
}
