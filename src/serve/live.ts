// The live view: what serve knows about each of its sessions, and the frame ladder of one.
//
// Theory of operation
//   Every session the server emits is tracked until it closes: its service and principal, how
//   many times its transport dropped and it resumed, and the bytes through its transports (a
//   CountingTransport per accepted connection; when a resume brings a new transport, the old
//   one's totals are folded in). `list()` reads the rest (state, tokens, serial) from the
//   session at the moment it is asked, so nothing is copied on the hot path.
//
//   The ladder: `watch(id, onFrame)` installs a tap on the session's wire coupler
//   (`session.driver.wire.tap`) when the first watcher arrives and removes it when the last one
//   leaves, so an unwatched session pays nothing. The tap keeps the last LADDER_FRAMES frames
//   of a watched session in a ring buffer (a new watcher gets them first) and passes each new
//   one to the watchers. Frames are described, not copied: payloads become their length and a
//   short printable preview. Each session frame carries its number in the session's order (what
//   acks and RESUME count); the frames sent again after a RESUME are marked replayed (the RESUME
//   says how many the client had, so their numbers are known). The transport's lifecycle is in
//   the ladder too: INTERRUPTED when the transport drops. CONNECT and ACCEPT happened before
//   anyone could watch: they are recorded when the session opens (two small entries) and lead
//   every ladder. When the last watcher leaves, the tap stays LADDER_LINGER_MS longer, so a page
//   that reloads finds its own RESUME in the ladder.

import type { Principal } from '../apps/service.js';
import type { Session } from '../driver/session.js';
import { isSessionFrame } from '../engine/frames.js';
import type { Frame } from '../engine/frames.js';
import type { Server } from '../server/server.js';
import { CountingTransport } from './counting.js';

/** Frames kept per watched session for a new watcher. */
export const LADDER_FRAMES = 200;
/** Sessions watched at once (each costs a tap and a ring buffer). */
export const MAX_WATCHED_SESSIONS = 64;
/** Watchers of one session at once. */
export const MAX_WATCHERS_PER_SESSION = 16;
/** Sessions one listing returns at most (the oldest first); `total` says how many there are. */
export const MAX_LISTED_SESSIONS = 1000;
/** Characters of a payload shown in the ladder. */
export const PREVIEW_CHARS = 48;
/** How long a session stays tapped after its last watcher left (a reloading page comes back). */
export const LADDER_LINGER_MS = 30_000;

export interface SessionInfo {
  id: string;
  /** The logged-in name, or the name the hello gave (nick), or null. */
  name: string | null;
  /** True when the session has a proven owner (a login's cookie on the upgrade, or the admin token), false when `name` is only claimed in the hello. */
  authenticated: boolean;
  service: string | null;
  /** The attached transport's kind, or null while interrupted. */
  transport: string | null;
  remoteAddress: string | null;
  state: string;
  /** Times the transport dropped under the session. */
  interruptions: number;
  /** Times the session resumed on a new transport. */
  resumes: number;
  /** True when this node took the session over from the store. */
  restored: boolean;
  tokens: string[];
  serial: number | null;
  /** Bytes received from and sent to the client, over every transport so far; null when not counted (a channel of a multiplexed connection). */
  bytesIn: number | null;
  bytesOut: number | null;
  openedAt: string;
  watchers: number;
}

export interface LadderFrame {
  /** Milliseconds since the epoch. */
  at: number;
  /** 'in': client to server; 'out': server to client; 'event': the transport's lifecycle (INTERRUPTED). */
  direction: 'in' | 'out' | 'event';
  type: string;
  /** The frame's fields in a line: numbers, token names, payload lengths and previews. */
  detail: string;
  /** A session frame's number in its direction, in session order (1 = the first); none for connection frames. */
  n?: number;
  /** Sent again after a resume: the client had not received it. */
  replayed?: boolean;
  /** Recorded when the session opened, before anyone watched (CONNECT, ACCEPT). */
  recorded?: boolean;
}

interface Tracked {
  session: Session;
  openedAt: number;
  interruptions: number;
  resumes: number;
  restored: boolean;
  current: CountingTransport | null;
  pastIn: number;
  pastOut: number;
  counted: boolean;
  ladder: LadderFrame[] | null;
  /** CONNECT and ACCEPT as recorded at the open (none for a session restored from the store). */
  opened: LadderFrame[];
  /** Stops the tap once the linger after the last watcher is over. */
  linger: ReturnType<typeof setTimeout> | null;
  /** Each watcher and what to call when the session closes under it. */
  watchers: Map<(frame: LadderFrame) => void, () => void>;
}

export interface LiveSessionsOptions {
  /** How long a session stays tapped after its last watcher left. Default LADDER_LINGER_MS; 0 stops at once. */
  ladderLingerMs?: number;
}

