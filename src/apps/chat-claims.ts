// What only one node may hold at a time in a chat across nodes, as leases in the shared store
// (any SessionStore): a nick in a room, and the floor of a half-duplex room.
//
//   <prefix>nick:<room>:<nick>   {token}                      created if absent (compare-and-set on
//                                                             version 0); its node touches it every
//                                                             presence interval, it lives leaseMs
//   <prefix>floor:<room>         {nick, token, node, until}   taken if absent, past `until` (its node
//                                                             died) or already the taker's; renewed
//                                                             by its node every presence interval
//
// `token` is the member's claim (random, kept in its hello, which the store keeps with the
// session), so the node that restores a member after its node died holds on to the same nick
// and, if its client holds the data token, the same floor.

import type { SessionStore } from '../store/store.js';

export interface FloorHolder {
  nick: string;
  token: string;
  node: string;
}
interface FloorRecord extends FloorHolder {
  until: number;
}

/** Candidate nicks tried per join before the join is refused. */
export const MAX_NICK_TRIES = 100;

export class ChatClaims {
  constructor(
    private readonly store: SessionStore,
    private readonly prefix: string,
    private readonly leaseMs: number,
  ) {}

  private nickKey(room: string, nick: string): string {
    return `${this.prefix}nick:${room}:${nick}`;
  }
  private floorKey(room: string): string {
    return `${this.prefix}floor:${room}`;
  }

  /** The first of `candidates` nobody holds, now held with `token`; null when all are taken. */
  async claimNick(room: string, candidates: Iterable<string>, token: string): Promise<string | null> {
    let tries = 0;
    for (const nick of candidates) {
      if (++tries > MAX_NICK_TRIES) return null;
      if (
        (await this.store.compareAndSet(
          this.nickKey(room, nick),
          0,
          { token },
          { ttlMs: this.leaseMs, principal: null },
        )) !== null
      )
        return nick;
    }
    return null;
  }

  /** Keeps a nick held (a restored member's too, if its lease ran out meanwhile); false: another member has it. */
  async keepNick(room: string, nick: string, token: string): Promise<boolean> {
    if (await this.store.touch(this.nickKey(room, nick), this.leaseMs)) {
      const held = await this.store.get<{ token: string }>(this.nickKey(room, nick));
      return !held || held.data.token === token;
    }
    return (
      (await this.store.compareAndSet(
        this.nickKey(room, nick),
        0,
        { token },
        { ttlMs: this.leaseMs, principal: null },
      )) !== null
    );
  }

  /** Touches the nick (one store call); false when its record is gone. */
  async renewNick(room: string, nick: string): Promise<boolean> {
    return this.store.touch(this.nickKey(room, nick), this.leaseMs);
  }

  async dropNick(room: string, nick: string, token: string): Promise<void> {
    const held = await this.store.get<{ token: string }>(this.nickKey(room, nick));
    if (held?.data.token === token) await this.store.destroy(this.nickKey(room, nick));
  }

  /**
   * Takes the floor for `holder` if nobody holds it, its lease ran out, it is `holder`'s already
   * or it is `over`'s (a hand-over between members of this node). True when taken (or renewed).
   */
  async claimFloor(room: string, holder: FloorHolder, over?: string): Promise<boolean> {
    const key = this.floorKey(room);
    const now = Date.now();
    const seen = await this.store.get<FloorRecord>(key);
    if (
      seen &&
      seen.data.until >= now &&
      seen.data.token !== holder.token &&
      (over === undefined || seen.data.token !== over)
    )
      return false;
    const record: FloorRecord = { ...holder, until: now + this.leaseMs };
    return (
      (await this.store.compareAndSet(key, seen?.version ?? 0, record, { ttlMs: this.leaseMs, principal: null })) !==
      null
    );
  }

  /** Who holds the floor (null: nobody, or a holder whose lease ran out). */
  async floorHolder(room: string): Promise<FloorHolder | null> {
    const seen = await this.store.get<FloorRecord>(this.floorKey(room));
    return seen && seen.data.until >= Date.now() ? seen.data : null;
  }

  /** Frees the floor if `token` holds it. */
  async releaseFloor(room: string, token: string): Promise<void> {
    const seen = await this.store.get<FloorRecord>(this.floorKey(room));
    if (seen?.data.token === token) await this.store.destroy(this.floorKey(room));
  }
}
