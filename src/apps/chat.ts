// The chat service: rooms, nicks, join/leave notices, presence, bounded history on join, message
// ids, half-duplex (walkie-talkie) rooms arbitrated with the X.225 data token, and several nodes
// forming one chat over a Bus. Messages are defined in ./chat-protocol.ts; how they reach a
// member's session (frame limits, backlog, slow readers) is ./chat-delivery.ts.
//
// Theory of operation
//   One session = one member of one room, named by the CONNECT hello. `open` registers the member
//   (a taken nick gets a clear suffix: ada, ada-2, ada-3 ...), sends `welcome` with the members
//   and the last `historyLimit` messages, and tells the room `join`. A `say` becomes a message with
//   an id, kept in the room's history and sent to every member, the sender included (so the
//   sender learns the id and the room's order). When the session closes the room hears `leave`.
//
//   Exactly once: the session layer replays what a cut connection lost, and a resumed session is
//   the same Session object that `open` never sees again, so nothing here is sent twice (no second
//   welcome, no history replay, no second join). A session restored on another node after its
//   node died is opened with `restored: true`: it rejoins silently under its hello's nick.
//
//   Inbound units are handled from the session's `event` stream, in frame order, DATA and TYPED
//   alike (the async iterator is drained and ignored: it would deliver DATA a microtask later than
//   TYPED and could reorder a `say` after a `leave`).
//
//   Several nodes: every room has a bus topic `chat/<room>` (see ./service.ts Bus). A node
//   publishes its members' messages, joins and leaves, and every `presenceIntervalMs` the list of
//   its members in each room; it delivers what other nodes publish. A node that has not been heard
//   from for 3 intervals is gone: its members leave (reason `node-gone`). A node that takes up a
//   room asks the others (`sync`); they answer with their presence and history, and history the
//   node had not seen goes to its members as `history`. Message ids are `<ms base36>-<node>-<seq>`.
//
//   Across nodes on a shared store (`shared`): every room has a log in the store (./chat-log.ts)
//   that numbers its messages in one order for every node; each node delivers it to its members
//   in that order, and each member's position in it is kept in its hello, which the store keeps
//   with its session, so a node that restores the session after its node died delivers what the
//   room said meanwhile, once and in order (./chat-feed.ts). Nicks and the half-duplex floor are
//   leases in the store (./chat-claims.ts): a nick or a floor held on one node is held everywhere.
//
//   Half duplex (walkie-talkie): clients negotiate the half-duplex mode with the data
//   token on the server's side. The member whose client holds the token has the floor. A client
//   asks with PLEASE_TOKENS(data); the service (not the session's default answer, see
//   Session.setHandlers) queues the request, asks the holder with its own PLEASE_TOKENS, and when
//   the holder gives the token back it hands it (GIVE_TOKENS) to the next in line and tells the
//   room `turn`. A holder that keeps the token `turnTimeoutMs` after being asked is aborted.
//   The room's traffic goes to members as TYPED data, which needs no token.

import type { Session } from '../driver/session.js';
import { Refusal } from '../server/server.js';
import type { Bus } from '../cluster/bus.js';
import type { OpenContext, Principal, Service, ServiceHello } from './service.js';
import {
  CHAT_SERVICE,
  DEFAULT_NICK,
  DEFAULT_ROOM,
  nickProblem,
  parseClientMessage,
  roomProblem,
} from './chat-protocol.js';
import type { ChatMessage, LeaveReason, ServerToClient } from './chat-protocol.js';
import { CLAIM, POSITION, allMembers, freeNick, isNickOf, newMember, newRoom, remember } from './chat-room.js';
import type { Member, Room } from './chat-room.js';
import { Floor } from './chat-floor.js';
import { onNodeMessage, topicOf } from './chat-nodes.js';
import type { NodeContext, Wire } from './chat-nodes.js';
import { sendTo, sendToRoom } from './chat-delivery.js';
import type {} from './errors.js';
import type {} from '../server/errors.js';
import type {} from '../store/errors.js';
import { RoomLog } from './chat-log.js';
import type { RoomLogOptions } from './chat-log.js';
import { ChatClaims } from './chat-claims.js';
import { RoomFeeds } from './chat-feed.js';

