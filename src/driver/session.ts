// Session: what an application holds, on the client and on the server alike.
//
// It turns the machine's services into idiomatic TypeScript: promises for confirmed services
// (resolved by the confirmation, rejected with ERR_CANCELLED when superseded or with the close
// error), an async iterator for incoming data behind a bounded receive buffer that pauses the
// transport when the application falls behind, events for lifecycle, and `{ signal }` on every
// async call (aborting a wait never undoes what was already sent).
//
// Indications that need an answer (major sync, resynchronize, activity end/interrupt/discard,
// capability data, release) are answered by `handlers`; each defaults to accepting.
//
// Files: this one holds the commands and routes the machine's events; ./waiters.ts keeps the
// promises of confirmed services, minor sync points and senders waiting for room;
// ./inbox.ts is the receive buffer behind `read()`; ./indications.ts answers the peer's requests.

import { SessionError } from '../engine/errors.js';
import type { ResyncTypeName, TokenName } from '../engine/frames.js';
import type { Negotiated, SessionEvent, SessionMachine, SessionStats } from '../engine/machine/index.js';
import { toHex } from '../engine/bytes.js';
import { Driver } from './driver.js';
import type { WireSession } from '../engine/wire-session.js';
import type { Transport } from '../transport/transport.js';
import { Emitter } from '../util/emitter.js';
import { Inbox } from './inbox.js';
import { answerIndication } from './indications.js';
import type { IndicationHandlers } from './indications.js';
import { abortable, abortError, Waiters } from './waiters.js';
import type {} from './errors.js';

export type { IndicationHandlers } from './indications.js';

type Bytes = Uint8Array;

export interface SessionOptions {
  /** Bytes of received data held for the application before reading pauses. Default 4 MiB. */
  maxReceiveBufferBytes?: number;
  handlers?: IndicationHandlers;
}

export interface SessionEvents extends Record<string, unknown> {
  interrupted: { error?: SessionError };
  resumed: { replayed: number };
  closed: { error?: SessionError; userData?: Bytes };
  expedited: Bytes;
  typed: Bytes;
  'tokens-given': TokenName[];
  'tokens-requested': { tokens: TokenName[]; userData: Bytes };
  'sync-minor': { serial: number; confirm: boolean; userData: Bytes };
  activity: SessionEvent;
  exception: { from: 'user' | 'provider'; reason: number; message: string; userData: Bytes };
  'data-discarded': { direction: 'in' | 'out'; count: number };
  /** Every machine event, for tracing and live views. */
  event: SessionEvent;
}

/** How the owner (client or server) sees the machine's events before the session does. */
export interface SessionHooks {
  /** Replaces the default routing; call `session.handleEvent(e)` to pass the event on. */
  onEvent?(event: SessionEvent, session: object): void;
  /**
   * With onEvent: received data may skip onEvent (no `data` event is made) and go straight to
   * the reader; this hears of it instead, before the reader does. Without it, onEvent sees every
   * `data` event.
   */
  onData?(session: object): void;
  onTransportClosed?(session: object, transport: Transport, error?: Error): void;
  /** The encoding between machine and bytes, when not the native one (the ISO 8327 profile). */
  wire?: WireSession;
}

const DEFAULT_RECEIVE_BUFFER = 4 * 1024 * 1024;
/** The handlers of a session given none: every indication accepted (shared, never written). */
const ACCEPT_ALL: IndicationHandlers = Object.freeze({});
/** What send() returns when the data was queued at once (one settled promise serves every call). */
const QUEUED: Promise<void> = Promise.resolve();
/** The options of a send or read given none: shared, never written (no object per call). */
export const NO_OPTIONS: { signal?: AbortSignal } = Object.freeze({});
const enc = new TextEncoder();
const asBytes = (data: Bytes | string): Bytes => (typeof data === 'string' ? enc.encode(data) : data);

