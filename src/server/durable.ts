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
//     wrote. A node that restores the session claims it by writing over the version it read;
//     the old owner's next persist then fails, and it ends its copy (ERR_STORE_CONFLICT) instead
//     of speaking for a session that has moved. Chunk names carry the writer's *epoch* (random
//     per owner), so an old owner still writing never reuses a name the new owner stores.
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
import type { SessionStore } from '../store/store.js';
import type {} from '../store/errors.js';
import { DEFAULT_PERSIST_RETRY_MS, retryWhileUnreachable } from './persist-retry.js';

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

/** One chunk of the outbound sequence: frames start..start+count-1, stored under `name`. */
type ChunkRef = [name: string, start: number, count: number];

/** What the store holds under a session's key (the head). */
interface Record {
  snapshot: EncodedHead;
  principal: unknown;
  log: { base: number; sent: number; end: number; chunks: ChunkRef[]; tailStart: number; tail: string[] };
  ended?: boolean;
  /** Why it ended (code: message), when an error ended it. */
  why?: string;
  /** The write token of the persist that stored this head (random per try). */
  w?: string;
  /** The RESUME_REFUSED reason later RESUMEs hear, when not `closed` (stale-state). */
  reason?: ResumeRefuseReasonValue;
  /**
   * Ended by an orderly release: what answers a client that lost the end of the release and
   * resumes on another node (ReleasedEnd; frames base64url-encoded), and the secret's hash to
   * check its RESUME against.
   */
  released?: { secretHash: string; received: number; base: number; frames: string[] };
}

type Dialogue = MachineSnapshot['dialogue'];
type Pending = NonNullable<Dialogue['pendingRemote']>;
/** A pending request with its user data (what the peer's indication carried) as base64url. */
type EncodedPending = { kind: Pending['kind']; userData?: string } & { [field: string]: unknown };

type EncodedHead = Omit<MachineSnapshot, 'sessionId' | 'resumeSecret' | 'replay' | 'queued' | 'dialogue'> & {
  sessionId: string;
  /** SHA-256 of the resume secret, base64url: the secret itself is never stored. */
  secretHash: string;
  dialogue: Omit<Dialogue, 'activity' | 'pendingLocal' | 'pendingRemote' | 'minorUserData'> & {
    activity: string | null;
    pendingLocal: EncodedPending | null;
    pendingRemote: EncodedPending | null;
    minorUserData?: string;
  };
};

function encodePending(p: Pending | null): EncodedPending | null {
  if (p === null) return null;
  const { userData, ...rest } = p as Pending & { userData?: Uint8Array };
  return userData === undefined ? rest : { ...rest, userData: toBase64(userData) };
}

function decodePending(p: EncodedPending | null | undefined): Pending | null {
  if (p === null || p === undefined) return null;
  const { userData, ...rest } = p;
  return (typeof userData === 'string' ? { ...rest, userData: fromBase64(userData) } : rest) as Pending;
}

/** The stored form of a resume secret. */
export function hashResumeSecret(secret: Uint8Array): string {
  return createHash('sha256').update(secret).digest('base64url');
}

function encodeHead(s: MachineSnapshot): EncodedHead {
  const { replay: _replay, queued: _queued, resumeSecret: _secret, ...rest } = s;
  return {
    ...rest,
    sessionId: toBase64(s.sessionId),
    secretHash: hashResumeSecret(s.resumeSecret),
    dialogue: encodeDialogue(s.dialogue),
  };
}

function encodeDialogue(d: Dialogue): EncodedHead['dialogue'] {
  const { minorUserData, ...rest } = d;
  return {
    ...rest,
    activity: d.activity ? toBase64(d.activity) : null,
    pendingLocal: encodePending(d.pendingLocal),
    pendingRemote: encodePending(d.pendingRemote),
    ...(minorUserData ? { minorUserData: toBase64(minorUserData) } : {}),
  };
}

function decodeDialogue(e: EncodedHead['dialogue']): Dialogue {
  const { minorUserData, ...rest } = e;
  return {
    ...rest,
    activity: e.activity === null ? null : fromBase64(e.activity),
    pendingLocal: decodePending(e.pendingLocal),
    pendingRemote: decodePending(e.pendingRemote),
    ...(typeof minorUserData === 'string' ? { minorUserData: fromBase64(minorUserData) } : {}),
  };
}

function decodeHead(
  e: EncodedHead,
  resumeSecret: Uint8Array,
  replay: SessionFrame[],
  queued: SessionFrame[],
): MachineSnapshot {
  const { secretHash: _hash, ...rest } = e;
  return {
    ...rest,
    sessionId: fromBase64(e.sessionId),
    resumeSecret,
    replay,
    queued,
    dialogue: decodeDialogue(e.dialogue),
  };
}

/** A chunk as this node knows it. */
interface Chunk {
  name: string;
  start: number;
  count: number;
  /** When it was last written or touched (Date.now()); 0: never by this node. */
  at: number;
}

/** What this node last stored for a session it owns. */
interface Owned {
  version: number;
  epoch: string;
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
  private readonly owned = new Map<string, Owned>();
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

