// Helpers every store shares: argument checks with coded errors, JSON serialisation, and the
// min-heap of deadlines that drives expiry sweeps.

import { SessionError } from '../engine/errors.js';

/** The longest TTL accepted (about 317 years): anything longer is a mistake, not a policy. */
export const MAX_TTL_MS = 1e13;

export function serialise(data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new SessionError('ERR_INVALID_ARGUMENT', `session data must be JSON-serialisable: ${(error as Error).message}`, 'local');
  }
  if (json === undefined) throw new SessionError('ERR_INVALID_ARGUMENT', 'session data must be JSON-serialisable', 'local');
  return json;
}

export function checkTtl(ttlMs: number | undefined): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
    throw new SessionError('ERR_INVALID_ARGUMENT', `ttlMs must be a positive number of milliseconds up to ${MAX_TTL_MS}`, 'local', { ttlMs });
  }
  return Math.ceil(ttlMs);
}

export function checkId(id: string): void {
  if (typeof id !== 'string') throw new SessionError('ERR_INVALID_ARGUMENT', 'a session id must be a string', 'local', { id });
}

export function checkPrincipal(principal: string): void {
  if (typeof principal !== 'string') throw new SessionError('ERR_INVALID_ARGUMENT', 'a principal must be a string', 'local', { principal });
}

export function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new SessionError('ERR_INVALID_ARGUMENT', `${name} must be a positive number`, 'local', { [name]: value });
  return value;
}

export function nonNegative(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new SessionError('ERR_INVALID_ARGUMENT', `${name} must be zero or more`, 'local', { [name]: value });
  return value;
}

export type Item = { at: number; id: string };

export function pushHeap(h: Item[], item: Item): void {
  h.push(item);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if ((h[p] as Item).at <= item.at) break;
    h[i] = h[p] as Item;
    i = p;
  }
  h[i] = item;
}

export function popMin(h: Item[]): Item {
  const top = h[0] as Item;
  const last = h.pop() as Item;
  if (h.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mAt = last.at;
      if (l < h.length && (h[l] as Item).at < mAt) { m = l; mAt = (h[l] as Item).at; }
      if (r < h.length && (h[r] as Item).at < mAt) m = r;
      if (m === i) break;
      h[i] = h[m] as Item;
      i = m;
    }
    h[i] = last;
  }
  return top;
}
