// ChatClient: the typed client of the chat service (./chat.ts), for the CLI and the web page.
// No node:* imports here (the browser bundle takes this file); terminal code lives in
// src/cli/chat-command.ts.
//
//   const chat = await ChatClient.connect('ws://127.0.0.1:7200/session', { nick: 'ada', room: 'lobby' });
//   chat.on('message', (m) => show(m.from, m.text));
//   await chat.send('hello');
//   await chat.close();                    // orderly release
//
// Theory of operation
//   connect() opens a session whose CONNECT hello names the room and nick, and resolves when the
//   service's `welcome` arrives (the nick actually given, members, history). The session resumes
//   by itself across cut connections; the service's units arrive exactly once, so the client
//   keeps no ids and drops nothing. Units are read from the session's `event` stream in frame
//   order (DATA in full-duplex rooms, TYPED in half-duplex ones).
//
//   Half duplex (walkie-talkie): the session is negotiated half duplex with the data token on the
//   server's side. `send()` without the token queues the text (at most `maxPendingMessages`) and
//   asks for the token (PLEASE_TOKENS); when the service hands it over (GIVE_TOKENS) the queue
//   goes out. When the service asks for it back (someone else wants to talk), the session's
//   handler gives it, after what is queued. `close()` without the token sends `leave` as TYPED
//   data and the service releases the session (a release needs every token).

import { connect } from '../client/connect.js';
import type { ClientSession, ConnectOptions } from '../client/connect.js';
import { Emitter } from '../util/emitter.js';
import { SessionError } from '../engine/errors.js';
import { CHAT_SERVICE, MAX_RESENDING, encodeChat, encodeChatHello, parseServerMessage } from './chat-protocol.js';
import type { ChatMessage, LeaveReason, ServerToClient } from './chat-protocol.js';
import { releasedByServer, watchPeerRelease } from './peer-release.js';
import type {} from './errors.js';
import type {} from '../driver/errors.js';

export type { ChatMessage, LeaveReason, ServerToClient } from './chat-protocol.js';

export interface ChatClientOptions extends Omit<ConnectOptions, 'userData' | 'modes' | 'units' | 'initialTokens'> {
  nick?: string;
  room?: string;
  /** Join a walkie-talkie room: only the holder of the data token speaks. */
  halfDuplex?: boolean;
  /** Half duplex: texts held while waiting for the turn. Default 100. */
  maxPendingMessages?: number;
  /** How long connect() waits for the service's welcome. Default 10 s. */
  welcomeTimeoutMs?: number;
  /**
   * Called with the client before its first frame is handled, so listeners see everything,
   * including what arrives while connect() is still resolving (the welcome, or what a resumed
   * session replays).
   */
  onClient?: (client: ChatClient) => void;
}

export interface ChatClientEvents extends Record<string, unknown> {
  welcome: Extract<ServerToClient, { type: 'welcome' }>;
  /** A message in the room; `history: true` for messages from before this client joined. */
  message: ChatMessage & { history: boolean };
  join: { room: string; nick: string; ts: number };
  leave: { room: string; nick: string; ts: number; reason: LeaveReason };
  presence: string[];
  /** Half duplex: who holds the floor now (null: nobody). */
  turn: string | null;
  /** An error the service reported (the session goes on). */
  notice: { code: string; message: string };
  interrupted: { error?: SessionError };
  resumed: { replayed: number };
  /**
   * The session ended: with `error` when it failed; `serverReason` when the server released it
   * (a stopping server says why in its release request; '' when it gave no reason).
   */
  closed: { error?: SessionError; serverReason?: string };
}

interface Pending {
  text: string;
  cid: string;
  n: number;
  resolve(): void;
  reject(e: Error): void;
}

/** Own lines a client remembers until the room's copy comes back (older ones are forgotten). */
export const MAX_UNECHOED = MAX_RESENDING;

