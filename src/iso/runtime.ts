// The ISO 8327 runtime: connectIso('iso://host:port') and listenIso({ port }, onSession) give the
// same Session API as connect() and listen(), over RFC 1006 / ISO 8073 class 0 / X.225.
//
// What differs from a native session, because X.225 has no such thing:
//   - no resume: a lost transport ends the session (ERR_ABORTED); no reconnect, no heartbeats;
//   - no credentials and no refreshCredentials() (ERR_UNIT_NOT_SELECTED, details.profile 'iso8327');
//   - no simplex mode (a Colloquy extension): the proposal is full and/or half duplex;
//   - X.225's own limits apply to each command before anything is queued: expedited data 14
//     octets, activity identifiers 6, user data 512 in version 1 (9 in an abort), capability
//     data 512, and with libiec61850 mode one-octet lengths (about 230 octets of user data).
// Answers to indications given by handlers go through the machine directly; a handler answer
// that breaks a limit aborts the session with the limit in the error.

import { randomBytes } from 'node:crypto';
import { SessionError } from '../engine/errors.js';
import type { RefuseReasonValue, ResyncTypeName, TokenName } from '../engine/frames.js';
import { RefuseReason } from '../engine/frames.js';
import { DEFAULTS, SessionMachine } from '../engine/machine/index.js';
import type { MachineOptions, SessionEvent } from '../engine/machine/index.js';
import { Session } from '../driver/session.js';
import type { SessionHooks, SessionOptions } from '../driver/session.js';
import { connectTcp, listenTcp } from '../transport/tcp.js';
import type { Transport } from '../transport/transport.js';
import { checkLimits, unavailable } from './frame-map.js';
import { IsoWire } from './iso-session.js';
import type { IsoWireOptions } from './iso-options.js';
import { MAX_ACTIVITY_ID } from './spdu-codes.js';
import type { SpduType } from './spdu-codes.js';
import type { Spdu } from './spdu.js';
import type {} from '../client/errors.js';
import type {} from '../driver/errors.js';

type Bytes = Uint8Array;

export const ISO_DEFAULT_PORT = 102;

/** Profile options shared by both sides (see IsoWireOptions for each). */
export type IsoProfileOptions = Omit<IsoWireOptions, 'role'>;

type MachineBase = Omit<
  MachineOptions,
  'role' | 'sessionId' | 'resumeSecret' | 'credentials' | 'heartbeatMs' | 'resumeWindowMs' | 'replayOverflow'
>;

export interface IsoConnectOptions extends MachineBase, SessionOptions, IsoProfileOptions {
  signal?: AbortSignal;
}

const enc = new TextEncoder();
const asBytes = (data: Bytes | string): Bytes => (typeof data === 'string' ? enc.encode(data) : data);

/** A Session over ISO 8327: the same API, X.225's limits checked up front, resume and reauth unavailable. */
export class IsoSession extends Session {
  readonly wire: IsoWire;

  constructor(machine: SessionMachine, options: SessionOptions, wireOptions: IsoWireOptions, hooks: SessionHooks = {}) {
    const wire = new IsoWire(machine, wireOptions);
    super(machine, options, { ...hooks, wire });
    this.wire = wire;
  }

  /** The peer's CN (acceptor) and its AC, RF or AB (initiator), as decoded. */
  get peerConnect(): Spdu | undefined {
    return this.wire.peerConnect;
  }
  get peerAnswer(): Spdu | undefined {
    return this.wire.peerAnswer;
  }
  /** The X.225 protocol version agreed at connect (negotiated.version is the machine's own). */
  get isoVersion(): 1 | 2 {
    return this.wire.version;
  }
  /** The COTP connection: TPDU size and TSAPs. */
  get cotp(): IsoWire['cotp'] {
    return this.wire.cotp;
  }

  private fits(type: SpduType, data: Bytes | undefined): void {
    if (data)
      checkLimits(
        type === 'EX' ? { type, userInfo: data } : { type, userData: data },
        { version: this.wire.version, compat: this.wire.compat },
        false,
      );
  }

  private activityId(id: Bytes, what: string): void {
    if (id.length > MAX_ACTIVITY_ID)
      throw new SessionError(
        'ERR_INVALID_ARGUMENT',
        `${what} of ${id.length} octets: X.225 activity identifiers hold at most ${MAX_ACTIVITY_ID}`,
        'local',
        { length: id.length, limit: MAX_ACTIVITY_ID },
      );
  }

