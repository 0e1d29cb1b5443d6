// Access tokens: short-lived JWTs (jose, RFC 9068), signed and verified. Pure functions of the key
// ring and the time given; the token service (./tokens.ts) adds the deny-list on top.
//
// Signing: the current key of a SigningKeys ring (EdDSA by default), header `typ: at+jwt` and
// `kid`; claims iss, aud, sub, iat, exp (at most MAX_ACCESS_TTL_MS after iat), jti (random) and
// `sid` (the refresh family the token came from), besides the family's extra claims.
//
// Verification pins what an attacker could otherwise choose: the algorithms (the ring's), the
// issuer, the audience and the type; the key is found by `kid` and must carry the header's alg;
// a token older than MAX_ACCESS_TTL_MS (plus the tolerance) is refused whatever its exp says.
// Every refusal is ERR_TOKEN_INVALID with details.reason: unknown-key, expired, signature,
// algorithm, issuer, audience, claims or malformed (docs/web-sessions.md).

import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { SessionError } from '../engine/errors.js';
import type { SigningKeys } from './signing-keys.js';
import type {} from './errors.js';

/** The longest access token lifetime accepted (RFC 9700 recommends short-lived access tokens). */
export const MAX_ACCESS_TTL_MS = 15 * 60_000;

export interface AccessClaims extends JWTPayload {
  sub: string;
  jti: string;
  sid: string;
  exp: number;
  iat: number;
}

/** Who signs and who accepts: the token service's keys, issuer and audience. */
export interface AccessTokenSetup {
  readonly keys: SigningKeys;
  readonly issuer: string;
  readonly audience: string | string[];
}

/** A signed access token for `subject` in family `sid`, issued at `now`, expiring at `exp` (ms). */
export function signAccessToken(
  setup: AccessTokenSetup,
  subject: string,
  claims: Record<string, unknown>,
  now: number,
  exp: number,
): Promise<string> {
  const key = setup.keys.current();
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(setup.issuer)
    .setAudience(setup.audience)
    .setSubject(subject)
    .setJti(randomUUID())
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor(exp / 1000))
    .sign(key.privateKey);
}

/** The claims of a well-signed, current access token; ERR_TOKEN_INVALID (`details.reason`) otherwise. */
export async function verifyAccessToken(
  setup: AccessTokenSetup,
  token: string,
  now: number,
  clockToleranceMs: number,
): Promise<AccessClaims> {
  const keys = setup.keys;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(
      token,
      async (header) => {
        const key = keys.find(header.kid);
        if (!key || key.alg !== header.alg) throw invalidToken('unknown-key');
        return key.publicKey;
      },
      {
        issuer: setup.issuer,
        audience: setup.audience,
        algorithms: keys.algorithms(),
        typ: 'at+jwt',
        currentDate: new Date(now),
        clockTolerance: Math.ceil(clockToleranceMs / 1000),
        maxTokenAge: Math.ceil((MAX_ACCESS_TTL_MS + clockToleranceMs) / 1000),
        requiredClaims: ['sub', 'jti', 'exp', 'iat', 'sid'],
      },
    ));
  } catch (error) {
    throw error instanceof SessionError ? error : invalidToken(reasonOf(error));
  }
  return payload as AccessClaims;
}

export function invalidToken(reason: string): SessionError {
  return new SessionError('ERR_TOKEN_INVALID', `access token rejected (${reason})`, 'remote', { reason });
}

/** jose's error codes as ERR_TOKEN_INVALID reasons. */
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
