// The RPC service's calls in a shared store, so that exactly-once holds across nodes: a retry
// that lands on another node (the session moved after its node died, or a new session of the
// same client) joins the call still running somewhere or gets its stored answer.
//
// Theory of operation
//   One store record per call key (scope + request id, as in ./rpc.ts):
//     {state:"running", until}     written by the node that runs it: create-if-absent (CAS on
//                                  version 0); `until` is a lease the runner renews every
//                                  leaseMs/3 while the method runs
//     {state:"done", response}     written when it finished; lives resultTtlMs
//   claim(key): CAS(0) creates the running record (we run it: one round trip), else the record
//   says done (the answer) or running (someone else runs it: poll every pollMs until it is done,
//   or until its lease ran out: its node died; then take it over by CAS on the version we read
//   and run it again, `attempt` + 1). Polls stop at callTimeoutMs + leaseMs.
//   Cost per call that nobody else asks for: 2 store writes (the running record, the answer),
//   plus one renewal per leaseMs/3 of running time. A method whose node died while it ran runs
//   again on the node that takes it over: at most one answer is ever stored and delivered, and
//   the method can tell a rerun by `context.attempt`.

import type { SessionStore } from '../store/store.js';
import type { RpcResponse } from './rpc-protocol.js';

export interface SharedCallsOptions {
  store: SessionStore;
  /** Key prefix in the store. Default "colloquy:rpc:". */
  keyPrefix?: string;
  /** A running call's lease: its node renews it every third of this; a lease older than this means the node died. Default 3000 ms. */
  leaseMs?: number;
  /** How often a node waiting for a call another node runs reads its record. Default 100 ms. */
  pollMs?: number;
}

type Record = { state: 'running'; until: number; attempt: number } | { state: 'done'; response: RpcResponse };

export type Claim =
  | { kind: 'run'; attempt: number; version: number }
  | { kind: 'done'; response: RpcResponse };

const sleep = (ms: number): Promise<void> => new Promise((r) => { const t = setTimeout(r, ms); (t as { unref?: () => void }).unref?.(); });

export class SharedCalls {
  private readonly prefix: string;
  readonly leaseMs: number;
  private readonly pollMs: number;

  constructor(private readonly o: SharedCallsOptions, private readonly ttlMs: number, private readonly waitMs: number) {
    this.prefix = o.keyPrefix ?? 'colloquy:rpc:';
    this.leaseMs = o.leaseMs ?? 3000;
    this.pollMs = o.pollMs ?? 100;
  }

  private key(k: string): string { return this.prefix + k; }

  /** Run it here, or the answer of whoever ran it (waiting while another live node runs it). */
  async claim(k: string, signal: AbortSignal): Promise<Claim> {
    const key = this.key(k);
    const deadline = performance.now() + this.waitMs + this.leaseMs;
    let expected = 0;
    let attempt = 1;
    for (;;) {
      const version = await this.o.store.compareAndSet<Record>(key, expected, { state: 'running', until: Date.now() + this.leaseMs, attempt }, { ttlMs: this.ttlMs });
      if (version !== null) return { kind: 'run', attempt, version };
      // Someone else has it: wait for its answer, or for its lease to run out (its node died).
      for (;;) {
        const seen = await this.o.store.get<Record>(key);
        if (!seen) { expected = 0; attempt = 1; break; } // expired meanwhile: claim it afresh
        if (seen.data.state === 'done') return { kind: 'done', response: seen.data.response };
        if (seen.data.until < Date.now()) { expected = seen.version; attempt = seen.data.attempt + 1; break; }
        if (signal.aborted || performance.now() > deadline) throw new Error('the call another node runs did not finish in time');
        await sleep(this.pollMs);
      }
    }
  }

  /** Keeps the lease of a call this node runs; returns the function that stops renewing. */
  renew(k: string, claim: { attempt: number; version: number }): () => void {
    let version = claim.version;
    let stopped = false;
    const timer = setInterval(() => {
      if (stopped) return;
      void this.o.store.compareAndSet<Record>(this.key(k), version, { state: 'running', until: Date.now() + this.leaseMs, attempt: claim.attempt }, { ttlMs: this.ttlMs })
        .then((v) => { if (v !== null) version = v; })
        .catch(() => { /* the next renewal tries again; the lease is three renewals long */ });
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    (timer as { unref?: () => void }).unref?.();
    return () => { stopped = true; clearInterval(timer); };
  }

  /** Stores the answer (whatever the record's version now: an answer is final). */
  async finish(k: string, response: RpcResponse): Promise<void> {
    await this.o.store.set<Record>(this.key(k), { state: 'done', response }, { ttlMs: this.ttlMs });
  }
}
