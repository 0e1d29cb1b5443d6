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
//   Appends a failover lost: every head write carries a tag of this node's and every append names
//   the version and tag it read (another node's head at a version number the failover freed is
//   not the one read). An append also checks the head against what its node saw numbered (the
//   furthest head it wrote or read, and LogMemory: the top its members got or others announced):
//   a head behind that lost appends, whose entries go in again at their positions from memory,
//   or, when some are in no memory here, whose positions are skipped (the tail restarts after
//   them, so chunk and tail stay unbroken runs). A position is never numbered twice.
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

/** A head as this node last wrote or read it: its version and its write's tag. */
interface Known {
  version: number;
  tag: string;
  head: Head;
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

/**
 * What a node knows of the log besides the store: the highest position it saw numbered (delivered
 * to its members, or announced by another node) and the entries it still holds in memory. An
 * append checks the store's head against it: a head behind it lost appends (a failover).
 */
export interface LogMemory {
  top: number;
  entry(seq: number): LogEntry | undefined;
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
  private readonly known = new Map<string, Known>();
  /** Per room, the highest `next` of any head this node wrote or read, and the newest tail it held. */
  private readonly reached = new Map<string, { next: number; tail: LogEntry[] }>();
  private writes = 0;
  /** Appends that found the store's head behind what was numbered and re-appended the lost entries (or skipped their positions). */
  readonly repaired = { restored: 0, skipped: 0 };
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
    this.reached.delete(room);
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
    memory?: LogMemory,
  ): Promise<LogEntry[]> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const cur = this.known.get(room) ?? (await this.load(room));
      const now = Date.now();
      const said = [...(cur.head.said ?? [])];
      const known = new Set(said);
      // Positions numbered (this node wrote or read them, or its members got them) that the head
      // no longer has: appends a failover lost. Re-appended at their positions from memory, or,
      // when some are not there, their positions skipped: never numbered again (docs/apps.md).
      const lostTo = Math.max((this.reached.get(room)?.next ?? 1) - 1, memory?.top ?? 0);
      const restored: LogEntry[] = [];
      let skip = false;
      for (let seq = cur.head.next; seq <= lostTo && !skip; seq++) {
        const e = memory?.entry(seq) ?? this.reached.get(room)?.tail.find((t) => t.seq === seq);
        if (e === undefined || e.seq !== seq) skip = true;
        else restored.push(e);
      }
      if (skip) restored.length = 0;
      for (const e of restored) {
        if (e.m.cid === undefined) continue;
        const key = `${e.m.from}\u0000${e.m.cid}`;
        if (!known.has(key)) said.push(key);
        known.add(key);
      }
      const base = Math.max(cur.head.next, lostTo + 1);
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
      const entries = fresh.map((m, i) => ({ seq: base + i, m }));
      const prior = [...cur.head.tail, ...restored];
      const head: Head = {
        next: base + fresh.length,
        said: said.slice(-SAID_KEYS),
        spoke: speakers(spoke, now - this.ttlMs / 2),
        tail: [...prior, ...entries],
        chunks: [...cur.head.chunks],
        floors: { ...cur.head.floors },
      };
      if (floor === null) delete head.floors[node];
      else head.floors[node] = [floor, now];
      // Skipped positions lie between a chunk and the tail, never inside either (they stay unbroken runs).
      const full = skip || prior.length >= TAIL_ENTRIES || JSON.stringify(prior).length >= TAIL_BYTES;
      if (full && prior.length > 0) {
        const name = `${this.epoch}.${this.chunkNames++}`;
        const first = (prior[0] as LogEntry).seq;
        await this.o.store.set(`${this.key(room)}~${name}`, prior, { ttlMs: this.ttlMs, principal: null });
        head.chunks.push([name, first, prior.length, now]);
        head.tail = entries;
      }
      this.trim(head, now);
      // Over the very head this node knows (version and tag): after a failover another node's
      // append can carry the same version number again.
      const tag = `${this.epoch}:${this.writes++}`;
      const version = await this.o.store.compareAndSet(
        this.key(room),
        cur.version === 0 ? 0 : { version: cur.version, tag: cur.tag },
        head,
        { ttlMs: this.ttlMs, principal: null, tag },
      );
      if (version !== null) {
        if (lostTo >= cur.head.next) {
          if (skip) this.repaired.skipped += lostTo + 1 - cur.head.next;
          else this.repaired.restored += restored.length;
        }
        this.known.set(room, { version, tag, head });
        this.reach(room, head);
        return skip || restored.length === 0 ? entries : [...restored, ...entries];
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
  async setFloor(room: string, node: string, floor: number | null, memory?: LogMemory): Promise<void> {
    await this.append(room, [], node, floor, [], memory);
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

  private async load(room: string): Promise<Known> {
    const stored = await this.o.store.get<Head>(this.key(room));
    const cur: Known = stored
      ? { version: stored.version, tag: stored.tag, head: stored.data }
      : { version: 0, tag: '', head: empty() };
    this.known.set(room, cur);
    this.reach(room, cur.head);
    return cur;
  }

  /** Keeps the furthest head this node saw (a head behind it later is a lost append). */
  private reach(room: string, head: Head): void {
    const r = this.reached.get(room);
    if (r === undefined || head.next >= r.next) this.reached.set(room, { next: head.next, tail: head.tail });
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
