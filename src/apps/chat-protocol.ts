// The chat service's messages: what a chat client and the chat service (./chat.ts) say to each
// other inside one session, and the checks both ends apply to names. Pure: no node:* imports, so
// the browser client bundles it.
//
// Theory of operation
//   One JSON object per session data unit, UTF-8. The hello in CONNECT user data picks the room:
//     {"service":"chat","nick":"ada","room":"lobby","halfDuplex":false}
//   Client to server: `say` (a message for the room; always normal DATA, so in a half-duplex room
//   only the holder of the data token can say anything; its `cid` and `n` name the line, `n`
//   rising with every line of the session), `resending` (after `interrupted`: the `n` of the lines
//   the client sends again, so the service knows which to wait for), `who` (ask for the member list) and
//   `leave` (half duplex only: a client without the data token cannot release, so it asks the
//   server to release; both are TYPED data there, which needs no token).
//   Server to client: `welcome` first (the nick given, members, bounded history, the turn), then
//   `message`, `join`, `leave`, `presence`, `history` (older messages learnt from another node
//   after the welcome), `turn` (half duplex: who holds the floor) and `error`. In a full-duplex
//   room they travel as DATA; in a half-duplex room as TYPED data, which the data token does not
//   govern, so the room keeps talking to a client that holds the floor.
//   Nothing here numbers frames or retries: the session layer already delivers every unit exactly
//   once across resumes. Message ids exist so that clients (and a web page) can name messages.

import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';

export const CHAT_SERVICE = 'chat';
export const DEFAULT_ROOM = 'lobby';
export const DEFAULT_NICK = 'guest';
/** Room names: 1..64 of A-Z a-z 0-9 _ . - (they become bus topic names). */
export const ROOM_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export interface ChatHello {
  service: 'chat';
  nick?: string;
  room?: string;
  /** Join (or create) a walkie-talkie room: only the holder of the data token speaks. */
  halfDuplex?: boolean;
}

export interface ChatMessage {
  /** Unique across nodes: `<time base36>-<node>-<sequence base36>`. */
  id: string;
  room: string;
  from: string;
  text: string;
  /** Milliseconds since the epoch, on the node that accepted the message. */
  ts: number;
  /** The sender's own id for the line (its `say`'s `cid`), when it gave one. */
  cid?: string;
}

/** Longest `cid` a `say` may carry. */
export const MAX_CID_LENGTH = 64;
/** Most line counters one `resending` may list (ChatClient remembers at most this many lines). */
export const MAX_RESENDING = 1000;

export type LeaveReason = 'left' | 'lost' | 'node-gone';

export type ServerToClient =
  | {
      type: 'welcome';
      room: string;
      nick: string;
      members: string[];
      history: ChatMessage[];
      halfDuplex: boolean;
      holder: string | null;
    }
  | ({ type: 'message' } & ChatMessage)
  | { type: 'join'; room: string; nick: string; ts: number }
  | { type: 'leave'; room: string; nick: string; ts: number; reason: LeaveReason }
  | { type: 'presence'; room: string; members: string[]; you?: string }
  | { type: 'history'; room: string; messages: ChatMessage[] }
  | { type: 'turn'; room: string; holder: string | null }
  | { type: 'interrupted'; room: string }
  | { type: 'error'; code: string; message: string };

export type ClientToServer =
  | { type: 'say'; text: string; cid?: string; n?: number }
  | { type: 'resending'; ns: number[] }
  | { type: 'who' }
  | { type: 'leave' };

const isCounter = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The hello as CONNECT user data. Same JSON and bound as encodeHello() in ./service.ts, which the
 * browser client does not import: service.ts pulls in the server.
 */
export function encodeChatHello(hello: ChatHello): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(hello));
  if (bytes.length > MAX_CHAT_HELLO_BYTES)
    throw new RangeError(`the hello is ${bytes.length} bytes; at most ${MAX_CHAT_HELLO_BYTES}`);
  return bytes;
}

/** Equal to MAX_HELLO_BYTES in ./service.ts (checked by test/apps/chat.test.ts). */
export const MAX_CHAT_HELLO_BYTES = 4096;

