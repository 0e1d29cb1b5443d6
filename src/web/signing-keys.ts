// SigningKeys: the key ring that signs access tokens, with rotation and a JWKS document.
//
// One key is current (it signs); keys rotated out stay for verification until every token they
// signed has expired (`retireAfterMs`, default 15 min + 1 min skew), then they are dropped. Each
// key has a `kid` (its RFC 7638 thumbprint) carried in the token header, so verifiers pick the
// right key without trying them all. Algorithms are pinned: EdDSA (Ed25519) by default, ES256 or
// ES384 when asked; a token whose header names another algorithm never reaches a key.
//
// Several nodes must share the ring: export it with `exportPrivate()` (keep that secret) and
// load it with `SigningKeys.fromPrivate()`; publish `jwks()` for third-party verifiers.

import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { SessionError } from '../engine/errors.js';

export type TokenAlgorithm = 'EdDSA' | 'ES256' | 'ES384';
export const TOKEN_ALGORITHMS: readonly TokenAlgorithm[] = ['EdDSA', 'ES256', 'ES384'];

/** Keys kept for verification at most (current included); rotating past it drops the oldest. */
export const MAX_KEYS = 16;

export interface SigningKey {
  kid: string;
  alg: TokenAlgorithm;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  /** When it stopped signing (ms), or null while current. */
  rotatedAt: number | null;
}

export interface SigningKeysOptions {
  /** Algorithm of generated keys. Default 'EdDSA'. */
  alg?: TokenAlgorithm;
  /** How long a rotated-out key still verifies. Default 16 min (the longest access token + 1 min). */
  retireAfterMs?: number;
  now?: () => number;
}

export class SigningKeys {
  private keys: SigningKey[] = [];
  private readonly now: () => number;
  private readonly retireAfterMs: number;
  readonly alg: TokenAlgorithm;

  private constructor(options: SigningKeysOptions) {
    this.alg = checkAlg(options.alg ?? 'EdDSA');
    this.now = options.now ?? Date.now;
    this.retireAfterMs = options.retireAfterMs ?? 16 * 60_000;
  }

  /** A ring with one freshly generated key. */
  static async generate(options: SigningKeysOptions = {}): Promise<SigningKeys> {
    const ring = new SigningKeys(options);
    ring.keys.push(await makeKey(ring.alg));
    return ring;
  }

  /** A ring from `exportPrivate()` output (the first key signs). */
  static async fromPrivate(jwks: { keys: JWK[] }, options: SigningKeysOptions = {}): Promise<SigningKeys> {
    const ring = new SigningKeys(options);
    for (const [i, jwk] of jwks.keys.entries()) {
      const alg = checkAlg(jwk.alg as TokenAlgorithm);
      if (!jwk.d) throw new SessionError('ERR_INVALID_ARGUMENT', `key ${i} has no private part`, 'local');
      const privateKey = (await importJWK(jwk, alg, { extractable: true })) as CryptoKey;
      const { d: _d, ...pub } = jwk;
      const publicKey = (await importJWK(pub, alg, { extractable: true })) as CryptoKey;
      const publicJwk = await publicOf(publicKey, alg);
      ring.keys.push({
        kid: publicJwk.kid as string,
        alg,
        privateKey,
        publicKey,
        publicJwk,
        rotatedAt: i === 0 ? null : ring.now(),
      });
    }
    if (ring.keys.length === 0)
      throw new SessionError('ERR_INVALID_ARGUMENT', 'a key ring needs at least one key', 'local');
    return ring;
  }

  /** The key that signs now. */
  current(): SigningKey {
    return this.keys[0] as SigningKey;
  }

  /** A key that may verify (current or rotated out less than retireAfterMs ago). */
  find(kid: string | undefined): SigningKey | undefined {
    this.prune();
    return kid === undefined ? undefined : this.keys.find((k) => k.kid === kid);
  }

  /** Algorithms a verifier accepts: those of the keys in the ring. */
  algorithms(): TokenAlgorithm[] {
    return [...new Set(this.keys.map((k) => k.alg))];
  }

  /** A new current key; the old one verifies for retireAfterMs more. Resolves with the new kid. */
  async rotate(alg: TokenAlgorithm = this.alg): Promise<string> {
    const key = await makeKey(checkAlg(alg));
    const old = this.current();
    old.rotatedAt = this.now();
    this.keys.unshift(key);
    if (this.keys.length > MAX_KEYS) this.keys.length = MAX_KEYS;
    return key.kid;
  }

  /** Drops a key now (compromised): tokens it signed stop verifying at once. The current key cannot be retired; rotate first. */
  retire(kid: string): boolean {
    if (this.current().kid === kid)
      throw new SessionError(
        'ERR_INVALID_ARGUMENT',
        'the current signing key cannot be retired; rotate() first',
        'local',
      );
    const before = this.keys.length;
    this.keys = this.keys.filter((k) => k.kid !== kid);
    return this.keys.length < before;
  }

  /** The public JWKS document (RFC 7517) of every key that may verify. */
  jwks(): { keys: JWK[] } {
    this.prune();
    return { keys: this.keys.map((k) => ({ ...k.publicJwk })) };
  }

  /** Every key with its private part, for other nodes (`fromPrivate`). Keep it secret. */
  async exportPrivate(): Promise<{ keys: JWK[] }> {
    return {
      keys: await Promise.all(
        this.keys.map(async (k) => ({ ...(await exportJWK(k.privateKey)), kid: k.kid, alg: k.alg, use: 'sig' })),
      ),
    };
  }

  private prune(): void {
    const now = this.now();
    this.keys = this.keys.filter((k) => k.rotatedAt === null || now - k.rotatedAt < this.retireAfterMs);
  }
}

function checkAlg(alg: TokenAlgorithm): TokenAlgorithm {
  if (!TOKEN_ALGORITHMS.includes(alg))
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `token algorithm must be one of ${TOKEN_ALGORITHMS.join(', ')}`,
      'local',
      { alg },
    );
  return alg;
}

async function makeKey(alg: TokenAlgorithm): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  });
  const publicJwk = await publicOf(publicKey, alg);
  return { kid: publicJwk.kid as string, alg, privateKey, publicKey, publicJwk, rotatedAt: null };
}

async function publicOf(publicKey: CryptoKey, alg: TokenAlgorithm): Promise<JWK> {
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, alg, use: 'sig' };
}
