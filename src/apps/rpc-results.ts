// The RPC service's calls by key (./rpc.ts): each request this node runs or ran, so that a retry
// of the same request joins the running call or gets the stored response instead of running
// again. A part the service owns; the key is the request's scope and id (rpc.ts says what a
// scope is).
//
// Rules
//   - A running entry is kept until its response is stored: it is never evicted (it holds the
//     promise a retry joins and the controller $/cancel aborts).
//   - A stored response lives resultTtlMs; the table holds at most maxCachedResults entries and
//     maxCachedBytes (the response's JSON plus the key), the oldest evicted first (a Map keeps
//     insertion order); a response past maxCachedResultBytes is not stored at all.

import type { RpcId, RpcResponse } from './rpc-protocol.js';

export type CallEntry =
  | { state: 'running'; done: Promise<RpcResponse>; controller: AbortController }
  | { state: 'done'; response: RpcResponse; bytes: number; expires: number };

export interface ResultLimits {
  readonly maxCachedResults: number;
  readonly maxCachedBytes: number;
  readonly maxCachedResultBytes: number;
  readonly resultTtlMs: number;
}

/** The table key of request `id` in `scope`: numbers and strings never collide. */
export function callKey(scope: string, id: RpcId): string {
  return `${scope}\u0000${typeof id === 'number' ? `n${id}` : `s${id}`}`;
}

export class CallResults {
  /** Insertion-ordered: the first entries are the oldest (evicted first). */
  private readonly cache = new Map<string, CallEntry>();
  private cachedBytes = 0;

  constructor(private readonly o: ResultLimits) {}

  get stats(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cachedBytes };
  }

  /** The entry as it is, expired or not ($/cancel looks for a running call). */
  get(key: string): CallEntry | undefined {
    return this.cache.get(key);
  }

  /** The entry a request can use: running, or done and not expired (an expired one is dropped). */
  lookup(key: string): CallEntry | undefined {
    const e = this.cache.get(key);
    if (e?.state === 'done' && e.expires <= Date.now()) {
      this.cache.delete(key);
      this.cachedBytes -= e.bytes;
      return undefined;
    }
    return e;
  }

  running(key: string, done: Promise<RpcResponse>, controller: AbortController): void {
    this.cache.set(key, { state: 'running', done, controller });
  }

  /** Stores the response of a finished call (replacing its running entry), then evicts. */
  store(key: string, response: RpcResponse): void {
    this.cache.delete(key);
    const bytes = JSON.stringify(response).length + key.length;
    if (bytes > this.o.maxCachedResultBytes) return;
    this.cache.set(key, { state: 'done', response, bytes, expires: Date.now() + this.o.resultTtlMs });
    this.cachedBytes += bytes;
    const now = Date.now();
    for (const [k, e] of this.cache) {
      if (
        this.cache.size <= this.o.maxCachedResults &&
        this.cachedBytes <= this.o.maxCachedBytes &&
        (e.state === 'running' || e.expires > now)
      )
        break;
      if (e.state === 'running') continue;
      this.cache.delete(k);
      this.cachedBytes -= e.bytes;
    }
  }
}
