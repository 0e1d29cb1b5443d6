// Room log mode (a chat across nodes on a shared store): how a node puts its members' messages
// into the room log (./chat-log.ts) and delivers the log to its members, once each and in the
// log's order, whichever node each message came from and wherever each member's session was
// before.
//
// Theory of operation
//   A node's members' messages are appended in batches (one append in flight per room; what its
//   members say meanwhile goes into the next one) and the numbered entries are announced on the
//   bus (`entries`). A node delivers the log in order: `top` is the last seq it delivered; entries
//   heard ahead of top+1 wait in `cache` while the gap is read from the store (the bus is at most
//   once: a lost announcement is a gap, found from the next entry or the next `presence`, which
//   carries the sender's top). Each member has its own position `pos`: a fresh member starts at
//   the room's top; a member restored from the store after its node died starts where its hello
//   says (POSITION, written with each unit queued in its session, so the stored session and the
//   stored position always agree) and reads what it missed from the store before anything newer.
//   A member's lines are logged once and in the order its client said them, across nodes. Each
//   line carries the client's counter `n`; the log keeps each member's highest (./chat-log.ts),
//   so a line sent again is dropped however old. A member restored after its node died may have
//   said lines that node took and never logged: its client sends again, on `interrupted`, every
//   line not back from the room that it had sent before the connection broke, after a
//   `resending` that lists their counters. Meanwhile the restored session brings lines said
//   later (replayed by the client's session, or new): those are *held* until every listed line is
//   in, then all are logged in counter order. A hold ends at most RESEND_WAIT_MS after the restore
//   or at RESEND_HELD_LINES lines, logging what it has and telling the member
//   (ERR_CHAT_RESEND_INCOMPLETE); a member that leaves has its held lines logged, one whose
//   session another node took has them dropped (its client sends them again there).
//   Each node also keeps its *floor* in the log (the lowest position its members' clients have
//   acknowledged), which lets the log trim what every member has.

import { encodeChat } from './chat-protocol.js';
import type { ChatMessage } from './chat-protocol.js';
import { sendEntry, sendTo } from './chat-delivery.js';
import type { DeliveryStats } from './chat-delivery.js';
import type { LogEntry, LogMemory, RoomLog } from './chat-log.js';
import { CLAIM, POSITION } from './chat-room.js';
import type {} from './errors.js';
import type {} from '../store/errors.js';
import { retryWhileUnreachable } from '../server/persist-retry.js';
import type { Member, Room, RoomFeed } from './chat-room.js';

/** Log entries a node keeps per room in memory, to deliver without reading the store. */
export const FEED_CACHE_ENTRIES = 512;
/** Messages in one append at most. */
const APPEND_BATCH = 64;
/** How soon a failed read of the log is tried again. */
const RETRY_MS = 500;
export { APPEND_RETRY_MS } from './chat-log.js';
/**
 * Line ids (cids) a node remembers per member: at least what a client sends again after a
 * takeover (ChatClient's MAX_UNECHOED, 1000), which the room log alone (SAID_KEYS) may not cover.
 */
export const MEMBER_CIDS = 1024;
/** How long a restored member's new lines wait at most for the lines its client sends again. */
export const RESEND_WAIT_MS = 15_000;
/** Lines of a restored member held at most while they wait (past it they are logged as they are). */
export const RESEND_HELD_LINES = 1000;
/** Characters of a member's claim token that name it in the log's counters. */
const WHO_CHARS = 12;
/** Acknowledgement marks kept per member (older ones are dropped: the floor then lags, never leads). */
const MAX_MARKS = 64;

export interface FeedContext {
  nodeId: string;
  log: RoomLog;
  stats: DeliveryStats;
  /** Adds a delivered message to the room's history (for welcomes). */
  remember(room: Room, message: ChatMessage): void;
  /** Announces numbered entries to the other nodes. */
  announce(room: Room, entries: LogEntry[]): void;
  error(error: unknown): void;
}

const encoded = new WeakMap<LogEntry, Uint8Array>();
const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    (t as { unref?: () => void }).unref?.();
  });

export function isLogEntry(v: unknown): v is LogEntry {
  return (
    typeof v === 'object' &&
    v !== null &&
    Number.isSafeInteger((v as LogEntry).seq) &&
    (v as LogEntry).seq > 0 &&
    typeof (v as LogEntry).m === 'object'
  );
}

export class RoomFeeds {
  constructor(private readonly ctx: FeedContext) {}

  /** A room taken up by this node: learn where its log stands. */
  start(room: Room): void {
    room.log = {
      top: null,
      cache: new Map(),
      outgoing: [],
      forget: [],
      appending: false,
      filling: false,
      heard: 0,
      floor: null,
    };
    void this.fill(room);
  }