export class LiveSessions {
  private readonly tracked = new Map<string, Tracked>();
  private watched = 0;

  constructor(private readonly options: LiveSessionsOptions = {}) {}

  /** Call for every session the server emits (`restored` when this node took it over from the store). */
  add(session: Session, restored: boolean): void {
    const openedAt = Date.now();
    const entry: Tracked = {
      session,
      openedAt,
      interruptions: 0,
      resumes: 0,
      restored,
      current: null,
      pastIn: 0,
      pastOut: 0,
      counted: true,
      ladder: null,
      opened: restored ? [] : openingFrames(session, openedAt),
      linger: null,
      watchers: new Map(),
    };
    this.tracked.set(session.id, entry);
    this.noteTransport(entry);
    session.on('interrupted', ({ error }) => {
      entry.interruptions++;
      if (entry.ladder)
        this.record(entry, {
          at: Date.now(),
          direction: 'event',
          type: 'INTERRUPTED',
          detail: error ? error.message : 'the transport closed',
        });
    });
    session.on('resumed', () => {
      entry.resumes++;
      this.noteTransport(entry);
    });
    session.on('closed', () => {
      this.unwatchAll(entry);
      this.tracked.delete(session.id);
    });
  }

  private noteTransport(entry: Tracked): void {
    const t = entry.session.driver.attached;
    if (t === null || t === entry.current) return;
    if (entry.current) {
      entry.pastIn += entry.current.bytesIn;
      entry.pastOut += entry.current.bytesOut;
    }
    if (t instanceof CountingTransport) entry.current = t;
    else {
      entry.current = null;
      entry.counted = false;
    }
  }

  get size(): number {
    return this.tracked.size;
  }

  has(id: string): boolean {
    return this.tracked.has(id);
  }

  list(limit = MAX_LISTED_SESSIONS): SessionInfo[] {
    return this.view(limit).sessions;
  }

  /** The sessions `visible` accepts (all by default), at most `limit`, and how many it accepts in all. */
  view(
    limit = MAX_LISTED_SESSIONS,
    visible?: (session: Session) => boolean,
  ): { sessions: SessionInfo[]; total: number } {
    const out: SessionInfo[] = [];
    let total = 0;
    for (const entry of this.tracked.values()) {
      if (visible && !visible(entry.session)) continue;
      total++;
      if (out.length >= limit) continue;
      this.noteTransport(entry);
      const s = entry.session;
      const principal = s.principal as Principal | null | undefined;
      const attached = s.driver.attached;
      const nick = principal?.hello && typeof principal.hello.nick === 'string' ? principal.hello.nick : null;
      out.push({
        id: s.id,
        name: principal?.name ?? nick,
        authenticated: principal?.name !== undefined && principal?.name !== null,
        service: principal?.service ?? null,
        transport: attached?.kind ?? null,
        remoteAddress: attached?.remoteAddress ?? null,
        state: s.state,
        interruptions: entry.interruptions,
        resumes: entry.resumes,
        restored: entry.restored,
        tokens: [...s.tokens],
        serial: s.serial ?? null,
        bytesIn: entry.counted ? entry.pastIn + (entry.current?.bytesIn ?? 0) : null,
        bytesOut: entry.counted ? entry.pastOut + (entry.current?.bytesOut ?? 0) : null,
        openedAt: new Date(entry.openedAt).toISOString(),
        watchers: entry.watchers.size,
      });
    }
    return { sessions: out, total };
  }

  /**
   * Calls `onFrame` with the kept frames of session `id`, then with each new one, until the
   * returned function is called or the session closes (then `onEnd`). Throws when the session
   * is unknown or the watch bounds are reached.
   */
  watch(id: string, onFrame: (frame: LadderFrame) => void, onEnd: () => void): () => void {
    const entry = this.tracked.get(id);
    if (!entry) throw new WatchError(404, `no live session ${id} on this node`);
    if (entry.watchers.size >= MAX_WATCHERS_PER_SESSION)
      throw new WatchError(
        429,
        `session ${id} has ${MAX_WATCHERS_PER_SESSION} watchers already (MAX_WATCHERS_PER_SESSION)`,
      );
    if (entry.watchers.size === 0) {
      if (this.watched >= MAX_WATCHED_SESSIONS)
        throw new WatchError(429, `${MAX_WATCHED_SESSIONS} sessions are watched already (MAX_WATCHED_SESSIONS)`);
      this.startTap(entry);
    }
    for (const frame of entry.opened) onFrame(frame);
    for (const frame of entry.ladder ?? []) onFrame(frame);
    const watcher = (frame: LadderFrame): void => onFrame(frame);
    entry.watchers.set(watcher, onEnd);
    return () => {
      if (!entry.watchers.delete(watcher)) return;
      if (entry.watchers.size > 0 || !entry.ladder || entry.linger) return;
      const ms = this.options.ladderLingerMs ?? LADDER_LINGER_MS;
      if (ms <= 0) {
        this.stopTap(entry);
        return;
      }
      entry.linger = setTimeout(() => {
        entry.linger = null;
        if (entry.watchers.size === 0) this.stopTap(entry);
      }, ms);
      entry.linger.unref?.();
    };
  }

