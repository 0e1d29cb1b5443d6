// serve's Prometheus metrics: GET /metrics (admin token) in the Prometheus text format.
//
// Theory of operation
//   Counters of events (sessions opened, interrupted, resumed, refused, closed; store calls)
//   come from the library's diagnostics channels (src/server/diagnostics.ts), filtered to this
//   node's Server, so two serve apps in one process count apart (store calls are the exception:
//   their messages name the store kind, not the instance). Everything that is a state or a
//   running total is read when Prometheus scrapes, not on the hot path: live sessions by
//   transport and service from the Server's map; frames from each session's wire counters
//   (folded into a total when the session closes); bytes from the totals every
//   CountingTransport adds to. Web logins are counted by the API as it answers POST /api/login.
//   Process metrics are prom-client's defaults, renamed colloquy_process_* / colloquy_nodejs_*.
//   The registry is this app's own, never prom-client's global one.
//
// Every metric is listed, with its labels, in docs/operations.md ("Metrics").

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Principal } from '../apps/service.js';
import type { Session } from '../driver/session.js';
import { CHANNELS } from '../server/diagnostics.js';
import type {
  HandshakeRefusedMessage,
  SessionClosedMessage,
  SessionInterruptedMessage,
  SessionOpenedMessage,
  SessionResumedMessage,
  SessionResumeRefusedMessage,
  StoreCallMessage,
} from '../server/diagnostics.js';
import type { Server } from '../server/server.js';

/** Store latency buckets, in seconds: 0.25 ms (memory, a local Redis) to 2.5 s (past the default 1 s call timeout). */
export const STORE_LATENCY_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Bytes through every counted transport of a node, by direction (src/serve/counting.ts adds to it). */
export interface ByteTotals {
  in: number;
  out: number;
}

const serviceOf = (session: Session): string => (session.principal as Principal | null | undefined)?.service ?? 'none';

export class ServeMetrics {
  readonly registry = new Registry();
  readonly bytes: ByteTotals = { in: 0, out: 0 };
  private readonly open = new Set<Session>();
  private readonly closedFrames = { in: 0, out: 0 };
  private readonly subscriptions: [string, (message: unknown) => void][] = [];
  private readonly logins: Counter<'result'>;

  constructor(server: Server) {
    const registers = [this.registry];
    const mine = (m: { server: object }): boolean => m.server === server;

    new Gauge({
      name: 'colloquy_sessions',
      help: 'Live sessions on this node, by the transport attached now (none: waiting for a resume) and the service',
      labelNames: ['transport', 'service'],
      registers,
      collect() {
        this.reset();
        for (const s of server.sessions.values()) {
          if (!s.negotiated || s.closed) continue;
          this.inc({ transport: s.driver.attached?.kind ?? 'none', service: serviceOf(s) });
        }
      },
    });
    const opened = new Counter({
      name: 'colloquy_sessions_opened_total',
      help: 'Sessions opened on this node (restored: taken over from the store)',
      labelNames: ['transport', 'service', 'restored'],
      registers,
    });
    const closed = new Counter({
      name: 'colloquy_sessions_closed_total',
      help: 'Sessions ended, by error code (released: an orderly release)',
      labelNames: ['code'],
      registers,
    });
    const interruptions = new Counter({
      name: 'colloquy_session_interruptions_total',
      help: 'Transports that dropped under a live session',
      labelNames: ['code'],
      registers,
    });
    const resumes = new Counter({
      name: 'colloquy_session_resumes_total',
      help: 'Sessions resumed on a new transport',
      labelNames: ['transport'],
      registers,
    });
    const replayed = new Counter({
      name: 'colloquy_session_replayed_frames_total',
      help: 'Frames replayed to clients on resume',
      registers,
    });
    const refusals = new Counter({
      name: 'colloquy_session_resume_refusals_total',
      help: 'RESUMEs turned away, by reason',
      labelNames: ['reason'],
      registers,
    });
    const handshakes = new Counter({
      name: 'colloquy_handshake_refusals_total',
      help: 'Transports turned away before carrying a session, by error code',
      labelNames: ['code'],
      registers,
    });
    const store = new Histogram({
      name: 'colloquy_store_call_duration_seconds',
      help: 'Store calls (Redis, Memcached, PostgreSQL; the memory store does no I/O and is not timed), by store, operation and outcome (ok or an error code)',
      labelNames: ['store', 'op', 'outcome'],
      buckets: STORE_LATENCY_BUCKETS,
      registers,
    });
    const bytes = this.bytes;
    new Counter({
      name: 'colloquy_transport_bytes_total',
      help: 'Bytes through the session endpoints, by direction (in: from clients)',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        this.inc({ direction: 'in' }, bytes.in);
        this.inc({ direction: 'out' }, bytes.out);
      },
    });
    const open = this.open;
    const closedFrames = this.closedFrames;
    new Counter({
      name: 'colloquy_frames_total',
      help: 'Session frames decoded (in) and encoded (out), by direction',
      labelNames: ['direction'],
      registers,
      collect() {
        let fin = closedFrames.in;
        let fout = closedFrames.out;
        for (const s of open) {
          fin += s.driver.wire.framesIn;
          fout += s.driver.wire.framesOut;
        }
        this.reset();
        this.inc({ direction: 'in' }, fin);
        this.inc({ direction: 'out' }, fout);
      },
    });
    this.logins = new Counter({
      name: 'colloquy_web_logins_total',
      help: 'Answers to POST /api/login, by result (ok, refused: a bad request, throttled: too many)',
      labelNames: ['result'],
      registers,
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'colloquy_' });

