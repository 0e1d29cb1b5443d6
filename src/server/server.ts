// Server: accepts transports on any mix of endpoints, turns first frames into sessions.
//
// Theory of operation
//   A new transport is *pending* until its first frame arrives (within handshakeTimeoutMs, at
//   most maxPendingHandshakes at once, the frame no larger than maxFrameSize):
//     CONNECT -> a new acceptor machine with a random 128-bit session ID and resume secret; the
//                `authenticate` hook sees the credentials and returns a principal (or throws a
//                Refusal, whose message the client sees); maxSessions caps live sessions.
//     RESUME  -> the transport is attached to the session with that ID; the machine checks the
//                secret in constant time. The secret was issued to the authenticated principal
//                and only to it, so a resumed session keeps its principal.
//     other   -> ABORT (protocol error) and close.
//   A session whose transport drops stays for its resume window with bounded buffers; when it
//   ends, a tombstone remembers why (expired, closed, overflowed, and the code and message of
//   the error that ended it) so a late RESUME gets the right refusal, bounded in number; with
//   durability the tombstone is in the store too, so another node's refusal says the same.
//   close() stops accepting, then ends every session concurrently under one deadline
//   (closeTimeoutMs), so the time to stop does not grow with the number of sessions:
//     release   (default) each connected session is asked for the tokens its release needs and
//               released; whatever has not ended at the deadline (a client that never answers,
//               one waiting for resume) is aborted.
//     handover  (durable servers only) nothing is released: each session stops reading, lets
//               its last inputs be persisted, and this copy ends without a word to the peer
//               (ERR_HANDED_OVER, no tombstone), so its client resumes on another node that
//               shares the store. A session that cannot be handed over in time is aborted.
//   Aborting takes time too, so the sessions still waiting are cut in batches early enough, at
//   a measured pace, that the last abort is done by the deadline (abort-pacer.ts); the others
//   go on releasing (or handing over) meanwhile. The per-session work is in shutdown.ts.
//   It reports how many sessions ended each way (CloseReport). destroy() aborts all at once.

import { randomFillSync } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { toHex } from '../engine/bytes.js';
import { encodeAcceptInfo } from '../engine/accept-info.js';
import { encodeFrame } from '../engine/codec/index.js';
import { SessionError } from '../engine/errors.js';
import { PendingConnection, turnAway } from '../engine/endpoint.js';
import type { TurnAway } from '../engine/endpoint.js';
import { AbortReason, RefuseReason, ResumeRefuseReason } from '../engine/frames.js';
import type { RefuseReasonValue, ResumeFrame, ResumeRefuseReasonValue } from '../engine/frames.js';
import { answerReleasedResume, DEFAULTS, SessionMachine } from '../engine/machine/index.js';
import type { MachineOptions, Negotiated, ReleasedEnd, SessionEvent } from '../engine/machine/index.js';
import { closeWithLinger, monotonic } from '../driver/driver.js';
import { Emitter } from '../util/emitter.js';
import { Session } from '../driver/session.js';
import type { SessionHooks, SessionOptions } from '../driver/session.js';
import type { Transport, TransportKind } from '../transport/transport.js';
import { NO_HANDLERS } from '../transport/transport.js';
import { forgetHeaders } from '../transport/ws-transport.js';
import { MUX_PREFACE, MuxConnection } from '../mux/mux-connection.js';
import { DurableSessions } from './durable.js';
import type { DurabilityOptions, DurableHold } from './durable.js';
import { storeUnreachable } from './persist-retry.js';
import { serverProfiles, type ProfileEndpoint, type ServerProfiles } from './profiles.js';
import { openEndpoints } from './endpoints.js';
import { AddressLimits, type AddressLimitOptions } from './address-limits.js';
import { HeldBudget } from './held-budget.js';
import { endSessions } from './shutdown.js';
import type { SessionCounts, StopMode } from './shutdown.js';
import * as diagnostics from './diagnostics.js';
export { CHANNELS } from './diagnostics.js';
import type { EndpointOptions, OpenEndpoints } from './endpoints.js';
import type {} from '../driver/errors.js';
import type {} from './errors.js';
import type {} from '../store/errors.js';

export interface AuthRequest {
  credentials: Uint8Array;
  /** Set when a live session presents fresh credentials: who it was authenticated as until now. */
  refresh?: { principal: unknown };
  userData: Uint8Array;
  remoteAddress: string;
  transport: TransportKind;
  proposal: Negotiated;
  /**
   * ws/wss: the HTTP upgrade request's headers (the session cookie, an Authorization header), on
   * the connect's request only: the server lets go of them then, and a refresh carries none.
   */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** ws/wss: true when the upgrade came over TLS (wss). */
  secure?: boolean;
}