// Not `implements DriverOwner`: its methods are internal (stripped from the .d.ts, where the
// clause would then fail consumers' type checks); the driver's constructor checks the shape.
export class Session<E extends SessionEvents = SessionEvents> extends Emitter<E> implements AsyncIterable<Bytes> {
  private readonly inbox: Inbox;
  /** Promises awaiting confirmations, minor sync points and room in the send queue; made on first wait. */
  private waiting: Waiters | undefined;
  private finalError: SessionError | undefined;
  private ended = false;
  /** Set by the server: who authenticated this session. */
  principal: unknown;
  /** Answers to the peer's requests; `setHandlers` replaces them for this session only. */
  private handlers: IndicationHandlers;
  /** Answers to the peer's requests still being produced by a handler (see `send`); made on first use. */
  private answering: Set<Promise<void>> | undefined;

  /** @internal The machine, its transport and its one timer: for the server, the client and tests. */
  readonly driver: Driver;

  constructor(
    machine: SessionMachine,
    options: SessionOptions = {},
    private readonly hooks: SessionHooks = {},
  ) {
    super();
    // The session is the driver's owner and the driver the inbox's flow: methods, not closures.
    this.driver = new Driver(machine, this, undefined, hooks.wire);
    this.inbox = new Inbox(options.maxReceiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER, this.driver);
    this.handlers = options.handlers ?? ACCEPT_ALL;
  }

  /** @internal DriverOwner: a machine event, to the owner's hook or straight to handleEvent. */
  driverEvent(e: SessionEvent): void {
    if (this.hooks.onEvent) this.hooks.onEvent(e, this);
    else this.handleEvent(e);
  }

  /**
   * @internal DriverOwner: received data without a `data` event, straight to the inbox (a
   * waiting reader's promise settles; nothing runs now), unless someone listens for every event
   * or the owner's hook wants `data` events (it has onEvent and no onData).
   */
  driverData(payload: Uint8Array): boolean {
    const hooks = this.hooks;
    if ((hooks.onEvent !== undefined && hooks.onData === undefined) || this.listens('event')) return false;
    hooks.onData?.(this);
    this.inbox.deliver(payload);
    return true;
  }

  /** @internal DriverOwner */
  driverTransportClosed(t: Transport, error?: Error): void {
    this.hooks.onTransportClosed?.(this, t, error);
  }

  /** @internal */
  get machine(): SessionMachine {
    return this.driver.machine;
  }

  /** Emits one of the base session events (subclasses add their own event types to E). */
  private fire<K extends keyof SessionEvents>(type: K, value: SessionEvents[K]): void {
    (this.emit as (t: K, v: SessionEvents[K]) => void)(type, value);
  }
  get id(): string {
    const id = this.machine.sessionId;
    return id ? toHex(id) : '';
  }
  get state(): SessionMachine['state'] {
    return this.machine.state;
  }
  get tokens(): TokenName[] {
    return this.machine.tokens;
  }
  get serial(): number | undefined {
    return this.machine.serial;
  }
  get negotiated(): Negotiated | undefined {
    return this.machine.negotiated;
  }
  get stats(): SessionStats & { receiveBufferBytes: number } {
    return { ...this.machine.stats, receiveBufferBytes: this.inbox.bytes };
  }
  get closed(): boolean {
    return this.ended;
  }
  /** @internal Bytes received and not yet read: `stats.receiveBufferBytes` without the copy of the stats. */
  get receiveBufferBytes(): number {
    return this.inbox.bytes;
  }

  // ---- sending ---------------------------------------------------------------------------

  /**
   * Queues data; waits for room when the send queue is full. Resolves once queued. When the
   * peer's request (a major sync point, a resynchronize, an activity end) blocks new data until
   * it is answered and the handler is producing that answer, waits for the answer to go out
   * first: the application did nothing wrong by sending while the default handler accepts.
   */
  send(data: Bytes | string, options: { signal?: AbortSignal } = NO_OPTIONS): Promise<void> {
    const bytes = asBytes(data);
    // The common case without an async function's machinery: room now, written at once or queued
    // for the flush (see Driver.sendData).
    if (options.signal?.aborted !== true && this.machine.hasRoomFor(bytes.length)) {
      try {
        this.driver.sendData(bytes);
        return QUEUED;
      } catch (error) {
        if (!(error instanceof SessionError && error.code === 'ERR_RESPONSE_REQUIRED' && this.answerComing()))
          return Promise.reject(error);
      }
    }
    return this.sendWhenPossible(bytes, options);
  }

