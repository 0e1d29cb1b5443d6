// Chat delivery: how the service's messages reach a member's session (./chat.ts decides what
// to say; this module gets it there, in order, without waiting on anyone).
//
// Theory of operation
//   A message for a room is encoded once and queued in each member's session (TYPED data in a
//   half-duplex room, which needs no token; normal data otherwise). A unit must fit the member's
//   negotiated maximum frame size: history in a welcome or history message loses its oldest
//   entries until it does, anything else too large becomes an ERR_PAYLOAD_TOO_LARGE `error`.
//   A member whose session send queue is full does not read what the room sends and is aborted
//   (stats.slowAborts), never waited for. When the session cannot take data for a moment (a
//   request of the client's awaits the session's answer, or a sync point of ours its answer),
//   units wait in the member's backlog, bounded by MEMBER_BACKLOG_BYTES, and are retried every
//   BACKLOG_RETRY_MS in order; a member past that bound is aborted too. A member that is gone or
//   leaving, or whose session is being released, gets nothing more.

import { MIN_FRAME_SIZE } from '../engine/frames.js';
import { encodeChat } from './chat-protocol.js';
import type { ServerToClient } from './chat-protocol.js';
import { POSITION } from './chat-room.js';
import type { Member, Room } from './chat-room.js';

/** Units one member may have waiting while its session cannot take data for a moment. */
export const MEMBER_BACKLOG_BYTES = 1024 * 1024;
/** How soon a waiting unit is tried again. */
const BACKLOG_RETRY_MS = 5;

/** The service's counter of members aborted for not reading (ChatService.stats). */
export interface DeliveryStats {
  slowAborts: number;
}

/** The largest unit a member's session takes (its negotiated maximum frame size). */
function frameLimit(member: Member): number {
  return member.session.negotiated?.maxFrameSize ?? member.session.machine.maxFrameSize;
}

/**
 * Sends one message to every member of `room` on this node (except `except`), encoded once. A
 * unit of at most MIN_FRAME_SIZE bytes fits every session's frame (none negotiates less), so only
 * a larger one looks up each member's limit. The members are walked in the room's own map, not a
 * copy: a member aborted on the way (and removed from the map) is simply not reached, and members
 * join only on a later turn.
 */
export function sendToRoom(room: Room, message: ServerToClient, stats: DeliveryStats, except?: Member): void {
  const bytes = encodeChat(message);
  const fitsAll = bytes.length <= MIN_FRAME_SIZE;
  for (const m of room.members.values()) {
    if (m === except) continue;
    if (!fitsAll && bytes.length > frameLimit(m)) sendTo(m, message, stats);
    else sendBytes(m, bytes, stats);
  }
}

/** One room log entry to one member, already encoded, recording its position once queued. */
export function sendEntry(
  member: Member,
  message: ServerToClient,
  bytes: Uint8Array,
  pos: number,
  stats: DeliveryStats,
): void {
  if (bytes.length > frameLimit(member)) sendTo(member, message, stats, pos);
  else sendBytes(member, bytes, stats, pos);
}

/**
 * One unit must fit the member's negotiated frame size (a client may ask for 1 KiB): history
 * loses its oldest messages until it fits; anything else that cannot fit becomes an `error`.
 */
export function sendTo(member: Member, message: ServerToClient, stats: DeliveryStats, pos?: number): void {
  const limit = frameLimit(member);
  let bytes = encodeChat(message);
  if (bytes.length > limit && (message.type === 'welcome' || message.type === 'history')) {
    const list = message.type === 'welcome' ? [...message.history] : [...message.messages];
    while (list.length > 0 && bytes.length > limit) {
      list.shift();
      bytes = encodeChat(message.type === 'welcome' ? { ...message, history: list } : { ...message, messages: list });
    }
  }
  if (bytes.length > limit) {
    bytes = encodeChat({
      type: 'error',
      code: 'ERR_PAYLOAD_TOO_LARGE',
      message: `a ${message.type} of ${bytes.length} bytes does not fit this session's maximum frame size (${limit}); connect with a larger maxFrameSize`,
    });
  }
  sendBytes(member, bytes, stats, pos);
}

/**
 * Queues one unit in the member's session, in order. A member whose send queue is full (it does
 * not read) is aborted, never waited for. While the session cannot take data for a moment (the
 * client's major sync or other request awaits the session's answer, which the Session gives a
 * tick later), units wait in the member's backlog, bounded by MEMBER_BACKLOG_BYTES, and are
 * retried shortly: nothing is dropped and the order holds.
 */
export function sendBytes(member: Member, bytes: Uint8Array, stats: DeliveryStats, pos?: number): void {
  if (member.gone || member.leaving || member.session.closed) return;
  if (member.backlog.length === 0 && trySend(member, bytes, stats, pos)) return;
  member.backlog.push(pos === undefined ? { bytes } : { bytes, pos });
  member.backlogBytes += bytes.length;
  if (member.backlogBytes > MEMBER_BACKLOG_BYTES) {
    stats.slowAborts++;
    member.session.abort(
      `chat: more than ${MEMBER_BACKLOG_BYTES} bytes wait for this session to take data again (MEMBER_BACKLOG_BYTES)`,
    );
    return;
  }
  scheduleFlush(member, stats);
}

/**
 * True when the unit was queued (or need not be: the member is leaving or was aborted); false: not
 * now. A unit of the room log records its position in the member's hello in the same step, so the
 * session's next stored snapshot holds the unit and the position together.
 */
function trySend(member: Member, bytes: Uint8Array, stats: DeliveryStats, pos?: number): boolean {
  const s = member.session;
  if (member.gone || member.leaving || s.closed) return true;
  const driver = s.driver;
  const machine = driver.machine;
  if (!machine.hasRoomFor(bytes.length)) {
    stats.slowAborts++;
    s.abort('chat: this client does not read what the room sends (its send queue is full)');
    return true;
  }
  try {
    if (member.room.halfDuplex) machine.sendTyped(bytes);
    else machine.sendData(bytes);
    if (pos !== undefined) member.hello[POSITION] = pos;
    driver.kick();
    return true;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    // Not now: a request of the client's awaits our answer, or a sync point of ours its answer.
    if (code === 'ERR_RESPONSE_REQUIRED' || code === 'ERR_SYNC_PENDING' || code === 'ERR_EXCEPTION_PENDING')
      return false;
    // The session is being released (our FINISH, or our DISCONNECT to theirs): it takes no more
    // data, and it is leaving anyway. Anything else is a fault worth ending the session for.
    if (code === 'ERR_INVALID_STATE' || code === 'ERR_CONFIRM_PENDING') return true;
    s.abort(`chat: cannot send to this client: ${(e as Error).message}`);
    return true;
  }
}

function scheduleFlush(member: Member, stats: DeliveryStats): void {
  if (member.retry) return;
  member.retry = setTimeout(() => {
    member.retry = null;
    while (member.backlog.length > 0) {
      const next = member.backlog[0] as { bytes: Uint8Array; pos?: number };
      if (!trySend(member, next.bytes, stats, next.pos)) {
        scheduleFlush(member, stats);
        return;
      }
      member.backlog.shift();
      member.backlogBytes -= next.bytes.length;
    }
  }, BACKLOG_RETRY_MS);
  (member.retry as { unref?: () => void }).unref?.();
}
