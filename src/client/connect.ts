// connect(url): a client session that survives its transport.
//
// Theory of operation
//   The first dial must succeed and the handshake must complete, else connect() rejects (a server
//   that closes the connection before accepting, e.g. a full one, is ERR_CONNECT_FAILED at once
//   with reconnect off; with it on, a failed attempt that backs off toward maxAttempts). After
//   that, whenever the transport goes away (network, dead peer, server restart of the socket
//   layer) the client redials with exponential backoff and full jitter
//   (delay = random(0, min(maxDelayMs, initialDelayMs * 2^attempt))) and the machine resumes:
//   both sides replay what the other lacks, so nothing is lost or duplicated. Sends made while
//   interrupted are queued (bounded by maxSendQueueBytes) and go out after the resume.
//   Reconnecting stops when the session closes: released, aborted, resume refused (the event
//   `resume-failed` carries the reason), the resume window ran out, or maxAttempts was reached.
//
//   Whether the server keeps the session where another node can continue it comes with ACCEPT
//   (src/engine/accept-info.ts; `durable`). A session the server keeps in memory only is gone
//   with its node: a redial that finds nothing listening there, or a refusal because the session
//   is unknown, ends it with the plain reason (NODE_GONE_MESSAGE): at once for the refusal, after
//   NODE_GONE_AFTER_MS of refused redials, not after the resume window with a bare refusal.
//
//   With `idleTimeoutMs`, a transport with nothing to do for that long is closed; the session
//   stays, and the next send reopens it transparently (event `idle`, then `resumed`).
//   TLS: the latest session ticket is kept and offered on redial, so reconnects resume TLS too.

import { SessionError } from '../engine/errors.js';
import { decodeAcceptInfo } from '../engine/accept-info.js';
import { ResumeRefuseReason } from '../engine/frames.js';
import type { MachineOptions, MachineSnapshot, SessionEvent } from '../engine/machine/index.js';
import { SessionMachine } from '../engine/machine/index.js';
import { LinkPolicy } from '../engine/link-policy.js';
import type { IdleCheck } from '../engine/link-policy.js';
import { DeadlineTimer } from '../driver/deadline-timer.js';
import { monotonic } from '../driver/driver.js';
import { NO_OPTIONS, Session } from '../driver/session.js';
import type { SessionEvents, SessionOptions } from '../driver/session.js';
import type { Transport } from '../transport/transport.js';
import { schemeConnect, type ProfileSchemes } from './schemes.js';
import { dialer } from './dial.js';
import type { ConnectionPool } from './pool.js';
import type { DialOptions } from './dial.js';
import { httpAnswerHint, parseSessionUrl, wrongEndpointHint } from './url.js';
import type {} from '../driver/errors.js';

export interface ReconnectOptions {
  /** First backoff ceiling. Default 100 ms. */
  initialDelayMs?: number;
  /** Backoff ceiling never exceeds this. Default 5 s. */
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (a failed dial, or a connection closed before the session came up). Default: unbounded (the resume window bounds it). */
  maxAttempts?: number;
}

export interface ConnectOptions
  extends Omit<MachineOptions, 'role' | 'sessionId' | 'resumeSecret' | 'credentials'>, SessionOptions, DialOptions {
  credentials?: Uint8Array | string;
  /** `false` disables reconnecting: a lost transport then ends the session at the resume window. */
  reconnect?: ReconnectOptions | false;
  /** Share transport connections with other sessions to the same URL (channels), and reuse them after a release. */
  pool?: ConnectionPool;
  /** Close an idle transport after this long (the session stays). Default 0: never. */
  idleTimeoutMs?: number;
  /**
   * Go on with an earlier session of this client instead of opening a new one, from a snapshot
   * of its machine (`session.machine.snapshot()`, or the ones a `session.driver.durability` hook
   * receives write-ahead), e.g. kept in sessionStorage across a page reload. The first transport
   * sends RESUME with the snapshot's session ID and secret; connect() resolves once resumed
   * (each side replays what the other lacks) and rejects with ERR_RESUME_REFUSED when the
   * server no longer holds the session. The snapshot's negotiated parameters are kept; these
   * options only set this side's bounds and timers.
   */
  resume?: MachineSnapshot;
  /**
   * Called with the session before its first transport is attached, so a listener or a
   * `session.driver.wire.tap` sees everything from the first frame on (CONNECT, and data that
   * arrives with ACCEPT, before connect() resolves). Used by `colloquy trace` and the chat client.
   */
  onSession?: (session: ClientSession) => void;
  signal?: AbortSignal;
}