/** Throw this from `authenticate` to refuse; the message reaches the client. */
export class Refusal extends Error {
  override name = 'Refusal';
  constructor(
    message: string,
    readonly reason: 'unauthorized' | 'rejected' | 'congested' = 'unauthorized',
  ) {
    super(message);
  }
}

export interface ServerOptions
  extends
    Omit<MachineOptions, 'role' | 'sessionId' | 'resumeSecret' | 'credentials' | 'userData'>,
    SessionOptions,
    EndpointOptions,
    AddressLimitOptions,
    ServerProfiles {
  /** Returns the principal for these credentials, or throws a Refusal. Default: anyone, principal null. */
  authenticate?: (request: AuthRequest) => unknown;
  /** Live sessions (connected or waiting for resume). Default 10,000. */
  maxSessions?: number;
  /** Transports that have not sent their first frame yet. Default 1,000. */
  maxPendingHandshakes?: number;
  /**
   * Bytes all sessions together may hold for their peers (sent and unacknowledged, or not yet
   * sent, kept through the resume window). Past it the session holding the most is aborted
   * (ERR_BUDGET_EXCEEDED, reason buffer-overflow): src/server/held-budget.ts. Default 512 MiB.
   */
  maxHeldBytes?: number;
  /** Tombstones kept to answer late resumes precisely. Default 10,000. */
  maxTombstones?: number;
  /** Sessions one multiplexed connection may carry at once. Default 1024. */
  maxChannelsPerConnection?: number;
  /**
   * Keep the resume state of every session in a store, write-ahead, so a client can resume on
   * any node sharing that store after the node holding its session died (src/server/durable.ts).
   * Default: memory only (a session dies with its node).
   */
  durability?: DurabilityOptions;
  /**
   * REAUTH: may fresh credentials switch a live session to another principal? Default false:
   * the refresh is refused (the session keeps its principal) unless the hook's answer names the
   * same principal (samePrincipal).
   */
  allowPrincipalChange?: boolean;
  /**
   * close(): the deadline for the whole stop, however many sessions there are; sessions not
   * released (or handed over) by then are aborted. Default 10 s (DEFAULT_CLOSE_TIMEOUT_MS).
   */
  closeTimeoutMs?: number;
}

export type { StopMode } from './shutdown.js';
export { STOP_REASON_TEXT } from './shutdown.js';

export interface CloseOptions {
  /** Default 'release'. 'handover' needs `durability` (a store other nodes share). */
  mode?: StopMode;
  /** Overrides `closeTimeoutMs` for this call. */
  timeoutMs?: number;
  /**
   * Called once if the deadline passes with sessions still waiting, just before they are all
   * aborted at once: the report is final then (those left are counted aborted), though close()
   * resolves only once their aborts are done. A process that must be gone by its deadline (serve)
   * reports and exits here; the kernel closes what is left.
   */
  onDeadline?: (report: CloseReport) => void;
}

/** What close() did with the sessions it found: every one is counted once. */
export interface CloseReport {
  mode: StopMode;
  /** Ended by an orderly release. */
  released: number;
  /** Left in the store for another node, this copy ended without a word to the client. */
  handedOver: number;
  /** Ended by an abort: at the deadline, not connected (release mode), or refused to release. */
  aborted: number;
  elapsedMs: number;
}

/** maxSessions's default. */
export const DEFAULT_MAX_SESSIONS = 10_000;
/** maxPendingHandshakes's default. */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 1000;
/** maxHeldBytes's default: 512 MiB. */
export const DEFAULT_MAX_HELD_BYTES = 512 * 1024 * 1024;

/** closeTimeoutMs's default: the whole stop, however many sessions. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

export interface ServerEvents extends Record<string, unknown> {
  session: Session;
  /** A transport was turned away before it carried a session (why, and from where). */
  rejected: { error: SessionError; remoteAddress: string };
}

const REFUSE_CODES: Record<Refusal['reason'], RefuseReasonValue> = {
  unauthorized: RefuseReason.unauthorized,
  rejected: RefuseReason.rejected,
  congested: RefuseReason.congested,
};

/**
 * Why a recently ended session ended. A released one keeps its closed machine: a client that
 * lost the end of the release in a cut resumes, and the machine answers it (RESUMED with its
 * count, and its DISCONNECT again if the client lacks it), so the client closes normally.
 */
interface Tombstone {
  reason: ResumeRefuseReasonValue;
  why?: string;
  released?: SessionMachine;
}

