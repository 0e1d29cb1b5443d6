// The floor of a half-duplex (walkie-talkie) chat room: the X.225 data token of each member's
// session. The member whose client holds the token has the floor; a client asks with
// PLEASE_TOKENS (answered here through Session.setHandlers, not by the default "give"); the
// floor asks the holder with its own PLEASE_TOKENS and, when the holder gives the token back,
// hands it (GIVE_TOKENS) to the next in line, first come first served, and tells the room. A
// holder that keeps it `turnTimeoutMs` after being asked is aborted: X.225 has no way to take a
// token back short of a resynchronize. Arbitrated per node (see docs/apps.md).

import type { ServerToClient } from './chat-protocol.js';
import type { Member, Room } from './chat-room.js';

export class Floor {
  constructor(
    private readonly toRoom: (room: Room, message: ServerToClient) => void,
    private readonly turnTimeoutMs: number,
  ) {}

  /** A member asked for the data token. */
  turnWanted(member: Member): void {
    const room = member.room;
    if (member.gone || room.holder === member || room.waiting.includes(member)) return;
    if (!room.holder) { this.grant(member, true); return; }
    room.waiting.push(member);
    this.askHolder(room);
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
    this.toRoom(room, { type: 'turn', room: room.name, holder: member.nick });
    if (room.waiting.length > 0) this.askHolder(room);
  }

  askHolder(room: Room): void {
    const holder = room.holder;
    if (!holder || room.asked) return;
    try {
      holder.session.requestTokens(['data']);
    } catch { /* already asked by an earlier request, or closing */ }
    room.asked = setTimeout(() => {
      room.asked = null;
      if (room.holder === holder) holder.session.abort(`chat: kept the floor ${this.turnTimeoutMs} ms after being asked for it (turnTimeoutMs)`);
    }, this.turnTimeoutMs);
    (room.asked as { unref?: () => void }).unref?.();
  }

  /** A client that arrived holding the token while someone else has the floor. */
  askBack(member: Member): void {
    try { member.session.requestTokens(['data']); } catch { /* closing */ }
  }

  turnReturned(member: Member): void {
    if (member.room.holder === member) this.nextTurn(member.room);
  }

  nextTurn(room: Room): void {
    if (room.asked) clearTimeout(room.asked);
    room.asked = null;
    room.holder = null;
    for (let next = room.waiting.shift(); next; next = room.waiting.shift()) {
      if (next.gone || !next.session.tokens.includes('data')) continue;
      this.grant(next, true);
      return;
    }
    this.toRoom(room, { type: 'turn', room: room.name, holder: null });
  }
}
