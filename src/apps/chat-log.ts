// The room log: every message of a room, numbered in one order for every node, kept in the
// shared store (any SessionStore: Redis, PostgreSQL, memory) so that a member whose session moves
// to another node gets what the room said while no node held it, once and in order.
//
// Theory of operation
//   One record per room (the *head*, written by compare-and-set) and immutable *chunks*:
//     head  {next, tail: [entry…], chunks: [[name, start, count, at]…], floors: {node: [pos, at]}}
//     <prefix>log:<room>~<name>   [entry…]   entries start..start+count-1   (never changes)
//   An entry is {seq, m: ChatMessage}; seqs start at 1 and have no gaps. `append` writes the
//   messages a node gathered meanwhile in one compare-and-set over the version it last saw (it
//   keeps the head it wrote, so a node that is the only writer needs no read), after writing the
//   tail as a chunk when the tail is full (TAIL_ENTRIES or TAIL_BYTES). A lost race costs a read
//   and another try; the chunk written for it is never named and expires.
//   Trimming, at each append: a chunk goes when every node's *floor* is past it (a node's floor is
//   the lowest position its members' clients have acknowledged; a floor not renewed for half of
//   logTtlMs no longer counts), when the log still holds `logLimit` entries without it (so it
//   keeps between logLimit and logLimit + 2 × TAIL_ENTRIES), or when it is older than half of
//   logTtlMs. Head and chunks live logTtlMs after their last write.
//   Exactly once per member: a line a client sends carries its member's counter `n` (rising with
//   every line of the session) and the node knows the member's key (`who`, from its claim token).
//   The head keeps, per member, the highest `n` logged (`spoke`), written in the same
//   compare-and-set as the entries, so a line is a duplicate exactly when its `n` is at most that:
//   whatever the client sends again after a takeover, however old, is logged once. A member's
//   counter goes when it leaves (the node's next append), when it has said nothing for half of
//   logTtlMs, or, past MAX_SPEAKERS members, the longest silent first. Lines without `n` (an older
//   client) are recognised by their `cid` among the last SAID_KEYS.
//   Cost: one store write per append (a batch of messages), plus one chunk write per TAIL_ENTRIES
//   messages; a read and a retry per lost race; reading from a position: one read, plus one per
//   chunk before the tail.

import { SessionError } from '../engine/errors.js';
import type { SessionStore } from '../store/store.js';
import type { ChatMessage } from './chat-protocol.js';
import type {} from '../store/errors.js';
import { DEFAULT_PERSIST_RETRY_MS } from '../server/persist-retry.js';

/** Entries a room log keeps (in whole chunks, plus the tail), whatever the members acknowledged. */
export const ROOM_LOG_LIMIT = 1000;
/** Entries in the head's tail before it is written out as a chunk. */
export const TAIL_ENTRIES = 32;
/** A tail of this many bytes of JSON is written out as a chunk too. */
export const TAIL_BYTES = 64 * 1024;
/** How long a room log lives after its last write (and how old its entries may get: half). */
export const ROOM_LOG_TTL_MS = 60 * 60_000;
/** Senders' line ids the head remembers, to drop a line its sender sent again after a takeover. */
export const SAID_KEYS = 256;
/** Members whose highest logged counter the head keeps (past it, the longest silent is dropped). */
export const MAX_SPEAKERS = 4096;
/** How long an append keeps trying while the store is unreachable, by default (RoomLogOptions.appendRetryMs). */
export const APPEND_RETRY_MS = DEFAULT_PERSIST_RETRY_MS;
/** Compare-and-set attempts per append before giving up (ERR_STORE_CONFLICT). */
const MAX_ATTEMPTS = 32;

export interface LogEntry {
  seq: number;
  m: ChatMessage;
}

/** A member's line for the log: `who` names the member (stable across nodes), `n` its counter. */
export interface LogLine {
  m: ChatMessage;
  who: string;
  n: number;
}

interface Head {
  next: number;
  /** The newest senders' line ids (`from` NUL `cid`), at most SAID_KEYS: a line sent again after a takeover is not logged twice. */
  said?: string[];
  /** Per member (`who`): the highest counter logged and when. */
  spoke?: Record<string, [n: number, at: number]>;
  tail: LogEntry[];
  chunks: [name: string, start: number, count: number, at: number][];
  floors: Record<string, [pos: number, at: number]>;
}

