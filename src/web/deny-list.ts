// The deny-list of access tokens, as a part the token service (./tokens.ts) owns. An access token
// cannot be recalled once issued, so a revoked one is refused by name until it would have expired
// anyway: a single token by its `jti`, every token of a refresh family by its `sid`. Entries live
// in the session store (keys `<namespace>:deny:jti:<jti>`, `<namespace>:deny:sid:<family>`) with
// a TTL, so the list never outgrows the tokens still alive and every node sees it.
//
// Every store call is bounded by storeTimeoutMs (./writer.ts `bounded`).

import type { SessionStore } from '../store/store.js';
import { bounded } from './writer.js';
import type {} from '../store/errors.js';

export interface DenyListOptions {
  readonly namespace: string;
  readonly storeTimeoutMs: number;
  readonly accessTtlMs: number;
  readonly clockToleranceMs: number;
}

export class DenyList {
  constructor(
    private readonly store: SessionStore,
    private readonly o: DenyListOptions,
  ) {}

  /** Whether the token `jti` of family `sid` was denied (two store reads at once). */
  async denied(jti: string, sid: string): Promise<boolean> {
    const [byJti, bySid] = await Promise.all([this.get('jti', jti), this.get('sid', sid)]);
    return Boolean(byJti || bySid);
  }

  /** Every access token of family `familyId` is refused until the newest would have expired. */
  denyFamily(familyId: string): Promise<void> {
    return this.set('sid', familyId, this.o.accessTtlMs + this.o.clockToleranceMs);
  }

  /** The access token `jti` is refused for `ttlMs`. */
  denyToken(jti: string, ttlMs: number): Promise<void> {
    return this.set('jti', jti, ttlMs);
  }

  private get(kind: 'jti' | 'sid', id: string): Promise<unknown> {
    return bounded(
      this.store.get(this.key(kind, id), { timeoutMs: this.o.storeTimeoutMs }),
      this.o.storeTimeoutMs,
      'get',
    );
  }

  private async set(kind: 'jti' | 'sid', id: string, ttlMs: number): Promise<void> {
    await bounded(
      this.store.set(this.key(kind, id), 1, { ttlMs, timeoutMs: this.o.storeTimeoutMs }),
      this.o.storeTimeoutMs,
      'set',
    );
  }

  private key(kind: 'jti' | 'sid', id: string): string {
    return `${this.o.namespace}:deny:${kind}:${id}`;
  }
}