  /**
   * A member's message for the room: appended with the next batch, delivered once numbered. A
   * line this node already took from the member is dropped: after a takeover the session brings
   * here what its client sent meanwhile, and the client then sends again what never came back,
   * which may be all of it (more than the room log remembers).
   */
  say(room: Room, member: Member, message: ChatMessage, n?: number): void {
    const feed = room.log;
    if (!feed) return;
    if (n !== undefined && member.who !== null) {
      const hold = member.hold;
      if (hold) {
        if (!hold.lines.has(n)) hold.lines.set(n, message);
        hold.expect?.delete(n);
        if (hold.lines.size > RESEND_HELD_LINES) this.release(room, member, 'full');
        else if (hold.expect?.size === 0) this.release(room, member, null);
        return;
      }
      if (n <= member.topN) return; // taken already (and logged, or on its way)
      member.topN = n;
      feed.outgoing.push({ m: message, who: member.who, n });
      void this.flush(room, feed);
      return;
    }
    if (message.cid !== undefined) {
      if (member.cids.has(message.cid)) return;
      member.cids.add(message.cid);
      if (member.cids.size > MEMBER_CIDS) member.cids.delete(member.cids.values().next().value as string);
    }
    feed.outgoing.push(message);
    void this.flush(room, feed);
  }

  /** A line of the member's that this node did not take (refused): a hold no longer waits for it. */
  refused(room: Room, member: Member, n: number): void {
    const hold = member.hold;
    if (!hold?.expect?.delete(n)) return;
    if (hold.expect.size === 0) this.release(room, member, null);
  }

  /** The member's client sends these lines again (after `interrupted`): the hold waits for them. */
  resending(room: Room, member: Member, ns: number[]): void {
    const hold = member.hold;
    if (!hold || hold.expect !== null) return;
    hold.expect = new Set(ns.filter((n) => !hold.lines.has(n)));
    if (hold.expect.size === 0) this.release(room, member, null);
  }

  /** The member is gone from this node: for good (`left`: its held lines logged) or to another node. */
  left(room: Room, member: Member, left: boolean): void {
    if (left) {
      this.release(room, member, null);
      if (member.who !== null) room.log?.forget.push(member.who);
    } else if (member.hold) {
      if (member.hold.timer) clearTimeout(member.hold.timer);
      member.hold = null; // its client sends them again to the node that has its session now
    }
  }

  /** A member joined on this node (fresh) or came back from the store (restored, with its position). */
  joined(room: Room, member: Member, restored: boolean): void {
    const at = member.hello[POSITION];
    const claim = member.hello[CLAIM];
    member.who = typeof claim === 'string' ? claim.slice(0, WHO_CHARS) : null;
    if (restored && typeof at === 'number' && Number.isSafeInteger(at) && at >= 0) {
      member.pos = at;
      member.acked = at; // what it had is in its stored session: the log need not keep it
      member.interrupted = true;
      if (member.who !== null) {
        const timer = setTimeout(() => this.release(room, member, 'timeout'), RESEND_WAIT_MS);
        (timer as { unref?: () => void }).unref?.();
        member.hold = { lines: new Map(), expect: null, timer };
      }
    } else {
      delete member.hello[POSITION];
    }
    this.pump(room, member);
  }

  /** Entries another node announced (checked by the caller). */
  accept(room: Room, entries: LogEntry[]): void {
    const feed = room.log;
    if (!feed) return;
    for (const e of entries) {
      if (feed.top === null || e.seq > feed.top) feed.cache.set(e.seq, e);
      if (e.seq > feed.heard) feed.heard = e.seq;
    }
    this.advance(room, feed);
  }

  /** Another node's top (from its presence): a gap to read if it is ahead. */
  heard(room: Room, top: number): void {
    const feed = room.log;
    if (!feed || !Number.isSafeInteger(top)) return;
    if (top > feed.heard) feed.heard = top;
    if (feed.top === null || feed.heard > feed.top) void this.fill(room);
  }

  top(room: Room): number | null {
    return room.log?.top ?? null;
  }

  /** Every presence interval: the floor into the log when it moved, gaps read, stragglers pumped. */
  tick(room: Room): void {
    const feed = room.log;
    if (!feed) return;
    if (feed.top === null || feed.heard > feed.top) void this.fill(room);
    const floor = this.floor(room);
    if (floor !== feed.floor && !feed.appending) {
      feed.appending = true;
      this.ctx.log
        .setFloor(room.name, this.ctx.nodeId, floor, memory(feed))
        .then(
          () => {
            feed.floor = floor;
          },
          (e: unknown) => this.ctx.error(e),
        )
        .finally(() => {
          feed.appending = false;
          if (feed.outgoing.length > 0) void this.flush(room, feed);
        });
    }
    for (const m of room.members.values()) this.pump(room, m);
  }