export class Server extends Emitter<ServerEvents> {
  /** Live sessions by id (connected or waiting for resume); only the server changes it. */
  private readonly live = new Map<string, Session>();
  /** The live sessions by id (connected or waiting for resume), as a read-only view. */
  get sessions(): ReadonlyMap<string, Session> {
    return this.live;
  }
  /** Why each recently ended session ended: the refusal reason and, when an error ended it, its code and message. */
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly pending = new Set<Transport>();
  private endpoints: OpenEndpoints | null = null;
  /** The endpoints of protocol profiles (src/server/profiles.ts), by their ServerOptions key. */
  private readonly profileEndpoints = new Map<string, ProfileEndpoint>();
  private closing = false;
  private readonly durable: DurableSessions | null;

  private readonly addressLimits: AddressLimits;
  /** Per-address session slots, by session id, released when the session closes. */
  private readonly addressSlots = new Map<string, () => void>();
  /** Each durable session's incarnation in the store (src/server/durable.ts, DurableHold). */
  private readonly holds = new WeakMap<Session, DurableHold>();
  private readonly budget: HeldBudget;
  /** The machine options every accepted session inherits (made at the first). */
  private acceptorOptions: MachineOptions | undefined;

  constructor(private readonly options: ServerOptions = {}) {
    super();
    this.addressLimits = new AddressLimits(options);
    this.budget = new HeldBudget(options.maxHeldBytes ?? DEFAULT_MAX_HELD_BYTES);
    this.durable = options.durability
      ? new DurableSessions(options.durability, options.resumeWindowMs ?? DEFAULTS.resumeWindowMs)
      : null;
  }

  /** Ports actually bound (port 0 picks a free one). */
  get addresses(): OpenEndpoints['addresses'] & { [K in keyof ServerProfiles]?: number } {
    return {
      ...(this.endpoints?.addresses ?? {}),
      ...Object.fromEntries([...this.profileEndpoints].map(([key, endpoint]) => [key, endpoint.port])),
    };
  }

  async start(): Promise<this> {
    this.endpoints = await openEndpoints(this.options, (t) => this.accept(t));
    for (const [key, listen] of serverProfiles()) {
      const own = (this.options as Record<string, unknown>)[key];
      if (!own) continue;
      try {
        this.profileEndpoints.set(
          key,
          await listen({ ...this.options, ...own }, (s) => {
            this.live.set(s.id, s);
            s.on('closed', ({ error }) => {
              this.live.delete(s.id);
              diagnostics.publishSessionEvent(this, s, s.id, error ? { type: 'closed', error } : { type: 'closed' });
            });
            this.emit('session', s);
            diagnostics.publishOpened(this, s, false);
          }),
        );
      } catch (e) {
        await this.endpoints.close();
        await this.closeProfileEndpoints();
        throw e;
      }
    }
    return this;
  }

  private async closeProfileEndpoints(): Promise<void> {
    for (const endpoint of this.profileEndpoints.values()) await endpoint.close();
  }

  /** Takes any transport (the endpoints call this; custom transports may too). */
  accept(transport: Transport): void {
    const refused = this.addressLimits.connection(transport);
    if (refused) return this.turnAway(transport, this.overLimit(refused, transport, false));
    this.admit(transport);
  }

  private overLimit(limit: keyof AddressLimitOptions, transport: Transport, connected: boolean): TurnAway {
    return turnAway.overAddressLimit(limit, this.addressLimits.limit(limit), transport.remoteAddress, connected);
  }

