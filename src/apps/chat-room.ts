// Chat room state on one node, and the pure helpers the service (./chat.ts) and its floor
// (./chat-floor.ts) share: who is in a room on every node, free nicks, bounded history.

import type { Session } from '../driver/session.js';
import type { ChatMessage } from './chat-protocol.js';

export interface Member {
  session: Session;
  nick: string;
  room: Room;
  gone: boolean;
  /** Asked to leave; the service's release is under way and the session takes no more data. */
  leaving: boolean;
  /** Units waiting for the session to take data again (see ChatService.sendBytes). */
  backlog: Uint8Array[];
  backlogBytes: number;
  retry: ReturnType<typeof setTimeout> | null;
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
}

export function newRoom(name: string, halfDuplex: boolean): Room {
  return {
    name, halfDuplex, members: new Map(), history: [], historyIds: new Set(), remote: new Map(),
    unsubscribe: undefined, lastActive: Date.now(), holder: null, waiting: [], asked: null,
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
  return typeof m['id'] === 'string' && typeof m['room'] === 'string' && typeof m['from'] === 'string' && typeof m['text'] === 'string' && typeof m['ts'] === 'number';
}
