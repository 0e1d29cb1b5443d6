// Refresh-token families: the record the store keeps per login and the rotation rule, as pure
// functions the token service (./tokens.ts) applies inside its compare-and-set writes
// (./writer.ts).
//
// A refresh token is `<family>.<secret>` (cookie.ts shape), never a JWT. The store keeps one
// record per family (key `tok:f:<family>`, indexed under `tok:<subject>`) with the SHA-256 of the
// current secret and of recent rotated ones. Every refresh rotates (RFC 9700 section 4.14.2):
//
//   present current   -> new secret, the old one's hash moves to `old`            (one CAS write)
//   present previous, within graceMs of its rotation -> the SAME successor again   (concurrent refresh)
//   present any older -> reuse: the family is revoked (record destroyed, access tokens deny-listed)
//
// The successor secret is HMAC-SHA256(previous secret, nonce) with a random nonce kept in the
// record: a concurrent refresh inside the grace window can be given the successor without the
// store ever holding a usable token, and neither a store dump (no secrets) nor an old token
// alone (no nonce) yields the current one. A family ends `familyLifetimeMs` after login however
// often it is refreshed; each token also dies `refreshTtlMs` after it was issued if unused.

import { createHmac, randomBytes } from 'node:crypto';
import { hashSecret, sameHash } from './cookie.js';

/** Rotated refresh-token hashes remembered per family for reuse detection. */
export const MAX_REMEMBERED_ROTATIONS = 32;

/** The stored record of one family (short field names: it is written on every refresh). */
export interface Family {
  /** SHA-256 of the current secret, of rotated ones (newest first). */
  cur: string;
  old: string[];
  /** When `cur` was issued, the nonce it was derived with. */
  rot: number;
  n: string;
  c: number;
  /** Current token's own deadline; the family's end. */
  exp: number;
  end: number;
  claims: Record<string, unknown>;
  ua?: string;
  ip?: string;
}

export interface FamilyInfo {
  familyId: string;
  createdAt: number;
  lastRefreshedAt: number;
  expiresAt: number;
  userAgent?: string;
  address?: string;
}

export interface FamilyTimes {
  readonly refreshTtlMs: number;
  readonly familyLifetimeMs: number;
  readonly graceMs: number;
}

/** A new family (a login) whose current secret is `secret`. */
export function newFamily(
  secret: string,
  now: number,
  o: FamilyTimes,
  claims: Record<string, unknown>,
  userAgent?: string,
  address?: string,
): Family {
  const end = now + o.familyLifetimeMs;
  const family: Family = {
    cur: hashSecret(secret),
    old: [],
    rot: now,
    n: '',
    c: now,
    exp: Math.min(end, now + o.refreshTtlMs),
    end,
    claims,
  };
  if (userAgent) family.ua = userAgent.slice(0, 256);
  if (address) family.ip = address;
  return family;
}

/** What presenting a refresh token to its family's record comes to. */
export type Rotation =
  /** The current secret: `next` is the record to write, `successor` the new secret. */
  | { readonly verdict: 'rotated'; readonly next: Family; readonly successor: string }
  /** The previous secret within graceMs of its rotation: the same successor again, nothing written. */
  | { readonly verdict: 'grace'; readonly successor: string }
  | { readonly verdict: 'expired' | 'reuse' | 'wrong' };

/** The rotation rule for `secret` (hashed `h`) presented at `now` to record `f`. */
export function rotate(f: Family, secret: string, h: string, now: number, o: FamilyTimes, address?: string): Rotation {
  if (now >= f.end || now >= f.exp) return { verdict: 'expired' };
  if (sameHash(h, f.cur)) {
    const n = randomBytes(16).toString('base64url');
    const successor = derive(secret, n);
    const next: Family = {
      ...f,
      cur: hashSecret(successor),
      old: [f.cur, ...f.old].slice(0, MAX_REMEMBERED_ROTATIONS),
      rot: now,
      n,
      exp: Math.min(f.end, now + o.refreshTtlMs),
    };
    if (address) next.ip = address;
    return { verdict: 'rotated', next, successor };
  }
  const at = f.old.findIndex((o) => sameHash(h, o));
  if (at === 0 && now - f.rot < o.graceMs && sameHash(hashSecret(derive(secret, f.n)), f.cur))
    return { verdict: 'grace', successor: derive(secret, f.n) };
  return { verdict: at >= 0 ? 'reuse' : 'wrong' };
}

/** Whether `secret` is the current or a remembered secret of `f` (a logout may name either). */
export function holds(f: Family, secret: string): boolean {
  return [f.cur, ...f.old].some((o) => sameHash(hashSecret(secret), o));
}

/** What listFamilies reports of one family. */
export function familyInfo(familyId: string, f: Family): FamilyInfo {
  const out: FamilyInfo = {
    familyId,
    createdAt: f.c,
    lastRefreshedAt: f.rot,
    expiresAt: Math.min(f.exp, f.end),
  };
  if (f.ua) out.userAgent = f.ua;
  if (f.ip) out.address = f.ip;
  return out;
}

function derive(secret: string, nonce: string): string {
  return createHmac('sha256', secret).update(`colloquy-refresh:${nonce}`).digest('base64url');
}