  /** send() once it has to wait: for room in the send queue, or for an answer in flight to go out. */
  private async sendWhenPossible(bytes: Bytes, options: { signal?: AbortSignal }): Promise<void> {
    for (;;) {
      options.signal?.throwIfAborted();
      if (this.machine.hasRoomFor(bytes.length)) {
        try {
          this.machine.sendData(bytes);
        } catch (error) {
          if (!(error instanceof SessionError && error.code === 'ERR_RESPONSE_REQUIRED' && this.answerComing()))
            throw error;
          await this.untilAnswered(options.signal);
          continue;
        }
        this.driver.kick();
        return;
      }
      await this.waitWritable(options.signal);
    }
  }

  /**
   * Whether the request blocking new data is being answered: a handler is producing the answer,
   * or the machine was restored from a snapshot (the old node died) and gives the peer's
   * unanswered requests to the handlers again when it resumes.
   */
  private answerComing(): boolean {
    return !!this.answering?.size || this.machine.awaitingReissue;
  }

  /** Resolves once every answer now in flight has been given (or dropped), or, before a restored session's resume, at its next event. */
  private untilAnswered(signal?: AbortSignal): Promise<void> {
    const all = this.machine.awaitingReissue
      ? new Promise<void>((resolve) => {
          const offs = [this.on('event', done), this.on('closed', done)];
          function done(): void {
            for (const off of offs) off();
            resolve();
          }
        })
      : Promise.all(this.answering ?? []).then(() => undefined);
    if (!signal) return all;
    return new Promise<void>((resolve, reject) => {
      const w = abortable<void>(signal, resolve, reject, () => {});
      void all.then(() => w.resolve());
    });
  }

  /** Answers the peer's request through the handlers, keeping track of the answer in flight. */
  private answer(e: SessionEvent): void {
    const pending = answerIndication(e, this.handlers, this);
    if (!pending) return;
    const answering = (this.answering ??= new Set());
    answering.add(pending);
    void pending.finally(() => answering.delete(pending));
  }

  private waiters(): Waiters {
    return (this.waiting ??= new Waiters());
  }

  private waitWritable(signal?: AbortSignal): Promise<void> {
    return this.ended ? Promise.reject(this.closedError()) : this.waiters().writable(signal);
  }

  private command<T>(fn: (m: SessionMachine) => T): T {
    const result = fn(this.machine);
    this.driver.kick();
    return result;
  }

  sendExpedited(data: Bytes | string): void {
    this.command((m) => m.sendExpedited(asBytes(data)));
  }
  sendTyped(data: Bytes | string): void {
    this.command((m) => m.sendTyped(asBytes(data)));
  }
  giveTokens(tokens: readonly TokenName[]): void {
    this.command((m) => m.giveTokens(tokens));
  }
  requestTokens(tokens: readonly TokenName[], userData?: Bytes): void {
    this.command((m) => m.requestTokens(tokens, userData));
  }
  reportException(reason: number, userData?: Bytes): void {
    this.command((m) => m.reportException(reason, userData));
  }
  startActivity(id: Bytes | string, userData?: Bytes): void {
    this.command((m) => m.startActivity(asBytes(id), userData));
  }
  resumeActivity(id: Bytes | string, oldId: Bytes | string, serial: number, userData?: Bytes): void {
    this.command((m) => m.resumeActivity(asBytes(id), asBytes(oldId), serial, userData));
  }

  /** A minor sync point; with `confirm`, resolves when the peer confirms it. */
  syncMinor(options: { confirm?: boolean; userData?: Bytes; signal?: AbortSignal } = {}): Promise<number> {
    const serial = this.command((m) => m.syncMinor(options));
    if (!options.confirm) return Promise.resolve(serial);
    return this.waiters().minor(serial, options.signal);
  }

  /**
   * Confirms the peer's latest minor sync point that asked for confirmation (see `sync-minor`),
   * or, given `serial`, that earlier point and every one before it (the later ones stay open).
   */
  confirmMinorSync(userData?: Bytes, serial?: number): number {
    return this.command((m) => m.confirmMinorSync(userData, serial));
  }

