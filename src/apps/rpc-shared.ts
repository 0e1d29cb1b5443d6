// The RPC service's calls in a shared store, so that exactly-once holds across nodes: a retry
// that lands on another node (the session moved after its node died, or a new session of the
// same client) joins the call still running somewhere or gets its stored answer.
//
// Theory of operation
//   One store record per call key (scope + request id, as in ./rpc.ts):
//     {state:"running", until}     written by the node that runs it: create-if-absent (CAS on
//                                  version 0); `until` is a lease the runner renews every
//                                  leaseMs/3 while the method runs
//     {state:"done", response}     written when it finished, only by the holder of the current
//                                  lease: CAS on the version its claim or last renewal wrote;
//                                  lives resultTtlMs and never changes once written
//   claim(key): CAS(0) creates the running record (we run it: one round trip), else the record
//   says done (the answer) or running (someone else runs it: poll every pollMs until it is done,
//   or until its lease ran out: its node died; then take it over by CAS on the version we read
//   and run it again, `attempt` + 1). Polls stop at callTimeoutMs + leaseMs.
//   A runner whose lease ran out while it ran (its process was frozen, or cut off from the
//   store) and was taken over finds its CAS refused when it finishes: its result is discarded
//   (published on STALE_RUN_CHANNEL) and it answers with what the current holder stores, so
//   every client and every retry gets the same one answer.
//   Cost per call that nobody else asks for: 2 store writes (the running record, the answer),
//   plus one renewal per leaseMs/3 of running time. A method whose node died while it ran runs
//   again on the node that takes it over: at most one answer is ever stored and delivered, and
//   the method can tell a rerun by `context.attempt`.

import { channel } from 'node:diagnostics_channel';
import type { SessionStore } from '../store/store.js';
import { RpcErrorCode, errorResponse } from './rpc-protocol.js';
import type { RpcResponse } from './rpc-protocol.js';

/** Published when a run finished after its lease was taken over: its result was discarded. */
export const STALE_RUN_CHANNEL = 'colloquy:rpc:stale-run';
export interface StaleRunMessage {
  key: string;
  attempt: number;
}
const staleRun = channel(STALE_RUN_CHANNEL);

export interface SharedCallsOptions {
  store: SessionStore;
  /** Key prefix in the store. Default "colloquy:rpc:". */
  keyPrefix?: string;
  /** A running call's lease: its node renews it every third of this; a lease older than this means the node died. Default 3000 ms. */
  leaseMs?: number;
  /** How often a node waiting for a call another node runs reads its record. Default 100 ms. */
  pollMs?: number;
}

type Record =
  { state: 'running'; until: number; attempt: number } | { state: 'done'; response: RpcResponse; attempt: number };

/** A call this node holds: `version` is the record's version its claim or last renewal wrote. */
export interface Lease {
  readonly key: string;
  readonly attempt: number;
  version: number;
}

export type Claim = { kind: 'run'; lease: Lease } | { kind: 'done'; response: RpcResponse };

const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    (t as { unref?: () => void }).unref?.();
  });

export class SharedCalls {
  private readonly prefix: string;
  readonly leaseMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly o: SharedCallsOptions,
    private readonly ttlMs: number,
    private readonly waitMs: number,
  ) {
    this.prefix = o.keyPrefix ?? 'colloquy:rpc:';
    this.leaseMs = o.leaseMs ?? 3000;
    this.pollMs = o.pollMs ?? 100;
  }

  private key(k: string): string {
    return this.prefix + k;
  }

  /** Run it here, or the answer of whoever ran it (waiting while another live node runs it). */
  async claim(k: string, signal: AbortSignal): Promise<Claim> {
    const key = this.key(k);
    const deadline = performance.now() + this.waitMs + this.leaseMs;
    let expected = 0;
    let attempt = 1;
    for (;;) {
      const version = await this.o.store.compareAndSet<Record>(
        key,
        expected,
        { state: 'running', until: Date.now() + this.leaseMs, attempt },
        { ttlMs: this.ttlMs },
      );
      if (version !== null) return { kind: 'run', lease: { key: k, attempt, version } };
      // Someone else has it: wait for its answer, or for its lease to run out (its node died).
      for (;;) {
        const seen = await this.o.store.get<Record>(key);
        if (!seen) {
          expected = 0;
          attempt = 1;
          break;
        } // expired meanwhile: claim it afresh
        if (seen.data.state === 'done') return { kind: 'done', response: seen.data.response };
        if (seen.data.until < Date.now()) {
          expected = seen.version;
          attempt = seen.data.attempt + 1;
          break;
        }
        if (signal.aborted || performance.now() > deadline)
          throw new Error('the call another node runs did not finish in time');
        await sleep(this.pollMs);
      }
    }
  }

  /** Keeps the lease of a call this node runs; returns the function that stops renewing (resolves once no renewal is in flight). */
  renew(lease: Lease): () => Promise<void> {
    let stopped = false;
    let pending: Promise<void> | null = null;
    const timer = setInterval(
      () => {
        if (stopped || pending) return; // one renewal at a time, each on the version the last one wrote
        pending = this.o.store
          .compareAndSet<Record>(
            this.key(lease.key),
            lease.version,
            { state: 'running', until: Date.now() + this.leaseMs, attempt: lease.attempt },
            { ttlMs: this.ttlMs },
          )
          .then(
            (v) => {
              if (v !== null) lease.version = v;
            },
            () => {
              /* the next renewal tries again; the lease is three renewals long */
            },
          )
          .finally(() => {
            pending = null;
          });
      },
      Math.max(1, Math.floor(this.leaseMs / 3)),
    );
    (timer as { unref?: () => void }).unref?.();
    return async () => {
      stopped = true;
      clearInterval(timer);
      await pending;
    };
  }

  /**
   * Stores this run's answer if the lease is still ours (CAS on its version) and returns it; else
   * another node took the call over: this result is discarded and the answer is the one the
   * current holder stores (waited for like any claim; if its lease runs out too, ours is stored
   * under a new lease). Stop renewing first. Rejects when the store does not answer.
   */
  async finish(lease: Lease, response: RpcResponse): Promise<RpcResponse> {
    const key = this.key(lease.key);
    let version = lease.version;
    for (let tries = 0; tries < 3; tries++) {
      const v = await this.o.store.compareAndSet<Record>(
        key,
        version,
        { state: 'done', response, attempt: lease.attempt },
        { ttlMs: this.ttlMs },
      );
      if (v !== null) {
        lease.version = v;
        return response;
      }
      if (tries === 0 && staleRun.hasSubscribers)
        staleRun.publish({ key: lease.key, attempt: lease.attempt } satisfies StaleRunMessage);
      let claim: Claim;
      try {
        claim = await this.claim(lease.key, new AbortController().signal); // bounded by its own deadline
      } catch {
        break;
      }
      if (claim.kind === 'done') return claim.response;
      version = claim.lease.version;
    }
    return errorResponse(
      response.id,
      RpcErrorCode.applicationError,
      'this node ran the call past its lease and another node took it over, which has not answered yet; retry with the same id for its answer',
      { code: 'ERR_RPC_SUPERSEDED', details: {} },
    );
  }
}