/**
 * Why a session kept in memory only ended when its node went away: what every command prints
 * (the error keeps its code, ERR_CONNECT_FAILED or ERR_RESUME_REFUSED, with details.durable false).
 */
export const NODE_GONE_MESSAGE =
  'the server keeps sessions in memory only (no shared store); the node that held this session is gone, so it could not continue; run the command again';

/**
 * A session kept in memory only ends (NODE_GONE_MESSAGE) once its redials have found nothing
 * listening for this long: a node that restarts has lost the session anyway (its RESUME is then
 * refused as unknown, at once), but a proxy in front of a live node may be restarting.
 */
export const NODE_GONE_AFTER_MS = 5000;

export interface ClientEvents extends SessionEvents {
  reconnecting: { attempt: number; delayMs: number };
  'resume-failed': SessionError;
  /** The idle transport was closed; the next send reopens it. */
  idle: undefined;
}

export class ClientSession extends Session<ClientEvents> {
  /** Redial and idle decisions (src/engine/link-policy.ts); this class only carries them out. */
  private readonly link: LinkPolicy;
  /** The one timer: armed at link.nextDeadline(). */
  private readonly timer = new DeadlineTimer(monotonic, () =>
    this.linkInput((now) => this.link.handleTimeout(now, () => this.idleCheck())),
  );

  /**
   * Whether the server keeps this session where another node can continue it (said in its
   * ACCEPT); undefined before the session is up, for a session resumed from a snapshot, or when
   * the server did not say (an older one).
   */
  durable: boolean | undefined;
  /** Since when every redial found nothing listening (ECONNREFUSED), or null. */
  private refusedSince: number | null = null;

  constructor(
    machine: SessionMachine,
    private readonly dial: (signal?: AbortSignal) => Promise<Transport>,
    private readonly opts: ConnectOptions,
  ) {
    super(machine, opts, {
      onEvent: (e, s) => (s as ClientSession).onMachineEvent(e),
      // Received data without a `data` event: the link policy hears of it as onMachineEvent would.
      onData: (s) => (s as ClientSession).link.handleActivity((s as ClientSession).driver.inputTime),
      onTransportClosed: (s) => (s as ClientSession).onTransportClosed(),
    });
    const r = opts.reconnect || {};
    this.link = new LinkPolicy(
      {
        reconnect: opts.reconnect !== false,
        initialDelayMs: r.initialDelayMs ?? 100,
        maxDelayMs: r.maxDelayMs ?? 5000,
        ...(r.maxAttempts === undefined ? {} : { maxAttempts: r.maxAttempts }),
        idleTimeoutMs: opts.idleTimeoutMs ?? 0,
      },
      Math.random,
      monotonic(),
    );
  }

  override send(data: Uint8Array | string, options: { signal?: AbortSignal } = NO_OPTIONS): Promise<void> {
    // Activity is all the link policy needs to hear, unless the transport was closed as idle.
    if (this.link.idle)
      this.linkInput((now) => {
        this.link.handleActivity(now);
        this.link.handleReopen(now);
      });
    else this.link.handleActivity(this.driver.clockNow());
    return super.send(data, options);
  }

  private onMachineEvent(e: SessionEvent): void {
    if (e.type === 'data') this.link.handleActivity(this.driver.inputTime);
    if (e.type === 'established') this.durable = decodeAcceptInfo(e.userData)?.durable;
    if (e.type === 'closed' && e.error && this.durable === false && nodeGone(e.error))
      e = { ...e, error: lostWithNode(e.error) };
    if (e.type === 'closed') {
      this.linkInput(() => this.link.handleClosed());
      if (e.error?.code === 'ERR_RESUME_REFUSED') this.emit('resume-failed', e.error);
    }
    if (e.type === 'resumed' || e.type === 'established') this.linkInput((now) => this.link.handleUp(now));
    this.handleEvent(e);
  }

