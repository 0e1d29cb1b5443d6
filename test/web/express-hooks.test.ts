// The node/Express adapter intercepts write/end/writeHead on ServerResponse.prototype and finds
// the session through a WeakMap (src/web/node.ts), so nothing is added to the request or the
// response. These cases are the ones a per-app prototype could miss: a route in a mounted
// sub-app, a session middleware inside a sub-app with the response finished after the request
// left it, a wrapper another middleware installed on the response, and responses without a session.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { sessionMiddleware, sessionOf, WebSessions } from '../../src/web/index.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function serve(app: http.RequestListener): Promise<string> {
  const server = http.createServer(app);
  closers.push(
    () =>
      new Promise((resolve) => {
        server.close(() => resolve(undefined));
        server.closeAllConnections();
      }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function sessions(): WebSessions {
  const s = new WebSessions({ store: new MemoryStore({ sweepIntervalMs: 0 }) });
  closers.push(() => s.store.close());
  return s;
}

/** POST twice with the cookie of the first answer: the second must see the first's write. */
async function twice(url: string): Promise<{ first: unknown; second: unknown; cookie: string | undefined }> {
  const a = await fetch(url, { method: 'POST' });
  const first = await a.json();
  const cookie = a.headers.getSetCookie()[0]?.split(';')[0];
  const b = await fetch(url, { method: 'POST', headers: cookie ? { cookie } : {} });
  return { first, second: await b.json(), cookie };
}

describe('Express: the save happens before the headers wherever the response ends', () => {
  it('a route in a mounted sub-app (its own request/response prototypes)', async () => {
    const app = express();
    app.use(sessionMiddleware(sessions()));
    const sub = express();
    sub.post('/set', (req, res) => {
      sessionOf(req).set('k', 'v');
      res.json({ k: sessionOf(req).get('k') });
    });
    sub.post('/get', (req, res) => {
      res.json({ k: sessionOf(req).get('k') ?? null });
    });
    app.use('/sub', sub);
    const base = await serve(app);
    const a = await fetch(`${base}/sub/set`, { method: 'POST' });
    expect(await a.json()).toEqual({ k: 'v' });
    const cookie = a.headers.getSetCookie()[0]?.split(';')[0];
    expect(cookie).toMatch(/^sid=/);
    const b = await fetch(`${base}/sub/get`, { method: 'POST', headers: { cookie: cookie as string } });
    expect(await b.json()).toEqual({ k: 'v' });
  });

  it('the middleware inside a sub-app, the response written by the parent after the request left it', async () => {
    const app = express();
    const sub = express();
    sub.use(sessionMiddleware(sessions()));
    sub.use((req, _res, next) => {
      sessionOf(req).set('seen', ((sessionOf(req).get('seen') as number | undefined) ?? 0) + 1);
      next();
    });
    app.use(sub);
    // Express has set the parent's prototypes again here; the session is still on the request.
    app.post('/after', (req, res) => {
      res.json({ seen: sessionOf(req).get('seen') });
    });
    const { first, second, cookie } = await twice(`${await serve(app)}/after`);
    expect(cookie).toMatch(/^sid=/);
    expect(first).toEqual({ seen: 1 });
    expect(second).toEqual({ seen: 2 });
  });

  it('a wrapper another middleware put on res.end (as compression does) reaches the hook', async () => {
    const app = express();
    let wrapped = 0;
    app.use((_req, res, next) => {
      const end = res.end;
      res.end = function (this: http.ServerResponse, ...args: unknown[]) {
        wrapped++;
        return (end as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof res.end;
      next();
    });
    app.use(sessionMiddleware(sessions()));
    app.post('/inc', (req, res, next) => {
      sessionOf(req)
        .increment('n')
        .then((n) => res.json({ n }), next);
    });
    const { first, second } = await twice(`${await serve(app)}/inc`);
    expect(first).toEqual({ n: 1 });
    expect(second).toEqual({ n: 2 });
    expect(wrapped).toBe(2);
  });

  it('responses without a Colloquy session in the same process are untouched (no cookie, req.session unset)', async () => {
    sessionMiddleware(sessions()); // the prototypes are hooked from here on
    const app = express();
    app.post('/plain', (req, res) => {
      res.writeHead(201, { 'x-plain': '1' });
      res.write('a');
      res.end('b');
      expect((req as unknown as { session?: unknown }).session).toBeUndefined();
    });
    const r = await fetch(`${await serve(app)}/plain`, { method: 'POST' });
    expect(r.status).toBe(201);
    expect(r.headers.get('x-plain')).toBe('1');
    expect(r.headers.getSetCookie()).toEqual([]);
    expect(await r.text()).toBe('ab');
  });

  it('an own req.session set before (another session middleware) is replaced, as before', async () => {
    const app = express();
    app.use((req, _res, next) => {
      (req as unknown as { session: unknown }).session = { legacy: true };
      next();
    });
    app.use(sessionMiddleware(sessions()));
    app.post('/inc', (req, res, next) => {
      sessionOf(req)
        .increment('n')
        .then((n) => res.json({ n }), next);
    });
    const { first, second } = await twice(`${await serve(app)}/inc`);
    expect(first).toEqual({ n: 1 });
    expect(second).toEqual({ n: 2 });
  });
});
