// Tokens: short-lived JWT access tokens (jose) and opaque rotating refresh tokens.
//
// Access token: signed by the current key of a SigningKeys ring (EdDSA by default), header
// `typ: at+jwt` (RFC 9068) and `kid`; claims iss, aud, sub, iat, exp (at most 15 min), jti and
// `sid` (the refresh family it came from). Verification pins the algorithms, issuer, audience and
// type, finds the key by kid, and checks the deny-list (a jti, or a whole family after a revoke).
//
// Refresh token: `<family>.<secret>` (cookie.ts shape), never a JWT. The store keeps one record
// per family (key `tok:<family>`, indexed under `tok:<subject>`) with the SHA-256 of the current
// secret and of recent rotated ones. Every refresh rotates (RFC 9700 section 4.14.2):
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

import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { SessionError } from '../engine/errors.js';
import { MemoryStore } from '../store/memory-store.js';
import type { SessionStore } from '../store/store.js';
import { formatToken, hashSecret, parseToken, readCookie, sameHash, serializeCookie } from './cookie.js';
import type { SigningKeys } from './signing-keys.js';
import { bounded, GONE, Writer } from './writer.js';
import type {} from '../store/errors.js';
import type {} from './errors.js';
import { Revocations } from './revocation.js';

/** The longest access token lifetime accepted (RFC 9700 recommends short-lived access tokens). */
export const MAX_ACCESS_TTL_MS = 15 * 60_000;
/** Rotated refresh-token hashes remembered per family for reuse detection. */
export const MAX_REMEMBERED_ROTATIONS = 32;
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

export interface AccessClaims extends JWTPayload {
  sub: string;
  jti: string;
  sid: string;
  exp: number;
  iat: number;
}

export interface FamilyInfo {
  familyId: string;
  createdAt: number;
  lastRefreshedAt: number;
  expiresAt: number;
  userAgent?: string;
  address?: string;
}