export class ChatClient extends Emitter<ChatClientEvents> {
  nick = '';
  readonly room: string;
  readonly halfDuplex: boolean;
  /** Holder of the floor in a half-duplex room, as the service last said. */
  holder: string | null = null;
  /**
   * Messages from before this client joined (the welcome's, and any another node supplied later),
   * oldest first. Read it after connect(): some arrive before connect() resolves.
   */
  readonly history: ChatMessage[] = [];
  private readonly memberSet = new Set<string>();
  private pending: Pending[] = [];
  private asked = false;
  private welcomed = false;
  /** Own lines sent and not yet back from the room, by cid, in the order sent. */
  private readonly unechoed = new Map<string, { text: string; n: number }>();
  /**
   * Of those, the ones already sent when the connection was lost: only these can have died with
   * a node (received, never logged). Lines sent later wait in the session, which carries them to
   * whichever node takes it over; sending those again would only log them twice.
   */
  private readonly exposed = new Set<string>();
  private readonly cidPrefix = Math.random().toString(36).slice(2, 10);
  private cids = 0;
  /**
   * The last line counter given (`n` of a `say`): it rises with every line, and starts from the
   * clock (ms x 1000) so that a client resuming the session of an earlier one (`resume`) goes on
   * above it; the service logs a member's line once, the first time its `n` is above all logged.
   */
  private lineN = Date.now() * 1000;
  private closeError: SessionError | undefined;
  /** close() was called: the release that follows is the user's, not the server's. */
  private leaving = false;
  private readonly maxPending: number;

  private constructor(
    readonly session: ClientSession,
    options: ChatClientOptions,
  ) {
    super();
    this.room = options.room ?? 'lobby';
    this.halfDuplex = options.halfDuplex === true;
    this.maxPending = options.maxPendingMessages ?? 100;
    session.on('event', (e) => {
      if (e.type === 'data' || e.type === 'typed') this.onUnit(e.payload);
      else if (e.type === 'tokens-given' && e.tokens.includes('data')) this.flush();
    });
    session.on('interrupted', (v) => {
      for (const cid of this.unechoed.keys()) this.exposed.add(cid);
      this.emit('interrupted', v);
    });
    session.on('resumed', (v) => {
      // A request for the floor may have died with the node that had it (another node restored
      // the session and knows nothing of it): ask again; a node that had it ignores a second ask.
      if (this.asked && !this.hasTurn) {
        try {
          session.requestTokens(['data']);
        } catch {
          /* closing */
        }
      }
      this.emit('resumed', v);
    });
    const peerRelease = watchPeerRelease(session);
    session.on('closed', ({ error }) => {
      this.closeError = error;
      // A release the server asks for after our `leave` (we had no token to release with) is ours.
      const byServer = this.leaving ? undefined : peerRelease.reason();
      const gone =
        error ??
        (byServer === undefined
          ? new SessionError('ERR_INVALID_STATE', 'the chat session was released', 'local', { state: 'closed' })
          : new SessionError(
              'ERR_INVALID_STATE',
              `${releasedByServer(byServer)} before the line was logged`,
              'remote',
              {
                state: 'closed',
                reason: byServer,
              },
            ));
      for (const p of this.pending.splice(0)) p.reject(gone);
      this.emit('closed', error ? { error } : byServer === undefined ? {} : { serverReason: byServer });
    });
    void (async () => {
      for await (const unit of session) void unit;
    })().catch(() => {
      /* reported by 'closed' */
    });
  }