export { MAX_NODES_PER_ROOM } from './chat-nodes.js';
export { MEMBER_BACKLOG_BYTES } from './chat-delivery.js';
export { ROOM_LOG_LIMIT, ROOM_LOG_TTL_MS } from './chat-log.js';
export { FEED_CACHE_ENTRIES } from './chat-feed.js';

export interface ChatServiceOptions {
  /** Other nodes of the same chat. Default: none (this node is the whole chat). */
  bus?: Bus;
  /** Messages kept per room and sent on join. Default 50. */
  historyLimit?: number;
  /** Rooms this node keeps (with members or history); past it, a new room is refused. Default 1000. */
  maxRooms?: number;
  /** Members of one room on this node. Default 1000. */
  maxMembersPerRoom?: number;
  /** Characters in a nick. Default 32. */
  maxNickLength?: number;
  /** UTF-8 bytes in one message text. Default 4000. */
  maxMessageBytes?: number;
  /** How often each node announces its members per room on the bus. Default 5000 ms. */
  presenceIntervalMs?: number;
  /** Half duplex: how long a holder may keep the floor after being asked for it. Default 30 s. */
  turnTimeoutMs?: number;
  /** Bus failures (publish or subscribe); the chat goes on locally. Default: ignored. */
  onBusError?(error: Error): void;
  /** This node's name in message ids and bus messages. Default: 8 random hex digits. */
  nodeId?: string;
  /**
   * The store every node of the chat shares (with `bus`): a room log there delivers every message
   * once and in order to members whose session moved to another node, and nicks and the floor are
   * held across nodes. `keyPrefix` (default "colloquy:chat:"), `logLimit` (ROOM_LOG_LIMIT) and
   * `logTtlMs` (ROOM_LOG_TTL_MS) as in RoomLogOptions.
   */
  shared?: RoomLogOptions;
}

const encoder = new TextEncoder();
/** Where open() records the nick it gave, inside the principal's hello. */
const GIVEN_NICK = 'chatNick';

function randomNode(): string {
  return randomToken(4);
}