  /** Ends a member's hold: its held lines go to the log in counter order (`why`: cut short). */
  private release(room: Room, member: Member, why: 'full' | 'timeout' | null): void {
    const hold = member.hold;
    const feed = room.log;
    if (!hold || !feed || member.who === null) return;
    member.hold = null;
    if (hold.timer) clearTimeout(hold.timer);
    const ns = [...hold.lines.keys()].sort((x, y) => x - y);
    for (const n of ns) {
      if (n <= member.topN) continue;
      member.topN = n;
      feed.outgoing.push({ m: hold.lines.get(n) as ChatMessage, who: member.who, n });
    }
    if (why !== null && ns.length > 0 && !member.gone) {
      const waited =
        hold.expect === null
          ? 'the list of lines your client sends again, which never came'
          : `${hold.expect.size} line(s) your client sends again`;
      sendTo(
        member,
        {
          type: 'error',
          code: 'ERR_CHAT_RESEND_INCOMPLETE',
          message:
            why === 'full'
              ? `${ns.length} of your lines were held (RESEND_HELD_LINES, ${RESEND_HELD_LINES}) waiting for ${waited}; they are logged now without them`
              : `${ns.length} of your lines were held ${RESEND_WAIT_MS} ms (RESEND_WAIT_MS) waiting for ${waited}; they are logged now without them`,
        },
        this.ctx.stats,
      );
    }
    if (feed.outgoing.length > 0) void this.flush(room, feed);
  }

  private async flush(room: Room, feed: RoomFeed): Promise<void> {
    if (feed.appending) return;
    feed.appending = true;
    try {
      while (feed.outgoing.length > 0) {
        const batch = feed.outgoing.splice(0, APPEND_BATCH);
        const forget = feed.forget.splice(0);
        const floor = this.floor(room);
        let entries: LogEntry[];
        try {
          // A store that cannot be reached for a while (a Redis failover) holds the batch, and
          // every later line behind it, in order, for appendRetryMs (serve: --persist-retry-ms); an append whose reply was lost but which landed
          // is not logged twice (the head remembers its senders' line ids).
          entries = await retryWhileUnreachable(this.ctx.log.appendRetryMs, () =>
            this.ctx.log.append(room.name, batch, this.ctx.nodeId, floor, forget, memory(feed)),
          );
        } catch (e) {
          this.ctx.error(e);
          feed.forget.push(...forget);
          for (const line of batch) {
            const m = 'who' in line ? line.m : line;
            const sender = room.members.get(m.from);
            if (sender)
              sendTo(
                sender,
                {
                  type: 'error',
                  code: 'ERR_STORE_UNAVAILABLE',
                  message: `your message "${m.text.slice(0, 40)}" was not sent: the shared store did not take it (${(e as Error).message}); send it again`,
                },
                this.ctx.stats,
              );
          }
          continue;
        }
        feed.floor = floor;
        this.ctx.announce(room, entries);
        this.accept(room, entries);
      }
    } finally {
      feed.appending = false;
    }
  }

  private advance(room: Room, feed: RoomFeed): void {
    if (feed.top === null) return;
    for (let e = feed.cache.get(feed.top + 1); e; e = feed.cache.get(feed.top + 1)) {
      feed.top = e.seq;
      this.ctx.remember(room, e.m);
    }
    if (feed.cache.size > FEED_CACHE_ENTRIES) {
      for (const seq of feed.cache.keys()) {
        if (feed.cache.size <= FEED_CACHE_ENTRIES) break;
        if (seq <= feed.top) feed.cache.delete(seq);
      }
    }
    if (feed.heard > feed.top) void this.fill(room);
    for (const m of room.members.values()) this.pump(room, m);
  }

  /** Reads the log from the store from top+1 (or, the first time, where it stands). */
  private async fill(room: Room): Promise<void> {
    const feed = room.log;
    if (!feed || feed.filling) return;
    feed.filling = true;
    try {
      for (let round = 0; round < 3 && (feed.top === null || feed.heard > feed.top); round++) {
        if (feed.top === null) {
          const r = await this.ctx.log.recent(room.name);
          for (const e of r.entries) feed.cache.set(e.seq, e);
          if (r.top > feed.heard) feed.heard = r.top;
          feed.top = r.top;
        } else {
          const r = await this.ctx.log.read(room.name, feed.top + 1);
          if (r.trimmed > 0) {
            // Gone from the log before this node read it: its members cannot have it.
            for (const m of room.members.values()) this.trimmedNotice(m, r.trimmed);
            feed.top += r.trimmed;
            for (const m of room.members.values()) if (m.pos !== null && m.pos < feed.top) m.pos = feed.top;
          }
          for (const e of r.entries) if (e.seq > feed.top) feed.cache.set(e.seq, e);
          if (r.top > feed.heard) feed.heard = r.top;
        }
        this.advance(room, feed);
      }
    } catch (e) {
      this.ctx.error(e);
      await sleep(RETRY_MS); // the next tick or entry tries again
    } finally {
      feed.filling = false;
    }
    for (const m of room.members.values()) this.pump(room, m);
  }

