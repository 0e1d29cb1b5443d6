// Durable sessions: the resume state of real-time sessions kept in a SessionStore, so a client
// can resume on any node after the one holding its session died.
//
// Theory of operation
//   - Write-ahead: the driver persists the machine's snapshot before it writes the bytes or
//     delivers the events that snapshot covers (src/driver/driver.ts, Durability). A node can die
//     at any instant; the store always holds a state from which the peer's RESUME can be served
//     with nothing lost or duplicated. One persist is in flight per session; inputs that arrive
//     meanwhile are covered together by the next one.
//   - Incremental: a snapshot's outbound frames (sent but unacknowledged, then queued) form one
//     sequence numbered by wire count. The session's record (the *head*) holds everything else,
//     the newest frames inline (the *tail*, at most CHUNK_FRAMES frames or about CHUNK_BYTES
//     bytes), and the list of full *chunks* holding the older frames, one store key each. A
//     persist compares the sequence with the one it last stored (by frame identity: frames are
//     immutable), writes the chunks that filled up since (if any), then the head with the new
//     tail: usually one store write per persist, whose size follows what changed, not everything
//     unacknowledged. Acknowledged chunks are deleted once a head without them is stored.
//
//       head {snapshot minus frames, log: base, sent, end, chunks: [name, start, count]…,
//             tailStart, tail: ["<base64 frame>", …]}                                  (CAS)
//       <key>~<epoch>.<n>   ["<base64 frame>", …]   frames start..start+count-1   (never changes)
//
//   - A chunk never changes once written (anything rewritten gets a new name). Chunks are written
//     before the head that names them, and deleted only after a head that no longer names them
//     is stored, so a node dying between any two writes leaves a head whose chunks are all
//     there.
//   - Ownership by version: every head write is a compare-and-set on the version this node last
//     wrote. A node that restores the session claims it by writing over the version it read
//     (with a token of its own); the old owner's next persist then fails, and it ends its copy
//     (ERR_STORE_CONFLICT) instead of speaking for a session that has moved. Chunk names carry
//     the writer's *epoch* (random per owner), so an old owner still writing never reuses a name
//     the new owner stores.
//   - Ownership by incarnation: what a copy of a session last stored is its DurableHold, not an
//     entry per session ID. A session restored again on the node that still runs an older copy
//     (the client came back while that copy retried a persist through an outage) gets a new hold;
//     the older copy's next try finds itself superseded and fails as a takeover without writing,
//     where it used to read its successor's version and write its older snapshot over it (and
//     drop its successor's chunks). owns() compares the version and the token: after a failover
//     lost writes, a version number can come back, written by someone else.
//   - Writes lost in a failover: every head write's tag is `<epoch>:<n>` (./durable-lineage.ts).
//     A head write that misses finds either another writer's head (a takeover, as above) or one
//     in this copy's lineage: its own older write, or the head its claim went over, so the store
//     lost its newer writes and nobody wrote since. Then the live snapshot is written over that
//     head, every frame again (`relaid`): the live copy holds all the lost writes held, and the
//     peer's counts match it. Without this the copy ended as taken over and its client resumed
//     from the older head (stale-state, or frames again).
//   - The head lives for the resume window plus `graceMs` after its last write; chunks live twice
//     that and are touched once they are older than that, so no chunk expires before its head.
//     A session that ends leaves a short tombstone (compare-and-set, so it never erases a newer
//     owner's record) and deletes its chunks.
//   - The resume secret is never stored: the head holds its SHA-256 (`secretHash`; the secret is
//     128 random bits, so a fast hash cannot be searched). A node that does not hold a session
//     checks the RESUME's secret against that hash, in constant time, BEFORE it claims anything:
//     a session ID alone never moves a session away from its owner (docs/security.md).
//   - Outage tolerance: a persist the store cannot take because it is unreachable is tried again
//     for up to `persistRetryMs` (./persist-retry.ts) before the session ends. Every head carries
//     a random write token (`w`), so a retry whose earlier try landed after all (its reply was
//     lost with the connection) finds its own write (version one past its own, its token) and
//     keeps it, instead of taking it for another node's takeover.
//   - Cost: one store round trip per persist (the head, up to a chunk's worth of tail), two when
//     a chunk fills up (the chunk, then the head); measured by bench/stores.ts.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { toBase64, fromBase64 } from './base64.js';
import { decodeFrame, encodeFrame } from '../engine/codec/index.js';
import { SessionError } from '../engine/errors.js';
import { MAX_FRAME_SIZE } from '../engine/frames.js';
import { ResumeRefuseReason } from '../engine/frames.js';
import type { ResumeRefuseReasonValue, SessionFrame } from '../engine/frames.js';
import type { MachineSnapshot, ReleasedEnd } from '../engine/machine/index.js';
import type { Expected, SessionStore } from '../store/store.js';
import type {} from '../store/errors.js';
import { DEFAULT_PERSIST_RETRY_MS, retryWhileUnreachable } from './persist-retry.js';
import { decodeHead, encodeHead, hashResumeSecret, storedFrames } from './durable-record.js';
import type { Chunk, Record } from './durable-record.js';
import { lineageHead, nextTag } from './durable-lineage.js';