export interface RoomLogOptions {
  store: SessionStore;
  /** Key prefix in the store. Default "colloquy:chat:". */
  keyPrefix?: string;
  /** Entries kept at most besides the tail. Default ROOM_LOG_LIMIT (1000). */
  logLimit?: number;
  /** How long a log lives after its last write. Default ROOM_LOG_TTL_MS (1 h); keep it well above the resume window. */
  logTtlMs?: number;
  /**
   * How long an append keeps trying while the store is unreachable (ERR_STORE_UNAVAILABLE or
   * ERR_STORE_TIMEOUT, e.g. during a Redis failover) before its senders are told the lines were
   * not sent; the room's later lines wait behind it, in order. The same bound as a durable
   * session's persist (DurabilityOptions.persistRetryMs): `colloquy serve --persist-retry-ms`
   * sets both. 0: no retry. Default APPEND_RETRY_MS (DEFAULT_PERSIST_RETRY_MS, 30 s).
   */
  appendRetryMs?: number;
}

/** What a read found: entries from the position asked for (or from the oldest kept, `trimmed` later). */
export interface LogRead {
  entries: LogEntry[];
  top: number;
  trimmed: number;
}

const empty = (): Head => ({ next: 1, tail: [], chunks: [], floors: {} });
const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    (t as { unref?: () => void }).unref?.();
  });

export class RoomLog {
  private readonly prefix: string;
  readonly limit: number;
  readonly ttlMs: number;
  /** RoomLogOptions.appendRetryMs: how long the feed retries an append through an outage. */
  readonly appendRetryMs: number;
  /** The head this node last wrote or read, per room. */
  private readonly known = new Map<string, { version: number; head: Head }>();
  private chunkNames = 0;
  private readonly epoch = Math.random().toString(36).slice(2, 10);

  constructor(private readonly o: RoomLogOptions) {
    this.prefix = o.keyPrefix ?? 'colloquy:chat:';
    this.limit = o.logLimit ?? ROOM_LOG_LIMIT;
    this.ttlMs = o.logTtlMs ?? ROOM_LOG_TTL_MS;
    this.appendRetryMs = o.appendRetryMs ?? APPEND_RETRY_MS;
  }

  private key(room: string): string {
    return `${this.prefix}log:${room}`;
  }

  /** Forgets the cached head of a room this node no longer keeps. */
  forget(room: string): void {
    this.known.delete(room);
  }

