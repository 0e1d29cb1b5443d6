// PeerLink: this node's stream to one peer of a replicated store, carried by a Colloquy session
// this node dials (dogfooding: the session layer's own resume makes the stream loss-free and
// duplicate-free across transport cuts).
//
// Theory of operation
//   A link dials until it has a session (backoff with full jitter between `initialDelayMs` and
//   `maxDelayMs`). The moment a session is attached it takes a snapshot of the node's state
//   (references to immutable records, one synchronous step), and from then on every change is
//   queued behind it on the same session, in order:
//
//     (the peer's challenge), hello, snap ... snap (the state at attach time), snap-end, change, ...
//
//   The peer speaks once on this session: a challenge naming itself (node-identity.ts). Nothing
//   is sent before it arrives; the hello answers it with this node's proof. A challenge from
//   another node than the one configured at that URL resets the link.
//
//   so the peer misses no change made while the snapshot was being sent, and a change that is
//   also in the snapshot is merged twice harmlessly (merging is idempotent). Changes made while
//   there is no session are not queued: the next session's snapshot covers them.
//
//   While the transport is cut, the ClientSession redials and resumes; queued changes wait.
//   When the session itself ends (resume window passed, peer restarted, reset below), the link
//   dials a new one and starts again with a full snapshot.
//
// Bounds (a slow or absent peer)
//   The queue of changes not yet handed to the session holds at most `maxQueueBytes`; the session
//   below holds at most its own send queue and replay buffer. A change that would overflow the
//   queue resets the link: the session is aborted (the peer sees an abort saying the peer was too
//   slow), the queue is dropped, and a new session starts with a snapshot. So a
//   slow peer costs this node bounded memory and is brought up to date by snapshot, never by an
//   unbounded backlog; requests waiting for that peer fail with ERR_STORE_UNAVAILABLE.

import { connect, type ClientSession } from '../client/connect.js';
import type { DialOptions } from '../client/dial.js';
import { decode, encode, toWire, type Message } from './replication-protocol.js';
import type { Replica } from './replica-state.js';

const textDecoder = new TextDecoder('utf-8', { fatal: true });

export interface PeerLinkConfig {
  self: string;
  peer: string;
  url: string;
  credentials?: string;
  maxQueueBytes: number;
  snapshotChunkBytes: number;
  resumeWindowMs: number;
  heartbeatMs: number;
  maxFrameSize: number;
  maxSendQueueBytes: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** TLS trust for tls:// peers (a private CA, the server name). */
  tls?: DialOptions['tls'];
  /** The hello to send first, answering the peer's challenge (carries whether this node is ready). */
  hello(challenge: string): Message;
  /** The node's state now, by reference. */
  snapshot(): Replica[];
  /** The link went up, down, or was reset; `lost` is true when the session (and any request in it) is gone. */
  onChange(link: PeerLink, lost: boolean, reason?: string): void;
}

export interface LinkStats {
  sessions: number;
  resets: number;
  messages: number;
  bytes: number;
  snapshotRecords: number;
}

/** What several links sent, added up. */
export function sumLinkStats(links: Iterable<PeerLink>): LinkStats {
  const sum: LinkStats = { messages: 0, bytes: 0, snapshotRecords: 0, resets: 0, sessions: 0 };
  for (const l of links) {
    const s = l.stats;
    sum.messages += s.messages;
    sum.bytes += s.bytes;
    sum.snapshotRecords += s.snapshotRecords;
    sum.resets += s.resets;
    sum.sessions += s.sessions;
  }
  return sum;
}

export class PeerLink {
  private session: ClientSession | null = null;
  /** Messages, or batches of records sent lazily in snapshot chunks (re-offered records; not counted in queuedBytes: they are references to records the state holds anyway). */
  private queue: (string | { records: Replica[]; index: number })[] = [];
  private head = 0;
  private queuedBytes = 0;
  private pendingSnapshot: Replica[] | null = null;
  private snapIndex = 0;
  private helloPending = false;
  /** The peer's challenge on the current session; null until it arrives. */
  private challenge: string | null = null;
  private pumping = false;
  private closed = false;
  private wake: (() => void) | null = null;
  private lastDialError = '';
  /** performance.now() when the link last went down; null while the session is attached. */
  private downSince: number | null = performance.now();
  readonly stats: LinkStats = { sessions: 0, resets: 0, messages: 0, bytes: 0, snapshotRecords: 0 };

  constructor(readonly config: PeerLinkConfig) {}

  get peer(): string {
    return this.config.peer;
  }
  get connected(): boolean {
    return this.downSince === null && this.session !== null;
  }
  /** Why the last dial failed ('' after a success). */
  get dialError(): string {
    return this.lastDialError;
  }
  /** Bytes queued here, not yet handed to the session. */
  get backlogBytes(): number {
    return this.queuedBytes;
  }

  /** Connected, or down for less than `graceMs` (a flap the session will resume from). */
  reachable(graceMs: number): boolean {
    if (this.session === null) return false;
    return this.downSince === null || performance.now() - this.downSince < graceMs;
  }

  start(): void {
    void this.dialLoop();
  }

  /** Queues one message for the peer; false when there is no session (a later snapshot covers it). */
  send(message: Message): boolean {
    if (!this.session || this.closed) return false;
    const text = encode(message);
    if (this.queuedBytes + text.length > this.config.maxQueueBytes) {
      this.reset(`the peer is too slow: more than ${this.config.maxQueueBytes} bytes queued (maxQueueBytes)`);
      return false;
    }
    this.queue.push(text);
    this.queuedBytes += text.length;
    void this.pump();
    return true;
  }

  /** Queues records to send in snapshot chunks (merged like any record); false when there is no session. */
  sendRecords(records: Replica[]): boolean {
    if (!this.session || this.closed || records.length === 0) return false;
    this.queue.push({ records, index: 0 });
    void this.pump();
    return true;
  }