  private startTap(entry: Tracked): void {
    if (entry.linger) {
      clearTimeout(entry.linger);
      entry.linger = null;
    }
    if (entry.ladder) return; // still tapped from before (the linger)
    this.watched++;
    entry.ladder = [];
    const { machine, wire } = entry.session.driver;
    // Frames still to be sent again after a RESUME, and the number of the next one.
    let replayLeft = 0;
    let replayNext = 0;
    wire.tap = (direction, frame) => {
      const described: LadderFrame = { at: Date.now(), direction, type: frame.type, detail: describeFrame(frame) };
      if (frame.type === 'RESUME') {
        replayNext = frame.received + 1;
        replayLeft = Math.max(0, machine.stats.sent - frame.received);
      }
      if (isSessionFrame(frame)) {
        if (direction === 'out' && replayLeft > 0) {
          described.n = replayNext++;
          described.replayed = true;
          replayLeft--;
        } else described.n = direction === 'out' ? machine.stats.sent : machine.stats.received + 1;
      }
      this.record(entry, described);
    };
  }

  private record(entry: Tracked, frame: LadderFrame): void {
    const ladder = entry.ladder;
    if (!ladder) return;
    ladder.push(frame);
    if (ladder.length > LADDER_FRAMES) ladder.shift();
    for (const w of entry.watchers.keys()) w(frame);
  }

  private stopTap(entry: Tracked): void {
    if (entry.linger) {
      clearTimeout(entry.linger);
      entry.linger = null;
    }
    if (!entry.ladder) return;
    this.watched--;
    entry.session.driver.wire.tap = undefined;
    entry.ladder = null;
  }

  private unwatchAll(entry: Tracked): void {
    if (entry.watchers.size === 0) {
      this.stopTap(entry);
      return;
    }
    const ends = [...entry.watchers.values()];
    entry.watchers.clear();
    this.stopTap(entry);
    for (const end of ends) end();
  }

  /** Tracks every session `server` emits from now on. */
  attach(server: Server, isRestored: (session: Session) => boolean): () => void {
    return server.on('session', (s) => this.add(s, isRestored(s)));
  }

  /** Ends every watch (server shutdown). */
  close(): void {
    for (const entry of this.tracked.values()) this.unwatchAll(entry);
  }
}

export class WatchError extends Error {
  override name = 'WatchError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });

/** CONNECT and ACCEPT as they were agreed, for the head of the ladder (the frames themselves went by unwatched). */
function openingFrames(session: Session, at: number): LadderFrame[] {
  const agreed = session.negotiated;
  if (!agreed) return [];
  const units = `units=[${[...agreed.units].join(',')}]`;
  // The tokens the client holds from the start: those that exist and the server does not hold.
  const tokens = `tokens=[${agreed.tokens.filter((t) => !session.tokens.includes(t)).join(',')}]`;
  return [
    { at, direction: 'in', type: 'CONNECT', detail: `${units} mode=${agreed.mode}`, recorded: true },
    {
      at,
      direction: 'out',
      type: 'ACCEPT',
      detail: `${units} mode=${agreed.mode} serial=${agreed.initialSerial} ${tokens}`,
      recorded: true,
    },
  ];
}

/** One line for a frame: each field by name, bytes as a length and a printable preview. */
export function describeFrame(frame: Frame): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(frame)) {
    if (key === 'type') continue;
    if (key === 'resumeSecret' || key === 'credentials') {
      parts.push(`${key}=(hidden)`);
      continue;
    }
    if (value instanceof Uint8Array) {
      if (value.length === 0) continue;
      if (key === 'sessionId') {
        parts.push(`${key}=${[...value.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join('')}…`);
        continue;
      }
      parts.push(`${key}=${value.length}B ${preview(value)}`);
    } else if (Array.isArray(value)) {
      parts.push(`${key}=[${value.map(String).join(',')}]`);
    } else if (value !== undefined && value !== null && typeof value !== 'object') {
      parts.push(`${key}=${String(value)}`);
    }
  }
  return parts.join(' ');
}

function preview(bytes: Uint8Array): string {
  const text = textDecoder.decode(bytes.subarray(0, PREVIEW_CHARS * 4));
  const printable = [...text]
    .slice(0, PREVIEW_CHARS)
    .map((c) => (c < ' ' || c === '\u007f' || c === '\ufffd' ? '·' : c))
    .join('');
  return `«${printable}${text.length > PREVIEW_CHARS ? '…' : ''}»`;
}
