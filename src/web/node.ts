// node:http, Connect and Express: the session as `req.session`, saved before the first byte of
// the response body goes out, its cookie set in the same response.
//
//   const sessions = new WebSessions({ store });
//   app.use(sessionMiddleware(sessions));                          // Express / Connect
//   http.createServer(withSession(sessions, async (req, res) => …)); // plain node:http
//
// How the save is placed: `res.write` and `res.end` are wrapped so that the first of them waits
// for the save, then sets the cookie and goes on (later calls queue behind it, in order). When
// there is nothing to save (the usual case) they set the cookie and go on synchronously. A
// `res.writeHead` before that only records the status and headers, so nothing has gone out when
// the save finishes. If the save fails, the response becomes a 503 (fail-closed) or goes on
// without the session (`onStoreError: 'anonymous'`); if the headers went out anyway (flushHeaders),
// the connection is cut rather than pretending the write happened.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { isStoreError, UNAVAILABLE_BODY, type LoadInput, type WebSessions } from './web-sessions.js';
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
  if (!(session instanceof WebSession))
    throw new TypeError(
      `no Colloquy session on this request: install sessionMiddleware / fastifySessions / withSession before this handler`,
    );
  return session as WebSession<T>;
}

/** Connect / Express middleware: `req.session` for every request after it. */
export function sessionMiddleware(
  sessions: WebSessions,
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (req, res, next) => {
    // One promise hop from the store's answer to next(): this is on every request's path.
    const secure = secureOf(sessions, req);
    sessions.load(loadInput(sessions, req, secure)).then(
      (session) => {
        install(sessions, session, req, res, secure);
        next();
      },
      (error: unknown) => {
        let ok: boolean;
        try {
          ok = loadFailed(sessions, req, res, secure, error);
        } catch (e) {
          next(e);
          return;
        }
        if (ok) next();
      },
    );
  };
}

/** Plain node:http: wraps a request handler so it runs with `req.session`. */
export function withSession<T extends SessionData = SessionData>(
  sessions: WebSessions,
  handler: (req: SessionRequest<T>, res: ServerResponse) => unknown,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    attachSession(sessions, req, res)
      .then(async (ok) => {
        if (ok) await handler(req as SessionRequest<T>, res);
      })
      .catch((error: unknown) => {
        sessions.report(error);
        if (!res.headersSent)
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Internal error\n');
        else res.destroy(error instanceof Error ? error : new Error(String(error)));
      });
  };
}

/**
 * Loads the session onto `req.session` and arranges its save and cookie. Resolves false when it
 * has already answered (503: the store failed and the sessions fail closed).
 */
export function attachSession(sessions: WebSessions, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const secure = secureOf(sessions, req);
  let input: LoadInput;
  try {
    input = loadInput(sessions, req, secure);
  } catch (error) {
    return Promise.reject(error);
  }
  return sessions.load(input).then(
    (session) => {
      install(sessions, session, req, res, secure);
      return true;
    },
    (error: unknown) => loadFailed(sessions, req, res, secure, error),
  );
}

function secureOf(sessions: WebSessions, req: IncomingMessage): boolean {
  return sessions.isSecure((req.socket as Partial<TLSSocket>).encrypted === true, req.headers['x-forwarded-proto']);
}

function loadInput(sessions: WebSessions, req: IncomingMessage, secure: boolean): LoadInput {
  return {
    cookie: req.headers.cookie,
    secure,
    userAgent: req.headers['user-agent'],
    address: clientAddress(sessions, req),
  };
}

/** A failed load: true to go on (anonymous), false when answered (503); rethrows what is not a store failure. */
function loadFailed(
  sessions: WebSessions,
  req: IncomingMessage,
  res: ServerResponse,
  secure: boolean,
  error: unknown,
): boolean {
  if (!isStoreError(error)) throw error;
  if (sessions.failClosed) {
    answer503(res);
    return false;
  }
  sessions.report(error);
  install(sessions, sessions.anonymous(secure), req, res, secure);
  return true;
}

// The hook on one response: its state and logic live in one object; the replacements of write,
// end and writeHead are three small closures calling into it. Nothing else is added to the
// response: after Express has set the response's prototype, every property added to it costs
// microseconds (a new hidden class each time), so the hook adds only the three it must.

type AnyFn = (...a: unknown[]) => unknown;

class Hook {
  cookiesSet = false;
  gate: Promise<boolean> | null = null;
  /** The save is done (or not needed): writes pass straight through. */
  open = false;