  /** Drops the session and starts over with a snapshot. */
  reset(reason: string): void {
    const s = this.session;
    if (!s) return;
    this.stats.resets++;
    this.detach(s, reason);
    s.abort(reason);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const s = this.session;
    if (s) {
      this.detach(s, 'closed');
      s.abort('replicated store closed');
    }
  }

  private async dialLoop(): Promise<void> {
    const c = this.config;
    let attempt = 0;
    while (!this.closed) {
      let session: ClientSession | null = null;
      try {
        session = await connect(c.url, {
          ...(c.credentials !== undefined ? { credentials: c.credentials } : {}),
          resumeWindowMs: c.resumeWindowMs,
          heartbeatMs: c.heartbeatMs,
          maxFrameSize: c.maxFrameSize,
          maxSendQueueBytes: c.maxSendQueueBytes,
          reconnect: { initialDelayMs: c.initialDelayMs, maxDelayMs: c.maxDelayMs },
          ...(c.tls ? { tls: c.tls } : {}),
        });
      } catch (error) {
        session = null;
        // Reported once per distinct reason (a peer that is down is redialed every second or so).
        const reason = `dial failed: ${error instanceof Error ? error.message : String(error)}`;
        if (reason !== this.lastDialError) {
          this.lastDialError = reason;
          this.config.onChange(this, false, reason);
        }
      }
      if (session && this.closed) {
        session.abort('replicated store closed');
        return;
      }
      if (session) {
        attempt = 0;
        this.lastDialError = '';
        const s = session;
        const ended = new Promise<void>((resolve) => {
          s.once('closed', () => resolve());
        });
        this.attach(s);
        await ended;
        this.detach(s, 'session closed');
      }
      if (this.closed) return;
      const delay = Math.random() * Math.min(c.maxDelayMs, c.initialDelayMs * 2 ** Math.min(attempt++, 20));
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.wake = null;
          resolve();
        }, delay);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  private attach(s: ClientSession): void {
    this.session = s;
    this.stats.sessions++;
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.helloPending = true;
    this.challenge = null;
    this.pendingSnapshot = this.config.snapshot();
    this.snapIndex = 0;
    this.downSince = null;
    s.on('interrupted', () => {
      if (this.session === s) {
        this.downSince = performance.now();
        this.config.onChange(this, false);
      }
    });
    s.on('resumed', () => {
      if (this.session === s) {
        this.downSince = null;
        this.config.onChange(this, false);
      }
    });
    // The peer sends one challenge on this session; reading on keeps the receive side drained.
    void (async () => {
      try {
        for await (const bytes of s) {
          if (this.session !== s || this.challenge !== null) continue;
          const problem = this.takeChallenge(bytes);
          if (problem) {
            this.reset(problem);
            return;
          }
          void this.pump();
        }
      } catch {
        /* closed */
      }
    })();
    this.config.onChange(this, false);
    void this.pump();
  }

  private detach(s: ClientSession, reason: string): void {
    if (this.session !== s) return;
    this.session = null;
    this.downSince = performance.now();
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.pendingSnapshot = null;
    this.config.onChange(this, true, reason);
  }

  /** Takes the peer's first message as its challenge; returns why it is not one, or null. */
  private takeChallenge(bytes: Uint8Array): string | null {
    let m: Message;
    try {
      m = decode(textDecoder.decode(bytes));
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
    if (m.t !== 'challenge') return `the peer at ${this.config.url} did not open with a challenge`;
    if (m.node !== this.config.peer) return `the node at ${this.config.url} is ${m.node}, not ${this.config.peer}`;
    this.challenge = m.c;
    return null;
  }

  private next(): string | undefined {
    if (this.helloPending) {
      if (this.challenge === null) return undefined; // the pump runs again when it arrives
      this.helloPending = false;
      return encode(this.config.hello(this.challenge));
    }
    const snap = this.pendingSnapshot;
    if (snap) {
      if (this.snapIndex >= snap.length) {
        this.pendingSnapshot = null;
        return encode({ t: 'snap-end' });
      }
      const chunk = this.chunk(snap, this.snapIndex);
      this.snapIndex = chunk.end;
      return chunk.text;
    }
    while (this.head < this.queue.length) {
      const item = this.queue[this.head] as string | { records: Replica[]; index: number };
      if (typeof item !== 'string' && item.index < item.records.length) {
        const chunk = this.chunk(item.records, item.index);
        item.index = chunk.end;
        return chunk.text;
      }
      this.queue[this.head++] = '';
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      if (typeof item === 'string') {
        this.queuedBytes -= item.length;
        return item;
      }
    }
    return undefined;
  }

  /** One snapshot message: records from `from` until the chunk size is reached (at least one). */
  private chunk(records: Replica[], from: number): { text: string; end: number } {
    const parts: string[] = [];
    let bytes = 0;
    let i = from;
    while (i < records.length && (parts.length === 0 || bytes < this.config.snapshotChunkBytes)) {
      const part = JSON.stringify(toWire(records[i++] as Replica));
      parts.push(part);
      bytes += part.length;
    }
    this.stats.snapshotRecords += parts.length;
    return { text: `{"t":"snap","e":[${parts.join(',')}]}`, end: i };
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const s = this.session;
    try {
      while (s && this.session === s && !s.closed) {
        const text = this.next();
        if (text === undefined) break;
        this.stats.messages++;
        this.stats.bytes += Buffer.byteLength(text);
        await s.send(text);
      }
    } catch {
      // The session ended under us: dialLoop starts a new one (with a snapshot).
    } finally {
      this.pumping = false;
    }
    if (this.session && this.session !== s) void this.pump();
  }
}