    this.on<SessionOpenedMessage>(CHANNELS.sessionOpened, (m) => {
      if (!mine(m)) return;
      this.open.add(m.session);
      opened.inc({ transport: m.transport ?? 'none', service: serviceOf(m.session), restored: String(m.restored) });
    });
    this.on<SessionInterruptedMessage>(CHANNELS.sessionInterrupted, (m) => {
      if (mine(m)) interruptions.inc({ code: m.code ?? 'none' });
    });
    this.on<SessionResumedMessage>(CHANNELS.sessionResumed, (m) => {
      if (!mine(m)) return;
      resumes.inc({ transport: m.transport ?? 'none' });
      replayed.inc(m.replayed);
    });
    this.on<SessionResumeRefusedMessage>(CHANNELS.sessionResumeRefused, (m) => {
      if (mine(m)) refusals.inc({ reason: m.reason });
    });
    this.on<HandshakeRefusedMessage>(CHANNELS.handshakeRefused, (m) => {
      if (mine(m)) handshakes.inc({ code: m.code });
    });
    this.on<SessionClosedMessage>(CHANNELS.sessionClosed, (m) => {
      if (!mine(m)) return;
      closed.inc({ code: m.code ?? 'released' });
      if (this.open.delete(m.session)) {
        closedFrames.in += m.session.driver.wire.framesIn;
        closedFrames.out += m.session.driver.wire.framesOut;
      }
    });
    this.on<StoreCallMessage>(CHANNELS.storeCall, (m) => {
      store.observe({ store: m.store, op: m.op, outcome: m.error ?? 'ok' }, m.durationMs / 1000);
    });
  }

  /** The API answered POST /api/login with this status. */
  loginAnswered(status: number): void {
    this.logins.inc({ result: status < 300 ? 'ok' : status === 429 ? 'throttled' : 'refused' });
  }

  /** The text format Prometheus scrapes, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Stops listening to the channels (serve's close()). */
  close(): void {
    for (const [name, fn] of this.subscriptions.splice(0)) unsubscribe(name, fn);
    this.open.clear();
  }

  private on<M>(name: string, fn: (message: M) => void): void {
    const listener = (message: unknown): void => fn(message as M);
    subscribe(name, listener);
    this.subscriptions.push([name, listener]);
  }
}