export { hashResumeSecret };

export interface DurabilityOptions {
  store: SessionStore;
  /** Key prefix in the store. Default "colloquy:rt:". */
  keyPrefix?: string;
  /** Extra time a record outlives the resume window. Default 30 s. */
  graceMs?: number;
  /** The string the store indexes a principal under (list/revoke per user). Default: the principal if it is a string. */
  principalKey?: (principal: unknown) => string | null;
  /**
   * How long a persist keeps trying while the store is unreachable (ERR_STORE_UNAVAILABLE or
   * ERR_STORE_TIMEOUT), e.g. during a Redis failover, before the session ends; nothing is sent
   * to the peer meanwhile. 0: no retry. Default DEFAULT_PERSIST_RETRY_MS (30 s).
   */
  persistRetryMs?: number;
}

/** How long an ended session's tombstone (and the reason it carries) stays in the store. */
export const TOMBSTONE_MS = 60_000;

/** Reads of a session's record a claim makes before giving up (the owner keeps persisting meanwhile). */
const CLAIM_ATTEMPTS = 8;

/** Frames per chunk (and in the head's tail), at most. */
export const CHUNK_FRAMES = 64;
/** A chunk (or the tail) takes no more frames once its encoded frames reach this many bytes. */
export const CHUNK_BYTES = 64 * 1024;

/**
 * One incarnation of a session on this node, and what it last stored. A session restored here
 * again (claimed from the store while an older copy of it still runs here, say still retrying a
 * persist through an outage) gets a new hold; the older copy keeps its own, so it writes only
 * over its own version and its own chunks, never over its successor's (it is superseded: its
 * next try fails as a takeover without writing).
 */
export interface DurableHold {
  readonly id: string;
  /** The version of the head this incarnation last stored (0: none yet), and that write's token. */
  version: number;
  token: string;
  /** Random per incarnation: in its chunk names and its write tags (`<epoch>:<n>`, ./durable-lineage.ts). */
  epoch: string;
  /** Write tags used so far. */
  writes: number;
  /** The head its claim was written over (version and tag), or 0: opened here (./durable-lineage.ts). */
  origin: Expected;
  next: number;
  /** The outbound sequence as last stored: frames[i] has wire count base + i. */
  base: number;
  frames: SessionFrame[];
  chunks: Chunk[];
}

/** One try of a persist: what it wrote, so a retry can keep it if its head landed after all. */
interface Try {
  token: string;
  epoch: string;
  next: number;
  /** Every chunk its head names; `written`: those it wrote itself. */
  chunks: Chunk[];
  written: Chunk[];
  /** Its head write was sent (it may have landed even if the call failed). */
  headSent: boolean;
}

/** One node's view of the durable sessions it owns. */
export class DurableSessions {
  /** Persists that found the store had lost this node's newest writes and wrote the live state again. */
  relaid = 0;
  /** The current incarnation of each session held here. */
  private readonly owned = new Map<string, DurableHold>();
  /** Encoded frames, so a frame is encoded once however many times its chunk is written. */
  private readonly encoded = new WeakMap<SessionFrame, string>();

