// One identity for HTTP and real time, over real sockets: an HTTP server with the node:http
// session middleware and a Colloquy WebSocket endpoint on the same server. A browser-like client
// logs in over HTTP, then opens a real-time session whose upgrade carries the session cookie; a
// token client connects with an access token as CONNECT credentials and refreshes it on the live
// session (REAUTH). Run on each store.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { ServiceHost } from '../../src/apps/host.js';
import { listen, type AuthRequest, type Server } from '../../src/server/server.js';
import { LocalBus } from '../../src/cluster/bus.js';
import type { Session } from '../../src/driver/session.js';
import { AbortReason } from '../../src/engine/frames.js';
import {
  endRealtimeOnRevoke,
  parseRevocation,
  SigningKeys,
  TokenService,
  WebSessions,
  webAuthenticator,
  webIdentify,
  withSession,
  type WebIdentity,
} from '../../src/web/index.js';
import { outageStore, type StoreFactory } from './suite.js';

let spaces = 0;

export function realtimeSuite(storeName: string, factory: StoreFactory): void {
  describe(`real-time sessions authenticated by the web identity, ${storeName} store`, () => {
    const cleanup: (() => Promise<unknown>)[] = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    async function setup(options: { allowedOrigins?: string[]; required?: boolean } = {}) {
      const store = outageStore(await factory.make());
      const sessions = new WebSessions({ store, namespace: `rt${process.pid}x${++spaces}`, storeTimeoutMs: 300 });
      const keys = await SigningKeys.generate();
      const tokens = new TokenService({
        keys,
        store,
        issuer: 'https://id.test',
        audience: 'realtime',
        namespace: `rtt${process.pid}x${spaces}`,
      });
      const web = http.createServer(
        withSession(sessions, async (req, res) => {
          const url = new URL(req.url ?? '/', 'http://x');
          if (url.pathname === '/api/login') await req.session.login(url.searchParams.get('user') as string);
          if (url.pathname === '/api/logout') await req.session.destroy();
          res.end('ok');
        }),
      );
      await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
      cleanup.push(
        () =>
          new Promise((resolve) => {
            web.close(() => resolve(undefined));
            web.closeAllConnections();
          }),
      );
      const server: Server = await listen({
        ws: { server: web, path: '/session' },
        heartbeatMs: 0,
        closeTimeoutMs: 200,
        authenticate: webAuthenticator({ sessions, tokens, ...options }),
      });
      cleanup.push(() => server.close());
      const port = (web.address() as AddressInfo).port;
      const login = async (user: string): Promise<string> => {
        const r = await fetch(`http://127.0.0.1:${port}/api/login?user=${user}`);
        await r.text();
        return (r.headers.getSetCookie()[0] as string).split(';')[0] as string;
      };
      const url = `ws://127.0.0.1:${port}/session`;
      return { sessions, tokens, server, port, login, url, store };
    }

    function peerOf(server: Server) {
      return [...server.sessions.values()].at(-1) as NonNullable<ReturnType<Server['sessions']['get']>>;
    }

    it('the WebSocket upgrade is authenticated by the HTTP session cookie', async () => {
      const { server, login, url, port } = await setup();
      const cookie = await login('ada');
      const client = await connect(url, { headers: { cookie }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } });
      cleanup.push(async () => client.abort());
      expect(peerOf(server).principal).toMatchObject({ principal: 'ada', via: 'cookie' });
      // No cookie, or a cookie whose session was logged out: refused.
      await expect(connect(url, { heartbeatMs: 0, reconnect: { maxAttempts: 0 } })).rejects.toMatchObject({
        code: 'ERR_REFUSED',
      });
      await fetch(`http://127.0.0.1:${port}/api/logout`, { headers: { cookie } }).then((r) => r.text());
      await expect(
        connect(url, { headers: { cookie }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } }),
      ).rejects.toMatchObject({ code: 'ERR_REFUSED' });
    });

    it('the session store down: the upgrade is refused (congested, with a message), within the bound', async () => {
      const { login, url, store } = await setup();
      const cookie = await login('ada');
      store.mode = 'hang';
      await expect(
        connect(url, { headers: { cookie }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } }),
      ).rejects.toMatchObject({ code: 'ERR_REFUSED', message: expect.stringMatching(/store is unavailable/) });
      store.mode = 'ok';
      const client = await connect(url, { headers: { cookie }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } });
      cleanup.push(async () => client.abort());
    });

    it('an access token as credentials, refreshed on the live session; a token for someone else is refused', async () => {
      const { server, tokens, url } = await setup();
      const pair = await tokens.issue('bob');
      const client = await connect(url, {
        credentials: pair.accessToken,
        heartbeatMs: 0,
        reconnect: { maxAttempts: 0 },
      });
      cleanup.push(async () => client.abort());
      const peer = peerOf(server);
      const before = peer.principal as WebIdentity;
      expect(before).toMatchObject({ principal: 'bob', via: 'token' });
      const next = await tokens.refresh(pair.refreshToken);
      await client.refreshCredentials(next.accessToken);
      const after = peer.principal as WebIdentity;
      expect(after.principal).toBe('bob');
      expect(after.claims?.jti).not.toBe(before.claims?.jti);
      const mallory = await tokens.issue('mallory');
      await expect(client.refreshCredentials(mallory.accessToken)).rejects.toMatchObject({
        code: 'ERR_REFUSED',
        message: expect.stringMatching(/same principal/),
      });
      await expect(client.refreshCredentials('forged.token.here')).rejects.toMatchObject({ code: 'ERR_REFUSED' });
      expect((peer.principal as WebIdentity).claims?.jti).toBe(after.claims?.jti);
      await expect(
        connect(url, { credentials: 'nonsense', heartbeatMs: 0, reconnect: { maxAttempts: 0 } }),
      ).rejects.toMatchObject({ code: 'ERR_REFUSED' });
    });

    it('allowedOrigins: the cookie only counts from a listed Origin (no cross-site WebSocket hijacking)', async () => {
      const { server, login, url } = await setup({ allowedOrigins: ['https://app.test'] });
      const cookie = await login('ada');
      await expect(
        connect(url, {
          headers: { cookie, origin: 'https://evil.test' },
          heartbeatMs: 0,
          reconnect: { maxAttempts: 0 },
        }),
      ).rejects.toMatchObject({ code: 'ERR_REFUSED' });
      const client = await connect(url, {
        headers: { cookie, origin: 'https://app.test' },
        heartbeatMs: 0,
        reconnect: { maxAttempts: 0 },
      });
      cleanup.push(async () => client.abort());
      expect(peerOf(server).principal).toMatchObject({ principal: 'ada' });
    });

    it('logout, a revoked refresh family and a reused refresh token end the real-time sessions opened with them, on every node on the bus; other logins and families go on', async () => {
      const { sessions, tokens, server, login, url, port } = await setup();
      // Node B: another server on the same store, told of revocations only through the bus.
      const b = await listen({
        tcp: { port: 0, host: '127.0.0.1' },
        heartbeatMs: 0,
        closeTimeoutMs: 200,
        authenticate: webAuthenticator({ sessions, tokens }),
      });
      cleanup.push(() => b.close());
      const echo = (s: Session): void => {
        void (async () => {
          for await (const m of s) await s.send(m);
        })().catch(() => {});
      };
      server.on('session', echo);
      b.on('session', echo);
      const bus = new LocalBus();
      cleanup.push(() => bus.close());
      cleanup.push(await endRealtimeOnRevoke(server, { sessions, tokens, bus }));
      cleanup.push(await endRealtimeOnRevoke(b, { bus }));
      const tcp = `tcp://127.0.0.1:${b.addresses.tcp as number}`;
      const open = async (target: string, options: { cookie?: string; token?: string }) => {
        const c = await connect(target, {
          heartbeatMs: 0,
          reconnect: { maxAttempts: 0 },
          ...(options.cookie ? { headers: { cookie: options.cookie } } : {}),
          ...(options.token ? { credentials: options.token } : {}),
        });
        cleanup.push(async () => {
          if (!c.closed) c.abort();
        });
        const ended = new Promise<unknown>((resolve) => c.on('closed', ({ error }) => resolve(error)));
        const works = async (): Promise<void> => {
          await c.send('ping');
          for await (const m of c) {
            expect(new TextDecoder().decode(m)).toBe('ping');
            return;
          }
          throw new Error('the session ended');
        };
        return { c, ended, works };
      };
      const revoked = { code: 'ERR_REVOKED', origin: 'remote', details: { reason: AbortReason.revoked } };

      // Two logins of ada (two cookies); two token families of bob, on node B.
      const [cookie1, cookie2] = [await login('ada'), await login('ada')];
      const web1 = await open(url, { cookie: cookie1 });
      const web2 = await open(url, { cookie: cookie2 });
      const [fam1, fam2, fam3] = [await tokens.issue('bob'), await tokens.issue('bob'), await tokens.issue('bob')];
      const tok1 = await open(tcp, { token: fam1.accessToken });
      const tok2 = await open(tcp, { token: fam2.accessToken });
      const tok3 = await open(tcp, { token: fam3.accessToken });
      await Promise.all([web1.works(), web2.works(), tok1.works(), tok2.works(), tok3.works()]);

      // Logging out of one web session (the library's destroy) ends its real-time session only.
      await fetch(`http://127.0.0.1:${port}/api/logout`, { headers: { cookie: cookie1 } }).then((r) => r.text());
      expect(await web1.ended).toMatchObject({ ...revoked, message: expect.stringContaining('logged out') });
      await web2.works();

      // Revoking a refresh family (logout with the refresh token) ends the session on node B
      // that its access token opened; another family of the same subject goes on.
      expect(await tokens.revoke(fam1.refreshToken)).toBe(true);
      expect(await tok1.ended).toMatchObject({ ...revoked, message: expect.stringContaining('token family') });
      await tok2.works();

      // A stolen refresh token used after the real one rotated: reuse revokes the family, and
      // the session opened with its access token ends.
      const rotated = await tokens.refresh(fam2.refreshToken);
      await tok2.c.refreshCredentials(rotated.accessToken);
      const replay = async (): Promise<unknown> => tokens.refresh(fam2.refreshToken).catch((e: unknown) => e);
      let outcome = await replay();
      // Inside the grace window the old token still yields the successor; rotate once more so it is stale.
      if (!(outcome instanceof Error)) {
        await tokens.refresh(rotated.refreshToken);
        outcome = await replay();
      }
      expect(outcome).toMatchObject({ code: 'ERR_REFRESH_REUSED' });
      expect(await tok2.ended).toMatchObject(revoked);
      await tok3.works();
      expect(b.sessions.size).toBe(1);
      // Junk on the bus is dropped, never thrown.
      expect(parseRevocation(new TextEncoder().encode('{"kind":"token-family","familyId":1}'))).toBeNull();
      expect(parseRevocation(new TextEncoder().encode('{"kind":"token-family","familyId":"x","more":1}'))).toBeNull();
    });

    it('webIdentify fits ServiceHost.identify: a name from the cookie, undefined when anonymous', async () => {
      const { sessions, tokens, login } = await setup();
      const identify = webIdentify({ sessions, tokens });
      const host = new ServiceHost([], { identify });
      expect(host.names).toEqual([]);
      const cookie = await login('ada');
      const base: AuthRequest = {
        credentials: new Uint8Array(0),
        userData: new Uint8Array(0),
        remoteAddress: '127.0.0.1:1',
        transport: 'ws',
        proposal: {} as AuthRequest['proposal'],
      };
      expect(await identify({ ...base, headers: { cookie } })).toBe('ada');
      expect(await identify({ ...base, headers: {} })).toBeUndefined();
      const pair = await tokens.issue('bob');
      expect(await identify({ ...base, headers: { authorization: `Bearer ${pair.accessToken}` } })).toBe('bob');
      await expect(identify({ ...base, credentials: new TextEncoder().encode('bad') })).rejects.toThrow();
    });
  });
}
