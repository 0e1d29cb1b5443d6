// The floor of a half-duplex (walkie-talkie) chat room: the X.225 data token of each member's
// session. The member whose client holds the token has the floor; a client asks with
// PLEASE_TOKENS (answered here through Session.setHandlers, not by the default "give"); the
// floor asks the holder with its own PLEASE_TOKENS and, when the holder gives the token back,
// hands it (GIVE_TOKENS) to the next in line, first come first served, and tells the room. A
// holder that keeps it `turnTimeoutMs` after being asked is aborted: X.225 has no way to take a
// token back short of a resynchronize.
//
// Across nodes (a shared store): the floor is also a lease in the store (./chat-claims.ts), so
// two nodes never both grant it. A node grants only once it took the lease (or handed it from one
// of its members to another); it tells the others `turn`. A member waiting on a node whose floor
// is held elsewhere makes that node say `wanted`, and the holder's node asks its holder for the
// token; when the holder gives it back with another node wanting, the lease is freed (`turn`
// null) for whoever takes it first. A lease is renewed every presence interval, so the floor of a
// node that died is free within three intervals, or is taken on by the node that restores its
// holder's session.

import type { ServerToClient } from './chat-protocol.js';
import { CLAIM } from './chat-room.js';
import type { Member, Room } from './chat-room.js';
import type { ChatClaims } from './chat-claims.js';
import type { Wire } from './chat-nodes.js';

export interface SharedFloor {
  claims: ChatClaims;
  nodeId: string;
  publish(room: Room, message: Wire): void;
  error(error: unknown): void;
}

export class Floor {
  constructor(
    private readonly toRoom: (room: Room, message: ServerToClient) => void,
    private readonly turnTimeoutMs: number,
    private readonly shared?: SharedFloor,
  ) {}

  /** A member asked for the data token. */
  turnWanted(member: Member): void {
    const room = member.room;
    if (member.gone || room.holder === member || room.waiting.includes(member)) return;
    if (!room.holder && !this.shared) {
      this.grant(member, true);
      return;
    }
    room.waiting.push(member);
    if (room.holder) this.askHolder(room);
    else void this.claim(room);
  }

  /** Across nodes: takes the lease for the first waiting member and grants it, or asks the holder's node. */
  async claim(room: Room, over?: string): Promise<void> {
    const shared = this.shared;
    if (!shared || room.claiming || room.holder) return;
    room.waiting = room.waiting.filter((m) => !m.gone && m.session.tokens.includes('data'));
    const next = room.waiting[0];
    if (!next) return;
    room.claiming = true;
    let taken = false;
    try {
      taken = await shared.claims.claimFloor(
        room.name,
        { nick: next.nick, token: tokenOf(next), node: shared.nodeId },
        over,
      );
    } catch (e) {
      shared.error(e);
    } finally {
      room.claiming = false;
    }
    if (room.holder) return;
    if (!taken) {
      shared.publish(room, { k: 'wanted', node: shared.nodeId });
      return;
    }
    room.waiting = room.waiting.filter((m) => m !== next);
    if (next.gone || !next.session.tokens.includes('data')) {
      void this.release(room, tokenOf(next));
      return;
    }
    this.grant(next, true);
  }

  /** Across nodes: a member restored here whose client holds the data token keeps the floor if the lease lets it. */
  async restoredHolder(member: Member): Promise<void> {
    const shared = this.shared;
    if (!shared) return;
    let taken = false;
    try {
      taken = await shared.claims.claimFloor(member.room.name, {
        nick: member.nick,
        token: tokenOf(member),
        node: shared.nodeId,
      });
    } catch (e) {
      shared.error(e);
    }
    if (member.gone) return;
    if (taken && !member.room.holder) this.grant(member, false);
    else this.askBack(member);
  }

  /** Every presence interval: renew the lease of this node's holder, or try again for those waiting. */
  tick(room: Room): void {
    const shared = this.shared;
    if (!shared) return;
    const holder = room.holder;
    if (holder) {
      void shared.claims
        .claimFloor(room.name, { nick: holder.nick, token: tokenOf(holder), node: shared.nodeId })
        .catch((e: unknown) => shared.error(e));
    } else if (room.waiting.length > 0) void this.claim(room);
  }

  /** Another node's floor news: its member has it, or (null) it freed it. */
  remoteTurn(room: Room, holder: string | null): void {
    room.remoteHolder = holder;
    if (!room.holder) this.toRoom(room, { type: 'turn', room: room.name, holder });
    if (holder === null && room.waiting.length > 0) void this.claim(room);
  }

  /** Another node wants the floor: ask this node's holder for it. */
  remoteWanted(room: Room): void {
    if (!room.holder) return;
    room.remoteWanted = true;
    this.askHolder(room);
  }

  private async release(room: Room, token: string): Promise<void> {
    const shared = this.shared as SharedFloor;
    try {
      await shared.claims.releaseFloor(room.name, token);
    } catch (e) {
      shared.error(e);
    }
    shared.publish(room, { k: 'turn', node: shared.nodeId, holder: null });
  }

  grant(member: Member, give: boolean): void {
    const room = member.room;
    if (give) {
      try {
        member.session.giveTokens(['data']);
      } catch (e) {
        member.session.abort(`chat: cannot hand over the floor: ${(e as Error).message}`);
        return;
      }
    }
    room.holder = member;
    room.remoteHolder = null;
    room.remoteWanted = false;
    this.toRoom(room, { type: 'turn', room: room.name, holder: member.nick });
    this.shared?.publish(room, { k: 'turn', node: this.shared.nodeId, holder: member.nick });
    if (room.waiting.length > 0) this.askHolder(room);
  }

  askHolder(room: Room): void {
    const holder = room.holder;
    if (!holder || room.asked) return;
    try {
      holder.session.requestTokens(['data']);
    } catch {
      /* already asked by an earlier request, or closing */
    }
    room.asked = setTimeout(() => {
      room.asked = null;
      if (room.holder === holder)
        holder.session.abort(`chat: kept the floor ${this.turnTimeoutMs} ms after being asked for it (turnTimeoutMs)`);
    }, this.turnTimeoutMs);
    (room.asked as { unref?: () => void }).unref?.();
  }

  /** A client that arrived holding the token while someone else has the floor. */
  askBack(member: Member): void {
    try {
      member.session.requestTokens(['data']);
    } catch {
      /* closing */
    }
  }

  turnReturned(member: Member): void {
    if (member.room.holder === member) this.nextTurn(member.room);
  }

  nextTurn(room: Room): void {
    if (room.asked) clearTimeout(room.asked);
    room.asked = null;
    const was = room.holder;
    room.holder = null;
    if (this.shared && was) {
      // The lease goes to the next member here, unless another node asked: then it is freed.
      const wanted = room.remoteWanted;
      room.remoteWanted = false;
      this.toRoom(room, { type: 'turn', room: room.name, holder: null });
      // (Freed for another node: this node's waiting members try again at the next tick.)
      if (wanted || room.waiting.length === 0) void this.release(room, tokenOf(was));
      else void this.claim(room, tokenOf(was));
      return;
    }
    for (let next = room.waiting.shift(); next; next = room.waiting.shift()) {
      if (next.gone || !next.session.tokens.includes('data')) continue;
      this.grant(next, true);
      return;
    }
    this.toRoom(room, { type: 'turn', room: room.name, holder: null });
  }
}

/** A member's claim token (set by the service when it joined). */
function tokenOf(member: Member): string {
  return String(member.hello[CLAIM] ?? member.nick);
}
