// serve's JSON API and who may do what with it (the routes are listed at the top of ./app.ts;
// docs/security.md has the table per caller).
//
// Rules
//   - The caller is the admin (`Authorization: Bearer ADMIN-TOKEN`, or a page login made with
//     the admin token), a login (the page's cookie; its principal is unique to that login), or
//     nobody. Nobody may read the live view.
//   - Scoped live view: a login lists only the sessions it owns (opened by a WebSocket that
//     carried its cookie) and may watch and cut only those; the admin lists, watches and cuts
//     all. Another's session is answered as if it did not exist (404), so a session ID is no
//     oracle. Frames carry payload previews, so only the owner and the admin see them.
//   - Ownership is the session principal's proven identity (`id`, else `name` from the admin
//     token), never a name a client typed: a hello's nick proves nothing.
//   - A POST authenticated by the cookie must be JSON (./guard.ts, CSRF); one carrying the admin
//     token in Authorization need not be (no page can make a browser send that header).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../apps/service.js';
import type { Server } from '../server/server.js';
import { isJson } from './guard.js';
import type { LiveSessions } from './live.js';
import type { ServeMetrics } from './metrics.js';
import type { Stopper } from './stop.js';
import { WatchError } from './live.js';
import { isTls, sendJson } from './login.js';
import type { Logins } from './login.js';
import type { WebRoot } from './web-root.js';

/** Bytes an event stream may have waiting for a slow reader before it is ended. */
export const MAX_EVENT_STREAM_BUFFER_BYTES = 256 * 1024;

/** Who is asking: the admin, or the principal of a login. */
export interface Viewer {
  admin: boolean;
  principal: string;
  bearer: boolean;
}

/** The admin token, kept as a digest and compared in constant time. */
export class AdminToken {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = createHash('sha256').update(token).digest();
  }

  /** Digests of equal length, so the comparison takes the same time whatever was sent. */
  matches(candidate: string | Uint8Array): boolean {
    return timingSafeEqual(createHash('sha256').update(candidate).digest(), this.digest);
  }

  /** True when `Authorization: Bearer TOKEN` carries the admin token. */
  inHeaders(headers: Readonly<Record<string, string | string[] | undefined>> | undefined): boolean {
    const value = headers?.authorization;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(typeof value === 'string' ? value : '');
    return m !== null && this.matches(m[1] as string);
  }
}

/** Who owns a served session: its proven identity, or null when it has none (anonymous). */
export function ownerOf(principal: Principal | null | undefined): string | null {
  if (!principal || principal.name === undefined) return null;
  return principal.id ?? principal.name;
}

export class Api {
  constructor(
    private readonly live: LiveSessions,
    private readonly logins: Logins,
    private readonly server: Server,
    private readonly admin: AdminToken,
    private readonly metrics: ServeMetrics,
    private readonly stopper: Stopper,
    private readonly sessionPath: string,
  ) {}

  private async viewer(req: IncomingMessage): Promise<Viewer | null> {
    if (this.admin.inHeaders(req.headers)) return { admin: true, principal: 'admin', bearer: true };
    const identity = await this.logins.identify(req.headers, isTls(req)).catch(() => undefined);
    return identity === undefined ? null : { admin: identity.admin, principal: identity.principal, bearer: false };
  }