  override sendExpedited(data: Bytes | string): void {
    this.fits('EX', asBytes(data));
    super.sendExpedited(data);
  }
  override requestTokens(tokens: readonly TokenName[], userData?: Bytes): void {
    this.fits('PT', userData);
    super.requestTokens(tokens, userData);
  }
  override reportException(reason: number, userData?: Bytes): void {
    this.fits('ED', userData);
    super.reportException(reason, userData);
  }
  override startActivity(id: Bytes | string, userData?: Bytes): void {
    this.activityId(asBytes(id), 'an activity identifier');
    this.fits('AS', userData);
    super.startActivity(id, userData);
  }
  override resumeActivity(id: Bytes | string, oldId: Bytes | string, serial: number, userData?: Bytes): void {
    this.activityId(asBytes(id), 'an activity identifier');
    this.activityId(asBytes(oldId), 'the old activity identifier');
    this.fits('AR', userData);
    super.resumeActivity(id, oldId, serial, userData);
  }
  override syncMinor(options: { confirm?: boolean; userData?: Bytes; signal?: AbortSignal } = {}): Promise<number> {
    this.fits('MIP', options.userData);
    return super.syncMinor(options);
  }
  override confirmMinorSync(userData?: Bytes, serial?: number): number {
    this.fits('MIA', userData);
    return super.confirmMinorSync(userData, serial);
  }
  override syncMajor(userData?: Bytes, options: { signal?: AbortSignal } = {}): Promise<number> {
    this.fits('MAP', userData);
    return super.syncMajor(userData, options);
  }
  override resynchronize(
    type: ResyncTypeName,
    options: { serial?: number; tokens?: readonly TokenName[]; userData?: Bytes; signal?: AbortSignal } = {},
  ): Promise<number> {
    this.fits('RS', options.userData);
    return super.resynchronize(type, options);
  }
  override sendCapability(data: Bytes | string, options: { signal?: AbortSignal } = {}): Promise<Bytes> {
    this.fits('CD', asBytes(data));
    return super.sendCapability(data, options);
  }
  override endActivity(userData?: Bytes, options: { signal?: AbortSignal } = {}): Promise<number> {
    this.fits('AE', userData);
    return super.endActivity(userData, options);
  }
  override release(userData?: Bytes, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    this.fits('FN', userData);
    return super.release(userData, options);
  }
  override abort(message?: string, userData?: Bytes): void {
    this.fits('AB', userData);
    super.abort(message, userData);
  }
  override refreshCredentials(): Promise<void> {
    return Promise.reject(unavailable('credentials refresh (REAUTH)'));
  }
}

/**
 * The machine's options for an ISO session. libiec61850 mode proposes what MMS peers use,
 * duplex and no other unit (requirements 0x0002), unless told otherwise: libiec61850 echoes the
 * proposed requirements instead of choosing, so proposing both dialogue modes would come back as
 * an AC selecting both, which X.225 forbids.
 */
function machineOptions(
  o: MachineBase & { libiec61850?: boolean },
  role: 'initiator' | 'acceptor',
): MachineBase & { heartbeatMs: 0; resumeWindowMs: 0 } {
  const compat = role === 'initiator' && o.libiec61850;
  const modes = o.modes ?? (compat ? ['fullDuplex'] : ['fullDuplex', 'halfDuplex']);
  const units = o.units ?? (compat ? [] : undefined);
  if (modes.includes('simplex'))
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      'simplex is a Colloquy extension that X.225 cannot carry; propose fullDuplex and/or halfDuplex',
      'local',
      { modes },
    );
  return { ...o, modes, ...(units ? { units } : {}), heartbeatMs: 0, resumeWindowMs: 0 };
}

/** host and port of iso://host[:port] (or a bare host[:port]); the port defaults to 102. */
export function parseIsoAddress(input: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(input.includes('://') ? input : `iso://${input}`);
  } catch {
    throw new SessionError('ERR_INVALID_URL', `'${input}' is not an iso://host:port address`, 'local', { url: input });
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : ISO_DEFAULT_PORT;
  if (u.protocol !== 'iso:' || !host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new SessionError('ERR_INVALID_URL', `'${input}' is not an iso://host:port address`, 'local', { url: input });
  }
  return { host, port };
}