  constructor(
    readonly sessions: WebSessions,
    readonly session: WebSession,
    readonly res: ServerResponse,
    readonly secure: boolean,
    readonly write: AnyFn,
    readonly end: AnyFn,
    readonly writeHead: AnyFn,
  ) {}

  setCookies(): void {
    if (this.cookiesSet || this.res.headersSent) return;
    this.cookiesSet = true;
    const cookies = this.sessions.cookies(this.session, this.secure);
    for (let i = 0; i < cookies.length; i++) this.res.appendHeader('set-cookie', cookies[i] as string);
  }

  /** Saves; true to go on with the response, false when it was replaced by a 503 or cut. */
  save(): Promise<boolean> {
    return this.sessions.save(this.session).then(
      () => true,
      (error: unknown) => this.saveFailed(error),
    );
  }

  private saveFailed(error: unknown): boolean {
    const { sessions, res } = this;
    if (isStoreError(error) && !sessions.failClosed) {
      sessions.report(error);
      return true;
    }
    if (!res.headersSent) {
      this.cookiesSet = true;
      this.open = true; // writeHead passes through from here (end() calls it for the 503)
      res.statusCode = isStoreError(error) ? 503 : 500;
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.setHeader('retry-after', '1');
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      this.end.call(res, isStoreError(error) ? UNAVAILABLE_BODY : 'Internal error\n');
    } else {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    }
    return false;
  }

  first(): Promise<boolean> {
    return (this.gate ??= this.save().then((ok) => {
      if (ok) this.setCookies();
      this.open = ok;
      return ok;
    }));
  }

  /** Nothing to write (the usual case): set the cookie now and let the response go on synchronously. */
  nothingToSave(): boolean {
    if (this.open || this.gate || this.sessions.needsSave(this.session)) return this.open;
    this.setCookies();
    this.open = true;
    return true;
  }

  /** Before the save, writeHead only records status and headers (they go out with the first byte, after the save), so a failed save can still become a clean 503. */
  onWriteHead(self: ServerResponse, args: unknown[]): ServerResponse {
    const res = this.res;
    if (this.open || res.headersSent) return this.writeHead.apply(self, args) as ServerResponse;
    const [status, second, third] = args as [number, unknown, unknown];
    const headers = typeof second === 'string' ? third : second;
    res.statusCode = status;
    if (typeof second === 'string') res.statusMessage = second;
    if (Array.isArray(headers)) {
      const flat = (headers as unknown[]).flat() as string[];
      for (let i = 0; i + 1 < flat.length; i += 2) res.appendHeader(flat[i] as string, flat[i + 1] as string);
    } else if (headers && typeof headers === 'object') {
      for (const [k, v] of Object.entries(headers as Record<string, string | number | string[] | undefined>))
        if (v !== undefined) res.setHeader(k, v);
    }
    return res;
  }

  onWrite(self: ServerResponse, args: unknown[]): boolean {
    if (this.nothingToSave()) return this.write.apply(self, args) as boolean;
    void this.first().then((ok) => {
      if (ok) this.write.apply(this.res, args);
    });
    return true;
  }

  onEnd(self: ServerResponse, args: unknown[]): ServerResponse {
    if (this.nothingToSave() && !this.session.dirty) return this.end.apply(self, args) as ServerResponse;
    const go = (ok: boolean): void => {
      if (ok) this.end.apply(this.res, args);
    };
    if (!this.open) void this.first().then(go);
    // Changes made after the body started are still saved before the response ends.
    else if (this.session.dirty) void this.save().then(go);
    else go(true);
    return this.res;
  }
}

function install(
  sessions: WebSessions,
  session: WebSession,
  req: IncomingMessage,
  res: ServerResponse,
  secure: boolean,
): void {
  (req as SessionRequest).session = session;
  const h = new Hook(sessions, session, res, secure, res.write as AnyFn, res.end as AnyFn, res.writeHead as AnyFn);
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    return h.onWriteHead(this, args);
  } as typeof res.writeHead;
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    return h.onWrite(this, args);
  } as typeof res.write;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    return h.onEnd(this, args);
  } as typeof res.end;
}

function answer503(res: ServerResponse): void {
  res
    .writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
    .end(UNAVAILABLE_BODY);
}

function clientAddress(sessions: WebSessions, req: IncomingMessage): string | undefined {
  if (sessions.trustProxy) {
    const f = req.headers['x-forwarded-for'];
    const first = (Array.isArray(f) ? f[0] : f)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress;
}
