// Tokens: short-lived JWT access tokens (jose) and opaque rotating refresh tokens.
//
// The token service: one object a web app keeps, issuing a pair at login, verifying access
// tokens, rotating refresh tokens, revoking (one family, a subject's every family, one token) and
// the browser cookie for the refresh token. Its parts, each with its own rules:
//   ./access-token.ts    the JWT access token, signed and verified (RFC 9068)
//   ./refresh-family.ts  the refresh token's family record and the rotation rule (RFC 9700 4.14.2)
//   ./deny-list.ts       access tokens refused by jti or by family until they would have expired
//   ./writer.ts          every family write as a compare-and-set (group commit, retries)
// This file ties them to the store: keys `<namespace>:f:<family>` indexed under
// `<namespace>:<subject>`, and `revocations` for endRealtimeOnRevoke (./revocation.ts).

import { randomBytes } from 'node:crypto';
import { SessionError } from '../engine/errors.js';
import { MemoryStore } from '../store/memory-store.js';
import type { SessionStore } from '../store/store.js';
import {
  MAX_ACCESS_TTL_MS,
  invalidToken,
  signAccessToken,
  verifyAccessToken,
  type AccessClaims,
} from './access-token.js';
import { formatToken, hashSecret, parseToken, readCookie, serializeCookie } from './cookie.js';
import { DenyList } from './deny-list.js';
import { familyInfo, holds, newFamily, rotate, type Family, type FamilyInfo } from './refresh-family.js';
import type { SigningKeys } from './signing-keys.js';
import { bounded, GONE, Writer } from './writer.js';
import type {} from '../store/errors.js';
import type {} from './errors.js';
import { Revocations } from './revocation.js';

export { MAX_ACCESS_TTL_MS, type AccessClaims } from './access-token.js';
export { MAX_REMEMBERED_ROTATIONS, type FamilyInfo } from './refresh-family.js';

/** Extra claims at most, serialised. */
export const MAX_CLAIMS_BYTES = 4096;

const RESERVED = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sid']);

export interface TokenServiceOptions {
  keys: SigningKeys;
  issuer: string;
  audience: string | string[];
  /** Refresh families and the deny-list. Default: a new MemoryStore. */
  store?: SessionStore;
  /** Default 10 min; at most 15 min. */
  accessTtlMs?: number;
  /** An unused refresh token dies after this. Default 14 days. */
  refreshTtlMs?: number;
  /** A family (one login) ends after this, however often refreshed. Default 30 days. */
  familyLifetimeMs?: number;
  /** A just-rotated refresh token still yields its successor for this long. Default 10 s. */
  graceMs?: number;
  /** Clock skew tolerated on exp/iat. Default 5 s. */
  clockToleranceMs?: number;
  /** Check the deny-list in verify() (one store read per token). Default true. */
  denyList?: boolean;
  storeTimeoutMs?: number;
  now?: () => number;
  namespace?: string;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  /** Seconds the access token lives (OAuth `expires_in`). */
  expiresIn: number;
  accessExpiresAt: number;
  refreshExpiresAt: number;
  /** The refresh family (one login); `sid` in the access token. */
  familyId: string;
}

export class TokenService {
  readonly store: SessionStore;
  /** Each family, subject or access token revoked here, for endRealtimeOnRevoke (src/web/revocation.ts). */
  readonly revocations = new Revocations();
  private readonly o: Required<
    Pick<
      TokenServiceOptions,
      | 'accessTtlMs'
      | 'refreshTtlMs'
      | 'familyLifetimeMs'
      | 'graceMs'
      | 'clockToleranceMs'
      | 'storeTimeoutMs'
      | 'namespace'
      | 'denyList'
    >
  >;
  private readonly now: () => number;
  private readonly writer: Writer<Family>;
  private readonly denied: DenyList;

  constructor(private readonly options: TokenServiceOptions) {
    this.store = options.store ?? new MemoryStore();
    this.now = options.now ?? Date.now;
    this.o = {
      accessTtlMs: options.accessTtlMs ?? 10 * 60_000,
      refreshTtlMs: options.refreshTtlMs ?? 14 * 86_400_000,
      familyLifetimeMs: options.familyLifetimeMs ?? 30 * 86_400_000,
      graceMs: options.graceMs ?? 10_000,
      clockToleranceMs: options.clockToleranceMs ?? 5000,
      storeTimeoutMs: options.storeTimeoutMs ?? 1000,
      namespace: options.namespace ?? 'tok',
      denyList: options.denyList ?? true,
    };
    if (!(this.o.accessTtlMs > 0 && this.o.accessTtlMs <= MAX_ACCESS_TTL_MS)) {
      throw new SessionError(
        'ERR_INVALID_ARGUMENT',
        `accessTtlMs must be between 1 ms and ${MAX_ACCESS_TTL_MS} ms (15 min)`,
        'local',
        { accessTtlMs: this.o.accessTtlMs },
      );
    }
    for (const k of ['refreshTtlMs', 'familyLifetimeMs'] as const) {
      if (!(this.o[k] > 0))
        throw new SessionError('ERR_INVALID_ARGUMENT', `${k} must be positive`, 'local', { [k]: this.o[k] });
    }
    this.writer = new Writer<Family>({
      store: this.store,
      ttl: (f) => Math.min(f.exp, f.end) - this.now(),
      timeoutMs: this.o.storeTimeoutMs,
      maxRetries: 16,
      guard: (p, op) => bounded(p, this.o.storeTimeoutMs, op),
    });
    this.denied = new DenyList(this.store, this.o);
  }