  async handle(req: IncomingMessage, res: ServerResponse, web: WebRoot): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (await this.logins.handle(req, res)) {
      if (path === '/api/login' && req.method === 'POST') this.metrics.loginAnswered(res.statusCode);
      return;
    }
    if (path === '/metrics') {
      await this.scrape(req, res);
      return;
    }
    if (path === '/api/health') {
      sendJson(res, 200, { ok: true, sessions: this.live.size });
      return;
    }
    if (path === '/api/ready') {
      sendJson(res, this.stopper.ready ? 200 : 503, { ready: this.stopper.ready }, { 'cache-control': 'no-store' });
      return;
    }
    if (path === '/api/admin/drain') {
      await this.drain(req, res);
      return;
    }
    if (path === '/api/sessions' || path.startsWith('/api/sessions/')) {
      await this.sessions(req, res, path);
      return;
    }
    if (path.startsWith('/api/')) {
      sendJson(res, 404, { error: `no API endpoint ${path}` });
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (web.serve(path, res)) return;
      if (path === this.sessionPath) {
        res
          .writeHead(426, { 'content-type': 'text/plain' })
          .end(
            'This is the WebSocket session endpoint: connect with a WebSocket client (colloquy, or the page at /).\n',
          );
        return;
      }
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`Not found: ${path}\n`);
  }

  /** GET /metrics: the admin token only (a web login is not enough: metrics describe every user). */
  private async scrape(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.admin.inHeaders(req.headers)) {
      sendJson(
        res,
        401,
        { error: 'send the admin token (Authorization: Bearer TOKEN, printed by serve) to read /metrics' },
        { 'www-authenticate': 'Bearer' },
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'use GET' }, { allow: 'GET, HEAD' });
      return;
    }
    const { contentType, body } = await this.metrics.scrape();
    res
      .writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
      .end(req.method === 'HEAD' ? undefined : body);
  }

  /** POST /api/admin/drain: the admin token only (a bearer token, which no other site's page can send). */
  private async drain(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
      return;
    }
    if (!this.admin.inHeaders(req.headers)) {
      sendJson(
        res,
        401,
        { error: 'draining needs the admin token (Authorization: Bearer TOKEN, printed by serve)' },
        { 'www-authenticate': 'Bearer' },
      );
      return;
    }
    if (!this.server.canHandOver) {
      sendJson(res, 409, {
        error:
          'this node has no shared store (--store memory): its sessions cannot continue on another node, so there is nothing to drain to; stop it instead (SIGTERM releases every session)',
      });
      return;
    }
    const report = await this.stopper.drain('handover');
    sendJson(res, 200, report);
  }

  private async sessions(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const who = await this.viewer(req);
    if (!who) {
      sendJson(
        res,
        401,
        {
          error:
            'log in on the page (POST /api/login) or send the admin token (Authorization: Bearer TOKEN, printed by serve)',
        },
        { 'www-authenticate': 'Bearer' },
      );
      return;
    }
    const visible = (principal: Principal | null | undefined): boolean =>
      who.admin || ownerOf(principal) === who.principal;
    if (path === '/api/sessions') {
      if (req.method !== 'GET') {
        sendJson(res, 405, { error: 'use GET' }, { allow: 'GET' });
        return;
      }
      const { sessions, total } = this.live.view(
        undefined,
        who.admin ? undefined : (s) => visible(s.principal as Principal | undefined),
      );
      sendJson(res, 200, { total, truncated: sessions.length < total, sessions });
      return;
    }
    const m = /^\/api\/sessions\/([0-9a-f]{32})\/(frames|cut)$/.exec(path);
    if (!m) {
      sendJson(res, 404, { error: `no API endpoint ${path}; session IDs are 32 hex digits` });
      return;
    }
    const id = m[1] as string;
    const session = this.server.sessions.get(id);
    const mine = session !== undefined && this.live.has(id) && visible(session.principal as Principal | undefined);
    const gone = (): void => {
      sendJson(res, 404, { error: `no live session ${id} of yours on this node` });
    };
    if (m[2] === 'cut') {
      if (req.method !== 'POST') {
        sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
        return;
      }
      if (!who.bearer && !isJson(req)) {
        req.resume();
        sendJson(res, 415, { error: 'send Content-Type: application/json (a cross-site form cannot)' });
        return;
      }
      req.resume();
      if (!mine) {
        gone();
        return;
      }
      const attached = session.driver.attached !== null;
      if (attached) session.driver.dropTransport();
      sendJson(res, 200, { id, cut: attached });
      return;
    }
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'use GET' }, { allow: 'GET' });
      return;
    }
    if (!mine) {
      gone();
      return;
    }
    this.frames(req, res, id);
  }

  private frames(req: IncomingMessage, res: ServerResponse, id: string): void {
    let ended = false;
    let stop: () => void = () => {};
    const end = (): void => {
      if (ended) return;
      ended = true;
      stop();
      res.end();
    };
    try {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      });
      res.write(': frames of session ' + id + '\n\n');
      stop = this.live.watch(
        id,
        (frame) => {
          if (ended) return;
          if (res.writableLength > MAX_EVENT_STREAM_BUFFER_BYTES) {
            res.write(
              `event: overflow\ndata: ${JSON.stringify({ error: `the reader fell ${MAX_EVENT_STREAM_BUFFER_BYTES} bytes behind (MAX_EVENT_STREAM_BUFFER_BYTES)` })}\n\n`,
            );
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
