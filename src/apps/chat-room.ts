// Chat room state on one node, and the pure helpers the service (./chat.ts) and its floor
// (./chat-floor.ts) share: who is in a room on every node, free nicks, bounded history.

import type { Session } from '../driver/session.js';
import type { ChatMessage } from './chat-protocol.js';
import type { LogEntry, LogLine } from './chat-log.js';

export interface Member {
  session: Session;
  nick: string;
  room: Room;
  gone: boolean;
  /** Asked to leave; the service's release is under way and the session takes no more data. */
  leaving: boolean;
  /** Units waiting for the session to take data again (see ChatService.sendBytes), with their log position. */
  backlog: { bytes: Uint8Array; pos?: number }[];
  backlogBytes: number;
  retry: ReturnType<typeof setTimeout> | null;
  /** The hello the store keeps with the session: its nick, claim and log position (POSITION) live there. */
  hello: Record<string, unknown>;
  /** Room log mode: the last log entry handed to delivery (null: not known yet). */
  pos: number | null;
  /** Room log mode: reading what it missed from the store. */
  catching: boolean;
  /** Room log mode: [frames sent, position] pairs waiting for the client's acknowledgement; `acked` the position acknowledged. */
  marks: [number, number][];
  acked: number | null;
  /** Restored after its node died: tell the client `interrupted` once it has all the log had. */
  interrupted: boolean;
  /** Room log mode: the cids of the lines this node took from the member (the newest MEMBER_CIDS). */
  cids: Set<string>;
  /** Room log mode: the member's key in the log's counters (from its claim token; null: none). */
  who: string | null;
  /** Room log mode: the highest line counter (`n`) this node took from the member. */
  topN: number;
  /** Room log mode, restored member: its lines held until its client's lines sent again are in. */
  hold: Hold | null;
}

/** A restored member's lines, held until the lines its client sends again (`expect`) are in. */
export interface Hold {
  lines: Map<number, ChatMessage>;
  /** The counters the client said it sends again and that have not come yet (null: not said yet). */
  expect: Set<number> | null;
  timer: ReturnType<typeof setTimeout> | null;
}

/** Where a member's log position is kept in its hello (stored with its session). */
export const POSITION = 'chatPos';
/** Where a member's claim token (nick and floor leases) is kept in its hello. */
export const CLAIM = 'chatClaim';

/** A new member's state (the service fills in session, nick, room, hello). */
export function newMember(session: Session, nick: string, room: Room, hello: Record<string, unknown>): Member {
  return {
    session,
    nick,
    room,
    hello,
    gone: false,
    leaving: false,
    backlog: [],
    backlogBytes: 0,
    retry: null,
    pos: null,
    catching: false,
    marks: [],
    acked: null,
    interrupted: false,
    cids: new Set(),
    who: null,
    topN: 0,
    hold: null,
  };
}

export interface Room {
  name: string;
  halfDuplex: boolean;
  members: Map<string, Member>;
  history: ChatMessage[];
  historyIds: Set<string>;
  /** Other nodes' members, and when each node's list expires. */
  remote: Map<string, { members: Set<string>; expires: number }>;
  unsubscribe: Promise<(() => Promise<void>) | undefined> | undefined;
  lastActive: number;
  holder: Member | null;
  waiting: Member[];
  asked: ReturnType<typeof setTimeout> | null;
  /** Across nodes (shared store): the floor's holder on another node, by nick. */
  remoteHolder: string | null;
  /** Across nodes: another node asked for the floor since this node's member got it. */
  remoteWanted: boolean;
  /** Across nodes: a claim of the floor is in flight. */
  claiming: boolean;
  /** Room log mode: this node's view of the room log (see ./chat-feed.ts). */
  log: RoomFeed | null;
}

/** Room log mode: what this node knows of a room's log. */
export interface RoomFeed {
  /** The highest seq delivered to this node's members in log order (null: not loaded yet). */
  top: number | null;
  /** Recent entries by seq (delivered, and heard of ahead of `top`). */
  cache: Map<number, LogEntry>;
  /** Messages of this node's members waiting for the next append. */
  outgoing: (ChatMessage | LogLine)[];
  /** Members who left, whose counters the next append drops from the log's head. */
  forget: string[];
  appending: boolean;
  filling: boolean;
  /** The highest seq another node announced. */
  heard: number;
  /** The floor this node last wrote into the log. */
  floor: number | null;
}

export function newRoom(name: string, halfDuplex: boolean): Room {
  return {
    name,
    halfDuplex,
    members: new Map(),
    history: [],
    historyIds: new Set(),
    remote: new Map(),
    unsubscribe: undefined,
    lastActive: Date.now(),
    holder: null,
    waiting: [],
    asked: null,
    remoteHolder: null,
    remoteWanted: false,
    claiming: false,
    log: null,
  };
}

/** Everyone in the room, on this node and on the others this node has heard from, sorted. */
export function allMembers(room: Room): string[] {
  const all = new Set(room.members.keys());
  for (const n of room.remote.values()) for (const nick of n.members) all.add(nick);
  return [...all].sort();
}

/** `wanted`, or the first of wanted-2, wanted-3 ... (shortened to fit `maxNick`) nobody has. */
export function freeNick(room: Room, wanted: string, maxNick: number): string {
  const taken = new Set(allMembers(room));
  if (!taken.has(wanted)) return wanted;
  for (let i = 2; ; i++) {
    const suffix = `-${i}`;
    const base = [...wanted].slice(0, maxNick - suffix.length).join('');
    if (!taken.has(base + suffix)) return base + suffix;
  }
}

/** Adds a message to the room's history (once per id, the last `limit` kept); false if known. */
export function remember(room: Room, message: ChatMessage, limit: number): boolean {
  if (room.historyIds.has(message.id)) return false;
  room.history.push(message);
  room.historyIds.add(message.id);
  while (room.history.length > limit) room.historyIds.delete((room.history.shift() as ChatMessage).id);
  room.lastActive = Date.now();
  return true;
}

/** `given` is `wanted`, or `wanted` (perhaps shortened) with a -N suffix, as freeNick makes them. */
export function isNickOf(given: string, wanted: string): boolean {
  if (given === wanted) return true;
  const m = /^(.+)-\d+$/u.exec(given);
  return m !== null && wanted.startsWith(m[1] as string);
}

export function isChatMessage(v: unknown): v is ChatMessage {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return (
    typeof m['id'] === 'string' &&
    typeof m['room'] === 'string' &&
    typeof m['from'] === 'string' &&
    typeof m['text'] === 'string' &&
    typeof m['ts'] === 'number'
  );
}