  constructor(
    private readonly options: DurabilityOptions,
    private readonly resumeWindowMs: number,
  ) {}

  private key(id: string): string {
    return `${this.options.keyPrefix ?? 'colloquy:rt:'}${id}`;
  }
  private ttl(): number {
    return this.resumeWindowMs + (this.options.graceMs ?? 30_000);
  }
  private principalKey(p: unknown): string | null {
    return this.options.principalKey ? this.options.principalKey(p) : typeof p === 'string' ? p : null;
  }

  private encode(f: SessionFrame): string {
    let e = this.encoded.get(f);
    if (e === undefined) {
      e = toBase64(encodeFrame(f));
      this.encoded.set(f, e);
    }
    return e;
  }

  /** The current hold of session `id` here; a new one (nothing stored yet) when there is none. */
  hold(id: string): DurableHold {
    let hold = this.owned.get(id);
    if (hold === undefined) {
      hold = {
        id,
        version: 0,
        token: '',
        epoch: randomEpoch(),
        writes: 0,
        origin: 0,
        next: 0,
        base: 0,
        frames: [],
        chunks: [],
      };
      this.owned.set(id, hold);
    }
    return hold;
  }

  /** Whether `hold` is still the current incarnation of its session here (not forgotten, not claimed again). */
  private current(hold: DurableHold): boolean {
    return this.owned.get(hold.id) === hold;
  }

  /** The error of a write by an incarnation that no longer owns its session. */
  private takenOver(hold: DurableHold): SessionError {
    if (this.current(hold)) this.owned.delete(hold.id);
    return new SessionError('ERR_STORE_CONFLICT', 'the session was taken over by another node', 'local', {
      id: hold.id,
    });
  }

  /**
   * Persists a snapshot over the version `hold` last wrote (0 for a new session), trying again
   * while the store is unreachable, up to persistRetryMs (./persist-retry.ts). Every try writes
   * for `hold` only: once another incarnation replaced it, the next try fails (ERR_STORE_CONFLICT).
   */
  async persist(hold: DurableHold, snapshot: MachineSnapshot, live: unknown): Promise<void> {
    const id = hold.id;
    // The principal as it is now, with the snapshot taken in the same step: a service that keeps
    // state in it (the chat's log position) changes it with what it queues in the session, and
    // the store must get the two as they were together, not the principal of a later moment.
    const principal: unknown = live === undefined ? undefined : JSON.parse(JSON.stringify(live));
    const tries: Try[] = [];
    const bound = this.options.persistRetryMs ?? DEFAULT_PERSIST_RETRY_MS;
    const kept = await retryWhileUnreachable(bound, () => this.persistOnce(hold, snapshot, principal, tries, true));
    // Chunks written by the other tries are named by no stored head.
    const names = new Set(kept.chunks.map((c) => c.name));
    for (const t of tries)
      if (t !== kept)
        this.dropChunks(
          id,
          t.written.filter((c) => !names.has(c.name)),
        );
  }

