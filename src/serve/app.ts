// The `colloquy serve` application: one process serving the session endpoint over WebSocket
// (ws://HOST:PORT/session) and native TCP (tcp://HOST:TCP-PORT), the services in
// ./services.ts, and the web page with its API on the same HTTP port.
//
// Theory of operation
//   - One http(s).Server carries the page (./web-root.ts), the API below and the WebSocket
//     upgrade at /session. serve opens the endpoints itself and hands every accepted transport
//     to the Server wrapped in a CountingTransport, so the live view can show bytes.
//   - A ServiceHost routes each session to the service its CONNECT hello names; the principal's
//     name is the web login when the WebSocket upgrade carried the login cookie (./login.ts),
//     and a logged-in chat session's nick is that name.
//   - The store and the bus come from --store (./backing.ts): memory, or Redis with durable
//     sessions and the Redis bus so several nodes form one service.
//   - Stopping (./stop.ts has the order and the modes): drain() marks the node not ready
//     (/api/ready answers 503), waits drainDelayMs for the load balancer to notice, stops
//     accepting transports, and ends every session under one deadline (stopTimeoutMs):
//     released, or with a shared store handed over (left in the store, transport closed, the
//     client resumes on another node). close() drains if that has not happened yet, then
//     stops the services, the store and bus, and the HTTP port. Nothing is cut first.
//   - reloadTls(): new TLS handshakes (https, wss, tls://) use the new certificate; connections
//     already up keep theirs (serve calls it on SIGHUP).
//
//   - Before any route, every request and WebSocket upgrade passes ./guard.ts (Host against
//     DNS rebinding, Origin against other sites' pages) and every response carries the
//     security headers; the HTTP server bounds header and body time (./limits.ts).
//   - Services are open to the audience the access policy gives them (./access.ts; protected
//     mode refuses to start beyond loopback without one).
//
// The API (JSON; errors are {"error": "what happened, what to do"}; who may call what: ./api.ts):
//   POST /api/login, GET /api/me, POST /api/logout    the web login (./login.ts); logout ends
//                                      the login's real-time sessions on every node (ERR_REVOKED)
//   GET  /api/sessions                 live sessions of this node: the caller's own, all for the admin
//   GET  /api/sessions/ID/frames       Server-Sent Events: the frame ladder of one session (owner, admin)
//   POST /api/sessions/ID/cut          drops the session's transport (it resumes): owner, admin
//   GET  /api/health                   {"ok":true,"sessions":N}, no authentication: alive
//   GET  /api/ready                    200 {"ready":true} while accepting sessions, 503
//                                      {"ready":false} once draining: for load balancers
//   POST /api/admin/drain              admin token only: drain now (handover, shared store
//                                      only); answers with the report once every session is out
//   GET  /metrics                      Prometheus text format (./metrics.ts): admin token only
// The admin token travels as `Authorization: Bearer TOKEN`.

import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { ServiceHost } from '../apps/host.js';
import type { Identified, Principal } from '../apps/service.js';
import type { Session } from '../driver/session.js';
import { Refusal, Server } from '../server/server.js';
import type { AuthRequest, CloseReport, ServerOptions, StopMode } from '../server/server.js';
import { openEndpoints } from '../server/endpoints.js';
import type { OpenEndpoints } from '../server/endpoints.js';
import { openBacking } from './backing.js';
import type { Backing, DurabilityKnobs } from './backing.js';
import { accessPolicy } from './access.js';
import type { AccessPolicy } from './access.js';
import { AdminToken, Api } from './api.js';
import { CountingTransport } from './counting.js';
import { RequestGuard, applySecurityHeaders } from './guard.js';
import { resolveLimits } from './limits.js';
import type { ServeLimits } from './limits.js';
import { LiveSessions } from './live.js';
import { ServeMetrics } from './metrics.js';
import { WebLogins, sendJson } from './login.js';
import type { Logins } from './login.js';
import { SERVICE_NAMES, serveServices } from './services.js';
import { Stopper } from './stop.js';
import { endRealtimeOnRevoke, type Revocation } from '../web/revocation.js';
import { WebRoot, defaultWebRoot } from './web-root.js';

