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
// The API (JSON; errors are {"error": "what happened, what to do"}):
//   POST /api/login, GET /api/me, POST /api/logout    the web login (./login.ts)
//   GET  /api/sessions                 live sessions of this node (admin token or web login)
//   GET  /api/sessions/ID/frames       Server-Sent Events: the frame ladder of one session
//   POST /api/sessions/ID/cut          drops the session's transport (it resumes): admin, or
//                                      the web login the session belongs to
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
import type { Duplex } from 'node:stream';
import { timingSafeEqual, createHash } from 'node:crypto';
import { ServiceHost } from '../apps/host.js';
import type { Principal } from '../apps/service.js';
import type { Session } from '../driver/session.js';
import { Server } from '../server/server.js';
import type { CloseReport, ServerOptions, StopMode } from '../server/server.js';
import { openEndpoints } from '../server/endpoints.js';
import type { OpenEndpoints } from '../server/endpoints.js';
import { openBacking } from './backing.js';
import type { Backing } from './backing.js';
import { CountingTransport } from './counting.js';
import { LiveSessions, WatchError } from './live.js';
import { ServeMetrics } from './metrics.js';
import { WebLogins, sendJson } from './login.js';
import type { Logins } from './login.js';
import { serveServices } from './services.js';
import { Stopper } from './stop.js';
import { WebRoot, defaultWebRoot } from './web-root.js';

export const SESSION_PATH = '/session';
/** Connections the HTTP port holds at once (page, API, event streams and WebSocket sessions); past it, new ones are dropped. */
export const MAX_HTTP_CONNECTIONS = 12_000;
/** Bytes an event stream may have waiting for a slow reader before it is ended. */
export const MAX_EVENT_STREAM_BUFFER_BYTES = 256 * 1024;

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
  /** https + wss, and TLS instead of plain TCP on tcpPort. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  /** Bearer token for the admin API (`colloquy sessions`). */
  adminToken: string;
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
}

export type ServeEvent =
  | { event: 'session'; id: string; service: string | null; name: string | null; transport: string | null; restored: boolean }
  | { event: 'closed'; id: string; error: string | null }
  | { event: 'draining'; mode: StopMode; sessions: number }
  | ({ event: 'drained' } & CloseReport);

export interface ServeUrls { http: string; ws: string; tcp: string }

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
  /** Drains (if not yet), then stops everything in order (see the top of this file). Idempotent. */
  close(): Promise<CloseReport>;
}

export async function startServe(options: ServeOptions): Promise<ServeApp> {
  mkdirSync(options.files, { recursive: true });
  const backing = await openBacking(options.store);
  const cleanups: (() => Promise<void> | void)[] = [() => backing.close()];
  try {
    return await assemble(options, backing, cleanups);
  } catch (error) {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => {});
    throw error;
  }
}