interface Family {
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
    const end = now + this.o.familyLifetimeMs;
    const family: Family = {
      cur: hashSecret(secret),
      old: [],
      rot: now,
      n: '',
      c: now,
      exp: Math.min(end, now + this.o.refreshTtlMs),
      end,
      claims,
    };
    if (options.userAgent) family.ua = options.userAgent.slice(0, 256);
    if (options.address) family.ip = options.address;
    const outcome = await this.writer.apply(this.key(familyId), (cur) =>
      cur ? GONE : { value: family, principal: this.index(subject) },
    );
    if (outcome === GONE || outcome === null)
      throw new SessionError('ERR_STORE_CONFLICT', 'a new token family id was already taken', 'local', { retries: 0 });
    return this.pair(subject, familyId, secret, family);
  }

  /** The claims of a valid access token; ERR_TOKEN_INVALID (`details.reason`) otherwise. */
  async verify(token: string): Promise<AccessClaims> {
    const keys = this.options.keys;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        async (header) => {
          const key = keys.find(header.kid);
          if (!key || key.alg !== header.alg) throw invalid('unknown-key');
          return key.publicKey;
        },
        {
          issuer: this.options.issuer,
          audience: this.options.audience,
          algorithms: keys.algorithms(),
          typ: 'at+jwt',
          currentDate: new Date(this.now()),
          clockTolerance: Math.ceil(this.o.clockToleranceMs / 1000),
          maxTokenAge: Math.ceil((MAX_ACCESS_TTL_MS + this.o.clockToleranceMs) / 1000),
          requiredClaims: ['sub', 'jti', 'exp', 'iat', 'sid'],
        },
      ));
    } catch (error) {
      throw error instanceof SessionError ? error : invalid(reasonOf(error));
    }
    const claims = payload as AccessClaims;
    if (this.o.denyList) {
      const [byJti, bySid] = await Promise.all([
        bounded(
          this.store.get(this.denyKey('jti', claims.jti), { timeoutMs: this.o.storeTimeoutMs }),
          this.o.storeTimeoutMs,
          'get',
        ),
        bounded(
          this.store.get(this.denyKey('sid', claims.sid), { timeoutMs: this.o.storeTimeoutMs }),
          this.o.storeTimeoutMs,
          'get',
        ),
      ]);
      if (byJti || bySid) throw invalid('revoked');
    }
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
      const f = cur.value;
      subject = this.subjectOf(cur.principal);
      family = f;
      if (now >= f.end || now >= f.exp) {
        verdict = 'expired';
        return GONE;
      }
      if (sameHash(h, f.cur)) {
        const n = randomBytes(16).toString('base64url');
        successor = derive(parsed.secret, n);
        verdict = 'rotated';
        const next: Family = {
          ...f,
          cur: hashSecret(successor),
          old: [f.cur, ...f.old].slice(0, MAX_REMEMBERED_ROTATIONS),
          rot: now,
          n,
          exp: Math.min(f.end, now + this.o.refreshTtlMs),
        };
        if (options.address) next.ip = options.address;
        return { value: next, principal: cur.principal };
      }
      const at = f.old.findIndex((o) => sameHash(h, o));
      if (at === 0 && now - f.rot < this.o.graceMs && sameHash(hashSecret(derive(parsed.secret, f.n)), f.cur)) {
        successor = derive(parsed.secret, f.n);
        verdict = 'grace';
        return undefined;
      }
      verdict = at >= 0 ? 'reuse' : 'wrong';
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
    if (!f || ![f.data.cur, ...f.data.old].some((o) => sameHash(hashSecret(parsed.secret), o))) return false;
    await this.revokeFamily(parsed.id);
    return true;
  }

  /** Revokes a family: its refresh token stops working, and so do access tokens it issued (deny-list by sid). */
  async revokeFamily(familyId: string): Promise<void> {
    this.writer.forget(this.key(familyId));
    await bounded(
      this.store.set(this.denyKey('sid', familyId), 1, {
        ttlMs: this.o.accessTtlMs + this.o.clockToleranceMs,
        timeoutMs: this.o.storeTimeoutMs,
      }),
      this.o.storeTimeoutMs,
      'set',
    );
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
    await Promise.all(
      families.map((f) =>
        bounded(
          this.store.set(this.denyKey('sid', f.familyId), 1, {
            ttlMs: this.o.accessTtlMs + this.o.clockToleranceMs,
            timeoutMs: this.o.storeTimeoutMs,
          }),
          this.o.storeTimeoutMs,
          'set',
        ),
      ),
    );
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
    await bounded(
      this.store.set(this.denyKey('jti', jti), 1, { ttlMs, timeoutMs: this.o.storeTimeoutMs }),
      this.o.storeTimeoutMs,
      'set',
    );
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
      .map((s) => {
        const out: FamilyInfo = {
          familyId: s.id.slice(prefix.length),
          createdAt: s.data.c,
          lastRefreshedAt: s.data.rot,
          expiresAt: Math.min(s.data.exp, s.data.end),
        };
        if (s.data.ua) out.userAgent = s.data.ua;
        if (s.data.ip) out.address = s.data.ip;
        return out;
      });
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
    const key = this.options.keys.current();
    const exp = now + this.o.accessTtlMs;
    const accessToken = await new SignJWT({ ...f.claims, sid: familyId })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(subject)
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(exp / 1000))
      .sign(key.privateKey);
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
  private denyKey(kind: 'jti' | 'sid', id: string): string {
    return `${this.o.namespace}:deny:${kind}:${id}`;
  }
  private index(subject: string): string {
    return `${this.o.namespace}:${subject}`;
  }
  private subjectOf(index: string | null): string {
    return index?.slice(this.o.namespace.length + 1) ?? '';
  }
}

function derive(secret: string, nonce: string): string {
  return createHmac('sha256', secret).update(`colloquy-refresh:${nonce}`).digest('base64url');
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

function invalid(reason: string): SessionError {
  return new SessionError('ERR_TOKEN_INVALID', `access token rejected (${reason})`, 'remote', { reason });
}

function refreshInvalid(reason: string): SessionError {
  return new SessionError('ERR_REFRESH_INVALID', `refresh token rejected (${reason}): log in again`, 'remote', {
    reason,
  });
}

function reasonOf(error: unknown): string {
  const e = error as { code?: string; claim?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return e.claim === 'iss' ? 'issuer' : e.claim === 'aud' ? 'audience' : 'claims';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'malformed';
    default:
      return 'malformed';
  }
}