  /**
   * Persists a snapshot over the version this node last wrote (0 for a new session), trying
   * again while the store is unreachable, up to persistRetryMs (./persist-retry.ts).
   */
  async persist(id: string, snapshot: MachineSnapshot, live: unknown): Promise<void> {
    // The principal as it is now, with the snapshot taken in the same step: a service that keeps
    // state in it (the chat's log position) changes it with what it queues in the session, and
    // the store must get the two as they were together, not the principal of a later moment.
    const principal: unknown = live === undefined ? undefined : JSON.parse(JSON.stringify(live));
    const tries: Try[] = [];
    const bound = this.options.persistRetryMs ?? DEFAULT_PERSIST_RETRY_MS;
    const kept = await retryWhileUnreachable(bound, () => this.persistOnce(id, snapshot, principal, tries));
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
  private async persistOnce(id: string, snapshot: MachineSnapshot, principal: unknown, tries: Try[]): Promise<Try> {
    const store = this.options.store;
    const ttlMs = this.ttl();
    const now = Date.now();
    const prev = this.owned.get(id) ?? { version: 0, epoch: randomEpoch(), next: 0, base: 0, frames: [], chunks: [] };
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
      token: randomBytes(6).toString('base64url'),
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
    let version = await store.compareAndSet(this.key(id), prev.version, record, {
      ttlMs,
      principal: this.principalKey(principal),
    });
    let stored = attempt;
    if (version === null) {
      // An earlier try of this persist may have landed after all: then the head is its write.
      const landed = await this.landed(id, prev.version, tries, attempt);
      if (landed === null) {
        this.owned.delete(id);
        throw new SessionError('ERR_STORE_CONFLICT', 'the session was taken over by another node', 'local', { id });
      }
      ({ version, stored } = landed);
    }
    this.owned.set(id, {
      version,
      epoch: stored.epoch,
      next: Math.max(next, stored.next),
      base,
      frames,
      chunks: stored.chunks,
    });
    const names = new Set(stored.chunks.map((c) => c.name));
    this.dropChunks(
      id,
      prev.chunks.filter((c) => !names.has(c.name)),
    );
    return stored;
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
   * null when there is none to claim, 'wrong-secret' (and nothing claimed) when the secret does
   * not match the stored hash.
   */
  async claim(
    id: string,
    secret: Uint8Array,
  ): Promise<{ snapshot: MachineSnapshot; principal: unknown } | null | 'wrong-secret'> {
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
      const frames: SessionFrame[] = [];
      const chunks: Chunk[] = [];
      log.chunks.forEach(([name, start, count], i) => {
        const data = (parts[i] as { data: string[] }).data;
        if (!Array.isArray(data) || data.length < count)
          throw new SessionError('ERR_STORE_UNAVAILABLE', `a stored chunk of session ${id} is malformed`, 'local', {
            id,
            cause: 'chunk-malformed',
          });
        for (let k = 0; k < count; k++) {
          if (start + k >= log.base && start + k < log.end)
            frames.push(decodeFrame(fromBase64(data[k] as string), MAX_FRAME_SIZE) as SessionFrame);
        }
        chunks.push({ name, start, count, at: 0 });
      });
      if (!Array.isArray(log.tail) || log.tailStart + log.tail.length !== log.end)
        throw new SessionError('ERR_STORE_UNAVAILABLE', `the stored tail of session ${id} is malformed`, 'local', {
          id,
          cause: 'chunk-malformed',
        });
      log.tail.forEach((f, k) => {
        if (log.tailStart + k >= log.base) frames.push(decodeFrame(fromBase64(f), MAX_FRAME_SIZE) as SessionFrame);
      });
      if (frames.length !== log.end - log.base)
        throw new SessionError(
          'ERR_STORE_UNAVAILABLE',
          `the stored frames of session ${id} do not cover ${log.base}..${log.end}`,
          'local',
          { id, cause: 'chunk-malformed' },
        );
      const version = await store.compareAndSet(this.key(id), stored.version, stored.data, { ttlMs: this.ttl() });
      // The head moved since it was read: the owner, still running, persisted meanwhile (or another
      // node claimed it): read it again and claim the newer state.
      if (version === null) continue;
      this.owned.set(id, { version, epoch: randomEpoch(), next: 0, base: log.base, frames, chunks });
      const split = log.sent - log.base;
      return {
        snapshot: decodeHead(stored.data.snapshot, secret, frames.slice(0, split), frames.slice(split)),
        principal: stored.data.principal,
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
    id: string,
    why?: string,
    reason?: ResumeRefuseReasonValue,
    released?: { end: ReleasedEnd; secret: Uint8Array },
  ): Promise<void> {
    const owned = this.owned.get(id);
    this.owned.delete(id);
    if (owned === undefined) return;
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
    const version = await this.options.store
      .compareAndSet(this.key(id), owned.version, tombstone, { ttlMs: TOMBSTONE_MS, principal: null })
      .catch(() => null);
    if (version !== null) this.dropChunks(id, owned.chunks);
  }

  /** Whether the store still holds the version of the session this node last wrote (no other node took it over). */
  async owns(id: string): Promise<boolean> {
    const owned = this.owned.get(id);
    if (owned === undefined) return false;
    const stored = await this.options.store.get<Record>(this.key(id));
    return stored !== null && stored.version === owned.version;
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

  forget(id: string): void {
    this.owned.delete(id);
  }

  private chunkKey(id: string, name: string): string {
    return `${this.key(id)}~${name}`;
  }

  /** Deletes chunks no stored head names any more; best effort (they expire anyway). */
  private dropChunks(id: string, chunks: Chunk[]): void {
    for (const c of chunks) void this.options.store.destroy(this.chunkKey(id, c.name)).catch(() => false);
  }
}

function randomEpoch(): string {
  return randomBytes(6).toString('base64url');
}
