// Web logins for the page, on an HTTP session cookie (the shared web-session layer, src/web:
// split-ID cookie, hashed secret in the store, idle and absolute expiry).
//
//   POST /api/login   {"name":"ada"}                 -> 200 {"name","principal","admin":false} + cookie
//                     {"name":"ada","adminToken":"…"} -> the same with "admin":true (the admin)
//   GET  /api/me                                     -> 200 {"name","principal","admin"} or 401
//   POST /api/logout                                 -> 204, the web session destroyed, cookie cleared
//
// Theory of operation
//   There are no passwords: a name is a display name, as in a chat room. What a login proves is
//   that later requests come from the browser that made it: each login gets its own principal
//   (`login:<random>`, or `admin:<random>` with the admin token), so two people typing the same
//   name are two principals, and everything a login owns (its real-time sessions, what it may
//   watch and cut) follows the principal, never the name. A login regenerates the web session
//   (a new ID, so a planted cookie is worthless). The cookie is HttpOnly, SameSite=Lax, Path=/;
//   under TLS it is Secure and named __Host-colloquy. Requests that change state must be JSON
//   (./guard.ts says why that and the Origin check defend against cross-site requests).
//
//   Bounds (./limits.ts): logins per address and per node per minute (429 with Retry-After
//   beyond), and a login's record lives only `unusedLoginMs` in the store until it is used
//   (the first request or WebSocket upgrade with its cookie gives it the full idle lifetime), so
//   a flood of logins nobody uses cannot fill the memory store or grow Redis without bound.
//
//   A WebSocket upgrade carries the same cookie: `identify` gives the real-time session the
//   login's principal (read-only, except for marking a fresh login used). Logging out ends the
//   real-time sessions the login owns, on every node (./app.ts, src/web/revocation.ts).
//
//   serve uses logins only through the Logins interface below.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionStore } from '../store/store.js';
import { WebSessions } from '../web/web-sessions.js';
import { attachSession, type SessionRequest } from '../web/node.js';
import type { Revocations } from '../web/revocation.js';
import { isJson } from './guard.js';
import { RateLimiter } from './rate-limit.js';
import type { ServeLimits } from './limits.js';

/** The cookie's base name (`__Host-colloquy` under TLS). */
export const COOKIE_NAME = 'colloquy';
/** A login unused for this long is over. */
export const LOGIN_IDLE_MS = 24 * 60 * 60 * 1000;
/** A login this old is over, however active. */
export const LOGIN_ABSOLUTE_MS = 7 * 24 * 60 * 60 * 1000;
/** Largest request body accepted by the /api endpoints. */
export const MAX_API_BODY_BYTES = 4096;
/** A name: 1 to 32 letters, digits, '_', '-', '.'. */
export const NAME_PATTERN = /^[\p{L}\p{N}_.-]{1,32}$/u;
/** The web sessions' namespace in the store. */
const NAMESPACE = 'serve-web';
/** Fresh logins this node remembers having marked used (so it touches the store once each). */
const MAX_REMEMBERED_USED = 10_000;

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** Who a request or a real-time session is, proven by a login cookie or the admin token. */
export interface Identity {
  /** Unique per login (`login:…`, `admin:…`), or `admin` for the bearer token itself. */
  principal: string;
  /** The display name typed at login. */
  name: string;
  admin: boolean;
}

export interface Logins {
  /** Answers /api/login, /api/me and /api/logout; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * The login these request headers (HTTP or a WebSocket upgrade) carry the cookie of, if any.
   * `secure` (over TLS): only the __Host- cookie counts, never a plain one.
   */
  identify(headers: Headers | undefined, secure: boolean): Promise<Identity | undefined>;
  /** False once this login (its principal) was logged out or has expired; true when the store cannot tell. */
  live(principal: string): Promise<boolean>;
  /** Each logout, for ending the real-time sessions it owns (src/web/revocation.ts). */
  readonly revocations: Revocations;
  close(): Promise<void>;
}

const LOGIN_PATHS = new Map([
  ['/api/me', 'GET'],
  ['/api/login', 'POST'],
  ['/api/logout', 'POST'],
]);

interface LoginData {
  name?: string;
  admin?: boolean;
  fresh?: boolean;
  [key: string]: unknown;
}

export class WebLogins implements Logins {
  readonly sessions: WebSessions;
  private readonly limiter: RateLimiter;
  private readonly used = new Set<string>();

  constructor(
    private readonly store: SessionStore,
    private readonly limits: Pick<
      ServeLimits,
      'loginsPerAddressPerMinute' | 'loginsPerMinute' | 'unusedLoginMs' | 'trackedAddresses'
    >,
    /** True when `token` is the admin token (compared in constant time by the caller). */
    private readonly isAdminToken: (token: string) => boolean,
  ) {
    this.sessions = new WebSessions({
      store,
      cookieName: COOKIE_NAME,
      idleTimeoutMs: LOGIN_IDLE_MS,
      absoluteTimeoutMs: LOGIN_ABSOLUTE_MS,
      namespace: NAMESPACE,
    });
    this.limiter = new RateLimiter({
      perKeyPerMinute: limits.loginsPerAddressPerMinute,
      totalPerMinute: limits.loginsPerMinute,
      maxKeys: limits.trackedAddresses,
    });
  }

