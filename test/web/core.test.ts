// The web-session core beyond the shared suite: the Web Request/Response adapter (and a
// three-line adaptation for a Hono-style framework), a real TLS server, a save that fails after
// the load, limits, writeHead before the body, rolling cookies, destroy-then-set, cookie parsing.

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionError } from '../../src/engine/errors.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { readCookie, WebSessions, withSession, type WebSession } from '../../src/web/index.js';
import { testCertificate } from '../support/tls-cert.js';
import { Client, startApp } from './servers.js';
import { outageStore } from './suite.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

function serve(server: http.Server | https.Server): Promise<number> {
  closers.push(
    () =>
      new Promise((resolve) => {
        server.close(() => resolve(undefined));
        server.closeAllConnections();
      }),
  );
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('Web Request/Response adapter', () => {
  it('handle() runs a fetch-style handler with the session and sets the cookie', async () => {
    const sessions = new WebSessions({ store: new MemoryStore({ sweepIntervalMs: 0 }) });
    closers.push(() => sessions.store.close());
    const app = (request: Request): Promise<Response> =>
      sessions.handle(request, async (_req, session) => {
        const n = await session.increment('n');
        return Response.json({ n });
      });
    const first = await app(new Request('http://app.test/'));
    expect(await first.json()).toEqual({ n: 1 });
    const cookie = (first.headers.getSetCookie()[0] as string).split(';')[0] as string;
    const second = await app(new Request('http://app.test/', { headers: { cookie } }));
    expect(await second.json()).toEqual({ n: 2 });
    const tls = await app(new Request('https://app.test/'));
    expect(tls.headers.getSetCookie()[0]).toMatch(/^__Host-sid=.*; Secure; SameSite=Lax$/);
  });

  it('a Hono-style framework adapts in a few lines (c.req.raw in, Response out)', async () => {
    const sessions = new WebSessions();
    closers.push(() => sessions.close());
    // The adaptation a Hono user writes (middleware(c, next) with c.req.raw and c.res):
    type Ctx = { req: { raw: Request }; res: Response; session?: WebSession };
    const middleware = async (c: Ctx, next: () => Promise<void>): Promise<void> => {
      c.res = await sessions.handle(c.req.raw, async (_req, session) => {
        c.session = session;
        await next();
        return c.res;
      });
    };
    const c: Ctx = { req: { raw: new Request('http://app.test/login', { method: 'POST' }) }, res: new Response(null) };
    await middleware(c, async () => {
      await c.session?.login('ada');
      c.res = new Response('welcome');
    });
    expect(await c.res.text()).toBe('welcome');
    expect(c.res.headers.getSetCookie()).toHaveLength(1);
    expect(await sessions.listSessions('ada')).toHaveLength(1);
  });

  it('fails closed with a 503 Response when the store hangs', async () => {
    const store = outageStore(new MemoryStore({ sweepIntervalMs: 0 }));
    const sessions = new WebSessions({ store, storeTimeoutMs: 100 });
    closers.push(() => store.close());
    store.mode = 'hang';
    const r = await sessions.handle(
      new Request('http://app.test/', { headers: { cookie: `sid=${'a'.repeat(22)}.${'b'.repeat(43)}` } }),
      () => new Response('never'),
    );
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
  });
});

describe('node:http specifics', () => {
  it('over real TLS the cookie is Secure with the __Host- prefix', async () => {
    const sessions = new WebSessions();
    closers.push(() => sessions.close());
    const { cert, key } = testCertificate();
    const port = await serve(
      https.createServer(
        { cert, key },
        withSession(sessions, (req, res) => {
          req.session.set('a', 1);
          res.end('ok');
        }),
      ),
    );
    const setCookie = await new Promise<string[]>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/', ca: cert }, (res) => {
          res.resume();
          resolve(res.headers['set-cookie'] ?? []);
        })
        .on('error', reject);
    });
    expect(setCookie[0]).toMatch(
      /^__Host-sid=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=1800; HttpOnly; Secure; SameSite=Lax$/,
    );
  });

  it('a save that fails after the load turns the response into a 503 with no cookie (fail-closed), never a pretended write', async () => {
    const store = outageStore(new MemoryStore({ sweepIntervalMs: 0 }));
    closers.push(() => store.close());
    const sessions = new WebSessions({ store, storeTimeoutMs: 100 });
    const port = await serve(
      http.createServer(
        withSession(sessions, (req, res) => {
          req.session.set('a', 1);
          store.mode = 'fail';
          res.setHeader('x-app', 'yes');
          res.end('saved?');
        }),
      ),
    );
    const r = await fetch(`http://127.0.0.1:${port}/`);
    expect(r.status).toBe(503);
    expect(r.headers.getSetCookie()).toEqual([]);
    expect(r.headers.get('x-app')).toBeNull();
    expect(await r.text()).toMatch(/session store/);
  });

  it('data over maxDataBytes is refused (500, nothing stored); writeHead before the body still sets the cookie', async () => {
    const sessions = new WebSessions({ maxDataBytes: 100 });
    closers.push(() => sessions.close());
    const port = await serve(
      http.createServer(
        withSession(sessions, (req, res) => {
          if (req.url === '/big') req.session.set('blob', 'x'.repeat(200));
          else req.session.set('small', 1);
          res.writeHead(201, { 'content-type': 'text/plain' });
          res.end('done');
        }),
      ),
    );
    const big = await fetch(`http://127.0.0.1:${port}/big`);
    expect(big.status).toBe(500);
    expect(big.headers.getSetCookie()).toEqual([]);
    const small = await fetch(`http://127.0.0.1:${port}/small`);
    expect(small.status).toBe(201);
    expect(small.headers.getSetCookie()[0]).toMatch(/^sid=/);
    await expect(sessions.save(sessions.anonymous())).resolves.toBeUndefined();
  });

  it('rolling re-sends the cookie on every response; without it, only after a write', async () => {
    for (const rolling of [true, false]) {
      const sessions = new WebSessions({ rolling, touchAfterMs: 60_000 });
      closers.push(() => sessions.close());
      const app = await startApp('node', sessions);
      closers.push(() => app.close());
      const c = new Client(app.base);
      await c.call('POST', '/set?k=a&v=1');
      expect((await c.me()).setCookie.length).toBe(rolling ? 1 : 0);
    }
  });

  it('a change after destroy() starts a new session with a new id', async () => {
    const sessions = new WebSessions();
    closers.push(() => sessions.close());
    const port = await serve(
      http.createServer(
        withSession(sessions, async (req, res) => {
          if (req.url === '/start') req.session.set('a', 1);
          else {
            const old = req.session.id;
            await req.session.destroy();
            req.session.set('b', 2);
            res.setHeader('x-old', String(old));
          }
          res.end(JSON.stringify({ id: req.session.id, data: req.session.data }));
        }),
      ),
    );
    const first = await fetch(`http://127.0.0.1:${port}/start`);
    const cookie = (first.headers.getSetCookie()[0] as string).split(';')[0] as string;
    const second = await fetch(`http://127.0.0.1:${port}/again`, { headers: { cookie } });
    const body = (await second.json()) as { id: string; data: unknown };
    expect(body.id).not.toBe(second.headers.get('x-old'));
    expect(body.data).toEqual({ b: 2 });
    expect(second.headers.getSetCookie()[0]?.split(';')[0]).not.toBe(cookie);
  });

  it('atomic update() on a session revoked meanwhile fails with ERR_WEB_SESSION_GONE', async () => {
    const sessions = new WebSessions();
    closers.push(() => sessions.close());
    const s = await sessions.load({ cookie: undefined, secure: false });
    await s.login('ada');
    await sessions.save(s);
    await sessions.revokeAll('ada');
    const e = await s.increment('n').then(
      () => null,
      (error: unknown) => error,
    );
    expect(e).toBeInstanceOf(SessionError);
    expect((e as SessionError).code).toBe('ERR_WEB_SESSION_GONE');
  });
});