  /** One try of persist(): resolves with the try whose head is stored (this one, or an earlier one that landed). */
  private async persistOnce(
    hold: DurableHold,
    snapshot: MachineSnapshot,
    principal: unknown,
    tries: Try[],
    relay: boolean,
  ): Promise<Try> {
    const id = hold.id;
    // Superseded while it waited to try again: its successor's version is not this copy's to write over.
    if (!this.current(hold)) throw this.takenOver(hold);
    const store = this.options.store;
    const ttlMs = this.ttl();
    const now = Date.now();
    const prev = hold;
    const base = snapshot.replayBase;
    const frames = snapshot.queued.length > 0 ? [...snapshot.replay, ...snapshot.queued] : snapshot.replay;
    const end = base + frames.length;

    // The first wire count at which the sequence differs from what is stored.
    let diff = Math.max(base, prev.base);
    const prevEnd = prev.base + prev.frames.length;
    while (diff < end && diff < prevEnd && frames[diff - base] === prev.frames[diff - prev.base]) diff++;

    // Keep the chunks wholly before the difference (and not wholly acknowledged); everything from
    // the end of the last one kept is cut again: full chunks are written, the rest is the tail.
    const kept: Chunk[] = [];
    for (const c of prev.chunks) {
      if (c.start + c.count <= base) continue;
      if (c.start + c.count > diff) break;
      kept.push(c);
    }
    const lastKept = kept[kept.length - 1];
    let at = Math.max(base, lastKept ? lastKept.start + lastKept.count : base);
    const chunks = [...kept];
    const writes: { chunk: Chunk; frames: string[] }[] = [];
    let next = prev.next;
    let tail: string[] = [];
    while (at < end) {
      const start = at;
      const encoded: string[] = [];
      let bytes = 0;
      for (; at < end && encoded.length < CHUNK_FRAMES && bytes < CHUNK_BYTES; at++) {
        const e = this.encode(frames[at - base] as SessionFrame);
        encoded.push(e);
        bytes += e.length;
      }
      if (at === end) {
        tail = encoded;
        at = start;
        break;
      } // the newest frames stay in the head
      const chunk: Chunk = { name: `${prev.epoch}.${next++}`, start, count: encoded.length, at: now };
      chunks.push(chunk);
      writes.push({ chunk, frames: encoded });
    }
    const tailStart = end - tail.length;
    // Names are never used twice, even if this persist fails after writing some of them (a
    // write that timed out may still land).
    prev.next = next;
    // Chunks not rewritten are touched once they are half-way to expiring.
    const touches = kept.filter((c) => now - c.at >= ttlMs);
    const attempt: Try = {
      token: nextTag(prev),
      epoch: prev.epoch,
      next,
      chunks,
      written: writes.map((w) => w.chunk),
      headSent: false,
    };
    tries.push(attempt);

    await Promise.all([
      ...writes.map((w) => store.set(this.chunkKey(id, w.chunk.name), w.frames, { ttlMs: 2 * ttlMs, principal: null })),
      ...touches.map(async (c) => {
        if (!(await store.touch(this.chunkKey(id, c.name), 2 * ttlMs))) {
          throw new SessionError('ERR_STORE_UNAVAILABLE', `a stored chunk of session ${id} is gone`, 'local', {
            id,
            cause: 'chunk-missing',
          });
        }
        c.at = now;
      }),
    ]);
    const sent = base + snapshot.replay.length;
    const record: Record = {
      snapshot: encodeHead(snapshot),
      principal,
      log: { base, sent, end, chunks: chunks.map((c) => [c.name, c.start, c.count]), tailStart, tail },
      w: attempt.token,
    };
    attempt.headSent = true;
    // Over the very write this copy last stored (its version and token): after a failover lost
    // writes, the same version number may hold another node's claim.
    let version = await store.compareAndSet(this.key(id), written(prev), record, {
      ttlMs,
      principal: this.principalKey(principal),
      tag: attempt.token,
    });
    let stored = attempt;
    if (version === null) {
      // An earlier try of this persist may have landed after all: then the head is its write.
      const landed = await this.landed(id, prev.version, tries, attempt);
      if (landed === null) {
        // The store lost this copy's newest writes (a failover) and nobody wrote since: the
        // live snapshot goes over the head it has, every frame written again (./durable-lineage.ts).
        const over = relay ? await this.lineage(hold) : null;
        if (over === null) throw this.takenOver(hold);
        const lost = hold.chunks;
        Object.assign(
          hold,
          typeof over === 'number' ? { version: 0, token: '' } : { version: over.version, token: over.tag },
        );
        Object.assign(hold, { base: 0, frames: [], chunks: [] });
        this.relaid++;
        const again = await this.persistOnce(hold, snapshot, principal, tries, false);
        const names = new Set(again.chunks.map((c) => c.name));
        this.dropChunks(
          id,
          lost.filter((c) => !names.has(c.name)),
        );
        return again;
      }
      ({ version, stored } = landed);
    }
    const dropped = prev.chunks;
    Object.assign(hold, {
      version,
      token: stored.token,
      epoch: stored.epoch,
      next: Math.max(next, stored.next),
      base,
      frames,
      chunks: stored.chunks,
    });
    const names = new Set(stored.chunks.map((c) => c.name));
    this.dropChunks(
      id,
      dropped.filter((c) => !names.has(c.name)),
    );
    return stored;
  }

