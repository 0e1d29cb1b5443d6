// Durable sessions: the resume state of real-time sessions kept in a SessionStore, so a client
// can resume on any node after the one holding its session died.
//
// Theory of operation
//   - Write-ahead: the driver persists the machine's snapshot before it writes the bytes or
//     delivers the events that snapshot covers (src/driver/driver.ts, Durability). A node can die
//     at any instant; the store always holds a state from which the peer's RESUME can be served
//     with nothing lost or duplicated.
//   - Ownership by version: every persist is a compare-and-set on the version this node last
//     wrote. A node that restores the session claims it by writing over the version it read;
//     the old owner's next persist then fails, and it ends its copy (ERR_STORE_CONFLICT) instead
//     of speaking for a session that has moved.
//   - The record lives for the resume window plus `graceMs`; a session that ends leaves a short
//     tombstone (written with compare-and-set, so it never erases a newer owner's record).
//   - Cost: one store round trip per input that produced output (measured by the benchmark).

import { toBase64, fromBase64 } from './base64.js';
import { decodeFrame, encodeFrame } from '../engine/codec/index.js';
import { SessionError } from '../engine/errors.js';
import { MAX_FRAME_SIZE } from '../engine/frames.js';
import type { SessionFrame } from '../engine/frames.js';
import type { MachineSnapshot } from '../engine/machine/index.js';
import type { SessionStore } from '../store/store.js';

export interface DurabilityOptions {
  store: SessionStore;
  /** Key prefix in the store. Default "colloquy:rt:". */
  keyPrefix?: string;
  /** Extra time a record outlives the resume window. Default 30 s. */
  graceMs?: number;
  /** The string the store indexes a principal under (list/revoke per user). Default: the principal if it is a string. */
  principalKey?: (principal: unknown) => string | null;
}

/** What the store holds for one session. */
interface Record {
  snapshot: EncodedSnapshot;
  principal: unknown;
  ended?: boolean;
}

type EncodedSnapshot = Omit<MachineSnapshot, 'sessionId' | 'resumeSecret' | 'replay' | 'queued' | 'dialogue'> & {
  sessionId: string;
  resumeSecret: string;
  replay: string[];
  queued: string[];
  dialogue: Omit<MachineSnapshot['dialogue'], 'activity'> & { activity: string | null };
};

export function encodeSnapshot(s: MachineSnapshot): EncodedSnapshot {
  const frames = (list: SessionFrame[]): string[] => list.map((f) => toBase64(encodeFrame(f)));
  return {
    ...s,
    sessionId: toBase64(s.sessionId),
    resumeSecret: toBase64(s.resumeSecret),
    replay: frames(s.replay),
    queued: frames(s.queued),
    dialogue: { ...s.dialogue, activity: s.dialogue.activity ? toBase64(s.dialogue.activity) : null },
  };
}

export function decodeSnapshot(e: EncodedSnapshot): MachineSnapshot {
  const frames = (list: string[]): SessionFrame[] => list.map((b) => decodeFrame(fromBase64(b), MAX_FRAME_SIZE) as SessionFrame);
  return {
    ...e,
    sessionId: fromBase64(e.sessionId),
    resumeSecret: fromBase64(e.resumeSecret),
    replay: frames(e.replay),
    queued: frames(e.queued),
    dialogue: { ...e.dialogue, activity: e.dialogue.activity === null ? null : fromBase64(e.dialogue.activity) },
  };
}

/** One node's view of the durable sessions it owns. */
export class DurableSessions {
  private readonly versions = new Map<string, number>();

  constructor(private readonly options: DurabilityOptions, private readonly resumeWindowMs: number) {}

  private key(id: string): string { return `${this.options.keyPrefix ?? 'colloquy:rt:'}${id}`; }
  private ttl(): number { return this.resumeWindowMs + (this.options.graceMs ?? 30_000); }
  private principalKey(p: unknown): string | null {
    return this.options.principalKey ? this.options.principalKey(p) : typeof p === 'string' ? p : null;
  }

  /** Persists a snapshot over the version this node last wrote (0 for a new session). */
  async persist(id: string, snapshot: MachineSnapshot, principal: unknown): Promise<void> {
    const expected = this.versions.get(id) ?? 0;
    const record: Record = { snapshot: encodeSnapshot(snapshot), principal };
    const version = await this.options.store.compareAndSet(this.key(id), expected, record, { ttlMs: this.ttl(), principal: this.principalKey(principal) });
    if (version === null) {
      this.versions.delete(id);
      throw new SessionError('ERR_STORE_CONFLICT', 'the session was taken over by another node', 'local', { id });
    }
    this.versions.set(id, version);
  }

  /** Loads a session another node persisted and claims it; null when there is none to claim. */
  async claim(id: string): Promise<{ snapshot: MachineSnapshot; principal: unknown } | null> {
    const stored = await this.options.store.get<Record>(this.key(id));
    if (!stored || stored.data.ended) return null;
    const version = await this.options.store.compareAndSet(this.key(id), stored.version, stored.data, { ttlMs: this.ttl() });
    if (version === null) return null; // another node claimed it first
    this.versions.set(id, version);
    return { snapshot: decodeSnapshot(stored.data.snapshot), principal: stored.data.principal };
  }

  /** The session ended here: leave a short tombstone unless another node owns it now. */
  async ended(id: string): Promise<void> {
    const expected = this.versions.get(id);
    this.versions.delete(id);
    if (expected === undefined) return;
    await this.options.store.compareAndSet(this.key(id), expected, { ended: true, principal: null }, { ttlMs: 1000, principal: null }).catch(() => null);
  }

  forget(id: string): void { this.versions.delete(id); }
}