/** Opens an ISO 8327 session: TCP, COTP CR/CC, then CN/AC. Rejects with the peer's RF, AB or DR. */
export async function connectIso(url: string, options: IsoConnectOptions = {}): Promise<IsoSession> {
  const { host, port } = parseIsoAddress(url);
  const machine = new SessionMachine({ ...machineOptions(options, 'initiator'), role: 'initiator' });
  const session = new IsoSession(machine, options, { ...options, role: 'initiator' });
  let transport: Transport;
  try {
    transport = await connectTcp({ host, port, signal: options.signal });
  } catch (e) {
    const cause = e instanceof Error ? e.message : String(e);
    throw new SessionError('ERR_CONNECT_FAILED', `cannot reach ${url}: ${cause}`, 'local', { cause, url });
  }
  await new Promise<void>((resolve, reject) => {
    const offEvent = session.on('event', (e) => {
      if (e.type === 'established') {
        done();
        resolve();
      }
    });
    const offClosed = session.on('closed', ({ error }) => {
      done();
      const e = error ?? new SessionError('ERR_CONNECT_FAILED', 'the session closed during the handshake', 'remote');
      // The peer's answer (RF with its reason, AB) and the COTP connection, if one was made, go
      // with the error, as decoded: a caller can say how far the handshake came.
      const extra = {
        ...(session.peerAnswer ? { iso: session.peerAnswer } : {}),
        ...(session.cotp ? { cotp: session.cotp } : {}),
      };
      reject(Object.keys(extra).length ? new SessionError(e.code, e.message, e.origin, { ...e.details, ...extra }) : e);
    });
    const onAbort = (): void => session.abort('connect aborted');
    const done = (): void => {
      offEvent();
      offClosed();
      options.signal?.removeEventListener('abort', onAbort);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    session.driver.attach(transport);
  });
  return session;
}

/** What an acceptor learns from a CN before it answers. */
export interface IsoConnectRequest {
  cn: Spdu;
  remoteAddress: string;
  userData: Bytes;
}

/** accept (optionally with AC user data) or refuse (with a reason and RF user data). */
export type IsoConnectAnswer =
  | boolean
  | void
  | { accept: true; userData?: Bytes }
  | { accept: false; reason?: keyof typeof RefuseReason; userData?: Bytes };

export interface IsoListenOptions extends MachineBase, SessionOptions, IsoProfileOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. Default 102 (needs privileges). */
  port?: number;
  /** Decides on each CN (default: accept). Runs within handshakeTimeoutMs. */
  onConnect?(request: IsoConnectRequest, session: IsoSession): IsoConnectAnswer | Promise<IsoConnectAnswer>;
  /** Live sessions at most; more are refused with RF reason 1 (congestion). Default 1000. */
  maxSessions?: number;
}

export interface IsoServer {
  readonly port: number;
  readonly address: string;
  readonly sessions: ReadonlySet<IsoSession>;
  /** Stops accepting and aborts the sessions still open. */
  close(): Promise<void>;
}

/** Accepts ISO 8327 sessions; `onSession` gets each one once it is established. */
export async function listenIso(
  options: IsoListenOptions,
  onSession: (session: IsoSession) => void,
): Promise<IsoServer> {
  const base = machineOptions(options, 'acceptor');
  const sessions = new Set<IsoSession>();
  const max = options.maxSessions ?? 1000;
  const accept = (transport: Transport): void => {
    const machine = new SessionMachine({
      ...base,
      role: 'acceptor',
      sessionId: new Uint8Array(randomBytes(16)),
      resumeSecret: new Uint8Array(randomBytes(16)),
    });
    const session: IsoSession = new IsoSession(
      machine,
      options,
      { ...options, role: 'acceptor' },
      {
        onEvent: (e: SessionEvent) => {
          if (e.type === 'connect-request') return decide(session, transport.remoteAddress, e.userData);
          if (e.type === 'established') onSession(session);
          if (e.type === 'closed') sessions.delete(session);
          session.handleEvent(e);
        },
      },
    );
    sessions.add(session);
    session.driver.attach(transport);
  };
  const decide = (session: IsoSession, remoteAddress: string, userData: Bytes): void => {
    const m = session.machine;
    const answer = (a: IsoConnectAnswer): void => {
      if (m.state !== 'accepting') return;
      if (a === false || (typeof a === 'object' && !a.accept)) {
        const reason: RefuseReasonValue =
          typeof a === 'object' && a.reason ? RefuseReason[a.reason] : RefuseReason.rejected;
        m.refuse(reason, 'refused by the listener', typeof a === 'object' ? a.userData : undefined);
      } else m.accept({ userData: typeof a === 'object' ? a.userData : undefined });
      session.driver.kick();
    };
    if (sessions.size > max) {
      m.refuse(RefuseReason.congested, `maxSessions (${max}) reached`);
      session.driver.kick();
      return;
    }
    const cn = session.peerConnect ?? { type: 'CN' };
    // The hook answers within the handshake time: a hung hook cannot hold the peer forever.
    const limitMs = options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${limitMs} ms (handshakeTimeoutMs)`)), limitMs);
    });
    Promise.race([Promise.resolve().then(() => options.onConnect?.({ cn, remoteAddress, userData }, session)), late])
      .then(answer, (error: unknown) => {
        if (m.state === 'accepting') {
          m.refuse(
            RefuseReason.rejected,
            `onConnect failed: ${error instanceof Error ? error.message : String(error)}`,
          );
          session.driver.kick();
        }
      })
      .finally(() => clearTimeout(timer));
  };
  const listener = await listenTcp(
    { host: options.host ?? '127.0.0.1', port: options.port ?? ISO_DEFAULT_PORT },
    accept,
  );
  return {
    port: listener.port,
    address: listener.address,
    sessions,
    async close() {
      await listener.close();
      for (const s of [...sessions]) s.abort('listener closed');
    },
  };
}