export const SESSION_PATH = '/session';
/** The bus topic logouts travel on between nodes. */
export const REVOCATION_TOPIC = 'serve:revoked';
/** Connections the HTTP port holds at once (page, API, event streams and WebSocket sessions); past it, new ones are dropped. */
export const MAX_HTTP_CONNECTIONS = 12_000;
export { MAX_EVENT_STREAM_BUFFER_BYTES } from './api.js';
/** How often the HTTP server checks its header and request timeouts (ms). */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

export interface ServeOptions {
  host: string;
  /** HTTP (page, API, WebSocket). 0 picks a free port. */
  port: number;
  /** Native TCP (or TLS with `tls`). 0 picks a free port. */
  tcpPort: number;
  /** The files service's directory; created if missing. */
  files: string;
  /** 'memory' or a redis:// URL (./backing.ts). */
  store: string;
  /** A shared store's persist retry and replica wait (--persist-retry-ms, --wait-replicas, --wait-timeout-ms); default per mode. */
  durability?: DurabilityKnobs;
  /** https + wss, and TLS instead of plain TCP on tcpPort. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  /** Bearer token for the admin API (`colloquy sessions`), the page's admin login and native clients' credentials. */
  adminToken: string;
  /** Who may use each service (./access.ts): required beyond loopback (protected mode). */
  access?: string;
  /** Origins besides serve's own whose pages may connect and post (--allow-origin). */
  allowOrigins?: readonly string[];
  /** Host names besides serve's own it answers to (--allow-host). */
  allowHosts?: readonly string[];
  /** Bounds (./limits.ts); each defaults as documented there. */
  limits?: Partial<ServeLimits>;
  /** The built page; default dist/page. */
  webRoot?: string;
  /** How a stop ends sessions. Default: 'handover' when the store is shared (redis://), else 'release'. */
  onStop?: StopMode;
  /** The deadline for ending every session on a stop, however many. Default 10 s (DEFAULT_CLOSE_TIMEOUT_MS). */
  stopTimeoutMs?: number;
  /** Between marking the node not ready and closing its transports (the load balancer's time to notice). Default 0. */
  drainDelayMs?: number;
  /** Session options passed to the Server (timers, bounds); tests shorten them. */
  server?: Partial<Omit<ServerOptions, 'tcp' | 'tls' | 'ws' | 'memory' | 'authenticate' | 'durability'>>;
  /** Sessions opening and closing, for `serve --json` lines and logs. */
  onEvent?(event: ServeEvent): void;
  /**
   * The stop's deadline passed with sessions still waiting, right before they are all aborted
   * at once (CloseOptions.onDeadline): the report is final. `colloquy serve` prints it and ends
   * the process there; the kernel closes what is left.
   */
  onStopDeadline?(report: CloseReport): void;
}

export type ServeEvent =
  | {
      event: 'session';
      id: string;
      service: string | null;
      name: string | null;
      transport: string | null;
      restored: boolean;
    }
  | { event: 'closed'; id: string; error: string | null }
  | { event: 'draining'; mode: StopMode; sessions: number }
  | ({ event: 'drained' } & CloseReport);

export interface ServeUrls {
  http: string;
  ws: string;
  tcp: string;
}

export interface ServeApp {
  readonly urls: ServeUrls;
  readonly server: Server;
  readonly live: LiveSessions;
  readonly backing: Backing;
  readonly webBuilt: boolean;
  /** The names of the services offered. */
  readonly services: string[];
  /** How a stop ends sessions here (ServeOptions.onStop, or its default). */
  readonly stopMode: StopMode;
  /** False once draining: /api/ready answers 503. */
  readonly ready: boolean;
  /** Stops accepting and ends every session in `mode` (default stopMode); the node stays up, not ready. Idempotent. */
  drain(mode?: StopMode): Promise<CloseReport>;
  /** New TLS handshakes use this certificate and key; live connections keep theirs. Throws without TLS. */
  reloadTls(credentials: { cert: Buffer | string; key: Buffer | string }): void;
  /** Who may use which service. */
  readonly access: AccessPolicy;
  /** Drains (if not yet), then stops everything in order (see the top of this file). Idempotent. */
  close(): Promise<CloseReport>;
}