  /** A major sync point: resolves with its serial once the peer confirms it. */
  syncMajor(userData?: Bytes, options: { signal?: AbortSignal } = {}): Promise<number> {
    this.command((m) => m.syncMajor(userData));
    return this.await('sync-major', options.signal);
  }

  resynchronize(
    type: ResyncTypeName,
    options: { serial?: number; tokens?: readonly TokenName[]; userData?: Bytes; signal?: AbortSignal } = {},
  ): Promise<number> {
    this.command((m) => m.resynchronize(type, options));
    return this.await('resync', options.signal);
  }

  sendCapability(data: Bytes | string, options: { signal?: AbortSignal } = {}): Promise<Bytes> {
    this.command((m) => m.sendCapability(asBytes(data)));
    return this.await('capability', options.signal);
  }

  giveControl(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.command((m) => m.giveControl());
    return this.await('control', options.signal);
  }

  interruptActivity(
    reason = 0,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ activityId: Bytes; serial: number }> {
    this.command((m) => m.interruptActivity(reason));
    return this.await('activity-interrupt', options.signal);
  }

  discardActivity(reason = 0, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.command((m) => m.discardActivity(reason));
    return this.await('activity-discard', options.signal);
  }

  endActivity(userData?: Bytes, options: { signal?: AbortSignal } = {}): Promise<number> {
    this.command((m) => m.endActivity(userData));
    return this.await('activity-end', options.signal);
  }

  /** Orderly release. Resolves true when released, false when the peer refused. */
  release(userData?: Bytes, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    this.command((m) => m.release(userData));
    return this.await('release', options.signal);
  }

  /**
   * Client: present fresh credentials (e.g. a new access token) without reconnecting. Resolves
   * when the server accepts them; rejects with ERR_REFUSED (and the server's message) otherwise,
   * in which case the session goes on under the old credentials.
   */
  refreshCredentials(credentials: Bytes | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.command((m) => m.refreshCredentials(asBytes(credentials)));
    return this.await('reauth', options.signal);
  }

  /**
   * Replaces the answers to the peer's requests for this session only (a service that takes over
   * a served session, e.g. chat arbitrating the data token in a half-duplex room). Handlers left
   * out fall back to accepting.
   */
  setHandlers(handlers: IndicationHandlers): void {
    this.handlers = { ...handlers };
  }

  /** Ends the session at once (S-U-ABORT). */
  abort(message?: string, userData?: Bytes): void {
    this.command((m) => m.abort(message, userData));
  }

  private await<T>(key: string, signal?: AbortSignal): Promise<T> {
    return this.ended ? Promise.reject(this.closedError()) : this.waiters().confirmation<T>(key, signal);
  }

  // ---- receiving -------------------------------------------------------------------------

  [Symbol.asyncIterator](): AsyncIterator<Bytes> {
    // An object with a method, not a closure and its context: an idle reader's ~100 bytes less.
    return new SessionReader(this);
  }