  /** Opens a chat session and resolves once the service has welcomed it. */
  static async connect(url: string, options: ChatClientOptions = {}): Promise<ChatClient> {
    const hello = {
      service: CHAT_SERVICE as 'chat',
      nick: options.nick ?? 'guest',
      room: options.room ?? 'lobby',
      ...(options.halfDuplex ? { halfDuplex: true } : {}),
    };
    const half = options.halfDuplex === true;
    let client: ChatClient | undefined;
    const session = await connect(url, {
      ...options,
      userData: encodeChatHello(hello),
      ...(half
        ? {
            modes: ['halfDuplex'] as const,
            units: ['typedData'] as const,
            initialTokens: { data: 'acceptor' as const },
          }
        : {}),
      // Listen from the first frame: the welcome may arrive together with ACCEPT.
      onSession: (s) => {
        client = new ChatClient(s, options);
        options.onSession?.(s);
        options.onClient?.(client);
      },
    });
    // The service asking for the floor back is answered by the session's default: give (what was
    // sent before is already ahead of the GIVE_TOKENS in the session's order).
    const c = client as ChatClient;
    // A resumed session was welcomed in its earlier life: ask who is here (and who we are).
    if (options.resume) {
      c.who();
      return c;
    }
    if (c.welcomed) return c;
    if (session.closed)
      throw (
        c.closeError ?? new SessionError('ERR_CONNECT_FAILED', 'the chat session closed before the welcome', 'remote')
      );
    await new Promise<void>((resolve, reject) => {
      const ms = options.welcomeTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        done();
        session.abort('no welcome');
        reject(
          new SessionError('ERR_HANDSHAKE_TIMEOUT', `the chat service sent no welcome within ${ms} ms`, 'remote', {
            timeoutMs: ms,
          }),
        );
      }, ms);
      const onAbort = (): void => {
        done();
        session.abort('connect aborted');
        reject(new SessionError('ERR_CANCELLED', 'connect aborted', 'local'));
      };
      const offWelcome = c.on('welcome', () => {
        done();
        resolve();
      });
      const offClosed = c.on('closed', ({ error }) => {
        done();
        reject(error ?? new SessionError('ERR_CONNECT_FAILED', 'the chat session closed before the welcome', 'remote'));
      });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      function done(): void {
        clearTimeout(timer);
        offWelcome();
        offClosed();
        options.signal?.removeEventListener('abort', onAbort);
      }
    });
    return c;
  }

  /** Everyone in the room, on every node, as the service last said. */
  get members(): string[] {
    return [...this.memberSet].sort();
  }

  /** Half duplex: whether this client holds the floor (the data token). Full duplex: always true. */
  get hasTurn(): boolean {
    return !this.halfDuplex || this.session.tokens.includes('data');
  }

  /**
   * Sends a message to the room. Resolves when it is queued in the session (the session delivers
   * it exactly once, across cuts); the room's copy comes back as a `message` event with its id.
   * Half duplex without the floor: waits for the turn (asking for it).
   */
  send(text: string): Promise<void> {
    return this.say(text, `${this.cidPrefix}.${(this.cids++).toString(36)}`, ++this.lineN);
  }

  private say(text: string, cid: string, n: number, first = false): Promise<void> {
    if (this.hasTurn && this.pending.length === 0) return this.sayNow(text, cid, n);
    if (this.session.closed)
      return Promise.reject(
        new SessionError('ERR_INVALID_STATE', 'the chat session is closed', 'local', { state: 'closed' }),
      );
    if (this.pending.length >= this.maxPending && !first) {
      return Promise.reject(
        new SessionError('ERR_CHAT_TURN_QUEUE_FULL', `${this.maxPending} messages already wait for the turn`, 'local', {
          limit: this.maxPending,
        }),
      );
    }
    const p = new Promise<void>((resolve, reject) => {
      const item = { text, cid, n, resolve, reject };
      if (first) this.pending.unshift(item);
      else this.pending.push(item);
    });
    this.requestTurn();
    return p;
  }

  /**
   * Each line carries a cid; the client remembers it until the room's copy comes back. When the
   * service says `interrupted` (another node took the session over after its node died), the
   * lines not back yet that were sent before the connection was lost are sent again with the same
   * cid and counter: one the dead node had received but not logged gets logged now, and one it
   * had logged is dropped by the room log (which keeps each member's highest logged counter).
   * First goes `resending` with their counters: the service holds the lines the session brought
   * it meanwhile (said later) until these are in, and logs them all in the order said.
   */
  private sayNow(text: string, cid: string, n: number): Promise<void> {
    this.unechoed.delete(cid);
    this.unechoed.set(cid, { text, n });
    if (this.unechoed.size > MAX_UNECHOED) this.echoed(this.unechoed.keys().next().value as string);
    return this.session.send(encodeChat({ type: 'say', text, cid, n }));
  }

  private echoed(cid: string): void {
    this.unechoed.delete(cid);
    this.exposed.delete(cid);
  }

  private sendAgain(): void {
    const lines = [...this.unechoed].filter(([cid]) => this.exposed.has(cid));
    this.exposed.clear();
    // TYPED in a half-duplex room: it needs no token, and must not wait behind the lines.
    const resending = encodeChat({ type: 'resending', ns: lines.map(([, l]) => l.n) });
    try {
      if (this.halfDuplex) this.session.sendTyped(resending);
      else
        void this.session.send(resending).catch(() => {
          /* reported by 'closed' */
        });
    } catch {
      return; // closing
    }
    if (this.hasTurn && this.pending.length === 0) {
      for (const [cid, { text, n }] of lines)
        this.sayNow(text, cid, n).catch(() => {
          /* reported by 'closed' */
        });
      return;
    }
    // Without the floor: ahead of what waits for it, in the order first sent.
    for (const [cid, { text, n }] of lines.reverse())
      this.say(text, cid, n, true).catch(() => {
        /* reported by 'closed' */
      });
  }

  /** Half duplex: asks for the floor (PLEASE_TOKENS data). No-op when it is held or already asked for. */
  requestTurn(): void {
    if (!this.halfDuplex || this.hasTurn || this.asked) return;
    this.asked = true;
    this.session.requestTokens(['data']);
  }

  /** Asks the service for the member list (answered by a `presence` event). */
  who(): void {
    const unit = encodeChat({ type: 'who' });
    if (this.halfDuplex) this.session.sendTyped(unit);
    else void this.session.send(unit).catch(() => {});
  }

  /** Leaves the room by orderly release. Resolves when the session is closed. */
  async close(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.session.closed) return;
    this.leaving = true;
    const gone = new SessionError('ERR_CANCELLED', 'the chat client is closing', 'local');
    for (const p of this.pending.splice(0)) p.reject(gone);
    if (!this.hasTurn) {
      const closed = new Promise<void>((resolve) => {
        if (this.session.closed) resolve();
        else this.session.once('closed', () => resolve());
      });
      this.session.sendTyped(encodeChat({ type: 'leave' }));
      await abortable(closed, options.signal);
      return;
    }
    await this.session.release(undefined, options);
  }

  abort(message = 'chat client aborted'): void {
    this.session.abort(message);
  }

  private flush(): void {
    this.asked = false;
    const queued = this.pending.splice(0);
    for (const p of queued) this.sayNow(p.text, p.cid, p.n).then(p.resolve, p.reject);
  }

  private addHistory(messages: readonly ChatMessage[]): void {
    this.history.push(...messages);
    this.history.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : 1));
  }

  private onUnit(payload: Uint8Array): void {
    let m: ServerToClient;
    try {
      m = parseServerMessage(payload);
    } catch (e) {
      this.session.abort(`chat client: ${(e as Error).message}`);
      return;
    }
    switch (m.type) {
      case 'welcome':
        if (this.welcomed) return;
        this.welcomed = true;
        this.nick = m.nick;
        this.holder = m.holder;
        for (const n of m.members) this.memberSet.add(n);
        this.addHistory(m.history);
        this.emit('welcome', m);
        for (const h of m.history) this.emit('message', { ...h, history: true });
        return;
      case 'message': {
        // Built field by field: a rest pattern and a spread per line cost V8 two generic
        // property copies, the client's largest share of a chat room's CPU (issue 14 profile).
        const message: ChatMessage & { history: boolean } = {
          id: m.id,
          room: m.room,
          from: m.from,
          text: m.text,
          ts: m.ts,
          history: false,
        };
        if (m.cid !== undefined) {
          message.cid = m.cid;
          if (m.from === this.nick) this.echoed(m.cid);
        }
        this.emit('message', message);
        return;
      }
      case 'history':
        this.addHistory(m.messages);
        for (const h of m.messages) this.emit('message', { ...h, history: true });
        return;
      case 'join':
        this.memberSet.add(m.nick);
        this.emit('join', { room: m.room, nick: m.nick, ts: m.ts });
        return;
      case 'leave':
        this.memberSet.delete(m.nick);
        this.emit('leave', { room: m.room, nick: m.nick, ts: m.ts, reason: m.reason });
        return;
      case 'presence':
        if (m.you !== undefined && this.nick === '') this.nick = m.you;
        this.memberSet.clear();
        for (const n of m.members) this.memberSet.add(n);
        this.emit('presence', this.members);
        return;
      case 'turn':
        this.holder = m.holder;
        this.emit('turn', m.holder);
        return;
      case 'error':
        this.emit('notice', { code: m.code, message: m.message });
        return;
      case 'interrupted':
        this.sendAgain();
        return;
    }
  }
}

function abortable(p: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = (): void =>
      reject(
        signal.reason instanceof Error ? signal.reason : new SessionError('ERR_CANCELLED', 'the wait was aborted'),
      );
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, reject);
  });
}