  get accessTtlMs(): number {
    return this.o.accessTtlMs;
  }

  // -- issue, verify ------------------------------------------------------------------------

  /** Starts a family (a login) for `subject`: an access token and its first refresh token. */
  async issue(
    subject: string,
    options: { claims?: Record<string, unknown>; userAgent?: string; address?: string } = {},
  ): Promise<TokenPair> {
    if (typeof subject !== 'string' || subject === '')
      throw new SessionError('ERR_INVALID_ARGUMENT', 'a token subject must be a non-empty string', 'local');
    const claims = checkClaims(options.claims ?? {});
    const now = this.now();
    const familyId = randomBytes(16).toString('base64url');
    const secret = randomBytes(32).toString('base64url');
    const family = newFamily(secret, now, this.o, claims, options.userAgent, options.address);
    const outcome = await this.writer.apply(this.key(familyId), (cur) =>
      cur ? GONE : { value: family, principal: this.index(subject) },
    );
    if (outcome === GONE || outcome === null)
      throw new SessionError('ERR_STORE_CONFLICT', 'a new token family id was already taken', 'local', { retries: 0 });
    return this.pair(subject, familyId, secret, family);
  }

  /** The claims of a valid access token; ERR_TOKEN_INVALID (`details.reason`) otherwise. */
  async verify(token: string): Promise<AccessClaims> {
    const claims = await verifyAccessToken(this.options, token, this.now(), this.o.clockToleranceMs);
    if (this.o.denyList && (await this.denied.denied(claims.jti, claims.sid))) throw invalidToken('revoked');
    return claims;
  }

  // -- refresh --------------------------------------------------------------------------------

  /** Rotates a refresh token: a new pair, or ERR_REFRESH_INVALID / ERR_REFRESH_REUSED (family revoked). */
  async refresh(refreshToken: string, options: { address?: string } = {}): Promise<TokenPair> {
    const parsed = parseToken(refreshToken);
    if (!parsed) throw refreshInvalid('malformed');
    const h = hashSecret(parsed.secret);
    const now = this.now();
    let verdict = 'unknown' as 'rotated' | 'grace' | 'reuse' | 'unknown' | 'expired' | 'wrong';
    let successor = '';
    let subject = '';
    let family = null as Family | null;
    const outcome = await this.writer.apply(this.key(parsed.id), (cur) => {
      family = null;
      if (!cur) {
        verdict = 'unknown';
        return GONE;
      }
      subject = this.subjectOf(cur.principal);
      family = cur.value;
      const r = rotate(cur.value, parsed.secret, h, now, this.o, options.address);
      verdict = r.verdict;
      if (r.verdict === 'expired') return GONE;
      if (r.verdict === 'rotated') {
        successor = r.successor;
        return { value: r.next, principal: cur.principal };
      }
      if (r.verdict === 'grace') successor = r.successor;
      return undefined;
    });
    if (verdict === 'reuse') {
      await this.revokeFamily(parsed.id);
      throw new SessionError(
        'ERR_REFRESH_REUSED',
        'this refresh token was already used: its whole family has been revoked, log in again',
        'remote',
        { familyId: parsed.id },
      );
    }
    if (verdict === 'rotated' || verdict === 'grace') {
      const f = verdict === 'rotated' && outcome !== GONE && outcome !== null ? outcome.value : family;
      if (!f) throw refreshInvalid('unknown');
      return this.pair(subject, parsed.id, successor, f);
    }
    throw refreshInvalid(verdict);
  }

  // -- revocation, listing ------------------------------------------------------------------

  /** Logout: revokes the family a refresh token belongs to. False when it was unknown. */
  async revoke(refreshToken: string): Promise<boolean> {
    const parsed = parseToken(refreshToken);
    if (!parsed) return false;
    const f = await bounded(
      this.store.get<Family>(this.key(parsed.id), { timeoutMs: this.o.storeTimeoutMs }),
      this.o.storeTimeoutMs,
      'get',
    );
    if (!f || !holds(f.data, parsed.secret)) return false;
    await this.revokeFamily(parsed.id);
    return true;
  }

  /** Revokes a family: its refresh token stops working, and so do access tokens it issued (deny-list by sid). */
  async revokeFamily(familyId: string): Promise<void> {
    this.writer.forget(this.key(familyId));
    await this.denied.denyFamily(familyId);
    await bounded(
      this.store.destroy(this.key(familyId), { timeoutMs: this.o.storeTimeoutMs }),
      this.o.storeTimeoutMs,
      'destroy',
    );
    this.revocations.emit({ kind: 'token-family', familyId });
  }