  /**
   * A connection, or a channel of a multiplexed one, until its first frame: the bytes go to a
   * PendingConnection (src/engine/endpoint.ts), which sorts them into open, resume, multiplex or
   * turn-away; this method only owns the transport and the one timer.
   */
  private admit(transport: Transport): void {
    const o = this.options;
    if (this.closing) return this.turnAway(transport, turnAway.shuttingDown());
    if (this.pending.size >= (o.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES))
      return this.turnAway(transport, turnAway.pendingHandshakes());
    const pendingSlot = this.addressLimits.take('pending', transport.remoteAddress);
    if (typeof pendingSlot === 'string') return this.turnAway(transport, this.overLimit(pendingSlot, transport, false));
    this.pending.add(transport);
    const first = new PendingConnection(
      {
        maxFrameSize: o.maxFrameSize ?? DEFAULTS.maxFrameSize,
        handshakeTimeoutMs: o.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
        muxPreface: MUX_PREFACE,
      },
      monotonic(),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (): void => {
      clearTimeout(timer);
      this.pending.delete(transport);
      pendingSlot();
    };
    const settle = (): void => {
      const verdict = first.poll();
      if (!verdict) return;
      done();
      if (verdict.kind === 'turn-away') return this.turnAway(transport, verdict);
      if (verdict.kind === 'multiplex') {
        // A multiplexed connection: each channel it opens is accepted like a transport of its own.
        const mux = new MuxConnection(transport, 'server', (channel) => this.admit(channel), {
          maxChannels: o.maxChannelsPerConnection,
        });
        for (const chunk of verdict.chunks) mux.receive(chunk);
        return;
      }
      transport.setHandlers(NO_HANDLERS);
      if (verdict.kind === 'resume') return this.resume(transport, verdict.frame, verdict.id, verdict.chunks);
      this.connect(transport, verdict.chunks);
    };
    const arm = (): void => {
      const at = first.nextDeadline();
      if (at === undefined) return;
      timer = setTimeout(
        () => {
          first.handleTimeout(monotonic());
          settle();
          arm();
        },
        Math.max(0, Math.ceil(at - monotonic())),
      );
      (timer as { unref?: () => void }).unref?.();
    };
    arm();
    transport.setHandlers({
      data: (chunk) => {
        first.handleBytes(chunk, monotonic());
        settle();
      },
      drain: () => {},
      close: () => done(),
    });
  }

  private resume(transport: Transport, first: ResumeFrame, id: string, chunks: Uint8Array[]): void {
    forgetHeaders(transport); // a resume authenticates by its secret; nothing reads them
    const session = this.live.get(id);
    const refusal = session ? session.machine.checkResume(first.sessionId, first.resumeSecret) : null;
    if (session && refusal === null) {
      // Detached here and durable: another node may have taken it over meanwhile (this one
      // was frozen or cut off); resuming this copy would go back in time.
      if (this.durable && !session.driver.attached) return this.resumeIfOwned(transport, session, id, first, chunks);
      return session.driver.attach(transport, chunks);
    }
    if (session && refusal === ResumeRefuseReason.closed) return this.refuseOnceEnded(transport, session, id);
    if (refusal === ResumeRefuseReason.wrongSecret) return this.turnAway(transport, turnAway.wrongSecret(id));
    if (!session && this.durable && !this.tombstones.has(id))
      return this.restoreFromStore(transport, id, first, chunks);
    const tomb = this.tombstones.get(id);
    if (!session && tomb?.released) return this.answerReleased(transport, tomb.released, first);
    return this.turnAway(
      transport,
      turnAway.ended(id, heardBy(first, refusal ?? tomb?.reason ?? ResumeRefuseReason.unknown), tomb?.why),
    );
  }

  private connect(transport: Transport, chunks: Uint8Array[]): void {
    const limit = this.options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    if (this.live.size >= limit) return this.turnAway(transport, turnAway.full(limit));
    const slot = this.addressLimits.take('sessions', transport.remoteAddress);
    if (typeof slot === 'string') return this.turnAway(transport, this.overLimit(slot, transport, true));
    this.open(transport, chunks, slot);
  }

  /**
   * A RESUME for a session this node does not hold: claim it from the store, if another node
   * left it there and the secret matches the stored hash (checked before the claim).
   */
  private restoreFromStore(transport: Transport, id: string, first: ResumeFrame, chunks: Uint8Array[]): void {
    const durable = this.durable as DurableSessions;
    const secret = first.resumeSecret;
    let closed = false;
    transport.setHandlers({
      data: (c) => {
        chunks.push(c);
      },
      drain: () => {},
      close: () => {
        closed = true;
      },
    });
    const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    let abandoned = false;
    // A claim still running at the timeout is a slow store (a failover, a loaded primary), not a
    // refusal: the client is turned away silently below and redials. What the claim takes once it
    // completes is let go (no session here holds it): the record stays for the node the client
    // resumes on, which claims it over this one.
    const claiming = durable.claim(id, secret, () => !abandoned);
    withTimeout(claiming, timeoutMs, () => {
      abandoned = true;
      claiming.then(
        (late) => {
          if (late !== null && late !== 'wrong-secret') durable.forget(late.hold);
        },
        () => undefined,
      );
      return new SessionError(
        'ERR_STORE_TIMEOUT',
        `the session store did not answer within ${timeoutMs} ms (handshakeTimeoutMs)`,
        'local',
        { op: 'claim' },
      );
    })
      .then((claimed) => {
        if (claimed === 'wrong-secret') {
          return this.turnAway(transport, turnAway.wrongSecret(id));
        }
        if (!claimed) {
          // Ended on another node: a release completes here (the client lost its end in a cut);
          // anything else is refused saying why it ended there, not just that it is unknown here.
          return durable.endedWhy(id, secret).then(
            (ended) => {
              if (ended?.released && !closed) return this.answerFromRecord(transport, ended.released, first.received);
              this.turnAway(
                transport,
                ended === null
                  ? turnAway.ended(id, ResumeRefuseReason.unknown)
                  : turnAway.ended(
                      id,
                      heardBy(first, ended.reason ?? ResumeRefuseReason.closed),
                      ended.why || undefined,
                    ),
              );
            },
            (error: unknown) =>
              // As below: a store that cannot say why now may be back soon (the client redials).
              storeUnreachable(error)
                ? this.turnAway(transport, silentlyAway(turnAway.storeUnavailable(id, error as SessionError)))
                : this.turnAway(transport, turnAway.ended(id, ResumeRefuseReason.unknown)),
          );
        }
        if (this.closing) {
          // close() began while the store answered: this node takes nothing more. Closed without
          // a refusal, as by a node that is down, so the client resumes on another node.
          durable.forget(claimed.hold);
          transport.setHandlers(NO_HANDLERS);
          return closeWithLinger(transport);
        }
        const machine = SessionMachine.restore(claimed.snapshot, this.options, performance.now());
        const session = new Session(machine, this.options, new ServedHooks(this, id, transport));
        session.principal = claimed.principal;
        this.makeDurable(session, claimed.hold);
        this.budget.track(session);
        this.live.set(id, session);
        this.emit('session', session);
        diagnostics.publishOpened(this, session, true);
        if (closed) return; // the client went away meanwhile; it will come back with RESUME
        // Its service ended it on opening: the client hears why instead of a bare refusal.
        if (session.machine.state === 'closed') return this.refuseOnceEnded(transport, session, id);
        session.driver.attach(transport, chunks);
      })
      .catch((error: unknown) => {
        const e =
          error instanceof SessionError ? error : new SessionError('ERR_STORE_UNAVAILABLE', String(error), 'local');
        const refused = turnAway.storeUnavailable(id, e);
        // A store that cannot be reached now (a failover) may be back soon: the connection is
        // closed without a refusal, as by a node that is down, so the client redials (backing
        // off, within its resume window) instead of giving the session up.
        this.turnAway(transport, storeUnreachable(e) ? silentlyAway(refused) : refused);
      });
  }

  /** Attaches the transport if this node still owns the session in the store; else drops this copy and restores the newer one. */
  private resumeIfOwned(
    transport: Transport,
    session: Session,
    id: string,
    first: ResumeFrame,
    chunks: Uint8Array[],
  ): void {
    const durable = this.durable as DurableSessions;
    let closed = false;
    transport.setHandlers({
      data: (c) => {
        chunks.push(c);
      },
      drain: () => {},
      close: () => {
        closed = true;
      },
    });
    const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    const hold = this.holds.get(session);
    void withTimeout(hold ? durable.owns(hold) : Promise.resolve(false), timeoutMs)
      .catch(() => true) // the store does not answer: this copy's next persist will tell
      .then((owned) => {
        if (closed) return;
        if (owned || session.closed) {
          if (session.machine.state === 'closed') return this.refuseOnceEnded(transport, session, id);
          return session.driver.attach(transport, chunks);
        }
        if (hold) durable.forget(hold);
        session.once('closed', () =>
          queueMicrotask(() => {
            if (!closed) this.restoreFromStore(transport, id, first, chunks);
          }),
        );
        session.machine.terminate(
          new SessionError('ERR_STORE_CONFLICT', 'the session was taken over by another node', 'local', { id }),
          false,
        );
        session.driver.kick();
      });
  }

  private makeDurable(session: Session, hold: DurableHold | undefined): void {
    const durable = this.durable;
    if (!durable || !hold) return;
    this.holds.set(session, hold);
    session.driver.durability = {
      persist: (snapshot) => durable.persist(hold, snapshot, session.principal),
      failed: (error) =>
        error instanceof SessionError
          ? error
          : new SessionError('ERR_STORE_UNAVAILABLE', `cannot persist the session: ${error.message}`, 'local'),
    };
  }

  private open(transport: Transport, chunks: Uint8Array[], slot: () => void): void {
    const identity = newIdentity();
    // The server's options are the same for every session: spread once and shared; the identity
    // goes beside them (a spread per session cost a fresh hidden class and descriptors each, ~400
    // bytes; an object inheriting them with the identity on it, 56 bytes and two typed arrays).
    const machine = new SessionMachine((this.acceptorOptions ??= { ...this.options, role: 'acceptor' }), identity);
    const id = toHex(identity.sessionId);
    const session = new Session(machine, this.options, new ServedHooks(this, id, transport));
    this.live.set(id, session);
    this.addressSlots.set(id, slot);
    this.budget.track(session);
    session.driver.attach(transport, chunks);
  }

  /** @internal A session's machine event, through its ServedHooks. */
  sessionEvent(session: Session, id: string, first: Transport, e: SessionEvent): void {
    if (e.type === 'connect-request') {
      const request: AuthRequest = {
        credentials: e.credentials,
        userData: e.userData,
        remoteAddress: first.remoteAddress,
        transport: first.kind,
        proposal: e.proposal,
        ...(first.headers ? { headers: first.headers } : {}),
        ...(first.secure !== undefined ? { secure: first.secure } : {}),
      };
      // Nothing reads the upgrade's headers after this request (a refresh authenticates by its
      // credentials): ~400 bytes an open session need not keep (issue 14).
      forgetHeaders(first);
      // The hook runs within the handshake time too: a hung identity provider cannot hold a slot.
      const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
      withTimeout(
        Promise.resolve().then(() => (this.options.authenticate ? this.options.authenticate(request) : null)),
        timeoutMs,
      )
        .catch((error: unknown) => {
          if (error instanceof SessionError && error.code === 'ERR_CANCELLED')
            throw new Refusal(`authentication did not finish within ${timeoutMs} ms (handshakeTimeoutMs)`, 'rejected');
          throw error;
        })
        .then((principal) => {
          if (session.machine.state !== 'accepting') return;
          session.principal = principal;
          this.makeDurable(session, this.durable?.hold(id)); // the ACCEPT leaves only once the new session is in the store
          // The client learns whether its session can outlive this node (src/engine/accept-info.ts).
          session.machine.accept({ userData: encodeAcceptInfo({ durable: this.durable !== null }) });
          session.driver.kick();
          this.emit('session', session);
          diagnostics.publishOpened(this, session, false);
        })
        .catch((error: unknown) => {
          if (session.machine.state !== 'accepting') return;
          const refusal = error instanceof Refusal ? error : new Refusal('authentication failed', 'unauthorized');
          session.machine.refuse(REFUSE_CODES[refusal.reason], refusal.message);
          diagnostics.publishHandshakeRefused(this, first, { code: 'ERR_REFUSED', message: refusal.message });
          session.driver.kick();
        });
      return;
    }
    if (e.type === 'reauth') {
      const via = session.driver.attached ?? first;
      const request: AuthRequest = {
        credentials: e.credentials,
        userData: new Uint8Array(0),
        remoteAddress: via.remoteAddress,
        transport: first.kind,
        proposal: session.negotiated as Negotiated,
        refresh: { principal: session.principal },
        ...(via.headers ? { headers: via.headers } : {}),
        ...(via.secure !== undefined ? { secure: via.secure } : {}),
      };
      // Bounded like the first authentication, and the identity may not change unless allowed.
      const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
      withTimeout(
        Promise.resolve().then(() =>
          this.options.authenticate ? this.options.authenticate(request) : session.principal,
        ),
        timeoutMs,
      )
        .then((principal) => {
          if (session.closed) return;
          if (!this.options.allowPrincipalChange && !samePrincipal(session.principal, principal)) {
            this.emit('rejected', {
              error: new SessionError(
                'ERR_PRINCIPAL_CHANGED',
                'a credentials refresh named another principal (allowPrincipalChange is off)',
                'remote',
                { service: 'reauth' },
              ),
              remoteAddress: via.remoteAddress,
            });
            session.machine.answerReauth(
              false,
              'the new credentials are for another principal; open a new session to change users',
            );
          } else {
            session.principal = principal;
            session.machine.answerReauth(true);
          }
          session.driver.kick();
        })
        .catch((error: unknown) => {
          if (session.closed) return;
          const timedOut = error instanceof SessionError && error.code === 'ERR_CANCELLED';
          session.machine.answerReauth(
            false,
            timedOut
              ? `authentication did not finish within ${timeoutMs} ms (handshakeTimeoutMs)`
              : error instanceof Refusal
                ? error.message
                : 'credentials refused',
          );
          session.driver.kick();
        });
      return;
    }
    if (e.type === 'closed') {
      // An older copy of a session restored here again closes after its successor took its place.
      if (this.live.get(id) === session) this.live.delete(id);
      this.addressSlots.get(id)?.();
      this.addressSlots.delete(id);
      this.budget.forget(session);
      // Taken over by another node: the session lives on there; no tombstone here, so a RESUME
      // arriving here later is served from the store.
      if (e.error?.code !== 'ERR_STORE_CONFLICT') {
        const why = e.error ? `${e.error.code}: ${e.error.message}` : undefined;
        // Stale state (the store lost its newest write): every node refuses later RESUMEs as stale-state.
        const stale =
          e.error?.code === 'ERR_RESUME_REFUSED' && e.error.details.reason === ResumeRefuseReason.staleState;
        // A release leaves what answers a client that lost its end and resumes on another node.
        const end = e.error ? null : session.machine.releasedEnd();
        const secret = session.machine.resumeSecret;
        const hold = this.holds.get(session);
        if (hold)
          void this.durable?.ended(
            hold,
            why,
            stale ? ResumeRefuseReason.staleState : undefined,
            end && secret ? { end, secret } : undefined,
          );
        this.remember(
          id,
          stale
            ? ResumeRefuseReason.staleState
            : e.error?.code === 'ERR_RESUME_WINDOW_EXPIRED'
              ? ResumeRefuseReason.expired
              : e.error?.code === 'ERR_REPLAY_OVERFLOW'
                ? ResumeRefuseReason.overflowed
                : ResumeRefuseReason.closed,
          why,
          e.error ? undefined : session.machine,
        );
      }
    }
    diagnostics.publishSessionEvent(this, session, id, e);
    session.handleEvent(e);
  }

  private remember(id: string, reason: ResumeRefuseReasonValue, why?: string, released?: SessionMachine): void {
    const max = this.options.maxTombstones ?? 10_000;
    if (max <= 0) return;
    this.tombstones.set(id, released ? { reason, released } : why === undefined ? { reason } : { reason, why });
    while (this.tombstones.size > max) {
      const oldest = this.tombstones.keys().next().value as string;
      this.tombstones.delete(oldest);
    }
  }

  /** A RESUME for a session released here: its closed machine answers, then the transport closes. */
  private answerReleased(transport: Transport, machine: SessionMachine, resume: ResumeFrame): void {
    const now = performance.now();
    transport.setHandlers(NO_HANDLERS);
    machine.handleTransportUp(now);
    machine.handleFrame(resume, now);
    for (let f = machine.pollFrame(now); f; f = machine.pollFrame(now)) transport.write(encodeFrame(f));
    machine.handleTransportDown(now);
    while (machine.pollEvent()) {
      /* a refusal's close-transport: closed below */
    }
    closeWithLinger(transport);
  }

  /**
   * A RESUME for a session released on another node, whose end the store kept: the same answer
   * its machine would give (answerReleasedResume), then the transport closes.
   */
  private answerFromRecord(transport: Transport, end: ReleasedEnd, received: number): void {
    transport.setHandlers(NO_HANDLERS);
    for (const f of answerReleasedResume(end, received)) transport.write(encodeFrame(f));
    closeWithLinger(transport);
  }

  /** RESUME_REFUSED for a session whose machine has closed, once its end (and why) is recorded. */
  private refuseOnceEnded(transport: Transport, session: Session, id: string): void {
    const refuse = (): void => {
      const tomb = this.tombstones.get(id);
      this.turnAway(transport, turnAway.ended(id, tomb?.reason ?? ResumeRefuseReason.closed, tomb?.why));
    };
    if (session.closed) return refuse();
    transport.setHandlers(NO_HANDLERS);
    session.once('closed', () => queueMicrotask(refuse));
  }

  private turnAway(transport: Transport, { error, frame, id }: TurnAway): void {
    this.emit('rejected', { error, remoteAddress: transport.remoteAddress });
    diagnostics.publishTurnedAway(this, transport, error, frame, id);
    transport.setHandlers(NO_HANDLERS);
    if (frame) transport.write(encodeFrame(frame));
    closeWithLinger(transport); // a peer that never reads nor closes does not keep the socket
  }

  /**
   * Ends the live sessions `match` picks because the credentials they were opened with were
   * logged out or revoked (src/web/revocation.ts calls this): a connected client gets an ABORT
   * with reason revoked (ERR_REVOKED there), one waiting to resume is refused when it comes back
   * (the tombstone, and with durability the store, say ERR_REVOKED), here and on every node
   * sharing the store. Sessions still being authenticated are not matched. Returns how many.
   */
  revoke(match: (session: Session) => boolean, message: string): number {
    let ended = 0;
    for (const session of [...this.live.values()]) {
      if (session.closed || session.machine.state === 'accepting' || !match(session)) continue;
      const error = new SessionError('ERR_REVOKED', message, 'local');
      session.driver.input(() => session.machine.terminate(error, true, AbortReason.revoked));
      ended++;
    }
    return ended;
  }

  /** New TLS handshakes use this certificate and key; connections already up keep theirs. */
  setTlsCredentials(credentials: { cert: string | Buffer; key: string | Buffer }): void {
    this.endpoints?.setTlsCredentials(credentials);
  }

  /** False once close() began: the server takes no new transports (a readiness probe says 503). */
  get accepting(): boolean {
    return !this.closing;
  }

  /** True when close() can hand sessions over: they are kept in a store other nodes can share. */
  get canHandOver(): boolean {
    return this.durable !== null;
  }

  /**
   * Stops accepting, then ends every session concurrently under one deadline (see the top of
   * this file). Resolves with what happened to each session once all have ended.
   */
  async close(options: CloseOptions = {}): Promise<CloseReport> {
    const started = performance.now();
    const mode = options.mode ?? 'release';
    if (mode === 'handover' && !this.durable)
      throw new SessionError(
        'ERR_INVALID_STATE',
        'handover needs durable sessions (the durability option with a store other nodes share)',
        'local',
        { state: 'not-durable' },
      );
    this.closing = true;
    await this.endpoints?.close();
    for (const t of [...this.pending]) t.destroy();
    const timeoutMs = options.timeoutMs ?? this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    const { onDeadline } = options;
    const counts = await endSessions(new Map(this.live), {
      mode,
      deadlineAt: started + timeoutMs,
      durable: this.durable
        ? {
            forget: (session: Session) => {
              const hold = this.holds.get(session);
              if (hold) this.durable?.forget(hold);
            },
          }
        : null,
      ...(onDeadline
        ? {
            onDeadline: (c: SessionCounts) =>
              onDeadline({ mode, ...c, elapsedMs: Math.round(performance.now() - started) }),
          }
        : {}),
    });
    await this.closeProfileEndpoints();
    return { mode, ...counts, elapsedMs: Math.round(performance.now() - started) };
  }

  /** Aborts every session and closes every endpoint at once. */
  async destroy(): Promise<void> {
    this.closing = true;
    for (const session of [...this.live.values()]) session.abort('server destroyed');
    for (const t of [...this.pending]) t.destroy();
    await this.endpoints?.close();
    await this.closeProfileEndpoints();
  }
}

/** `p`, or a rejection after `ms` (ERR_CANCELLED, or what `timedOut` makes; `p` itself goes on). */
function withTimeout<T>(p: Promise<T>, ms: number, timedOut?: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(
      () => reject(timedOut ? timedOut() : new SessionError('ERR_CANCELLED', `no answer within ${ms} ms`)),
      ms,
    );
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** A turn-away without its refusal: the transport just closes, as by a node that is down (the client redials). */
function silentlyAway(refused: TurnAway): TurnAway {
  const { frame: _refusal, ...silently } = refused;
  return silently;
}

/**
 * Whether a REAUTH kept the identity: equal values, or the same `principal` name when both are
 * identity objects of the shape { principal: string } (web/realtime.ts's WebIdentity, whose
 * claims change with every refresh).
 */
export function samePrincipal(before: unknown, after: unknown): boolean {
  const name = (p: unknown): unknown =>
    p !== null && typeof p === 'object' && typeof (p as { principal?: unknown }).principal === 'string'
      ? (p as { principal: string }).principal
      : p;
  return isDeepStrictEqual(name(before), name(after));
}

/** A server not yet listening: add listeners with `on(...)`, then `await server.start()`. */
export function createServer(options: ServerOptions): Server {
  return new Server(options);
}

/** Starts a server on the endpoints in `options` (tcp, tls, ws, memory). */
export function listen(options: ServerOptions): Promise<Server> {
  return new Server(options).start();
}

/**
 * The reason as the initiator of `resume` can hear it: one whose RESUME has no `acked` predates
 * stale-state (its decoder would reject the code) and hears invalid instead (docs/protocol.md §7).
 */
function heardBy(resume: ResumeFrame, reason: ResumeRefuseReasonValue): ResumeRefuseReasonValue {
  return reason === ResumeRefuseReason.staleState && resume.acked === undefined ? ResumeRefuseReason.invalid : reason;
}

/** Bytes of random identities handed out per slab: 256 sessions' worth. */
const IDENTITY_SLAB = 8192;
let identitySlab = new Uint8Array(0);
let identityAt = 0;

/**
 * A fresh session ID and resume secret (16 random bytes each): two views of a shared slab, as
 * Node's Buffer pool does, instead of two typed arrays with an ArrayBuffer each (~430 bytes of
 * every session's heap, issue 14). A slab lives while any session it served does.
 */
function newIdentity(): { sessionId: Uint8Array; resumeSecret: Uint8Array } {
  if (identityAt + 32 > identitySlab.length) {
    identitySlab = new Uint8Array(IDENTITY_SLAB);
    randomFillSync(identitySlab);
    identityAt = 0;
  }
  const at = identityAt;
  identityAt += 32;
  return {
    sessionId: identitySlab.subarray(at, at + 16),
    resumeSecret: identitySlab.subarray(at + 16, at + 32),
  };
}

/** A served session's hooks: its id and first transport, and the server its events go to (no closure per session). */
class ServedHooks implements SessionHooks {
  constructor(
    private readonly server: Server,
    private readonly id: string,
    private readonly first: Transport,
  ) {}

  onEvent(e: SessionEvent, session: object): void {
    this.server.sessionEvent(session as Session, this.id, this.first, e);
  }

  /** Received data: the server has nothing to do with it (sessionEvent only passes `data` on), so it goes straight to the reader. */
  onData(): void {}
}
