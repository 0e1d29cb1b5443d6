// Login by name for the web page, on an HTTP session cookie (the shared web-session layer,
// src/web: split-ID cookie, hashed secret in the store, idle and absolute expiry).
//
//   POST /api/login   {"name":"ada"}  -> 200 {"name":"ada"} and Set-Cookie: colloquy=…
//   GET  /api/me                      -> 200 {"name":"ada"} or 401
//   POST /api/logout                  -> 204, the web session destroyed and its cookie cleared
//
// Theory of operation
//   There are no passwords: a name is claimed, as in a chat room. A login regenerates the web
//   session (a new ID, so a planted cookie is worthless) and names the principal. The web
//   sessions live in serve's store: in memory by default, in Redis with --store redis://…, where
//   a login made on one node is valid on every node. The cookie is HttpOnly, SameSite=Lax,
//   Path=/; under TLS it is Secure and named __Host-colloquy. Requests that change state must be
//   JSON (Content-Type application/json), which a cross-site form cannot send without a CORS
//   preflight this server never answers: that is the CSRF defence.
//
//   A WebSocket upgrade carries the same cookie: `nameFromHeaders` gives the real-time session
//   the page's login as its principal name (read-only: it does not touch the web session).
//
//   serve uses logins only through the Logins interface below.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionStore } from '../store/store.js';
import { WebSessions } from '../web/web-sessions.js';
import { attachSession, type SessionRequest } from '../web/node.js';

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

type Headers = Readonly<Record<string, string | string[] | undefined>>;

export interface Logins {
  /** Answers /api/login, /api/me and /api/logout; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** The logged-in name for these request headers (HTTP or a WebSocket upgrade), if any. */
  nameFromHeaders(headers: Headers | undefined): Promise<string | undefined>;
  close(): Promise<void>;
}

const LOGIN_PATHS = new Map([['/api/me', 'GET'], ['/api/login', 'POST'], ['/api/logout', 'POST']]);

export class WebLogins implements Logins {
  readonly sessions: WebSessions;

  constructor(store: SessionStore) {
    this.sessions = new WebSessions({ store, cookieName: COOKIE_NAME, idleTimeoutMs: LOGIN_IDLE_MS, absoluteTimeoutMs: LOGIN_ABSOLUTE_MS, namespace: 'serve-web' });
  }

  async nameFromHeaders(headers: Headers | undefined): Promise<string | undefined> {
    const found = await this.sessions.resolve(headers?.cookie);
    return found?.principal ?? undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = LOGIN_PATHS.get(path);
    if (method === undefined) return false;
    if (req.method !== method) return sendJson(res, 405, { error: `use ${method}` }, { allow: method });
    let body: unknown;
    if (method === 'POST') {
      body = await readJsonBody(req, res);
      if (body === undefined) return true;
    }
    if (!(await attachSession(this.sessions, req, res))) return true; // the store failed: answered 503
    const session = (req as SessionRequest).session;
    if (path === '/api/me') {
      const name = session.principal;
      return name === null ? sendJson(res, 401, { error: 'not logged in: POST /api/login with {"name": "…"}' }) : sendJson(res, 200, { name });
    }
    if (path === '/api/login') {
      const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined;
      if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
        return sendJson(res, 400, { error: 'the name must be 1 to 32 letters, digits, "_", "-" or "."' });
      }
      await session.login(name);
      return sendJson(res, 200, { name });
    }
    await session.destroy();
    res.writeHead(204, { 'cache-control': 'no-store' }).end();
    return true;
  }

  async close(): Promise<void> { await this.sessions.close(); }
}

function isJson(req: IncomingMessage): boolean {
  return /^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '');
}

/** Reads a JSON body of at most MAX_API_BODY_BYTES; answers the error itself and returns undefined. */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  if (!isJson(req)) { sendJson(res, 415, { error: 'send Content-Type: application/json' }); req.resume(); return undefined; }
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

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): true {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
  return true;
}
