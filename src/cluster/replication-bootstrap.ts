// When a replication node may start owning keys (bootstrap), as a part ReplicationNode owns: once
// it has the complete snapshot of every peer whose stream has begun. Until `waitMs` has passed it
// also waits for peers whose stream has not begun; after that, only for those on their way.
// Writes that arrive before then wait here (whenReady), bounded by their caller's signal.

export interface SnapshotProgress {
  has(peer: string): boolean;
  get(peer: string): { readonly snapshotDone: boolean } | undefined;
}

export class Bootstrap {
  private done = false;
  private readonly waiters = new Set<() => void>();
  private readonly startedAt = performance.now();

  constructor(private readonly waitMs: number) {}

  get ready(): boolean {
    return this.done;
  }

  /** Checks the peers' snapshots; returns true exactly once, when the node has just become ready. */
  check(peers: Iterable<string>, inbound: SnapshotProgress): boolean {
    if (this.done) return false;
    const waited = performance.now() - this.startedAt >= this.waitMs;
    for (const id of peers) {
      if (inbound.get(id)?.snapshotDone) continue;
      // After waitMs, wait only for peers whose stream has begun (their snapshot is on its way).
      if (waited && !inbound.has(id)) continue;
      return false;
    }
    this.done = true;
    this.release();
    return true;
  }

  /** Resolves once ready (or released); rejects with the signal's reason when it aborts first. */
  whenReady(signal: AbortSignal): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.waiters.delete(done);
        reject(signal.reason);
      };
      this.waiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Lets every waiting write go on (ready, or the node closing: they then find it closed). */
  release(): void {
    for (const w of [...this.waiters]) w();
  }
}