export function encodeChat(message: ServerToClient | ClientToServer): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

function bad(reason: string): SessionError {
  return new SessionError('ERR_CHAT_BAD_MESSAGE', `not a chat message: ${reason}`, 'remote', { reason });
}

function parseObject(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw bad('not UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('not a JSON object');
  return value as Record<string, unknown>;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
function isMessage(v: unknown): v is ChatMessage {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return (
    isString(m['id']) &&
    isString(m['room']) &&
    isString(m['from']) &&
    isString(m['text']) &&
    typeof m['ts'] === 'number'
  );
}

/** What a client receives; throws ERR_CHAT_BAD_MESSAGE for anything else. */
export function parseServerMessage(bytes: Uint8Array): ServerToClient {
  const m = parseObject(bytes);
  const ok = ((): boolean => {
    switch (m['type']) {
      case 'welcome':
        return (
          isString(m['room']) &&
          isString(m['nick']) &&
          isStrings(m['members']) &&
          Array.isArray(m['history']) &&
          m['history'].every(isMessage) &&
          typeof m['halfDuplex'] === 'boolean' &&
          (m['holder'] === null || isString(m['holder']))
        );
      case 'message':
        return isMessage(m);
      case 'join':
        return isString(m['room']) && isString(m['nick']);
      case 'leave':
        return isString(m['room']) && isString(m['nick']) && isString(m['reason']);
      case 'presence':
        return isString(m['room']) && isStrings(m['members']) && (m['you'] === undefined || isString(m['you']));
      case 'history':
        return isString(m['room']) && Array.isArray(m['messages']) && m['messages'].every(isMessage);
      case 'turn':
        return isString(m['room']) && (m['holder'] === null || isString(m['holder']));
      case 'interrupted':
        return isString(m['room']);
      case 'error':
        return isString(m['code']) && isString(m['message']);
      default:
        return false;
    }
  })();
  if (!ok) throw bad(`unexpected or incomplete ${JSON.stringify(String(m['type']))} message`);
  return m as unknown as ServerToClient;
}

/** What the service receives; throws ERR_CHAT_BAD_MESSAGE for anything else. */
export function parseClientMessage(bytes: Uint8Array): ClientToServer {
  const m = parseObject(bytes);
  switch (m['type']) {
    case 'say':
      if (!isString(m['text'])) throw bad('"say" needs a "text" string');
      if (m['cid'] !== undefined && !(isString(m['cid']) && m['cid'].length > 0 && m['cid'].length <= MAX_CID_LENGTH))
        throw bad(`"cid" must be a string of 1..${MAX_CID_LENGTH} characters`);
      if (m['n'] !== undefined && !isCounter(m['n'])) throw bad('"n" must be a positive safe integer');
      return {
        type: 'say',
        text: m['text'],
        ...(isString(m['cid']) ? { cid: m['cid'] } : {}),
        ...(isCounter(m['n']) ? { n: m['n'] } : {}),
      };
    case 'resending':
      if (!Array.isArray(m['ns']) || m['ns'].length > MAX_RESENDING || !m['ns'].every(isCounter))
        throw bad(`"resending" needs "ns": at most ${MAX_RESENDING} positive safe integers`);
      return { type: 'resending', ns: m['ns'] };
    case 'who':
      return { type: 'who' };
    case 'leave':
      return { type: 'leave' };
    default:
      throw bad(`unknown type ${JSON.stringify(String(m['type']))}`);
  }
}

/** Why `nick` is not acceptable, or undefined when it is. */
export function nickProblem(nick: string, maxLength: number): string | undefined {
  if (nick.length === 0) return 'the nick is empty';
  if ([...nick].length > maxLength) return `the nick is longer than ${maxLength} characters`;
  // Control characters, and separators that would make a nick look like two.
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(nick) || nick.trim() !== nick)
    return 'the nick has control characters or leading/trailing spaces';
  return undefined;
}

export function roomProblem(room: string): string | undefined {
  return ROOM_PATTERN.test(room) ? undefined : `room '${room.slice(0, 80)}' is not 1..64 of A-Z a-z 0-9 _ . -`;
}