export async function startServe(options: ServeOptions): Promise<ServeApp> {
  const limits = resolveLimits(options.limits);
  // Before anything opens: protected mode refuses a server beyond loopback without a policy.
  const access = accessPolicy(options.host, options.access, SERVICE_NAMES);
  mkdirSync(options.files, { recursive: true });
  const backing = await openBacking(options.store, options.durability);
  const cleanups: (() => Promise<void> | void)[] = [() => backing.close()];
  try {
    return await assemble(options, limits, access, backing, cleanups);
  } catch (error) {
    for (const c of cleanups.reverse())
      await Promise.resolve()
        .then(c)
        .catch(() => {});
    throw error;
  }
}

async function assemble(
  options: ServeOptions,
  limits: ServeLimits,
  access: AccessPolicy,
  backing: Backing,
  cleanups: (() => Promise<void> | void)[],
): Promise<ServeApp> {
  const secure = options.tls !== undefined;
  const admin = new AdminToken(options.adminToken);
  const logins: Logins = new WebLogins(backing.store, limits, (token) => admin.matches(token));
  cleanups.push(() => logins.close());
  const issued = new WeakSet<object>();
  // Who a session is: the admin token (CONNECT credentials, or Bearer on the upgrade), or the
  // page's login cookie on the upgrade; anything else is anonymous.
  const identify = async (request: AuthRequest): Promise<Identified | undefined> => {
    if (request.credentials.length > 0) {
      if (admin.matches(request.credentials)) return { id: 'admin', name: 'admin', admin: true };
      throw new Refusal(
        'these credentials are not accepted here: send the admin token serve printed at start, or none',
        'unauthorized',
      );
    }
    if (admin.inHeaders(request.headers)) return { id: 'admin', name: 'admin', admin: true };
    const login = await logins.identify(request.headers, request.secure === true);
    return login === undefined ? undefined : { id: login.principal, name: login.name, admin: login.admin };
  };
  const host = new ServiceHost(
    serveServices({
      files: options.files,
      bus: backing.bus,
      store: backing.store,
      limits,
      shared: backing.kind !== 'memory',
      ...(backing.durability?.persistRetryMs !== undefined
        ? { persistRetryMs: backing.durability.persistRetryMs }
        : {}),
    }),
    {
      identify,
      audience: (service) => access.audience(service),
      howToIdentify: 'log in on the page, or send the admin token serve printed at start as the CONNECT credentials',
    },
  );
  cleanups.push(() => host.close());
  const server = new Server({
    ...options.server,
    ...(options.stopTimeoutMs !== undefined ? { closeTimeoutMs: options.stopTimeoutMs } : {}),
    ...(backing.durability ? { durability: backing.durability } : {}),
    authenticate: async (request) => {
      const principal = await host.authenticate(request);
      // A chat session from a logged-in browser speaks under its login, whatever nick it claims.
      if (principal.name !== undefined && principal.service === 'chat')
        principal.hello = { ...principal.hello, nick: principal.name };
      issued.add(principal);
      return principal;
    },
  });
  // Logging out ends the real-time sessions the login owns, on this node at once and on the
  // others through the bus; a session restored from the store is checked when it reopens (a
  // node that was down missed the bus message).
  const ownedBy = (principal: unknown, r: Revocation): boolean =>
    r.kind === 'web-session' && r.principal !== null && (principal as Principal | undefined)?.id === r.principal;
  const stopRevoking = await endRealtimeOnRevoke(server, {
    sessions: logins,
    bus: backing.bus,
    topic: REVOCATION_TOPIC,
    bound: ownedBy,
  });
  cleanups.push(stopRevoking);
  const live = new LiveSessions();
  const metrics = new ServeMetrics(server);
  cleanups.push(() => metrics.close());
  server.on('session', (session: Session) => {
    const restored = !issued.has(session.principal as object);
    live.add(session, restored);
    host.open(session);
    const principal = session.principal as Principal | undefined;
    options.onEvent?.({
      event: 'session',
      id: session.id,
      service: principal?.service ?? null,
      name: principal?.name ?? null,
      transport: session.driver.attached?.kind ?? null,
      restored,
    });
    session.on('closed', ({ error }) =>
      options.onEvent?.({ event: 'closed', id: session.id, error: error ? `${error.code}: ${error.message}` : null }),
    );
    const login = principal?.id;
    if (restored && login !== undefined && /^(login|admin):/.test(login)) {
      void logins.live(login).then((alive) => {
        if (!alive)
          server.revoke(
            (s) => s === session,
            'the login this session was opened with was logged out: log in again to open a new session',
          );
      });
    }
  });

  const guard = new RequestGuard({
    listenHost: options.host,
    secure,
    allowOrigins: options.allowOrigins ?? [],
    allowHosts: options.allowHosts ?? [],
    machineName: hostname(),
  });
  const web = new WebRoot(options.webRoot ?? defaultWebRoot());
  let closing = false;
  const stopper = new Stopper(server, options, () => live.size);
  // A slow client cannot hold a connection with a trickle of header or body bytes.
  const timeouts = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  };
  const http: HttpServer = secure
    ? createHttpsServer({ cert: options.tls?.cert, key: options.tls?.key, ...timeouts })
    : createHttpServer(timeouts);
  http.maxConnections = MAX_HTTP_CONNECTIONS;
  const api = new Api(live, logins, server, admin, metrics, stopper, SESSION_PATH);
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    applySecurityHeaders(res);
    if (closing) {
      res.writeHead(503, { connection: 'close', 'content-type': 'text/plain' }).end('shutting down\n');
      return;
    }
    const verdict = guard.check(req);
    if (!verdict.ok) {
      req.resume();
      sendJson(res, verdict.status, { error: verdict.message });
      return;
    }
    api.handle(req, res, web).catch((error: unknown) => {
      if (!res.headersSent)
        sendJson(res, 500, { error: `internal error: ${error instanceof Error ? error.message : String(error)}` });
      else res.destroy();
    });
  });
  // Upgrades anywhere but the session path are refused (the WebSocket endpoint takes /session).
  http.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => {});
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== SESSION_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
    // The session path is the WebSocket endpoint's: its verify hook below refuses what it must.
  });

  const accept = (t: Parameters<Server['accept']>[0]): void => server.accept(new CountingTransport(t, metrics.bytes));
  const endpoints: OpenEndpoints = await openEndpoints(
    {
      ...(options.server?.maxFrameSize !== undefined ? { maxFrameSize: options.server.maxFrameSize } : {}),
      ws: {
        server: http,
        path: SESSION_PATH,
        verify: (req) => {
          // Draining: a load balancer that retries on 503 sends the upgrade to another node.
          if (!stopper.ready || closing)
            return { status: 503, message: 'this node is draining: connect to another one' };
          const verdict = guard.check(req);
          return verdict.ok ? undefined : verdict;
        },
      },
      ...(options.tls
        ? { tls: { host: options.host, port: options.tcpPort, cert: options.tls.cert, key: options.tls.key } }
        : { tcp: { host: options.host, port: options.tcpPort } }),
    },
    accept,
  );
  cleanups.push(() => endpoints.close());
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  );

  const httpPort = (http.address() as AddressInfo).port;
  const nativePort = (options.tls ? endpoints.addresses.tls : endpoints.addresses.tcp) as number;
  const h = formatHost(options.host);
  const urls: ServeUrls = {
    http: `${secure ? 'https' : 'http'}://${h}:${httpPort}/`,
    ws: `${secure ? 'wss' : 'ws'}://${h}:${httpPort}${SESSION_PATH}`,
    tcp: `${secure ? 'tls' : 'tcp'}://${h}:${nativePort}`,
  };

  stopper.endpoints = endpoints;
  let closed: Promise<CloseReport> | null = null;
  const close = (): Promise<CloseReport> => {
    closed ??= (async () => {
      // Not ready, no new transports, every session released or handed over (./stop.ts).
      const report = await stopper.drain();
      closing = true;
      http.close();
      live.close();
      await host.close();
      await logins.close();
      await stopRevoking().catch(() => {});
      await backing.close();
      metrics.close();
      http.closeAllConnections();
      return report;
    })();
    return closed;
  };
  const reloadTls = (credentials: { cert: Buffer | string; key: Buffer | string }): void => {
    if (!secure) throw new Error('serve runs without TLS (no --tls-cert): nothing to reload');
    // Both before either: a bad pair throws here and the old certificate stays in force.
    (http as ReturnType<typeof createHttpsServer>).setSecureContext({ cert: credentials.cert, key: credentials.key });
    endpoints.setTlsCredentials(credentials);
  };
  return {
    urls,
    server,
    live,
    backing,
    webBuilt: web.built,
    services: host.names,
    access,
    close,
    reloadTls,
    stopMode: stopper.mode,
    get ready() {
      return stopper.ready;
    },
    drain: (mode) => stopper.drain(mode),
  };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