describe('coalesced reads', () => {
  it('requests in flight together share one read; one that starts after a write never joins an older read', async () => {
    const inner = new MemoryStore({ sweepIntervalMs: 0 });
    closers.push(() => inner.close());
    let gets = 0;
    let hold: Promise<void> | null = null;
    const store = Object.create(inner) as MemoryStore;
    store.get = (async (...args: Parameters<MemoryStore['get']>) => {
      gets++;
      const result = await inner.get(...args);
      if (hold) await hold;
      return result;
    }) as MemoryStore['get'];
    const sessions = new WebSessions({ store });
    const first = await sessions.load({ cookie: undefined, secure: false });
    first.set('obj', { a: 1 });
    await sessions.save(first);
    const cookie = (sessions.cookies(first, false)[0] as string).split(';')[0] as string;
    gets = 0;
    let release = (): void => undefined;
    hold = new Promise((resolve) => {
      release = resolve;
    });
    const a = sessions.load({ cookie, secure: false });
    const b = sessions.load({ cookie, secure: false });
    await new Promise((resolve) => setImmediate(resolve));
    expect(gets).toBe(1); // b joined a's read
    hold = null;
    release();
    const [sa, sb] = await Promise.all([a, b]);
    expect(sa.get('obj')).toEqual({ a: 1 });
    expect(sb.get('obj')).toEqual({ a: 1 });
    // Data read is frozen: change it with set().
    expect(() => {
      (sa.get('obj') as { a: number }).a = 2;
    }).toThrow(TypeError);
    // Now: a read held in flight, then a write finishes, then a new request: it reads afresh.
    let release2 = (): void => undefined;
    hold = new Promise((resolve) => {
      release2 = resolve;
    });
    const stale = sessions.load({ cookie, secure: false });
    await new Promise((resolve) => setImmediate(resolve));
    hold = null;
    await sa.increment('n'); // a write by this process, finished before `fresh` starts
    const fresh = await sessions.load({ cookie, secure: false });
    expect(fresh.get('n')).toBe(1);
    release2();
    expect((await stale).get('n')).toBeUndefined(); // began before the write: may be older
  });
});

describe('cookies', () => {
  it('readCookie takes the first exact name, strips quotes, ignores lookalikes and bounds the header', () => {
    expect(readCookie('a=1; sid=x; sid=y', 'sid')).toBe('x');
    expect(readCookie('xsid=1; sidx=2;  sid = "q" ', 'sid')).toBe('q');
    expect(readCookie(['a=1', 'sid=z'], 'sid')).toBe('z');
    expect(readCookie('novalue; sid', 'sid')).toBeUndefined();
    expect(readCookie(undefined, 'sid')).toBeUndefined();
    expect(readCookie(`${'a=b; '.repeat(5000)}sid=late`, 'sid')).toBeUndefined();
  });
});