  private onTransportClosed(): void {
    if (this.machine.state === 'closed') return;
    this.linkInput((now) => this.link.handleTransportDown(now));
  }

  /** One input to the link policy, then carry out what it decided and re-arm the timer. */
  private linkInput(fn: (now: number) => void): void {
    fn(monotonic());
    for (let a = this.link.poll(); a; a = this.link.poll()) {
      if (a.type === 'reconnecting') this.emit('reconnecting', { attempt: a.attempt, delayMs: a.delayMs });
      else if (a.type === 'dial') void this.redial();
      else if (a.type === 'give-up') {
        this.machine.terminate(this.giveUpError(a.attempts, a.closedBeforeUp));
        this.driver.kick();
      } else {
        this.emit('idle', undefined);
        this.driver.dropTransport();
      }
    }
    this.armTimer();
  }

  private giveUpError(attempts: number, closedBeforeUp: boolean): SessionError {
    if (!closedBeforeUp)
      return new SessionError(
        'ERR_CONNECT_FAILED',
        `gave up reconnecting after ${attempts} attempts (reconnect.maxAttempts)`,
        'local',
        { attempts },
      );
    const tries = this.opts.reconnect === false ? '' : ` (${attempts} attempts, reconnect.maxAttempts)`;
    const todo =
      this.opts.reconnect === false
        ? 'retry later, or connect with reconnect enabled to retry with backoff'
        : 'retry later, or raise reconnect.maxAttempts';
    return new SessionError(
      'ERR_CONNECT_FAILED',
      `the server closed the connection before the session was ${this.machine.sessionId ? 'resumed' : 'accepted'}${tries}: it may be full (its maxPendingHandshakes or maxChannelsPerConnection) or shutting down; ${todo}`,
      'remote',
      { attempts, cause: 'closed-before-accept' },
    );
  }

  private async redial(): Promise<void> {
    let transport: Transport;
    try {
      transport = await this.dial();
    } catch (error) {
      if (this.machine.state === 'closed') return;
      const now = monotonic();
      if (this.durable === false && nothingListens(error)) this.refusedSince ??= now;
      else this.refusedSince = null;
      if (this.refusedSince !== null && now - this.refusedSince >= NODE_GONE_AFTER_MS) {
        // Kept in memory only, and nothing has listened where its node was for a while (longer
        // than a proxy in front of a live node takes to restart): it died with the node.
        const cause = error instanceof Error ? error.message : String(error);
        this.machine.terminate(
          new SessionError('ERR_CONNECT_FAILED', `cannot resume: ${cause}`, 'remote', { cause, nodeGone: true }),
          false,
        );
        this.driver.kick();
        return;
      }
      this.linkInput((now) => this.link.handleDialFailed(now));
      return;
    }
    this.refusedSince = null;
    if (this.machine.state === 'closed') {
      transport.destroy();
      return;
    }
    this.linkInput((now) => this.link.handleDialed(now));
    this.driver.attach(transport);
  }

  private idleCheck(): IdleCheck {
    if (this.machine.state !== 'established' || !this.driver.attached) return 'not-established';
    const s = this.machine.stats;
    return s.replayFrames === 0 && s.queuedBytes === 0 ? 'quiet' : 'in-flight';
  }

  private armTimer(): void {
    // With a transport attached (an idle check), the socket decides whether the process lives.
    // Without one, this timer is the session's only hold on the process: the redial it waits for
    // must run (bounded by maxAttempts and the resume window), or a program awaiting the session
    // would exit mid-work with nothing printed.
    this.timer.set(this.link.nextDeadline(), { unref: this.driver.attached !== null });
  }
}

