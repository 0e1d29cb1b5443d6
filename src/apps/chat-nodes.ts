// What chat nodes say to each other on the bus (one topic per room, `chat/<room>`), and how a
// node takes in what the others say. The service (./chat.ts) publishes; this file reads.
//
//   message   a member's message (the receiving node adds it to the room's history, by id, once)
//   join      a member came; leave: a member went (reason left, lost or node-gone)
//   presence  a node's members in the room, every presenceIntervalMs; [] when it closes. A node
//             not heard from for 3 intervals is gone (ChatService.tick)
//   sync      a node took up the room; the others answer with presence and `history`
//   history   the answer to a sync, addressed to the asking node
//   entries   room log mode: messages as numbered in the room log (./chat-feed.ts delivers them)
//   turn      across nodes, half duplex: a node's member got the floor, or (null) the node freed it
//   wanted    across nodes, half duplex: a node's member asks for the floor its holder has
//
// Everything is checked and bounded: a bus is shared infrastructure, but what a node says is
// still input (nick rules, message size, list lengths, MAX_NODES_PER_ROOM).

import { nickProblem } from './chat-protocol.js';
import type { ChatMessage, LeaveReason, ServerToClient } from './chat-protocol.js';
import { allMembers, isChatMessage } from './chat-room.js';
import type { Room } from './chat-room.js';
import type { LogEntry } from './chat-log.js';
import { isLogEntry } from './chat-feed.js';

/** Bus messages between nodes. */
export type Wire =
  | { k: 'message'; node: string; message: ChatMessage }
  | { k: 'join' | 'leave'; node: string; nick: string; reason?: LeaveReason }
  | { k: 'presence'; node: string; members: string[]; halfDuplex: boolean; top?: number | null }
  | { k: 'entries'; node: string; entries: LogEntry[] }
  | { k: 'turn'; node: string; holder: string | null }
  | { k: 'wanted'; node: string }
  | { k: 'sync'; node: string }
  | { k: 'history'; node: string; to: string; messages: ChatMessage[] };

/** Other nodes one room keeps track of; more are ignored (and reported through onBusError). */
export const MAX_NODES_PER_ROOM = 256;

export const topicOf = (room: string): string => `chat/${room}`;

/** What onNodeMessage needs from the service. */
export interface NodeContext {
  nodeId: string;
  presenceMs: number;
  maxMembers: number;
  maxNick: number;
  maxMessageBytes: number;
  historyLimit: number;
  toRoom(room: Room, message: ServerToClient): void;
  remember(room: Room, message: ChatMessage): boolean;
  publish(room: Room, message: Wire): void;
  busError(error: unknown): void;
  /** Room log mode: messages reach members through the log (entries), not `message` or `history`. */
  logged: boolean;
  entries(room: Room, entries: LogEntry[]): void;
  heardTop(room: Room, top: number): void;
  /** Half duplex across nodes: another node's floor news. */
  turn(room: Room, holder: string | null): void;
  wanted(room: Room): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Takes in one bus message for `room` from another node (our own are skipped). */
export function onNodeMessage(room: Room, bytes: Uint8Array, ctx: NodeContext): void {
  let m: Wire;
  try {
    m = JSON.parse(decoder.decode(bytes)) as Wire;
    if (typeof m !== 'object' || m === null || typeof m.node !== 'string') throw new Error('no node');
  } catch {
    ctx.busError(new Error(`chat: a bus message on ${topicOf(room.name)} is not chat JSON; ignored`));
    return;
  }
  if (m.node === ctx.nodeId) return;
  const now = Date.now();
  if (!room.remote.has(m.node) && room.remote.size >= MAX_NODES_PER_ROOM) {
    ctx.busError(
      new Error(
        `chat: more than ${MAX_NODES_PER_ROOM} nodes in room '${room.name}' (MAX_NODES_PER_ROOM); node ${m.node.slice(0, 32)} ignored`,
      ),
    );
    return;
  }
  const node = (): { members: Set<string>; expires: number } => {
    let n = room.remote.get(m.node);
    if (!n) room.remote.set(m.node, (n = { members: new Set(), expires: 0 }));
    n.expires = now + 3 * ctx.presenceMs;
    return n;
  };
  const fits = (x: unknown): x is ChatMessage =>
    isChatMessage(x) && x.room === room.name && encoder.encode(x.text).length <= ctx.maxMessageBytes;
  switch (m.k) {
    case 'entries':
      if (!ctx.logged || !Array.isArray(m.entries) || m.entries.length > 1024) return;
      node();
      ctx.entries(
        room,
        m.entries.filter((e) => isLogEntry(e) && fits(e.m)),
      );
      return;
    case 'turn':
      if (m.holder !== null && (typeof m.holder !== 'string' || nickProblem(m.holder, ctx.maxNick))) return;
      ctx.turn(room, m.holder);
      return;
    case 'wanted':
      ctx.wanted(room);
      return;
    case 'message':
      if (ctx.logged || !fits(m.message)) return;
      node();
      if (ctx.remember(room, m.message)) ctx.toRoom(room, { type: 'message', ...m.message });
      return;
    case 'join':
      if (typeof m.nick !== 'string' || nickProblem(m.nick, ctx.maxNick)) return;
      if (node().members.size >= ctx.maxMembers) return;
      if (allMembers(room).includes(m.nick)) {
        node().members.add(m.nick);
        return;
      } // known already: no second notice
      node().members.add(m.nick);
      ctx.toRoom(room, { type: 'join', room: room.name, nick: m.nick, ts: now });
      return;
    case 'leave':
      if (typeof m.nick !== 'string') return;
      node().members.delete(m.nick);
      if (!allMembers(room).includes(m.nick)) {
        const reason: LeaveReason = m.reason === 'lost' || m.reason === 'node-gone' ? m.reason : 'left';
        ctx.toRoom(room, { type: 'leave', room: room.name, nick: m.nick, ts: now, reason });
      }
      return;
    case 'presence': {
      if (!Array.isArray(m.members) || m.members.length > ctx.maxMembers) return;
      const n = node();
      const before = [...n.members].sort().join('\n');
      n.members = new Set(m.members.filter((x): x is string => typeof x === 'string' && !nickProblem(x, ctx.maxNick)));
      if (m.members.length === 0) room.remote.delete(m.node);
      if (typeof m.top === 'number') ctx.heardTop(room, m.top);
      if ([...n.members].sort().join('\n') !== before)
        ctx.toRoom(room, { type: 'presence', room: room.name, members: allMembers(room) });
      return;
    }
    case 'sync':
      if (room.members.size > 0)
        ctx.publish(room, {
          k: 'presence',
          node: ctx.nodeId,
          members: [...room.members.keys()],
          halfDuplex: room.halfDuplex,
        });
      if (room.history.length > 0)
        ctx.publish(room, { k: 'history', node: ctx.nodeId, to: m.node, messages: room.history });
      return;
    case 'history': {
      if (m.to !== ctx.nodeId || !Array.isArray(m.messages)) return;
      const fresh = m.messages.slice(-ctx.historyLimit).filter((x) => fits(x) && !room.historyIds.has(x.id));
      if (fresh.length === 0) return;
      const merged = [...room.history, ...fresh]
        .sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : 1))
        .slice(-ctx.historyLimit);
      room.history = merged;
      room.historyIds = new Set(merged.map((x) => x.id));
      const kept = fresh.filter((x) => room.historyIds.has(x.id));
      if (kept.length > 0 && !ctx.logged) ctx.toRoom(room, { type: 'history', room: room.name, messages: kept });
      return;
    }
  }
}