  /**
   * After a write of `hold` missed: what its next write may go over if the head is in its lineage
   * (the store lost its newer writes, nobody wrote since), else null (./durable-lineage.ts).
   */
  private async lineage(hold: DurableHold): Promise<Expected | null> {
    if (!this.current(hold)) return null;
    const stored = await this.options.store.get<Record>(this.key(hold.id));
    return lineageHead(hold, stored, stored?.data.ended === true);
  }

  /** After a conflict: the earlier try of this persist whose head is stored (one write past `expected`), or null. */
  private async landed(
    id: string,
    expected: number,
    tries: Try[],
    current: Try,
  ): Promise<{ version: number; stored: Try } | null> {
    if (!tries.some((t) => t !== current && t.headSent)) return null;
    const head = await this.options.store.get<Record>(this.key(id));
    if (head === null || head.version !== expected + 1) return null;
    const stored = tries.find((t) => t !== current && t.headSent && t.token === head.data.w);
    return stored === undefined ? null : { version: head.version, stored };
  }

  /**
   * Loads a session another node persisted and claims it, if `secret` is its resume secret:
   * null when there is none to claim (or `wanted` turned false before the claim's write),
   * 'wrong-secret' (and nothing claimed) when the secret does not match the stored hash.
   */
  async claim(
    id: string,
    secret: Uint8Array,
    wanted: () => boolean = () => true,
  ): Promise<{ snapshot: MachineSnapshot; principal: unknown; hold: DurableHold } | null | 'wrong-secret'> {
    const store = this.options.store;
    const presented = createHash('sha256').update(secret).digest();
    // A chunk can vanish between reading the head and reading it (the owner moved on), or the head
    // can move before the claim: read again.
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const stored = await store.get<Record>(this.key(id));
      if (!stored || stored.data.ended || !stored.data.log) return null;
      // The secret is checked before anything else is read or written (a claim moves the session).
      const hash =
        typeof stored.data.snapshot?.secretHash === 'string'
          ? Buffer.from(stored.data.snapshot.secretHash, 'base64url')
          : null;
      if (hash === null || hash.length !== presented.length || !timingSafeEqual(hash, presented)) return 'wrong-secret';
      const { log } = stored.data;
      const parts = await Promise.all(log.chunks.map(([name]) => store.get<string[]>(this.chunkKey(id, name))));
      if (parts.some((p) => p === null)) continue;
      const { frames, chunks } = storedFrames(id, log, parts as { data: string[] }[]);
      // The claim is a write of its own (a fresh token): the previous owner's token never
      // stands for this incarnation's ownership (owns() and landed() compare it).
      const epoch = randomEpoch();
      const token = `${epoch}:0`;
      // Given up by its caller (it took too long): a late claim would only take the session
      // from the node the client resumes on next.
      if (!wanted()) return null;
      const version = await store.compareAndSet(
        this.key(id),
        { version: stored.version, tag: stored.tag },
        { ...stored.data, w: token },
        { ttlMs: this.ttl(), tag: token },
      );
      // The head moved since it was read: the owner, still running, persisted meanwhile (or another
      // node claimed it): read it again and claim the newer state.
      if (version === null) continue;
      // A new incarnation: an older one still running here keeps its own hold, now superseded.
      const hold: DurableHold = {
        id,
        version,
        token,
        epoch,
        writes: 1,
        origin: { version: stored.version, tag: stored.tag },
        next: 0,
        base: log.base,
        frames,
        chunks,
      };
      this.owned.set(id, hold);
      const split = log.sent - log.base;
      return {
        snapshot: decodeHead(stored.data.snapshot, secret, frames.slice(0, split), frames.slice(split)),
        principal: stored.data.principal,
        hold,
      };
    }
    return null;
  }

  /**
   * The session ended here: leave a short tombstone (saying why) unless another node owns it
   * now. A release leaves with it what answers a late RESUME (`released`: the machine's
   * releasedEnd() and the resume secret), so that the release completes on whichever node the
   * client resumes on.
   */
  async ended(
    hold: DurableHold,
    why?: string,
    reason?: ResumeRefuseReasonValue,
    released?: { end: ReleasedEnd; secret: Uint8Array },
  ): Promise<void> {
    const id = hold.id;
    // A superseded incarnation leaves nothing: its successor owns the record.
    if (!this.current(hold)) return;
    this.owned.delete(id);
    const owned = hold;
    if (owned.version === 0) return;
    const tombstone: Pick<Record, 'ended' | 'principal' | 'why' | 'reason' | 'released'> = {
      ended: true,
      principal: null,
    };
    if (why !== undefined) tombstone.why = why;
    if (reason !== undefined) tombstone.reason = reason;
    if (released)
      tombstone.released = {
        secretHash: hashResumeSecret(released.secret),
        received: released.end.received,
        base: released.end.base,
        frames: released.end.frames.map((f) => toBase64(encodeFrame(f))),
      };
    const store = this.options.store;
    const write = (over: Expected) =>
      store.compareAndSet(this.key(id), over, tombstone, { ttlMs: TOMBSTONE_MS, principal: null }).catch(() => null);
    let version = await write(written(owned));
    if (version === null) {
      // Its newest writes lost in a failover and nobody wrote since: the tombstone goes over what is left.
      const stored = await store.get<Record>(this.key(id)).catch(() => undefined);
      const over = stored === undefined ? null : lineageHead(owned, stored, stored?.data.ended === true);
      if (over !== null) version = await write(over);
    }
    if (version !== null) this.dropChunks(id, owned.chunks);
  }

  /**
   * Whether the store still holds the head `hold` last wrote: its version and its token (a
   * version number alone can come back after a failover lost writes, written by another node).
   */
  async owns(hold: DurableHold): Promise<boolean> {
    if (!this.current(hold)) return false;
    const stored = await this.options.store.get<Record>(this.key(hold.id));
    if (stored !== null && stored.version === hold.version && stored.data.w === hold.token) return true;
    // Its newer writes lost in a failover, nobody wrote since: still its own (its next persist writes again).
    return lineageHead(hold, stored, stored?.data.ended === true) !== null;
  }

  /**
   * For a session that cannot be claimed: null if the store knows nothing of it, else why it
   * ended ('' when no error ended it), the refusal reason it left if not `closed`, and, when a
   * release ended it and `secret` matches the stored hash, what answers the RESUME (ReleasedEnd).
   */
  async endedWhy(
    id: string,
    secret?: Uint8Array,
  ): Promise<{ why: string; reason?: ResumeRefuseReasonValue; released?: ReleasedEnd } | null> {
    const stored = await this.options.store.get<Record>(this.key(id));
    if (!stored?.data.ended) return null;
    const why = typeof stored.data.why === 'string' ? stored.data.why : '';
    if (stored.data.reason === ResumeRefuseReason.staleState) return { why, reason: stored.data.reason };
    const r = stored.data.released;
    if (!secret || !r || typeof r.secretHash !== 'string' || !Array.isArray(r.frames)) return { why };
    const hash = Buffer.from(r.secretHash, 'base64url');
    const presented = createHash('sha256').update(secret).digest();
    if (hash.length !== presented.length || !timingSafeEqual(hash, presented)) return { why };
    const frames = r.frames.map((f) => decodeFrame(fromBase64(f), MAX_FRAME_SIZE) as SessionFrame);
    return { why, released: { received: r.received, base: r.base, frames } };
  }

  /** Lets go of `hold` without a tombstone (the record stays for the node the client resumes on). */
  forget(hold: DurableHold): void {
    if (this.current(hold)) this.owned.delete(hold.id);
  }

  private chunkKey(id: string, name: string): string {
    return `${this.key(id)}~${name}`;
  }

  /** Deletes chunks no stored head names any more; best effort (they expire anyway). */
  private dropChunks(id: string, chunks: Chunk[]): void {
    for (const c of chunks) void this.options.store.destroy(this.chunkKey(id, c.name)).catch(() => false);
  }
}

/** What a hold's next write must find stored: its own last write, or nothing (a new session). */
function written(hold: DurableHold): Expected {
  return hold.version === 0 ? 0 : { version: hold.version, tag: hold.token };
}

function randomEpoch(): string {
  return randomBytes(6).toString('base64url');
}
