// node:http, Connect and Express: the session as `req.session`, saved before the first byte of
// the response body goes out, its cookie set in the same response.
//
//   const sessions = new WebSessions({ store });
//   app.use(sessionMiddleware(sessions));                          // Express / Connect
//   http.createServer(withSession(sessions, async (req, res) => …)); // plain node:http
//
// How the save is placed: `res.write` and `res.end` are intercepted (on the prototype, see the
// Hook below) so that the first of them waits
// for the save, then sets the cookie and goes on (later calls queue behind it, in order). When
// there is nothing to save (the usual case) they set the cookie and go on synchronously. A
// `res.writeHead` before that only records the status and headers, so nothing has gone out when
// the save finishes. If the save fails, the response becomes a 503 (fail-closed) or goes on
// without the session (`onStoreError: 'anonymous'`); if the headers went out anyway (flushHeaders),
// the connection is cut rather than pretending the write happened.

import { IncomingMessage, ServerResponse } from 'node:http';
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
  patchPrototypes();
  return (req, res, next) => {
    const secure = secureOf(sessions, req);
    let loaded: WebSession | Promise<WebSession>;
    try {
      loaded = sessions.loadNow(loadInput(sessions, req, secure));
    } catch (error) {
      failedThenNext(sessions, req, res, secure, error, next);
      return;
    }
    // The memory store answers within the call: next() with no promise step in between.
    if (loaded instanceof WebSession) {
      install(sessions, loaded, req, res, secure);
      next();
      return;
    }
    // Otherwise one promise step from the store's answer to next().
    loaded.then(
      (session) => {
        install(sessions, session, req, res, secure);
        next();
      },
      (error: unknown) => failedThenNext(sessions, req, res, secure, error, next),
    );
  };
}

function failedThenNext(
  sessions: WebSessions,
  req: IncomingMessage,
  res: ServerResponse,
  secure: boolean,
  error: unknown,
  next: Next,
): void {
  let ok: boolean;
  try {
    ok = loadFailed(sessions, req, res, secure, error);
  } catch (e) {
    next(e);
    return;
  }
  if (ok) next();
}

/** Plain node:http: wraps a request handler so it runs with `req.session`. */
export function withSession<T extends SessionData = SessionData>(
  sessions: WebSessions,
  handler: (req: SessionRequest<T>, res: ServerResponse) => unknown,
): (req: IncomingMessage, res: ServerResponse) => void {
  patchPrototypes();
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
  patchPrototypes();
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

// The hook on one response. Nothing is added to the request or the response (no property, no
// closure): Express sets the prototype of every request and response (`Object.setPrototypeOf`),
// and after that every property added to one of them makes V8 copy its whole hidden class (a
// ServerResponse has about 40 fields): measured 8 to 12 µs per added property, three wrapped
// methods and `req.session` about 30 µs per request, more than the session logic itself.
//
// Instead, once per process (the first time a session middleware is made): `write`, `end` and
// `writeHead` are defined on ServerResponse.prototype, where every response's methods bottom out
// whatever prototype a framework gives it (an Express sub-app, a second copy of Express), and
// `session` becomes an accessor on IncomingMessage.prototype. Both look the request up in a
// WeakMap: a response without a Colloquy session goes straight to Node's own method (one WeakMap
// miss), one with a session goes through its Hook. Assigning `req.session` (express-session, a
// test) still makes an own property, as before. Wrappers installed per response by other
// middleware (compression, express-session) sit above this one and reach it when they write.

type AnyFn = (...a: unknown[]) => unknown;

/** The hook of each request that has a Colloquy session, keyed by its IncomingMessage (res.req). */
const HOOKS = new WeakMap<object, Hook>();

// The methods the replacements stand on: Node's own, or another library's patch installed before.
let nodeWrite = ServerResponse.prototype.write as AnyFn;
let nodeEnd = ServerResponse.prototype.end as AnyFn;
let nodeWriteHead = ServerResponse.prototype.writeHead as AnyFn;

let patched = false;

/** Installs the prototype hooks described above (once; later calls do nothing). */
function patchPrototypes(): void {
  if (patched) return;
  patched = true;
  const previous = Object.getOwnPropertyDescriptor(IncomingMessage.prototype, 'session');
  const before = previous?.get;
  Object.defineProperty(IncomingMessage.prototype, 'session', {
    configurable: true,
    enumerable: false,
    get(this: IncomingMessage): unknown {
      const h = HOOKS.get(this);
      return h !== undefined ? h.session : before?.call(this);
    },
    set(this: IncomingMessage, value: unknown) {
      Object.defineProperty(this, 'session', { value, writable: true, configurable: true, enumerable: true });
    },
  });
  const write = (nodeWrite = ServerResponse.prototype.write as AnyFn);
  const end = (nodeEnd = ServerResponse.prototype.end as AnyFn);
  const writeHead = (nodeWriteHead = ServerResponse.prototype.writeHead as AnyFn);
  // Three fixed parameters, not rest parameters: no array per call. Node's methods read their
  // arguments by type, so an explicit undefined is the same as one not given.
  Object.defineProperties(ServerResponse.prototype, {
    write: {
      configurable: true,
      writable: true,
      value: function (this: ServerResponse, a?: unknown, b?: unknown, c?: unknown): unknown {
        const h = HOOKS.get(this.req);
        return h === undefined || h.res !== this ? write.call(this, a, b, c) : h.onWrite(a, b, c);
      },
    },
    end: {
      configurable: true,
      writable: true,
      value: function (this: ServerResponse, a?: unknown, b?: unknown, c?: unknown): unknown {
        const h = HOOKS.get(this.req);
        return h === undefined || h.res !== this ? end.call(this, a, b, c) : h.onEnd(a, b, c);
      },
    },
    writeHead: {
      configurable: true,
      writable: true,
      value: function (this: ServerResponse, a?: unknown, b?: unknown, c?: unknown): unknown {
        const h = HOOKS.get(this.req);
        return h === undefined || h.res !== this ? writeHead.call(this, a, b, c) : h.onWriteHead(a, b, c);
      },
    },
  });
}

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
      nodeEnd.call(res, isStoreError(error) ? UNAVAILABLE_BODY : 'Internal error\n');
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
  onWriteHead(status: unknown, second: unknown, third: unknown): unknown {
    const res = this.res;
    if (this.open || res.headersSent) return nodeWriteHead.call(res, status, second, third);
    const headers = typeof second === 'string' ? third : second;
    res.statusCode = status as number;
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

  onWrite(a: unknown, b: unknown, c: unknown): unknown {
    if (this.nothingToSave()) return nodeWrite.call(this.res, a, b, c);
    void this.first().then((ok) => {
      if (ok) nodeWrite.call(this.res, a, b, c);
    });
    return true;
  }

  onEnd(a: unknown, b: unknown, c: unknown): unknown {
    if (this.nothingToSave() && !this.session.dirty) return nodeEnd.call(this.res, a, b, c);
    const go = (ok: boolean): void => {
      if (ok) nodeEnd.call(this.res, a, b, c);
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
  HOOKS.set(req, new Hook(sessions, session, res, secure));
  // A `session` of its own (another session middleware ran first) would hide the accessor.
  if (Object.prototype.hasOwnProperty.call(req, 'session')) (req as SessionRequest).session = session;
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