  /** Delivers to one member what the room delivered and it has not had yet, in order. */
  private pump(room: Room, member: Member): void {
    const feed = room.log;
    if (!feed || feed.top === null || member.catching || member.gone) return;
    if (member.pos === null) {
      member.pos = feed.top;
      member.acked = feed.top;
      member.hello[POSITION] = feed.top;
    }
    while (member.pos < feed.top) {
      const e = feed.cache.get(member.pos + 1);
      if (!e) {
        void this.catchUp(room, member);
        return;
      }
      this.deliver(member, e);
    }
    if (member.interrupted) {
      // Everything the log had is queued: the client now sends again what it said and never saw
      // come back (lost with the node that had received it); the log drops what it already has.
      member.interrupted = false;
      sendTo(member, { type: 'interrupted', room: room.name }, this.ctx.stats);
    }
  }

  private deliver(member: Member, e: LogEntry): void {
    let bytes = encoded.get(e);
    const message = { type: 'message' as const, ...e.m };
    if (!bytes) encoded.set(e, (bytes = encodeChat(message)));
    sendEntry(member, message, bytes, e.seq, this.ctx.stats);
    member.pos = e.seq;
  }

  /** A member behind what this node keeps in memory (restored after its node died): read from the store. */
  private async catchUp(room: Room, member: Member): Promise<void> {
    member.catching = true;
    let progressed = false;
    try {
      const from = (member.pos as number) + 1;
      const r = await this.ctx.log.read(room.name, from);
      if (member.gone) return;
      if (r.trimmed > 0) {
        this.trimmedNotice(member, r.trimmed);
        member.pos = (member.pos as number) + r.trimmed;
        progressed = true;
      }
      const top = room.log?.top ?? 0;
      for (const e of r.entries) {
        if (e.seq > top) break;
        if (e.seq !== (member.pos as number) + 1) continue;
        this.deliver(member, e);
        progressed = true;
      }
      this.accept(
        room,
        r.entries.filter((e) => e.seq > top),
      );
    } catch (e) {
      this.ctx.error(e);
    } finally {
      member.catching = false;
    }
    if (!progressed) await sleep(RETRY_MS);
    this.pump(room, member);
  }

  private trimmedNotice(member: Member, count: number): void {
    sendTo(
      member,
      {
        type: 'error',
        code: 'ERR_CHAT_LOG_TRIMMED',
        message: `${count} message(s) of this room left its log before they could reach you (logLimit or logTtlMs)`,
      },
      this.ctx.stats,
    );
  }

  /** The lowest position this node's members' clients acknowledged (null: no member here). */
  private floor(room: Room): number | null {
    let low: number | null = null;
    for (const m of room.members.values()) {
      const a = acknowledged(m);
      if (a !== null && (low === null || a < low)) low = a;
    }
    return low;
  }
}

/**
 * What the node knows of the log (RoomLog.append checks the store's head against it): the highest
 * position delivered here or announced by another node, and the entries it still holds.
 */
function memory(feed: RoomFeed): LogMemory {
  return { top: Math.max(feed.top ?? 0, feed.heard), entry: (seq) => feed.cache.get(seq) };
}

/**
 * The position a member's client has acknowledged: a position is marked with the session's frame
 * count once nothing is queued ahead of it (so its frame is at most that count) and counts as
 * acknowledged once the client acknowledged that many frames.
 */
function acknowledged(m: Member): number | null {
  const at = m.hello[POSITION];
  if (typeof at !== 'number' || m.session.closed) return m.acked;
  const stats = m.session.machine.stats;
  const last = m.marks[m.marks.length - 1];
  if ((!last || last[1] < at) && stats.queuedBytes === 0) m.marks.push([stats.sent, at]);
  while (m.marks.length > 0 && (m.marks[0] as [number, number])[0] <= stats.acknowledged)
    m.acked = (m.marks.shift() as [number, number])[1];
  if (m.marks.length > MAX_MARKS) m.marks.splice(0, m.marks.length - MAX_MARKS);
  return m.acked;
}