  /**
   * Appends `messages` in this order (and sets this node's floor, null: none); resolves with the
   * entries as numbered. One compare-and-set, retried on a lost race. A line whose member's
   * counter the log already has (`n` at most the highest logged), or, without a counter, whose
   * sender and `cid` the log has among the last SAID_KEYS, is left out. `forget`: members who
   * left, whose counters the head drops.
   */
  async append(
    room: string,
    messages: (ChatMessage | LogLine)[],
    node: string,
    floor: number | null,
    forget: readonly string[] = [],
  ): Promise<LogEntry[]> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const cur = this.known.get(room) ?? (await this.load(room));
      const now = Date.now();
      const said = [...(cur.head.said ?? [])];
      const known = new Set(said);
      const spoke = { ...(cur.head.spoke ?? {}) };
      const fresh = messages.flatMap((line): ChatMessage[] => {
        if ('who' in line) {
          const last = spoke[line.who];
          if (last && line.n <= last[0]) return [];
          spoke[line.who] = [line.n, now];
          return [line.m];
        }
        const m = line;
        if (m.cid === undefined) return [m];
        const key = `${m.from}\u0000${m.cid}`;
        if (known.has(key)) return [];
        known.add(key);
        said.push(key);
        return [m];
      });
      for (const who of forget) delete spoke[who];
      const entries = fresh.map((m, i) => ({ seq: cur.head.next + i, m }));
      const head: Head = {
        next: cur.head.next + fresh.length,
        said: said.slice(-SAID_KEYS),
        spoke: speakers(spoke, now - this.ttlMs / 2),
        tail: [...cur.head.tail, ...entries],
        chunks: [...cur.head.chunks],
        floors: { ...cur.head.floors },
      };
      if (floor === null) delete head.floors[node];
      else head.floors[node] = [floor, now];
      const full = cur.head.tail.length >= TAIL_ENTRIES || JSON.stringify(cur.head.tail).length >= TAIL_BYTES;
      if (full && cur.head.tail.length > 0) {
        const name = `${this.epoch}.${this.chunkNames++}`;
        const first = (cur.head.tail[0] as LogEntry).seq;
        await this.o.store.set(`${this.key(room)}~${name}`, cur.head.tail, { ttlMs: this.ttlMs, principal: null });
        head.chunks.push([name, first, cur.head.tail.length, now]);
        head.tail = entries;
      }
      this.trim(head, now);
      const version = await this.o.store.compareAndSet(this.key(room), cur.version, head, {
        ttlMs: this.ttlMs,
        principal: null,
      });
      if (version !== null) {
        this.known.set(room, { version, head });
        return entries;
      }
      this.known.delete(room);
      if (attempt >= 2) await sleep(Math.random() * Math.min(2 ** attempt, 50));
    }
    throw new SessionError(
      'ERR_STORE_CONFLICT',
      `chat: the log of room '${room}' kept changing under ${MAX_ATTEMPTS} attempts`,
      'local',
      { room },
    );
  }

  /** Sets this node's floor only (no message): one read and one compare-and-set, retried. */
  async setFloor(room: string, node: string, floor: number | null): Promise<void> {
    await this.append(room, [], node, floor);
  }

  /** The head's entries (the newest) and the highest seq (0: empty), read from the store. */
  async recent(room: string): Promise<{ entries: LogEntry[]; top: number }> {
    const { head } = await this.load(room);
    return { entries: head.tail, top: head.next - 1 };
  }

  /** Entries from `from` on, read from the store: the head, then the chunks before its tail. */
  async read(room: string, from: number): Promise<LogRead> {
    const { head } = await this.load(room);
    const top = head.next - 1;
    const tailStart = head.tail[0]?.seq ?? head.next;
    const out: LogEntry[] = [];
    if (from < tailStart) {
      const needed = head.chunks.filter(([, start, count]) => start + count > from);
      const loaded = await Promise.all(
        needed.map(([name]) => this.o.store.get<LogEntry[]>(`${this.key(room)}~${name}`)),
      );
      for (const chunk of loaded) if (chunk) out.push(...chunk.data.filter((e) => e.seq >= from));
    }
    out.push(...head.tail.filter((e) => e.seq >= from));
    // The newest unbroken run: whatever is missing before it was trimmed (or its chunk expired).
    let contiguous: LogEntry[] = [];
    for (const e of out) {
      const last = contiguous[contiguous.length - 1];
      if (last && e.seq === last.seq + 1) contiguous.push(e);
      else if (!last || e.seq > last.seq) contiguous = [e];
    }
    const first = contiguous[0]?.seq ?? top + 1;
    return { entries: contiguous, top, trimmed: Math.max(0, first - from) };
  }

  private async load(room: string): Promise<{ version: number; head: Head }> {
    const stored = await this.o.store.get<Head>(this.key(room));
    const cur = stored ? { version: stored.version, head: stored.data } : { version: 0, head: empty() };
    this.known.set(room, cur);
    return cur;
  }

  /** Drops the chunks every floor is past, those over the limit and those too old. */
  private trim(head: Head, now: number): void {
    const old = now - this.ttlMs / 2;
    for (const [node, [, at]] of Object.entries(head.floors)) if (at < old) delete head.floors[node];
    const floors = Object.values(head.floors).map(([pos]) => pos);
    const low = floors.length > 0 ? Math.min(...floors) : head.next - 1;
    let kept = head.chunks.reduce((n, [, , count]) => n + count, 0);
    head.chunks = head.chunks.filter(([, start, count, at]) => {
      const drop = start + count - 1 <= low || kept - count >= this.limit || at < old;
      if (drop) kept -= count;
      return !drop;
    });
  }
}

/** The members' counters still kept: not silent since `old`, at most MAX_SPEAKERS (the latest). */
function speakers(spoke: Record<string, [number, number]>, old: number): Record<string, [number, number]> {
  let kept = Object.entries(spoke).filter(([, [, at]]) => at >= old);
  if (kept.length > MAX_SPEAKERS) kept = kept.sort((x, y) => y[1][1] - x[1][1]).slice(0, MAX_SPEAKERS);
  return Object.fromEntries(kept);
}
