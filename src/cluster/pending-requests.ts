// The writes a replication node (replication-node.ts) sent to a remote owner and still waits for.
//
// Theory of operation
//   Each request gets a sequence number `n`, sent with it in this node's stream; the owner's
//   answer comes back in the owner's stream with the same `n` (after the record it wrote, so the
//   change is merged before the caller's promise settles). An answer counts only when it comes
//   from the owner the request went to. A request is rejected, never left waiting, when its
//   caller's signal aborts, when the owner answers with an error, or when the link or stream to
//   that owner is lost (then the write may or may not have been applied: read before retrying).
//   At most `limit` requests wait at once (ERR_STORE_FULL, limit maxPendingRequests).

import { SessionError, type ErrorCode } from '../engine/errors.js';
import type { Result } from './replication-protocol.js';
import type {} from '../store/errors.js';

interface Pending {
  owner: string;
  resolve: (r: Result) => void;
  reject: (e: unknown) => void;
}

export class PendingRequests {
  private readonly pending = new Map<number, Pending>();
  private seq = 0;

  /**
   * Sends a request to `owner` through `send` (given its sequence number; false: the link is down)
   * and resolves with the owner's answer.
   */
  request(
    owner: string,
    id: string,
    limit: number,
    signal: AbortSignal,
    send: (n: number) => boolean,
  ): Promise<Result> {
    if (this.pending.size >= limit)
      throw new SessionError(
        'ERR_STORE_FULL',
        `${limit} requests already wait for remote owners (maxPendingRequests)`,
        'local',
        { limit: 'maxPendingRequests' },
      );
    const n = ++this.seq;
    return new Promise<Result>((resolve, reject) => {
      const done = (): void => {
        this.pending.delete(n);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        done();
        reject(signal.reason);
      };
      this.pending.set(n, {
        owner,
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      signal.addEventListener('abort', onAbort, { once: true });
      if (!send(n)) {
        done();
        reject(
          new SessionError(
            'ERR_STORE_UNAVAILABLE',
            `the link to node ${owner}, which owns session ${id}, is down`,
            'local',
            { cause: 'owner-unreachable', owner },
          ),
        );
      }
    });
  }

  /** The owner `peer` answered request `n`. */
  answer(peer: string, n: number, r: Result): void {
    const p = this.pending.get(n);
    if (p && p.owner === peer) p.resolve(r);
  }

  /** The owner `peer` refused request `n`. */
  fail(peer: string, n: number, err: { code: string; message: string }): void {
    const p = this.pending.get(n);
    if (!p || p.owner !== peer) return;
    const code = (
      ['ERR_STORE_FULL', 'ERR_INVALID_ARGUMENT', 'ERR_STORE_UNAVAILABLE'].includes(err.code)
        ? err.code
        : 'ERR_STORE_UNAVAILABLE'
    ) as ErrorCode;
    p.reject(new SessionError(code, `owner ${peer}: ${err.message}`, 'remote', { owner: peer, cause: err.code }));
  }

  /** Every request waiting for `peer` fails: the way its answer would come is gone. */
  failPeer(peer: string, reason: string): void {
    for (const p of [...this.pending.values()]) {
      if (p.owner === peer)
        p.reject(
          new SessionError(
            'ERR_STORE_UNAVAILABLE',
            `the link to node ${peer} was lost (${reason}); the write may or may not have been applied: read before retrying`,
            'local',
            { cause: 'link-lost', owner: peer },
          ),
        );
    }
  }
}