/** A dial error that says no process listens at the address (the node is not there). */
function nothingListens(error: unknown): boolean {
  const e = error as { code?: unknown; details?: { address?: unknown } } | null;
  if (e?.code === 'ECONNREFUSED') return true;
  // A memory listener that is gone; a WebSocket refusal may be a proxy's answer, so it is not counted.
  return (
    e?.code === 'ERR_TRANSPORT_REFUSED' &&
    typeof e.details?.address === 'string' &&
    e.details.address.startsWith('memory:')
  );
}

/** An end that means the node holding the session is gone (for a session kept in memory only). */
function nodeGone(error: SessionError): boolean {
  if (error.code === 'ERR_RESUME_REFUSED') return error.details['reason'] === ResumeRefuseReason.unknown;
  return error.code === 'ERR_CONNECT_FAILED' && error.details['nodeGone'] === true;
}

function lostWithNode(error: SessionError): SessionError {
  return new SessionError(error.code, NODE_GONE_MESSAGE, error.origin, {
    ...error.details,
    durable: false,
    cause: error.message,
  });
}

/** The options and the session of a scheme a protocol profile registered (src/client/schemes.ts). */
type SchemeOptions<S extends keyof ProfileSchemes> = ProfileSchemes[S] extends { options: infer O } ? O : never;
type SchemeSession<S extends keyof ProfileSchemes> = ProfileSchemes[S] extends { session: infer T } ? T : never;

/**
 * Opens a session to `url`: tcp://, tls://, ws://, wss://, memory:// (the native protocol, with
 * reconnect and resume), or a scheme a protocol profile registered: iso://host:port (ISO 8327
 * over TPKT/COTP: the same Session API, without resume, which X.225 cannot carry; see
 * docs/iso8327.md), registered by the package's entry points.
 */
export function connect<S extends keyof ProfileSchemes & string>(
  url: `${S}://${string}`,
  options?: SchemeOptions<S>,
): Promise<SchemeSession<S>>;
export function connect(url: string, options?: ConnectOptions): Promise<ClientSession>;
export async function connect(url: string, options: unknown = {}): Promise<unknown> {
  const profile = schemeConnect(url);
  if (profile) return profile(url, options as object);
  return connectNative(url, options as ConnectOptions);
}

async function connectNative(url: string, options: ConnectOptions): Promise<ClientSession> {
  const endpoint = parseSessionUrl(url);
  const credentials =
    typeof options.credentials === 'string' ? new TextEncoder().encode(options.credentials) : options.credentials;
  if (options.resume && options.resume.role !== 'initiator')
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      'connect({ resume }) takes a snapshot of a client (initiator) session',
    );
  const machine = options.resume
    ? SessionMachine.restore(options.resume, { ...options, credentials }, monotonic())
    : new SessionMachine({ ...options, role: 'initiator', credentials });
  const direct = dialer(endpoint, options);
  const pool = options.pool;
  const dial = pool ? () => pool.channel(url, () => direct()) : direct;
  const session = new ClientSession(machine, dial, options);
  options.onSession?.(session);
  let transport: Transport;
  try {
    transport = await dial(options.signal);
  } catch (e) {
    const cause = e instanceof Error ? e.message : String(e);
    throw new SessionError(
      'ERR_CONNECT_FAILED',
      `cannot reach ${url}: ${cause}${wrongEndpointHint(endpoint, cause) ?? ''}`,
      'local',
      { cause, url },
    );
  }
  await new Promise<void>((resolve, reject) => {
    // `signal` aborts the connect only: once established it must not end the session later.
    const offEvent = session.on('event', (e) => {
      if (e.type === 'established' || e.type === 'resumed') {
        offEvent();
        offClosed();
        options.signal?.removeEventListener('abort', onAbort);
        resolve();
      }
    });
    const offClosed = session.on('closed', ({ error }) => {
      offEvent();
      offClosed();
      options.signal?.removeEventListener('abort', onAbort);
      reject(
        httpAnswerHint(endpoint, url, error) ??
          error ??
          new SessionError('ERR_CONNECT_FAILED', 'the session closed during the handshake', 'remote'),
      );
    });
    const onAbort = (): void => {
      session.abort('connect aborted');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    session.driver.attach(transport);
  });
  return session;
}
