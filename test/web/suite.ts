// The web-session suite: run unchanged for every store (memory, Redis) and every framework
// (node:http, Express, Fastify), over real loopback servers driven by fetch, with a fake clock
// injected into the web layer (which decides idle and absolute expiry).

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SessionError } from '../../src/engine/errors.js';
import type { SessionStore } from '../../src/store/store.js';
import { WebSessions, type WebSessionsOptions } from '../../src/web/index.js';
import { Client, FRAMEWORKS, startApp, type App, type Framework } from './servers.js';

export interface StoreFactory {
  /** A store for one test (a fresh namespace is used per WebSessions anyway). */
  make(): Promise<SessionStore>;
  /** Called once after the suite. */
  close?(): Promise<void>;
}

/** Wraps a store so that it can be made to hang (never answer) or fail (unavailable). */
export function outageStore(inner: SessionStore): SessionStore & { mode: 'ok' | 'hang' | 'fail' } {
  const wrapped = Object.create(inner) as SessionStore & { mode: 'ok' | 'hang' | 'fail' };
  wrapped.mode = 'ok';
  for (const op of [
    'get',
    'set',
    'compareAndSet',
    'touch',
    'destroy',
    'listByPrincipal',
    'destroyByPrincipal',
  ] as const) {
    (wrapped as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => {
      if (wrapped.mode === 'hang') return new Promise(() => undefined);
      if (wrapped.mode === 'fail')
        return Promise.reject(
          new SessionError('ERR_STORE_UNAVAILABLE', 'the test switched the store off', 'local', { cause: 'test' }),
        );
      return (inner[op] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
    };
  }
  return wrapped;
}

let namespaces = 0;

export function webSessionSuite(storeName: string, factory: StoreFactory): void {
  describe.each(FRAMEWORKS)(`web sessions on %s, ${storeName} store`, (framework: Framework) => {
    let t = 1_900_000_000_000;
    const clock = {
      now: () => t,
      advance: (ms: number) => {
        t += ms;
      },
    };
    const open: { app: App; sessions: WebSessions }[] = [];

    async function start(
      options: WebSessionsOptions = {},
    ): Promise<{ app: App; sessions: WebSessions; client: () => Client }> {
      const store = options.store ?? (await factory.make());
      const sessions = new WebSessions({
        namespace: `w${process.pid}x${++namespaces}`,
        now: clock.now,
        idleTimeoutMs: 60_000,
        absoluteTimeoutMs: 300_000,
        touchAfterMs: 10_000,
        ...options,
        store,
      });
      const app = await startApp(framework, sessions);
      open.push({ app, sessions });
      return { app, sessions, client: () => new Client(app.base) };
    }

    afterEach(async () => {
      for (const { app } of open.splice(0)) await app.close();
    });

    afterAll(async () => {
      await factory.close?.();
    });

    it('sets an HttpOnly, SameSite=Lax cookie with Max-Age from the idle timeout, and only once something is stored', async () => {
      const { client } = await start();
      const c = client();
      const empty = await c.me();
      expect(empty.body.isNew).toBe(true);
      expect(empty.setCookie).toEqual([]); // nothing stored: no cookie
      const r = await c.call('POST', '/set?k=a&v=1');
      expect(r.setCookie).toHaveLength(1);
      const cookie = r.setCookie[0] as string;
      expect(cookie).toMatch(/^sid=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; /);
      expect(cookie).toContain('Path=/');
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Lax');
      expect(cookie).toContain('Max-Age=60');
      expect(cookie).not.toContain('Secure');
      const again = await c.me();
      expect(again.body.data).toEqual({ a: '1' });
      expect(again.body.isNew).toBe(false);
    });

    it('over TLS (X-Forwarded-Proto from a trusted proxy) the cookie is Secure with the __Host- prefix', async () => {
      const { app } = await start({ trustProxy: true });
      const c = new Client(app.base, { 'x-forwarded-proto': 'https' });
      const r = await c.call('POST', '/set?k=a&v=1');
      const cookie = r.setCookie[0] as string;
      expect(cookie).toMatch(/^__Host-sid=/);
      expect(cookie).toContain('; Secure');
      expect(cookie).toContain('Path=/');
      expect(cookie).not.toContain('Domain');
      expect((await c.me()).body.data).toEqual({ a: '1' });
      // An untrusted X-Forwarded-Proto changes nothing.
      const { app: other } = await start();
      const d = new Client(other.base, { 'x-forwarded-proto': 'https' });
      expect((await d.call('POST', '/set?k=a&v=1')).setCookie[0]).toMatch(/^sid=.*SameSite=Lax$/);
    });

    it('a tampered or foreign cookie gives a fresh session (and the bad cookie is cleared)', async () => {
      const { client, app } = await start();
      const c = client();
      await c.call('POST', '/set?k=secret&v=42');
      const good = c.cookie as string;
      const [name, value] = good.split('=') as [string, string];
      const flipped = value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A');
      for (const bad of [
        `${name}=${flipped}`,
        `${name}=${value.split('.')[0]}.${'x'.repeat(43)}`,
        `${name}=garbage`,
        `${name}=${'A'.repeat(22)}.${'B'.repeat(43)}`,
      ]) {
        const m = new Client(app.base);
        m.cookie = bad;
        const r = await m.me();
        expect(r.body.isNew).toBe(true);
        expect(r.body.data).toEqual({});
        expect(r.setCookie[0]).toMatch(/Max-Age=0/);
      }
      // A valid cookie of another application (another namespace, same store) is foreign here.
      const { app: other } = await start();
      const f = new Client(other.base);
      f.cookie = good;
      expect((await f.me()).body.isNew).toBe(true);
      // The genuine cookie still works.
      expect((await c.me()).body.data).toEqual({ secret: '42' });
    });

    it('fixation is impossible: a planted id is never adopted and login changes the id', async () => {
      const { client } = await start();
      const planted = `sid=${'Q'.repeat(22)}.${'R'.repeat(43)}`;
      const victim = client();
      victim.cookie = planted;
      await victim.call('POST', '/set?k=cart&v=book');
      expect(victim.cookie).not.toBe(planted);
      const before = (await victim.me()).body.id;
      const beforeCookie = victim.cookie;
      const login = await victim.call('POST', '/login?user=ada&keep=cart');
      expect(login.body.id).not.toBe(before);
      expect(victim.cookie).not.toBe(beforeCookie);
      const after = await victim.me();
      expect(after.body).toMatchObject({ principal: 'ada', data: { cart: 'book' } });
      // The pre-login cookie (which an attacker might know) is worthless now.
      const attacker = client();
      attacker.cookie = beforeCookie;
      expect((await attacker.me()).body).toMatchObject({ isNew: true, principal: null });
    });

    it('idle expiry: a session not seen for idleTimeoutMs is over; activity extends it (touch throttled)', async () => {
      const { client, sessions } = await start();
      const c = client();
      await c.call('POST', '/set?k=a&v=1');
      clock.advance(5_000);
      expect((await c.me()).setCookie).toEqual([]); // within touchAfterMs: no write, no new cookie
      clock.advance(10_000);
      const touched = await c.me(); // 15 s after the write: touched, cookie re-sent
      expect(touched.setCookie[0]).toContain('Max-Age=60');
      clock.advance(50_000); // 50 s after the touch, 65 s after creation: alive thanks to the touch
      expect((await c.me()).body.data).toEqual({ a: '1' });
      clock.advance(60_001);
      const gone = await c.me();
      expect(gone.body.isNew).toBe(true);
      expect(gone.setCookie[0]).toMatch(/Max-Age=0/);
      expect(sessions.idleMs).toBe(60_000);
    });

    it('absolute expiry: however active, a session ends absoluteTimeoutMs after it began; Max-Age never runs past it', async () => {
      const { client } = await start();
      const c = client();
      await c.call('POST', '/set?k=a&v=1');
      for (let i = 0; i < 9; i++) {
        clock.advance(30_000);
        const r = await c.me();
        expect(r.body.data).toEqual({ a: '1' });
        const m = /Max-Age=(\d+)/.exec(r.setCookie[0] ?? '');
        if (m) expect(Number(m[1])).toBeLessThanOrEqual(300 - 30 * (i + 1));
      }
      clock.advance(30_001); // 300 s + 1 ms since creation
      expect((await c.me()).body.isNew).toBe(true);
    });

    it('logout destroys the session server-side and clears the cookie in the same response', async () => {
      const { client, app } = await start();
      const c = client();
      await c.call('POST', '/login?user=ada');
      const stolen = c.cookie as string;
      const r = await c.call('POST', '/logout');
      expect(r.setCookie[0]).toMatch(/Max-Age=0/);
      expect(c.cookie).toBeUndefined();
      const replay = new Client(app.base);
      replay.cookie = stolen;
      expect((await replay.me()).body).toMatchObject({ isNew: true, principal: null });
    });

    it('two concurrent requests changing different keys both survive', async () => {
      const { client, app } = await start();
      const c = client();
      await c.call('POST', '/set?k=base&v=0');
      const cookie = c.cookie as string;
      const calls = Array.from({ length: 10 }, (_, i) => {
        const x = new Client(app.base);
        x.cookie = cookie;
        return x.call('POST', `/set?k=k${i}&v=${i}`);
      });
      await Promise.all(calls);
      const data = (await c.me()).body.data as Record<string, string>;
      expect(data.base).toBe('0');
      for (let i = 0; i < 10; i++) expect(data[`k${i}`]).toBe(String(i));
    });

    it('50 concurrent atomic increments on one session: none lost', async () => {
      const { client, app } = await start();
      const c = client();
      await c.call('POST', '/inc');
      const cookie = c.cookie as string;
      const results = await Promise.all(
        Array.from({ length: 50 }, () => {
          const x = new Client(app.base);
          x.cookie = cookie;
          return x.call('POST', '/inc').then((r) => r.body.n as number);
        }),
      );
      expect(new Set(results).size).toBe(50);
      expect(Math.max(...results)).toBe(51);
      expect((await c.me()).body.data).toEqual({ n: 51 });
    });

    it('two nodes sharing the store: 50 concurrent increments split across them, none lost (compare-and-set retries)', async () => {
      const store = await factory.make();
      const namespace = `shared${process.pid}x${++namespaces}`;
      const { client, app: a } = await start({ store, namespace });
      const { app: b } = await start({ store, namespace });
      const c = client();
      await c.call('POST', '/inc');
      const cookie = c.cookie as string;
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          const x = new Client(i % 2 === 0 ? a.base : b.base);
          x.cookie = cookie;
          return x.call('POST', '/inc').then((r) => r.body.n as number);
        }),
      );
      expect(new Set(results).size).toBe(50);
      expect((await c.me()).body.data).toEqual({ n: 51 });
    });

    it('the session is saved before the first byte of a streamed body', async () => {
      const { client } = await start();
      const c = client();
      const r = await c.call('GET', '/stream');
      expect(r.text).toBe('one,two');
      expect(r.setCookie).toHaveLength(1);
      expect((await c.me()).body.data).toEqual({ streamed: 'yes' });
    });

    it("lists a principal's sessions, revokes one, revokes all", async () => {
      const { app, sessions } = await start();
      const phone = new Client(app.base, { 'user-agent': 'phone/1' });
      const laptop = new Client(app.base, { 'user-agent': 'laptop/2' });
      const bob = new Client(app.base);
      await phone.call('POST', '/login?user=ada');
      clock.advance(1000);
      await laptop.call('POST', '/login?user=ada');
      await bob.call('POST', '/login?user=bob');
      const list = await sessions.listSessions('ada');
      expect(list.map((s) => s.userAgent)).toEqual(['phone/1', 'laptop/2']);
      for (const s of list) {
        expect(s.address).toMatch(/127\.0\.0\.1/);
        expect(s.lastSeenAt).toBeGreaterThanOrEqual(s.createdAt);
        expect(s.expiresAt).toBeGreaterThan(s.lastSeenAt);
      }
      expect(await sessions.revoke('bob', (list[0] as { id: string }).id)).toBe(false); // not bob's
      expect(await sessions.revoke('ada', (list[0] as { id: string }).id)).toBe(true);
      expect((await phone.me()).body.principal).toBeNull();
      expect((await laptop.me()).body.principal).toBe('ada');
      await phone.call('POST', '/login?user=ada');
      expect(await sessions.revokeAll('ada')).toBe(2);
      expect((await phone.me()).body.principal).toBeNull();
      expect((await laptop.me()).body.principal).toBeNull();
      expect((await bob.me()).body.principal).toBe('bob');
      expect(await sessions.listSessions('ada')).toEqual([]);
    });

    it('store outage: fail-closed 503 within the timeout by default, never a hang; recovers after', async () => {
      const store = outageStore(await factory.make());
      const { client } = await start({ store, storeTimeoutMs: 200 });
      const c = client();
      await c.call('POST', '/set?k=a&v=1');
      for (const mode of ['hang', 'fail'] as const) {
        store.mode = mode;
        const r = await c.me();
        expect(r.status).toBe(503);
        expect(r.text).toMatch(/session store/);
        expect(c.cookie).toBeDefined(); // the user's cookie is not thrown away
      }
      store.mode = 'ok';
      expect((await c.me()).body.data).toEqual({ a: '1' });
    });

    it('store outage with onStoreError: anonymous: the request runs without a session', async () => {
      const store = outageStore(await factory.make());
      const errors: unknown[] = [];
      const { client } = await start({
        store,
        storeTimeoutMs: 200,
        onStoreError: 'anonymous',
        onError: (e) => errors.push(e),
      });
      const c = client();
      await c.call('POST', '/set?k=a&v=1');
      const cookie = c.cookie;
      store.mode = 'hang';
      const r = await c.me();
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ available: false, isNew: true, data: {} });
      expect(r.setCookie).toEqual([]);
      expect(errors.length).toBeGreaterThan(0);
      store.mode = 'ok';
      expect(c.cookie).toBe(cookie);
      expect((await c.me()).body.data).toEqual({ a: '1' });
    });
  });
}
