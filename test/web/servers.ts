// The same small app on three real HTTP servers on loopback (node:http with withSession, Express 5
// with sessionMiddleware, Fastify 5 with fastifySessions), each driven by fetch. Routes:
//
//   GET  /me                 { id, isNew, principal, data }
//   POST /set?k=&v=          session.set(k, v)
//   POST /inc?k=             { n: await session.increment(k) }
//   POST /login?user=&keep=  session.login(user, { keep })
//   POST /logout             session.destroy()
//   GET  /stream             two body chunks after a set (the save must precede the first byte)

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import {
  fastifySessions,
  sessionMiddleware,
  sessionOf,
  withSession,
  type WebSession,
  type WebSessions,
} from '../../src/web/index.js';

export type Framework = 'node' | 'express' | 'fastify';
export const FRAMEWORKS: Framework[] = ['node', 'express', 'fastify'];

export interface App {
  base: string;
  close(): Promise<void>;
}

type Reply = { status?: number; json?: unknown; chunks?: string[] };

async function route(session: WebSession, method: string, url: URL): Promise<Reply> {
  const q = url.searchParams;
  switch (`${method} ${url.pathname}`) {
    case 'GET /me':
      return {
        json: {
          id: session.id,
          isNew: session.isNew,
          principal: session.principal,
          data: session.data,
          available: session.available,
        },
      };
    case 'POST /set':
      session.set(q.get('k') as string, q.get('v'));
      return { json: { ok: true } };
    case 'POST /inc':
      return { json: { n: await session.increment(q.get('k') ?? 'n') } };
    case 'POST /login':
      await session.login(q.get('user') as string, { keep: q.getAll('keep') });
      return { json: { id: session.id } };
    case 'POST /logout':
      await session.destroy();
      return { json: { ok: true } };
    case 'GET /stream':
      session.set('streamed', 'yes');
      return { chunks: ['one,', 'two'] };
    default:
      return { status: 404, json: { error: 'not found' } };
  }
}

function sendNode(res: http.ServerResponse, r: Reply): void {
  if (r.chunks) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    for (const c of r.chunks) res.write(c);
    res.end();
    return;
  }
  res.statusCode = r.status ?? 200;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(r.json));
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startApp(framework: Framework, sessions: WebSessions): Promise<App> {
  if (framework === 'node') {
    const server = http.createServer(
      withSession(sessions, async (req, res) => {
        sendNode(res, await route(req.session, req.method ?? 'GET', new URL(req.url ?? '/', 'http://x')));
      }),
    );
    const base = await listen(server);
    return { base, close: () => closeServer(server) };
  }
  if (framework === 'express') {
    const app = express();
    app.use(sessionMiddleware(sessions));
    app.use((req, res, next) => {
      route(sessionOf(req), req.method, new URL(req.originalUrl, 'http://x')).then((r) => {
        if (r.chunks) sendNode(res, r);
        else res.status(r.status ?? 200).json(r.json);
      }, next);
    });
    const server = http.createServer(app);
    const base = await listen(server);
    return { base, close: () => closeServer(server) };
  }
  const app = Fastify();
  await app.register(fastifySessions(sessions));
  app.all('/*', async (request, reply) => {
    const r = await route(sessionOf(request), request.method, new URL(request.url, 'http://x'));
    if (r.chunks) return reply.type('text/plain').send(r.chunks.join(''));
    return reply.code(r.status ?? 200).send(r.json);
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return { base, close: () => app.close() };
}

/** A cookie jar of one cookie, enough for these tests. */
export class Client {
  cookie: string | undefined;
  lastSetCookie: string[] = [];

  constructor(
    readonly base: string,
    readonly headers: Record<string, string> = {},
  ) {}

  async call(
    method: string,
    path: string,
  ): Promise<{
    status: number;
    body: Record<string, unknown> & { n?: number; id?: string | null; data?: Record<string, unknown> };
    text: string;
    setCookie: string[];
  }> {
    const headers: Record<string, string> = { ...this.headers };
    if (this.cookie) headers.cookie = this.cookie;
    const res = await fetch(this.base + path, { method, headers });
    const text = await res.text();
    this.lastSetCookie = res.headers.getSetCookie();
    for (const c of this.lastSetCookie) {
      const pair = c.split(';')[0] as string;
      const maxAge = /Max-Age=(\d+)/.exec(c);
      this.cookie = maxAge && maxAge[1] === '0' ? undefined : pair;
    }
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, text, setCookie: this.lastSetCookie };
  }

  me() {
    return this.call('GET', '/me');
  }
}
