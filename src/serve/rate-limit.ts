// Token buckets for serve's login rate limits: one per client address (at most `maxKeys`
// tracked, the least recently seen forgotten first) under one for the whole node, so neither
// one address nor many together can create logins faster than the limits say.
//
// A bucket holds up to `perMinute` tokens and refills continuously at perMinute per minute; a
// take costs one. Forgetting an address can only give it a full bucket back, which the node's
// bucket still bounds. IPv6 clients are keyed by their /64, the block one subscriber holds.

import { isIPv6 } from 'node:net';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly perKey = new Map<string, Bucket>();
  private readonly total: Bucket;

  constructor(
    private readonly limits: { perKeyPerMinute: number; totalPerMinute: number; maxKeys: number },
    private readonly now: () => number = Date.now,
  ) {
    this.total = { tokens: limits.totalPerMinute, at: now() };
  }

  /** Takes a token for `address`; on refusal, the milliseconds until one is free. */
  take(address: string): { ok: true } | { ok: false; retryAfterMs: number; scope: 'address' | 'node' } {
    const key = addressKey(address);
    const now = this.now();
    let bucket = this.perKey.get(key);
    if (bucket)
      this.perKey.delete(key); // re-inserted below: the Map's order is recency
    else bucket = { tokens: this.limits.perKeyPerMinute, at: now };
    refill(bucket, this.limits.perKeyPerMinute, now);
    refill(this.total, this.limits.totalPerMinute, now);
    this.perKey.set(key, bucket);
    while (this.perKey.size > this.limits.maxKeys) this.perKey.delete(this.perKey.keys().next().value as string);
    if (bucket.tokens < 1)
      return { ok: false, retryAfterMs: untilOne(bucket, this.limits.perKeyPerMinute), scope: 'address' };
    if (this.total.tokens < 1)
      return { ok: false, retryAfterMs: untilOne(this.total, this.limits.totalPerMinute), scope: 'node' };
    bucket.tokens -= 1;
    this.total.tokens -= 1;
    return { ok: true };
  }

  get trackedKeys(): number {
    return this.perKey.size;
  }
}

function refill(bucket: Bucket, perMinute: number, now: number): void {
  bucket.tokens = Math.min(perMinute, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
  bucket.at = now;
}

function untilOne(bucket: Bucket, perMinute: number): number {
  return Math.ceil(((1 - bucket.tokens) * 60_000) / perMinute);
}

/** The address a limit applies to: IPv4 as is, IPv6 by its /64 prefix. */
export function addressKey(address: string): string {
  const a = address.replace(/^::ffff:(?=\d+\.)/, '');
  if (!isIPv6(a)) return a;
  const [head = '', tail = ''] = a.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const full = a.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${full
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