function randomToken(bytes = 16): string {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

export class ChatService implements Service {
  readonly name = CHAT_SERVICE;
  readonly nodeId: string;
  private readonly rooms = new Map<string, Room>();
  private readonly bus: Bus | undefined;
  private readonly historyLimit: number;
  private readonly maxRooms: number;
  private readonly maxMembers: number;
  private readonly maxNick: number;
  private readonly maxMessageBytes: number;
  private readonly presenceMs: number;
  private readonly turnTimeoutMs: number;
  private seq = 0;
  private readonly floor: Floor;
  private readonly feeds: RoomFeeds | null = null;
  private readonly claims: ChatClaims | null = null;
  private readonly nodeContext: NodeContext;
  private timer: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  /** Counters for tests and live views. */
  readonly stats = { messages: 0, busErrors: 0, slowAborts: 0 };

  constructor(private readonly options: ChatServiceOptions = {}) {
    this.bus = options.bus;
    this.nodeId = options.nodeId ?? randomNode();
    this.historyLimit = options.historyLimit ?? 50;
    this.maxRooms = options.maxRooms ?? 1000;
    this.maxMembers = options.maxMembersPerRoom ?? 1000;
    this.maxNick = options.maxNickLength ?? 32;
    this.maxMessageBytes = options.maxMessageBytes ?? 4000;
    this.presenceMs = options.presenceIntervalMs ?? 5000;
    this.turnTimeoutMs = options.turnTimeoutMs ?? 30_000;
    if (options.shared) {
      const log = new RoomLog(options.shared);
      this.claims = new ChatClaims(
        options.shared.store,
        options.shared.keyPrefix ?? 'colloquy:chat:',
        3 * this.presenceMs,
      );
      this.feeds = new RoomFeeds({
        nodeId: this.nodeId,
        log,
        stats: this.stats,
        remember: (room, message) => {
          this.rememberIn(room, message);
        },
        announce: (room, entries) => this.publish(room, { k: 'entries', node: this.nodeId, entries }),
        error: (e) => this.busError(e),
      });
    }
    const claims = this.claims;
    this.floor = new Floor(
      (room, message) => this.toRoom(room, message),
      this.turnTimeoutMs,
      claims
        ? {
            claims,
            nodeId: this.nodeId,
            publish: (room, message) => this.publish(room, message),
            error: (e) => this.busError(e),
          }
        : undefined,
    );
    this.nodeContext = {
      nodeId: this.nodeId,
      presenceMs: this.presenceMs,
      maxMembers: this.maxMembers,
      maxNick: this.maxNick,
      maxMessageBytes: this.maxMessageBytes,
      historyLimit: this.historyLimit,
      toRoom: (room, message) => this.toRoom(room, message),
      remember: (room, message) => this.rememberIn(room, message),
      publish: (room, message) => this.publish(room, message),
      busError: (e) => this.busError(e),
      logged: this.feeds !== null,
      entries: (room, entries) => this.feeds?.accept(room, entries),
      heardTop: (room, top) => this.feeds?.heard(room, top),
      turn: (room, holder) => this.floor.remoteTurn(room, holder),
      wanted: (room) => this.floor.remoteWanted(room),
    };
    if (this.bus || this.feeds) {
      this.timer = setInterval(() => this.tick(), this.presenceMs);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** Members of `room` on every node this node knows of (for tests and live views). */
  members(room: string): string[] {
    const r = this.rooms.get(room);
    return r ? allMembers(r) : [];
  }

  /**
   * Checks a hello before its session is accepted; across nodes it also takes the nick (the first
   * of nick, nick-2, nick-3 ... no node holds) and records it in the hello.
   */
  async validate(hello: ServiceHello): Promise<void> {
    this.check(hello);
    delete hello[POSITION];
    delete hello[GIVEN_NICK];
    if (!this.claims) return;
    const room = this.room((hello['room'] as string | undefined) ?? DEFAULT_ROOM, hello['halfDuplex'] === true);
    const wanted = (hello['nick'] as string | undefined) ?? DEFAULT_NICK;
    const token = randomToken();
    const local = new Set(allMembers(room));
    const candidates = function* (maxNick: number): Generator<string> {
      for (let i = 1; ; i++) {
        const nick = i === 1 ? wanted : `${[...wanted].slice(0, maxNick - `-${i}`.length).join('')}-${i}`;
        if (!local.has(nick)) yield nick;
      }
    };
    const nick = await this.claims.claimNick(room.name, candidates(this.maxNick), token);
    if (nick === null)
      throw new Refusal(
        `chat: the nick '${wanted}' and its first variants are taken in room '${room.name}'; choose another nick`,
        'rejected',
      );
    hello[GIVEN_NICK] = nick;
    hello[CLAIM] = token;
  }

  private check(hello: ServiceHello): void {
    const room = hello['room'] ?? DEFAULT_ROOM;
    const nick = hello['nick'] ?? DEFAULT_NICK;
    if (typeof room !== 'string' || typeof nick !== 'string')
      throw new Refusal('chat: "room" and "nick" must be strings', 'rejected');
    const roomBad = roomProblem(room);
    if (roomBad) throw new Refusal(`chat: ${roomBad}`, 'rejected');
    const nickBad = nickProblem(nick, this.maxNick);
    if (nickBad) throw new Refusal(`chat: ${nickBad}`, 'rejected');
    const halfDuplex = hello['halfDuplex'] === true;
    const existing = this.rooms.get(room);
    if (existing && (existing.members.size > 0 || existing.remote.size > 0) && existing.halfDuplex !== halfDuplex) {
      throw new Refusal(
        `chat: room '${room}' is ${existing.halfDuplex ? 'a half-duplex (walkie-talkie) room: join with --half-duplex' : 'a full-duplex room: join without --half-duplex'}`,
        'rejected',
      );
    }
    if (existing && existing.members.size >= this.maxMembers)
      throw new Refusal(`chat: room '${room}' is full (${this.maxMembers} members on this node)`, 'congested');
    if (!existing && this.rooms.size >= this.maxRooms && !this.evictableRoom())
      throw new Refusal(`chat: this node holds ${this.maxRooms} rooms (maxRooms); try an existing room`, 'congested');
  }

  open(session: Session, principal: Principal, context: OpenContext): void {
    try {
      this.check(principal.hello);
    } catch (e) {
      session.abort(e instanceof Error ? e.message : String(e));
      return;
    }
    const hello = principal.hello;
    const halfDuplex = hello['halfDuplex'] === true;
    if ((session.negotiated?.mode === 'halfDuplex') !== halfDuplex) {
      session.abort(
        halfDuplex
          ? 'chat: a half-duplex room needs a half-duplex session'
          : 'chat: a full-duplex room needs a full-duplex session',
      );
      return;
    }
    const room = this.room((hello['room'] as string | undefined) ?? DEFAULT_ROOM, halfDuplex);
    const wanted = (hello['nick'] as string | undefined) ?? DEFAULT_NICK;
    // The nick given is kept in the principal, which a durable server stores with the session,
    // so a session restored on another node comes back under the same nick.
    const recorded = hello[GIVEN_NICK];
    const given = typeof recorded === 'string' && isNickOf(recorded, wanted) ? recorded : wanted;
    // Across nodes the nick was taken in the store by validate (or, restored, is kept there).
    const claimed = this.claims !== null && typeof hello[CLAIM] === 'string' && typeof recorded === 'string';
    const nick =
      (context.restored || claimed) && !room.members.has(given) ? given : freeNick(room, wanted, this.maxNick);
    hello[GIVEN_NICK] = nick;
    const member: Member = newMember(session, nick, room, hello);
    if (context.restored && this.claims && typeof hello[CLAIM] === 'string') {
      void this.claims.keepNick(room.name, nick, hello[CLAIM]).catch((e: unknown) => this.busError(e));
    }
    room.members.set(nick, member);
    room.lastActive = Date.now();

    session.on('event', (e) => {
      if (e.type === 'data') this.onUnit(member, e.payload, 'data');
      else if (e.type === 'typed') this.onUnit(member, e.payload, 'typed');
      else if (e.type === 'tokens-given' && e.tokens.includes('data')) this.floor.turnReturned(member);
    });
    session.on('closed', ({ error }) => {
      // ERR_STORE_CONFLICT: another node restored the session and speaks for it now; ERR_HANDED_OVER:
      // this node stopped and another will. Either way the member has not left.
      if (error?.code === 'ERR_STORE_CONFLICT' || error?.code === 'ERR_HANDED_OVER') this.leave(member, 'lost', false);
      else this.leave(member, error ? 'lost' : 'left');
    });
    void (async () => {
      for await (const unit of session) void unit;
    })().catch(() => {
      /* reported by 'closed' */
    });

    if (halfDuplex) {
      session.setHandlers({
        tokensRequested: (tokens) => {
          if (tokens.includes('data')) this.floor.turnWanted(member);
          return false; // the service hands the token on when the holder gives it back
        },
      });
    }
    if (!context.restored) {
      this.send(member, {
        type: 'welcome',
        room: room.name,
        nick,
        members: allMembers(room),
        history: [...room.history],
        halfDuplex,
        holder: room.holder?.nick ?? room.remoteHolder,
      });
      this.toRoom(room, { type: 'join', room: room.name, nick, ts: Date.now() }, member);
      this.publish(room, { k: 'join', node: this.nodeId, nick });
    } else {
      // Back on this node without a word to the room: the other nodes only update their lists.
      this.publish(room, {
        k: 'presence',
        node: this.nodeId,
        members: [...room.members.keys()],
        halfDuplex: room.halfDuplex,
      });
    }
    if (halfDuplex && !session.tokens.includes('data')) {
      // The client came in holding the data token: it has the floor if nobody has, else it must give it back.
      if (this.claims && !room.holder) void this.floor.restoredHolder(member);
      else if (!room.holder) this.floor.grant(member, false);
      else this.floor.askBack(member);
    }
    this.feeds?.joined(room, member, context.restored);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const rooms = [...this.rooms.values()];
    for (const r of rooms) if (r.asked) clearTimeout(r.asked);
    // Tell the other nodes at once rather than letting them wait for expiry.
    await Promise.all(
      rooms
        .filter((r) => r.members.size > 0)
        .map((r) => this.publishNow(r, { k: 'presence', node: this.nodeId, members: [], halfDuplex: r.halfDuplex })),
    );
    await Promise.all(
      rooms.map(async (r) => {
        const off = await r.unsubscribe;
        await off?.().catch(() => {});
      }),
    );
    this.rooms.clear();
  }

  // ---- rooms and members -----------------------------------------------------------------

  private room(name: string, halfDuplex: boolean): Room {
    let room = this.rooms.get(name);
    if (room) {
      if (room.members.size === 0 && room.remote.size === 0) room.halfDuplex = halfDuplex;
      return room;
    }
    if (this.rooms.size >= this.maxRooms) {
      const victim = this.evictableRoom();
      if (victim) this.dropRoom(victim);
    }
    room = newRoom(name, halfDuplex);
    this.rooms.set(name, room);
    const r = room;
    this.feeds?.start(r);
    if (this.bus) {
      r.unsubscribe = this.bus
        .subscribe(topicOf(name), (m) => this.onBus(r, m))
        .then((off) => {
          this.publish(r, { k: 'sync', node: this.nodeId });
          return off;
        })
        .catch((e: unknown) => {
          this.busError(e);
          return undefined;
        });
    }
    return room;
  }

  /** The least recently active room without members on this node. */
  private evictableRoom(): Room | undefined {
    let best: Room | undefined;
    for (const r of this.rooms.values())
      if (r.members.size === 0 && (!best || r.lastActive < best.lastActive)) best = r;
    return best;
  }

  private dropRoom(room: Room): void {
    this.rooms.delete(room.name);
    if (room.asked) clearTimeout(room.asked);
    void room.unsubscribe?.then((off) => off?.()).catch((e: unknown) => this.busError(e));
  }

  private leave(member: Member, reason: LeaveReason, announce = true): void {
    if (member.gone) return;
    member.gone = true;
    if (member.retry) clearTimeout(member.retry);
    member.backlog = [];
    const room = member.room;
    this.feeds?.left(room, member, announce);
    if (room.members.get(member.nick) !== member) return;
    room.members.delete(member.nick);
    room.lastActive = Date.now();
    room.waiting = room.waiting.filter((m) => m !== member);
    if (room.holder === member) this.floor.nextTurn(room);
    if (announce && this.claims && typeof member.hello[CLAIM] === 'string') {
      void this.claims.dropNick(room.name, member.nick, member.hello[CLAIM]).catch((e: unknown) => this.busError(e));
    }
    if (!announce) {
      this.publish(room, {
        k: 'presence',
        node: this.nodeId,
        members: [...room.members.keys()],
        halfDuplex: room.halfDuplex,
      });
      return;
    }
    this.toRoom(room, { type: 'leave', room: room.name, nick: member.nick, ts: Date.now(), reason });
    this.publish(room, { k: 'leave', node: this.nodeId, nick: member.nick, reason });
  }

  // ---- what members say ------------------------------------------------------------------

  private onUnit(member: Member, payload: Uint8Array, kind: 'data' | 'typed'): void {
    if (member.gone) return;
    let m;
    try {
      m = parseClientMessage(payload);
    } catch (e) {
      member.session.abort(`chat: ${(e as Error).message}`);
      return;
    }
    const room = member.room;
    switch (m.type) {
      case 'say': {
        if (kind !== 'data') {
          member.session.abort('chat: "say" must travel as normal data (it is what the data token governs)');
          return;
        }
        if (room.halfDuplex && room.holder !== member) {
          if (m.n !== undefined) this.feeds?.refused(room, member, m.n);
          this.send(member, {
            type: 'error',
            code: 'ERR_TOKEN_NOT_HELD',
            message: 'you do not have the floor: ask for the data token and wait for your turn',
          });
          return;
        }
        // UTF-8 takes at most 3 bytes per UTF-16 unit: only a text that might be too large is encoded to measure it.
        const bytes = m.text.length * 3 <= this.maxMessageBytes ? 0 : encoder.encode(m.text).length;
        if (bytes > this.maxMessageBytes) {
          if (m.n !== undefined) this.feeds?.refused(room, member, m.n);
          this.send(member, {
            type: 'error',
            code: 'ERR_CHAT_MESSAGE_TOO_LARGE',
            message: `the message is ${bytes} bytes; this server takes at most ${this.maxMessageBytes}`,
          });
          return;
        }
        const ts = Date.now();
        const message: ChatMessage = {
          id: `${ts.toString(36)}-${this.nodeId}-${(this.seq++).toString(36)}`,
          room: room.name,
          from: member.nick,
          text: m.text,
          ts,
          ...(m.cid !== undefined ? { cid: m.cid } : {}),
        };
        this.stats.messages++;
        if (this.feeds) {
          this.feeds.say(room, member, message, m.n);
          return;
        }
        this.rememberIn(room, message);
        this.toRoom(room, { type: 'message', ...message });
        this.publish(room, { k: 'message', node: this.nodeId, message });
        return;
      }
      case 'resending':
        this.feeds?.resending(room, member, m.ns);
        return;
      case 'who':
        this.send(member, { type: 'presence', room: room.name, members: allMembers(room), you: member.nick });
        return;
      case 'leave':
        // Half duplex: the client has no data token, so it cannot release; we hold it and can.
        member.leaving = true;
        room.waiting = room.waiting.filter((w) => w !== member);
        member.session.release().catch(() => {
          /* closed meanwhile */
        });
        return;
    }
  }

  private rememberIn(room: Room, message: ChatMessage): boolean {
    return remember(room, message, this.historyLimit);
  }

  private toRoom(room: Room, message: ServerToClient, except?: Member): void {
    sendToRoom(room, message, this.stats, except);
  }

  private send(member: Member, message: ServerToClient): void {
    sendTo(member, message, this.stats);
  }

  // ---- other nodes -----------------------------------------------------------------------

  private publish(room: Room, message: Wire): void {
    if (!this.bus || this.closed) return;
    void this.publishNow(room, message);
  }

  private async publishNow(room: Room, message: Wire): Promise<void> {
    try {
      await this.bus?.publish(topicOf(room.name), encoder.encode(JSON.stringify(message)));
    } catch (e) {
      this.busError(e);
    }
  }

  private busError(e: unknown): void {
    this.stats.busErrors++;
    this.options.onBusError?.(e instanceof Error ? e : new Error(String(e)));
  }

  private onBus(room: Room, bytes: Uint8Array): void {
    if (this.closed || this.rooms.get(room.name) !== room) return;
    onNodeMessage(room, bytes, this.nodeContext);
  }

  /** Every interval: announce our members per room, and let nodes not heard from expire. */
  private tick(): void {
    const now = Date.now();
    for (const room of this.rooms.values()) {
      if (room.members.size > 0)
        this.publish(room, {
          k: 'presence',
          node: this.nodeId,
          members: [...room.members.keys()],
          halfDuplex: room.halfDuplex,
          top: this.feeds?.top(room) ?? null,
        });
      if (this.claims) {
        for (const m of room.members.values()) {
          const claims = this.claims;
          const token = m.hello[CLAIM];
          if (typeof token !== 'string') continue;
          void claims
            .renewNick(room.name, m.nick)
            .then((held) => held || claims.keepNick(room.name, m.nick, token))
            .catch((e: unknown) => this.busError(e));
        }
        this.feeds?.tick(room);
        if (room.halfDuplex) this.floor.tick(room);
      }
      for (const [node, n] of room.remote) {
        if (n.expires > now) continue;
        room.remote.delete(node);
        const still = new Set(allMembers(room)); // a member restored on another node is still here
        for (const nick of n.members) {
          if (!still.has(nick))
            this.toRoom(room, { type: 'leave', room: room.name, nick, ts: now, reason: 'node-gone' });
        }
      }
    }
  }
}

/** The chat service for a ServiceHost (`colloquy serve` hosts one). */
export function chatService(options: ChatServiceOptions = {}): ChatService {
  return new ChatService(options);
}