  /** Revokes every family of `subject` (log out everywhere); resolves with how many there were. */
  async revokeAll(subject: string): Promise<number> {
    const families = await this.listFamilies(subject);
    await Promise.all(families.map((f) => this.denied.denyFamily(f.familyId)));
    const ended = await bounded(
      this.store.destroyByPrincipal(this.index(subject), { timeoutMs: this.o.storeTimeoutMs }),
      this.o.storeTimeoutMs,
      'destroyByPrincipal',
    );
    this.revocations.emit({ kind: 'token-subject', subject });
    return ended;
  }

  /** Deny-lists one access token by jti until it would have expired anyway. */
  async deny(jti: string, expiresAtSeconds?: number): Promise<void> {
    const until = expiresAtSeconds !== undefined ? expiresAtSeconds * 1000 : this.now() + this.o.accessTtlMs;
    const ttlMs = Math.max(1, until - this.now() + this.o.clockToleranceMs);
    await this.denied.denyToken(jti, ttlMs);
    this.revocations.emit({ kind: 'access-token', jti });
  }

  /** A subject's live families (logins), oldest first. */
  async listFamilies(subject: string): Promise<FamilyInfo[]> {
    const all = await bounded(
      this.store.listByPrincipal<Family>(this.index(subject), { timeoutMs: this.o.storeTimeoutMs }),
      this.o.storeTimeoutMs,
      'listByPrincipal',
    );
    const now = this.now();
    const prefix = `${this.o.namespace}:f:`;
    return all
      .filter((s) => s.id.startsWith(prefix) && now < Math.min(s.data.exp, s.data.end))
      .map((s) => familyInfo(s.id.slice(prefix.length), s.data));
  }

  // -- JWKS and the browser cookie ------------------------------------------------------------

  /** The JWKS document to serve at /.well-known/jwks.json. */
  jwks(): { keys: Record<string, unknown>[] } {
    return this.options.keys.jwks() as { keys: Record<string, unknown>[] };
  }

  /** The JWKS as a Web Response (cacheable for 5 minutes: shorter than a key's retirement). */
  jwksResponse(): Response {
    return new Response(JSON.stringify(this.jwks()), {
      headers: { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' },
    });
  }

  /**
   * Set-Cookie for a refresh token kept by a browser: HttpOnly (no script reads it), SameSite
   * Strict, Path limited to the refresh endpoint, `__Secure-` over TLS, Max-Age to its deadline.
   */
  refreshCookie(pair: TokenPair | null, options: { secure: boolean; path?: string; name?: string }): string {
    const name = refreshCookieName(options);
    const maxAge = pair ? Math.ceil((pair.refreshExpiresAt - this.now()) / 1000) : 0;
    return serializeCookie(name, pair ? pair.refreshToken : '', {
      path: options.path ?? '/auth',
      secure: options.secure,
      httpOnly: true,
      sameSite: 'Strict',
      maxAge,
    });
  }

  /** The refresh token from a Cookie header (see refreshCookie). */
  readRefreshCookie(
    cookie: string | string[] | null | undefined,
    options: { secure: boolean; name?: string },
  ): string | undefined {
    return readCookie(cookie, refreshCookieName(options));
  }

  async close(): Promise<void> {
    if (!this.options.store) await this.store.close();
  }

  // -- internals ------------------------------------------------------------------------------

  private async pair(subject: string, familyId: string, secret: string, f: Family): Promise<TokenPair> {
    const now = this.now();
    const exp = now + this.o.accessTtlMs;
    const accessToken = await signAccessToken(this.options, subject, { ...f.claims, sid: familyId }, now, exp);
    return {
      accessToken,
      refreshToken: formatToken({ id: familyId, secret }),
      tokenType: 'Bearer',
      expiresIn: Math.floor(this.o.accessTtlMs / 1000),
      accessExpiresAt: Math.floor(exp / 1000) * 1000,
      refreshExpiresAt: Math.min(f.exp, f.end),
      familyId,
    };
  }

  private key(familyId: string): string {
    return `${this.o.namespace}:f:${familyId}`;
  }
  private index(subject: string): string {
    return `${this.o.namespace}:${subject}`;
  }
  private subjectOf(index: string | null): string {
    return index?.slice(this.o.namespace.length + 1) ?? '';
  }
}

function refreshCookieName(options: { secure: boolean; name?: string }): string {
  const base = options.name ?? 'rt';
  return options.secure ? `__Secure-${base}` : base;
}

function checkClaims(claims: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(claims)) {
    if (RESERVED.has(k))
      throw new SessionError('ERR_INVALID_ARGUMENT', `claim '${k}' is set by the token service`, 'local', { claim: k });
  }
  const json = JSON.stringify(claims);
  if (json.length > MAX_CLAIMS_BYTES)
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `extra claims exceed ${MAX_CLAIMS_BYTES} bytes (MAX_CLAIMS_BYTES)`,
      'local',
    );
  return JSON.parse(json) as Record<string, unknown>;
}

function refreshInvalid(reason: string): SessionError {
  return new SessionError('ERR_REFRESH_INVALID', `refresh token rejected (${reason}): log in again`, 'remote', {
    reason,
  });
}