  get revocations(): Revocations {
    return this.sessions.revocations;
  }

  async live(principal: string): Promise<boolean> {
    return this.sessions.listSessions(principal).then(
      (found) => found.length > 0,
      () => true,
    );
  }

  async identify(headers: Headers | undefined, secure: boolean): Promise<Identity | undefined> {
    const found = await this.sessions.resolve(headers?.cookie, { secure });
    if (!found?.principal) return undefined;
    const data = found.data as LoginData;
    if (data.fresh === true && !this.used.has(found.id)) {
      // First use of a fresh login: from now on it lives as long as any login.
      const remaining = found.expiresAt - Date.now();
      if (remaining > 0) await this.store.touch(`${NAMESPACE}:${found.id}`, remaining).catch(() => false);
      this.used.add(found.id);
      if (this.used.size > MAX_REMEMBERED_USED) this.used.delete(this.used.values().next().value as string);
    }
    return {
      principal: found.principal,
      name: typeof data.name === 'string' ? data.name : found.principal,
      admin: data.admin === true,
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = LOGIN_PATHS.get(path);
    if (method === undefined) return false;
    if (req.method !== method) return sendJson(res, 405, { error: `use ${method}` }, { allow: method });
    if (path === '/api/login') {
      const turn = this.limiter.take(req.socket.remoteAddress ?? '');
      if (!turn.ok) {
        req.resume();
        const seconds = Math.max(1, Math.ceil(turn.retryAfterMs / 1000));
        const limit =
          turn.scope === 'address'
            ? `${this.limits.loginsPerAddressPerMinute} per minute from one address (loginsPerAddressPerMinute)`
            : `${this.limits.loginsPerMinute} per minute on this server (loginsPerMinute)`;
        return sendJson(
          res,
          429,
          { error: `too many logins: at most ${limit}; try again in ${seconds} s` },
          { 'retry-after': String(seconds) },
        );
      }
    }
    let body: unknown;
    if (method === 'POST') {
      body = await readJsonBody(req, res);
      if (body === undefined) return true;
    }
    if (!(await attachSession(this.sessions, req, res))) return true; // the store failed: answered 503
    const session = (req as SessionRequest).session;
    if (path === '/api/me') {
      const principal = session.principal;
      if (principal === null) return sendJson(res, 401, { error: 'not logged in: POST /api/login with {"name": "…"}' });
      const identity = await this.identify(req.headers, isTls(req));
      return sendJson(res, 200, identity ?? { principal, name: principal, admin: false });
    }
    if (path === '/api/login') {
      const given = typeof body === 'object' && body !== null ? (body as { name?: unknown; adminToken?: unknown }) : {};
      const name = given.name;
      if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
        return sendJson(res, 400, { error: 'the name must be 1 to 32 letters, digits, "_", "-" or "."' });
      }
      let admin = false;
      if (given.adminToken !== undefined) {
        if (typeof given.adminToken !== 'string' || !this.isAdminToken(given.adminToken))
          return sendJson(res, 401, {
            error: 'that is not the admin token (serve prints it at start); leave it out to log in as yourself',
          });
        admin = true;
      }
      const principal = `${admin ? 'admin' : 'login'}:${randomBytes(12).toString('base64url')}`;
      await session.login(principal);
      const data: LoginData = { name, fresh: true, ...(admin ? { admin: true } : {}) };
      await session.update(() => data);
      // Until it is used, the record lives only unusedLoginMs (see the top of this file).
      if (session.id !== null) await this.store.touch(`${NAMESPACE}:${session.id}`, this.limits.unusedLoginMs);
      return sendJson(res, 200, { name, principal, admin });
    }
    await session.destroy();
    res.writeHead(204, { 'cache-control': 'no-store' }).end();
    return true;
  }

  async close(): Promise<void> {
    await this.sessions.close();
  }
}

/** Whether a request came over TLS (serve's https server; serve trusts no proxy header). */
export function isTls(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

/** Reads a JSON body of at most MAX_API_BODY_BYTES; answers the error itself and returns undefined. */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  if (!isJson(req)) {
    sendJson(res, 415, { error: 'send Content-Type: application/json' });
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_API_BODY_BYTES) {
      sendJson(res, 413, { error: `the body is larger than ${MAX_API_BODY_BYTES} bytes` }, { connection: 'close' });
      req.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    sendJson(res, 400, { error: 'the body is not JSON' });
    return undefined;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): true {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(text),
      ...headers,
    })
    .end(text);
  return true;
}