  /**
   * The next received data unit, or done when the session has ended and the buffer is empty.
   * An aborted signal rejects even when data is buffered, so a read loop stops at once.
   */
  read(options: { signal?: AbortSignal } = NO_OPTIONS): Promise<IteratorResult<Bytes>> {
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal));
    if (this.inbox.ready) return Promise.resolve({ value: this.inbox.take(), done: false });
    if (this.ended)
      return this.finalError ? Promise.reject(this.finalError) : Promise.resolve({ value: undefined, done: true });
    return this.inbox.wait(options.signal);
  }

  private closedError(): SessionError {
    return (
      this.finalError ?? new SessionError('ERR_INVALID_STATE', 'the session is closed', 'local', { state: 'closed' })
    );
  }

  // ---- machine events --------------------------------------------------------------------

  /** @internal Called by the client or server for every machine event. */
  handleEvent(e: SessionEvent): void {
    this.fire('event', e);
    switch (e.type) {
      case 'data':
        return this.inbox.deliver(e.payload);
      case 'writable':
        return this.waiting?.wakeWriters();
      case 'expedited':
        return this.fire('expedited', e.payload);
      case 'typed':
        return this.fire('typed', e.payload);
      case 'tokens-given':
        return this.fire('tokens-given', e.tokens);
      case 'tokens-requested':
        this.fire('tokens-requested', { tokens: e.tokens, userData: e.userData });
        return this.answer(e);
      case 'sync-minor':
        return this.fire('sync-minor', { serial: e.serial, confirm: e.confirm, userData: e.userData });
      case 'sync-minor-confirmed':
        // Confirming a point confirms every earlier one (X.225): settle up to the first match.
        return this.waiting?.minorConfirmed(e.serial);
      case 'sync-major-confirmed':
        this.waiting?.settleMinors();
        return this.waiting?.settle('sync-major', e.serial);
      case 'resync-complete':
        this.waiting?.settleMinors(
          new SessionError('ERR_CANCELLED', 'minor sync point abandoned by a resynchronize', 'local', { by: 'resync' }),
        );
        return this.waiting?.settle('resync', e.serial);
      case 'capability-confirmed':
        return this.waiting?.settle('capability', e.payload);
      case 'control-give-confirmed':
        return this.waiting?.settle('control', undefined);
      case 'activity-interrupted':
        this.waiting?.settleMinors(
          new SessionError('ERR_CANCELLED', 'minor sync point left behind by an activity interrupt', 'local', {
            by: 'activity-interrupt',
          }),
        );
        return this.waiting?.settle('activity-interrupt', { activityId: e.activityId, serial: e.serial });
      case 'activity-discarded':
        this.waiting?.settleMinors(
          new SessionError('ERR_CANCELLED', 'minor sync point discarded with its activity', 'local', {
            by: 'activity-discard',
          }),
        );
        return this.waiting?.settle('activity-discard', undefined);
      case 'activity-ended':
        this.waiting?.settleMinors();
        return this.waiting?.settle('activity-end', e.serial);
      case 'release-refused':
        return this.waiting?.settle('release', false);
      case 'reauth-result':
        return this.waiting?.settle(
          'reauth',
          undefined,
          e.accepted
            ? undefined
            : new SessionError('ERR_REFUSED', e.message || 'credentials refused', 'remote', { service: 'reauth' }),
        );
      case 'cancelled':
        if (e.side === 'local')
          this.waiting?.settle(
            e.service,
            undefined,
            new SessionError('ERR_CANCELLED', `${e.service} was superseded by ${e.by}`, 'remote', {
              service: e.service,
              by: e.by,
            }),
          );
        return;
      case 'data-discarded':
        return this.fire('data-discarded', { direction: e.direction, count: e.payloads.length });
      case 'exception':
        return this.fire('exception', { from: e.from, reason: e.reason, message: e.message, userData: e.userData });
      case 'interrupted':
        return this.fire('interrupted', e.error ? { error: e.error } : {});
      case 'resumed':
        return this.fire('resumed', { replayed: e.replayed });
      case 'activity-start':
      case 'activity-resume':
        return this.fire('activity', e);
      case 'closed':
        return this.end(e.error, e.userData);
      case 'resync':
      case 'activity-interrupt':
      case 'activity-discard':
        // The peer moves away from the points we made: it will not confirm them any more.
        this.waiting?.settleMinors(
          new SessionError('ERR_CANCELLED', `minor sync point abandoned by the peer's ${e.type}`, 'remote', {
            by: e.type,
          }),
        );
        return this.answer(e);
      default:
        return this.answer(e);
    }
  }

  private end(error: SessionError | undefined, userData: Bytes | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.finalError = error;
    this.waiting?.settle('release', true);
    const gone =
      error ?? new SessionError('ERR_INVALID_STATE', 'the session was released', 'local', { state: 'closed' });
    this.waiting?.failConfirmations(gone);
    this.waiting?.settleMinors(gone);
    this.inbox.end(error);
    this.waiting?.wakeWriters();
    this.fire('closed', userData ? { error, userData } : { error });
  }
}

/** The iterator `for await (const data of session)` uses: each `next()` is a `read()`. */
class SessionReader implements AsyncIterator<Bytes> {
  constructor(private readonly session: { read(): Promise<IteratorResult<Bytes>> }) {}
  next(): Promise<IteratorResult<Bytes>> {
    return this.session.read();
  }
}
