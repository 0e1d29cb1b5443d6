// Cookies: parsing a Cookie header and writing Set-Cookie values (RFC 6265bis), and the session
// token carried in the cookie.
//
// The token is a split ID: `<id>.<secret>`, 128 + 256 random bits in base64url. The store key is
// the id; the record holds SHA-256(secret), never the secret. A store dump therefore gives an
// attacker ids and hashes but no cookie it can replay, and no server key has to be kept, shared
// between nodes or rotated (docs/web-sessions.md says why this was chosen over a signed ID). The
// secret is compared in constant time. A cookie whose shape is wrong is dropped before the store
// is asked, so junk cookies cost no store round trip. The hashes of recently seen secrets are kept
// in a bounded map (MAX_CACHED_HASHES): a returning cookie costs no SHA-256. That map holds
// secrets that were in request headers moments ago anyway; it never reaches the store.

import { createHash, randomBytes } from 'node:crypto';

/** Longest Cookie header parsed; beyond it the rest is ignored (browsers send at most ~8 KiB per cookie). */
export const MAX_COOKIE_HEADER_BYTES = 16 * 1024;

export interface CookieAttributes {
  path: string;
  domain?: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite: 'Strict' | 'Lax' | 'None';
  /** Seconds; 0 deletes the cookie. Omitted: a browser-session cookie. */
  maxAge?: number;
}

/** The value of cookie `name` in a Cookie header, or undefined. The first occurrence wins. */
export function readCookie(header: string | string[] | null | undefined, name: string): string | undefined {
  if (header === undefined || header === null) return undefined;
  const text = (Array.isArray(header) ? header.join('; ') : header).slice(0, MAX_COOKIE_HEADER_BYTES);
  let at = 0;
  while (at < text.length) {
    let end = text.indexOf(';', at);
    if (end < 0) end = text.length;
    const eq = text.indexOf('=', at);
    if (eq > at && eq < end && text.slice(at, eq).trim() === name) {
      let value = text.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value;
    }
    at = end + 1;
  }
  return undefined;
}

const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VALUE = /^[!#-+\--:<-[\]-~]*$/; // cookie-octet: no space, DQUOTE, comma, semicolon, backslash

export function serializeCookie(name: string, value: string, a: CookieAttributes): string {
  if (!NAME.test(name)) throw new TypeError(`invalid cookie name ${JSON.stringify(name)}`);
  if (!VALUE.test(value)) throw new TypeError('invalid cookie value');
  let out = `${name}=${value}; Path=${a.path}`;
  if (a.domain) out += `; Domain=${a.domain}`;
  if (a.maxAge !== undefined) {
    out += `; Max-Age=${Math.max(0, Math.floor(a.maxAge))}`;
    if (a.maxAge <= 0) out += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  }
  if (a.httpOnly) out += '; HttpOnly';
  if (a.secure) out += '; Secure';
  out += `; SameSite=${a.sameSite}`;
  return out;
}

// -- the session token --------------------------------------------------------------------------

const ID_BYTES = 16;
const SECRET_BYTES = 32;
const TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export interface SessionToken {
  /** The store key (public: listed to the user, used to revoke). */
  id: string;
  /** Never stored; only its hash is. */
  secret: string;
}

export function newToken(): SessionToken {
  return { id: randomBytes(ID_BYTES).toString('base64url'), secret: randomBytes(SECRET_BYTES).toString('base64url') };
}

export function formatToken(t: SessionToken): string {
  return `${t.id}.${t.secret}`;
}

/**
 * Tokens parsed from recently seen cookie values (value -> frozen token), so a returning cookie
 * costs one map lookup, no regular expression, and its secret is the same string each time (whose
 * hash the map below then finds without rehashing). Bounded like the hashes; oldest dropped first.
 */
const tokens = new Map<string, SessionToken>();

/** Undefined for anything that is not exactly a token's shape. The token returned is frozen (shared). */
export function parseToken(value: string | undefined): SessionToken | undefined {
  if (!value) return undefined;
  let t = tokens.get(value);
  if (t !== undefined) return t;
  const m = TOKEN.exec(value);
  if (!m) return undefined;
  t = Object.freeze({ id: m[1] as string, secret: m[2] as string });
  if (tokens.size >= MAX_CACHED_HASHES) tokens.delete(tokens.keys().next().value as string);
  tokens.set(value, t);
  return t;
}

/** Hashes remembered (secret -> SHA-256), so a returning cookie costs no hash; oldest dropped first. */
export const MAX_CACHED_HASHES = 4096;
const hashes = new Map<string, string>();

export function hashSecret(secret: string): string {
  let h = hashes.get(secret);
  if (h === undefined) {
    h = createHash('sha256').update(secret).digest('base64url');
    if (hashes.size >= MAX_CACHED_HASHES) hashes.delete(hashes.keys().next().value as string);
    hashes.set(secret, h);
  }
  return h;
}

/**
 * Constant-time comparison of two hashes (base64url text, equal length when they match): the
 * time depends on the length only, never on where they differ. No allocation: this is on every
 * request's path.
 */
export function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
