// The Fastify plugin: `request.session` for every route, saved in `onSend` (before the headers
// go), its cookie set on the same reply.
//
//   await app.register(fastifySessions(sessions));
//
// Written against Fastify's plugin contract by hand instead of importing fastify-plugin:
// `Symbol.for('skip-override')` makes the hooks apply to the whole app rather than to an
// encapsulated child context (this is all fastify-plugin does at runtime), and the types below
// are the few members used, so this module does not need Fastify installed to typecheck.

import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { isStoreError, UNAVAILABLE_BODY, type WebSessions } from './web-sessions.js';
import { WebSession, type SessionData } from './web-session.js';

interface FastifyRequestLike {
  raw: IncomingMessage;
  headers: IncomingMessage['headers'];
  ip: string;
}

interface FastifyReplyLike {
  sent: boolean;
  code(status: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  removeHeader(name: string): FastifyReplyLike;
  getHeaders(): Record<string, unknown>;
  send(payload?: unknown): FastifyReplyLike;
}

interface FastifyInstanceLike {
  decorateRequest(name: string, value: unknown): unknown;
  addHook(
    name: 'onRequest',
    hook: (request: FastifyRequestLike, reply: FastifyReplyLike, next: (error?: Error) => void) => void,
  ): unknown;
  addHook(
    name: 'onSend',
    hook: (
      request: FastifyRequestLike,
      reply: FastifyReplyLike,
      payload: unknown,
      next: (error: Error | null, payload?: unknown) => void,
    ) => void,
  ): unknown;
}

export interface FastifySessionsOptions {
  /** The request property holding the session. Default 'session'. */
  decorator?: string;
}

export type FastifySessionsPlugin = ((
  instance: FastifyInstanceLike,
  options: unknown,
  done: (error?: Error) => void,
) => void) & {
  [key: symbol]: unknown;
};

/** For typing routes: `(request as FastifySessionRequest).session`, or declare it on FastifyRequest. */
export interface FastifySessionRequest<T extends SessionData = SessionData> {
  session: WebSession<T>;
}

function slot(request: FastifyRequestLike): Record<string, unknown> {
  return request as unknown as Record<string, unknown>;
}

/** Sets the session's cookie on the reply and lets it go on (a function, not a closure per reply). */
function finish(
  sessions: WebSessions,
  session: WebSession,
  reply: FastifyReplyLike,
  payload: unknown,
  next: (error: Error | null, payload?: unknown) => void,
): void {
  const cookies = sessions.cookies(session, session.secure);
  for (let i = 0; i < cookies.length; i++) reply.header('set-cookie', cookies[i] as string);
  next(null, payload);
}

/** A load that failed: a bug goes to Fastify, a store failure answers 503 or runs anonymous. */
function loadFailed(
  sessions: WebSessions,
  name: string,
  request: FastifyRequestLike,
  reply: FastifyReplyLike,
  next: (error?: Error) => void,
  secure: boolean,
  error: unknown,
): void {
  if (!isStoreError(error)) {
    next(error as Error);
    return;
  }
  if (sessions.failClosed) {
    reply
      .code(503)
      .header('retry-after', '1')
      .header('content-type', 'text/plain; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(UNAVAILABLE_BODY);
    return; // a hook that answered does not call next
  }
  sessions.report(error);
  slot(request)[name] = sessions.anonymous(secure);
  next();
}

export function fastifySessions(sessions: WebSessions, options: FastifySessionsOptions = {}): FastifySessionsPlugin {
  const name = options.decorator ?? 'session';
  const plugin = ((fastify: FastifyInstanceLike, _options: unknown, done: (error?: Error) => void): void => {
    fastify.decorateRequest(name, null);
    fastify.addHook('onRequest', (request, reply, next) => {
      const raw = request.raw;
      const secure = sessions.isSecure(
        (raw.socket as Partial<TLSSocket>).encrypted === true,
        raw.headers['x-forwarded-proto'],
      );
      let loaded: WebSession | Promise<WebSession>;
      try {
        loaded = sessions.loadNow({
          cookie: raw.headers.cookie,
          secure,
          userAgent: raw.headers['user-agent'],
          address: sessions.trustProxy ? request.ip : raw.socket.remoteAddress,
        });
      } catch (error) {
        loadFailed(sessions, name, request, reply, next, secure, error);
        return;
      }
      // The memory store answers within the call: no promise step before the route.
      if (loaded instanceof WebSession) {
        slot(request)[name] = loaded;
        next();
        return;
      }
      loaded.then(
        (session) => {
          slot(request)[name] = session;
          next();
        },
        (error: unknown) => loadFailed(sessions, name, request, reply, next, secure, error),
      );
    });
    // Callback style, so that the usual reply (nothing to write) passes through synchronously.
    fastify.addHook('onSend', (request, reply, payload, next) => {
      const session = slot(request)[name] as WebSession | null;
      if (!session) {
        next(null, payload);
        return;
      }
      if (!sessions.needsSave(session)) {
        finish(sessions, session, reply, payload, next);
        return;
      }
      sessions.save(session).then(
        () => finish(sessions, session, reply, payload, next),
        (error: unknown) => {
          if (!isStoreError(error)) {
            next(error as Error);
            return;
          }
          if (sessions.failClosed) {
            for (const h of Object.keys(reply.getHeaders())) reply.removeHeader(h);
            reply.code(503).header('retry-after', '1').header('content-type', 'text/plain; charset=utf-8');
            next(null, UNAVAILABLE_BODY);
            return;
          }
          sessions.report(error);
          finish(sessions, session, reply, payload, next);
        },
      );
    });
    done();
  }) as FastifySessionsPlugin;
  plugin[Symbol.for('skip-override')] = true;
  plugin[Symbol.for('fastify.display-name')] = 'colloquy-web-sessions';
  return plugin;
}