async function assemble(options: ServeOptions, backing: Backing, cleanups: (() => Promise<void> | void)[]): Promise<ServeApp> {
  const secure = options.tls !== undefined;
  const logins: Logins = new WebLogins(backing.store);
  cleanups.push(() => logins.close());
  const issued = new WeakSet<object>();
  const host = new ServiceHost(serveServices({ files: options.files, bus: backing.bus, store: backing.store }), {
    identify: (request) => logins.nameFromHeaders(request.headers),
  });
  cleanups.push(() => host.close());
  const server = new Server({
    ...options.server,
    ...(options.stopTimeoutMs !== undefined ? { closeTimeoutMs: options.stopTimeoutMs } : {}),
    ...(backing.durability ? { durability: backing.durability } : {}),
    authenticate: async (request) => {
      const principal = await host.authenticate(request);
      // A chat session from a logged-in browser speaks under its login, whatever nick it claims.
      if (principal.name !== undefined && principal.service === 'chat') principal.hello = { ...principal.hello, nick: principal.name };
      issued.add(principal);
      return principal;
    },
  });
  const live = new LiveSessions();
  const metrics = new ServeMetrics(server);
  cleanups.push(() => metrics.close());
  server.on('session', (session: Session) => {
    const restored = !issued.has(session.principal as object);
    live.add(session, restored);
    host.open(session);
    const principal = session.principal as Principal | undefined;
    options.onEvent?.({ event: 'session', id: session.id, service: principal?.service ?? null, name: principal?.name ?? null, transport: session.driver.attached?.kind ?? null, restored });
    session.on('closed', ({ error }) => options.onEvent?.({ event: 'closed', id: session.id, error: error ? `${error.code}: ${error.message}` : null }));
  });

  const web = new WebRoot(options.webRoot ?? defaultWebRoot());
  let closing = false;
  const stopper = new Stopper(server, options, () => live.size);
  const http: HttpServer = secure
    ? createHttpsServer({ cert: options.tls?.cert, key: options.tls?.key })
    : createHttpServer();
  http.maxConnections = MAX_HTTP_CONNECTIONS;
  const api = new Api(options, live, logins, server, metrics, stopper);
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (closing) { res.writeHead(503, { connection: 'close', 'content-type': 'text/plain' }).end('shutting down\n'); return; }
    api.handle(req, res, web).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: `internal error: ${error instanceof Error ? error.message : String(error)}` });
      else res.destroy();
    });
  });
  // Upgrades anywhere but the session path are refused (the WebSocket endpoint takes /session).
  http.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => {});
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== SESSION_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    } else if (!stopper.ready || closing) {
      // Draining: a load balancer that retries on 503 sends the upgrade to another node.
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n');
    }
  });

  const accept = (t: Parameters<Server['accept']>[0]): void => server.accept(new CountingTransport(t, metrics.bytes));
  const endpoints: OpenEndpoints = await openEndpoints(
    {
      ...(options.server?.maxFrameSize !== undefined ? { maxFrameSize: options.server.maxFrameSize } : {}),
      ws: { server: http, path: SESSION_PATH },
      ...(options.tls ? { tls: { host: options.host, port: options.tcpPort, cert: options.tls.cert, key: options.tls.key } } : { tcp: { host: options.host, port: options.tcpPort } }),
    },
    accept,
  );
  cleanups.push(() => endpoints.close());
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => { http.off('error', reject); resolve(); });
  });
  cleanups.push(() => new Promise<void>((resolve) => { http.close(() => resolve()); http.closeAllConnections(); }));

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
    urls, server, live, backing, webBuilt: web.built, services: host.names, close, reloadTls,
    stopMode: stopper.mode,
    get ready() { return stopper.ready; },
    drain: (mode) => stopper.drain(mode),
  };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

class Api {
  private readonly adminDigest: Buffer;

  constructor(options: ServeOptions, private readonly live: LiveSessions, private readonly logins: Logins, private readonly server: Server, private readonly metrics: ServeMetrics, private readonly stopper: Stopper) {
    this.adminDigest = createHash('sha256').update(options.adminToken).digest();
  }

