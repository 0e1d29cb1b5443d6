// Login by name for the web page, on an HTTP session cookie.
//
//   POST /api/login   {"name":"ada"}  -> 200 {"name":"ada"} and Set-Cookie: colloquy.sid=…
//   GET  /api/me                      -> 200 {"name":"ada"} or 401
//   POST /api/logout                  -> 204, the cookie cleared and the login forgotten
//
// Theory of operation
//   There are no passwords: a name is claimed, as in a chat room. The cookie holds 32 random
//   bytes (hex); the login table maps it to the name, in this process, bounded by MAX_LOGINS
//   (the oldest is dropped first) and LOGIN_TTL_MS of inactivity. The cookie is HttpOnly,
//   SameSite=Lax, Path=/, and Secure under TLS. Requests that change state must be JSON
//   (Content-Type application/json), which a cross-site form cannot send without a CORS
//   preflight this server never answers: that is the CSRF defence.
//
//   A WebSocket upgrade carries the same cookie: `nameFromHeaders` gives the real-time session
//   the page's login as its principal name.
//
//   This module is the interface serve uses for logins (Logins). It is kept apart so that the
//   shared HTTP-session layer (src/web/) can replace its implementation without touching the
//   rest of serve.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const COOKIE_NAME = 'colloquy.sid';
/** Logins held at once; the oldest goes first. */
export const MAX_LOGINS = 10_000;
/** A login unused for this long is forgotten. */
export const LOGIN_TTL_MS = 24 * 60 * 60 * 1000;
/** Largest request body accepted by the /api endpoints. */
export const MAX_API_BODY_BYTES = 4096;
/** A name: 1 to 32 letters, digits, '_', '-', '.'. */
export const NAME_PATTERN = /^[\p{L}\p{N}_.-]{1,32}$/u;

export interface Logins {
  /** Answers /api/login, /api/me and /api/logout; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** The logged-in name for these request headers (HTTP or a WebSocket upgrade), if any. */
  nameFromHeaders(headers: IncomingMessage['headers'] | Readonly<Record<string, string | string[] | undefined>> | undefined): string | undefined;
  close(): void;
}

interface Login { name: string; lastUsed: number }

export class CookieLogins implements Logins {
  private readonly logins = new Map<string, Login>();

  constructor(private readonly options: { secure: boolean; now?: () => number }) {}

  private now(): number { return this.options.now?.() ?? Date.now(); }

  nameFromHeaders(headers: Readonly<Record<string, string | string[] | undefined>> | undefined): string | undefined {
    const id = readCookie(headers?.cookie, COOKIE_NAME);
    if (id === undefined) return undefined;
    const login = this.logins.get(id);
    if (!login) return undefined;
    if (this.now() - login.lastUsed > LOGIN_TTL_MS) { this.logins.delete(id); return undefined; }
    login.lastUsed = this.now();
    // Most recently used last, so the bound drops the least recently used.
    this.logins.delete(id);
    this.logins.set(id, login);
    return login.name;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/api/me') {
      if (req.method !== 'GET') return sendJson(res, 405, { error: 'use GET' }, { allow: 'GET' });
      const name = this.nameFromHeaders(req.headers);
      return name === undefined ? sendJson(res, 401, { error: 'not logged in: POST /api/login with {"name": "…"}' }) : sendJson(res, 200, { name });
    }
    if (path === '/api/login') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
      const body = await readJsonBody(req, res);
      if (body === undefined) return true;
      const name = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined;
      if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
        return sendJson(res, 400, { error: 'the name must be 1 to 32 letters, digits, "_", "-" or "."' });
      }
      const old = readCookie(req.headers.cookie, COOKIE_NAME);
      if (old !== undefined) this.logins.delete(old);
      const id = randomBytes(32).toString('hex');
      this.logins.set(id, { name, lastUsed: this.now() });
      while (this.logins.size > MAX_LOGINS) this.logins.delete(this.logins.keys().next().value as string);
      return sendJson(res, 200, { name }, { 'set-cookie': this.cookie(id, LOGIN_TTL_MS / 1000) });
    }
    if (path === '/api/logout') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
      if (!isJson(req)) return sendJson(res, 415, { error: 'send Content-Type: application/json' });
      req.resume();
      const id = readCookie(req.headers.cookie, COOKIE_NAME);
      if (id !== undefined) this.logins.delete(id);
      res.writeHead(204, { 'set-cookie': this.cookie('', 0), 'cache-control': 'no-store' }).end();
      return true;
    }
    return false;
  }

  private cookie(value: string, maxAgeSeconds: number): string {
    return `${COOKIE_NAME}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(maxAgeSeconds)}${this.options.secure ? '; Secure' : ''}`;
  }

  close(): void { this.logins.clear(); }
}

export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return /^[0-9a-f]{64}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
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
