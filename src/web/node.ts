// node:http, Connect and Express: the session as `req.session`, saved before the first byte of
// the response body goes out, its cookie set in the same response.
//
//   const sessions = new WebSessions({ store });
//   app.use(sessionMiddleware(sessions));                          // Express / Connect
//   http.createServer(withSession(sessions, async (req, res) => …)); // plain node:http
//
// How the save is placed: `res.write` and `res.end` are wrapped so that the first of them waits
// for the save, then sets the cookie and goes on (later calls queue behind it, in order). A
// `res.writeHead` before that only records the status and headers, so nothing has gone out when
// the save finishes. If the save fails, the response becomes a 503 (fail-closed) or goes on
// without the session (`onStoreError: 'anonymous'`); if the headers went out anyway (flushHeaders),
// the connection is cut rather than pretending the write happened.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { isStoreError, UNAVAILABLE_BODY, type WebSessions } from './web-sessions.js';
import { WebSession, type SessionData } from './web-session.js';

export interface SessionRequest<T extends SessionData = SessionData> extends IncomingMessage {
  session: WebSession<T>;
}

type Next = (error?: unknown) => void;

/**
 * The session of a request that went through this middleware, the Fastify plugin (`decorator`)
 * or withSession, typed, without declaration merging (which would clash with express-session's).
 */
export function sessionOf<T extends SessionData = SessionData>(request: object, decorator = 'session'): WebSession<T> {
  const session = (request as Record<string, unknown>)[decorator];
  if (!(session instanceof WebSession)) throw new TypeError(`no Colloquy session on this request: install sessionMiddleware / fastifySessions / withSession before this handler`);
  return session as WebSession<T>;
}

/** Connect / Express middleware: `req.session` for every request after it. */
export function sessionMiddleware(sessions: WebSessions): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (req, res, next) => {
    attachSession(sessions, req, res).then((ok) => { if (ok) next(); }, next);
  };
}

/** Plain node:http: wraps a request handler so it runs with `req.session`. */
export function withSession<T extends SessionData = SessionData>(
  sessions: WebSessions,
  handler: (req: SessionRequest<T>, res: ServerResponse) => unknown,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    attachSession(sessions, req, res)
      .then(async (ok) => { if (ok) await handler(req as SessionRequest<T>, res); })
      .catch((error: unknown) => {
        sessions.report(error);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Internal error\n');
        else res.destroy(error instanceof Error ? error : new Error(String(error)));
      });
  };
}

/**
 * Loads the session onto `req.session` and arranges its save and cookie. Resolves false when it
 * has already answered (503: the store failed and the sessions fail closed).
 */
export async function attachSession(sessions: WebSessions, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const secure = sessions.isSecure((req.socket as Partial<TLSSocket>).encrypted === true, req.headers['x-forwarded-proto']);
  let session: WebSession;
  try {
    session = await sessions.load({ cookie: req.headers.cookie, secure, userAgent: req.headers['user-agent'], address: clientAddress(sessions, req) });
  } catch (error) {
    if (!isStoreError(error)) throw error;
    if (sessions.failClosed) { answer503(res); return false; }
    sessions.report(error);
    session = sessions.anonymous(secure);
  }
  (req as SessionRequest).session = session;
  install(sessions, session, res, secure);
  return true;
}

function install(sessions: WebSessions, session: WebSession, res: ServerResponse, secure: boolean): void {
  const { write, end, writeHead } = res;
  let cookiesSet = false;
  let gate: Promise<boolean> | null = null;
  let open = false;

  const setCookies = (): void => {
    if (cookiesSet || res.headersSent) return;
    cookiesSet = true;
    for (const c of sessions.cookies(session, secure)) res.appendHeader('set-cookie', c);
  };
  /** Saves; true to go on with the response, false when it was replaced by a 503 or cut. */
  const save = async (): Promise<boolean> => {
    try {
      await sessions.save(session);
      return true;
    } catch (error) {
      if (isStoreError(error) && !sessions.failClosed) { sessions.report(error); return true; }
      if (!res.headersSent) {
        cookiesSet = true;
        open = true; // writeHead passes through from here (end() calls it for the 503)
        res.statusCode = isStoreError(error) ? 503 : 500;
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        res.setHeader('retry-after', '1');
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        (end as (...a: unknown[]) => ServerResponse).call(res, isStoreError(error) ? UNAVAILABLE_BODY : 'Internal error\n');
      } else {
        res.destroy(error instanceof Error ? error : new Error(String(error)));
      }
      return false;
    }
  };
  const first = (): Promise<boolean> =>
    (gate ??= save().then((ok) => {
      if (ok) setCookies();
      open = ok;
      return ok;
    }));

  // Before the save, writeHead only records status and headers (they go out with the first byte,
  // after the save), so a failed save can still become a clean 503.
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (open || res.headersSent) return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    const [status, second, third] = args as [number, unknown, unknown];
    const headers = typeof second === 'string' ? third : second;
    res.statusCode = status;
    if (typeof second === 'string') res.statusMessage = second;
    if (Array.isArray(headers)) {
      const flat = (headers as unknown[]).flat() as string[];
      for (let i = 0; i + 1 < flat.length; i += 2) res.appendHeader(flat[i] as string, flat[i + 1] as string);
    } else if (headers && typeof headers === 'object') {
      for (const [k, v] of Object.entries(headers as Record<string, string | number | string[] | undefined>)) if (v !== undefined) res.setHeader(k, v);
    }
    return res;
  } as typeof res.writeHead;

  /** Nothing to write (the usual case): set the cookie now and let the response go on synchronously. */
  const nothingToSave = (): boolean => {
    if (open || gate || sessions.needsSave(session)) return open;
    setCookies();
    open = true;
    return true;
  };

  res.write = function (this: ServerResponse, ...args: unknown[]): boolean {
    if (nothingToSave()) return (write as (...a: unknown[]) => boolean).apply(this, args);
    void first().then((ok) => { if (ok) (write as (...a: unknown[]) => boolean).apply(res, args); });
    return true;
  } as typeof res.write;

  res.end = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
    if (nothingToSave() && !session.dirty) return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    const go = (ok: boolean): void => { if (ok) (end as (...a: unknown[]) => ServerResponse).apply(res, args); };
    if (!open) void first().then(go);
    // Changes made after the body started are still saved before the response ends.
    else if (session.dirty) void save().then(go);
    else go(true);
    return res;
  } as typeof res.end;
}

function answer503(res: ServerResponse): void {
  res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(UNAVAILABLE_BODY);
}

function clientAddress(sessions: WebSessions, req: IncomingMessage): string | undefined {
  if (sessions.trustProxy) {
    const f = req.headers['x-forwarded-for'];
    const first = (Array.isArray(f) ? f[0] : f)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress;
}