  private isAdmin(req: IncomingMessage): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    // Digests of equal length, so the comparison takes the same time whatever was sent.
    return timingSafeEqual(createHash('sha256').update(m[1] as string).digest(), this.adminDigest);
  }

  /** Who may read the live view: the admin token, or anyone logged in on the page. */
  private async viewer(req: IncomingMessage): Promise<{ admin: boolean; name?: string } | null> {
    if (this.isAdmin(req)) return { admin: true };
    const name = await this.logins.nameFromHeaders(req.headers).catch(() => undefined);
    return name === undefined ? null : { admin: false, name };
  }

  async handle(req: IncomingMessage, res: ServerResponse, web: WebRoot): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (await this.logins.handle(req, res)) {
      if (path === '/api/login' && req.method === 'POST') this.metrics.loginAnswered(res.statusCode);
      return;
    }
    if (path === '/metrics') { await this.scrape(req, res); return; }
    if (path === '/api/health') { sendJson(res, 200, { ok: true, sessions: this.live.size }); return; }
    if (path === '/api/ready') { sendJson(res, this.stopper.ready ? 200 : 503, { ready: this.stopper.ready }, { 'cache-control': 'no-store' }); return; }
    if (path === '/api/admin/drain') { await this.drain(req, res); return; }
    if (path === '/api/sessions' || path.startsWith('/api/sessions/')) { await this.sessions(req, res, path); return; }
    if (path.startsWith('/api/')) { sendJson(res, 404, { error: `no API endpoint ${path}` }); return; }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (web.serve(path, res)) return;
      if (path === SESSION_PATH) { res.writeHead(426, { 'content-type': 'text/plain' }).end('This is the WebSocket session endpoint: connect with a WebSocket client (colloquy, or the page at /).\n'); return; }
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`Not found: ${path}\n`);
  }

  /** GET /metrics: the admin token only (a web login is not enough: metrics describe every user). */
  private async scrape(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.isAdmin(req)) { sendJson(res, 401, { error: 'send the admin token (Authorization: Bearer TOKEN, printed by serve) to read /metrics' }, { 'www-authenticate': 'Bearer' }); return; }
    if (req.method !== 'GET' && req.method !== 'HEAD') { sendJson(res, 405, { error: 'use GET' }, { allow: 'GET, HEAD' }); return; }
    const { contentType, body } = await this.metrics.scrape();
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
  }

  /** POST /api/admin/drain: the admin token only (a bearer token, which no other site's page can send). */
  private async drain(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') { sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' }); return; }
    if (!this.isAdmin(req)) { sendJson(res, 401, { error: 'draining needs the admin token (Authorization: Bearer TOKEN, printed by serve)' }, { 'www-authenticate': 'Bearer' }); return; }
    if (!this.server.canHandOver) { sendJson(res, 409, { error: 'this node has no shared store (--store memory): its sessions cannot continue on another node, so there is nothing to drain to; stop it instead (SIGTERM releases every session)' }); return; }
    const report = await this.stopper.drain('handover');
    sendJson(res, 200, report);
  }

  private async sessions(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const who = await this.viewer(req);
    if (!who) { sendJson(res, 401, { error: 'log in on the page (POST /api/login) or send the admin token (Authorization: Bearer TOKEN, printed by serve)' }, { 'www-authenticate': 'Bearer' }); return; }
    if (path === '/api/sessions') {
      if (req.method !== 'GET') { sendJson(res, 405, { error: 'use GET' }, { allow: 'GET' }); return; }
      const sessions = this.live.list();
      sendJson(res, 200, { total: this.live.size, truncated: sessions.length < this.live.size, sessions });
      return;
    }
    const m = /^\/api\/sessions\/([0-9a-f]{32})\/(frames|cut)$/.exec(path);
    if (!m) { sendJson(res, 404, { error: `no API endpoint ${path}; session IDs are 32 hex digits` }); return; }
    const id = m[1] as string;
    if (m[2] === 'cut') {
      if (req.method !== 'POST') { sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' }); return; }
      const session = this.server.sessions.get(id);
      if (!session || !this.live.has(id)) { sendJson(res, 404, { error: `no live session ${id} on this node` }); return; }
      const owner = (session.principal as Principal | undefined)?.name;
      if (!who.admin && owner !== who.name) { sendJson(res, 403, { error: 'only the admin token or the session\'s own login may cut its transport' }); return; }
      const attached = session.driver.attached !== null;
      if (attached) session.driver.dropTransport();
      sendJson(res, 200, { id, cut: attached });
      return;
    }
    if (req.method !== 'GET') { sendJson(res, 405, { error: 'use GET' }, { allow: 'GET' }); return; }
    this.frames(req, res, id);
  }

  private frames(req: IncomingMessage, res: ServerResponse, id: string): void {
    if (!this.live.has(id)) { sendJson(res, 404, { error: `no live session ${id} on this node` }); return; }
    let ended = false;
    let stop: () => void = () => {};
    const end = (): void => {
      if (ended) return;
      ended = true;
      stop();
      res.end();
    };
    try {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
      res.write(': frames of session ' + id + '\n\n');
      stop = this.live.watch(
        id,
        (frame) => {
          if (ended) return;
          if (res.writableLength > MAX_EVENT_STREAM_BUFFER_BYTES) {
            res.write(`event: overflow\ndata: ${JSON.stringify({ error: `the reader fell ${MAX_EVENT_STREAM_BUFFER_BYTES} bytes behind (MAX_EVENT_STREAM_BUFFER_BYTES)` })}\n\n`);
            end();
            return;
          }
          res.write(`data: ${JSON.stringify(frame)}\n\n`);
        },
        () => {
          if (ended) return;
          res.write('event: end\ndata: {}\n\n');
          end();
        },
      );
    } catch (error) {
      if (error instanceof WatchError) {
        res.write(`event: error\ndata: ${JSON.stringify({ status: error.status, error: error.message })}\n\n`);
        end();
        return;
      }
      throw error;
    }
    req.on('close', end);
  }
}
