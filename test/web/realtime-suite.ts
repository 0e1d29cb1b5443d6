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
import { SigningKeys, TokenService, WebSessions, webAuthenticator, webIdentify, withSession, type WebIdentity } from '../../src/web/index.js';
import { outageStore, type StoreFactory } from './suite.js';

let spaces = 0;

export function realtimeSuite(storeName: string, factory: StoreFactory): void {
  describe(`real-time sessions authenticated by the web identity, ${storeName} store`, () => {
    const cleanup: (() => Promise<unknown>)[] = [];
    afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

    async function setup(options: { allowedOrigins?: string[]; required?: boolean } = {}) {
      const store = outageStore(await factory.make());
      const sessions = new WebSessions({ store, namespace: `rt${process.pid}x${++spaces}`, storeTimeoutMs: 300 });
      const keys = await SigningKeys.generate();
      const tokens = new TokenService({ keys, store, issuer: 'https://id.test', audience: 'realtime', namespace: `rtt${process.pid}x${spaces}` });
      const web = http.createServer(withSession(sessions, async (req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        if (url.pathname === '/api/login') await req.session.login(url.searchParams.get('user') as string);
        if (url.pathname === '/api/logout') await req.session.destroy();
        res.end('ok');
      }));
      await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
      cleanup.push(() => new Promise((resolve) => { web.close(() => resolve(undefined)); web.closeAllConnections(); }));
      const server: Server = await listen({ ws: { server: web, path: '/session' }, heartbeatMs: 0, closeTimeoutMs: 200, authenticate: webAuthenticator({ sessions, tokens, ...options }) });
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
      await expect(connect(url, { heartbeatMs: 0, reconnect: { maxAttempts: 0 } })).rejects.toMatchObject({ code: 'ERR_REFUSED' });
      await fetch(`http://127.0.0.1:${port}/api/logout`, { headers: { cookie } }).then((r) => r.text());
      await expect(connect(url, { headers: { cookie }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } })).rejects.toMatchObject({ code: 'ERR_REFUSED' });
    });

    it('the session store down: the upgrade is refused (congested, with a message), within the bound', async () => {
      const { login, url, store } = await setup();
      const cookie = await login('ada');
      store.mode = 'hang';
      await expect(connect(url, { headers: { cookie }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } })).rejects.toMatchObject({ code: 'ERR_REFUSED', message: expect.stringMatching(/store is unavailable/) });
      store.mode = 'ok';
      const client = await connect(url, { headers: { cookie }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } });
      cleanup.push(async () => client.abort());
    });

    it('an access token as credentials, refreshed on the live session; a token for someone else is refused', async () => {
      const { server, tokens, url } = await setup();
      const pair = await tokens.issue('bob');
      const client = await connect(url, { credentials: pair.accessToken, heartbeatMs: 0, reconnect: { maxAttempts: 0 } });
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
      await expect(client.refreshCredentials(mallory.accessToken)).rejects.toMatchObject({ code: 'ERR_REFUSED', message: expect.stringMatching(/same principal/) });
      await expect(client.refreshCredentials('forged.token.here')).rejects.toMatchObject({ code: 'ERR_REFUSED' });
      expect((peer.principal as WebIdentity).claims?.jti).toBe(after.claims?.jti);
      await expect(connect(url, { credentials: 'nonsense', heartbeatMs: 0, reconnect: { maxAttempts: 0 } })).rejects.toMatchObject({ code: 'ERR_REFUSED' });
    });

    it('allowedOrigins: the cookie only counts from a listed Origin (no cross-site WebSocket hijacking)', async () => {
      const { server, login, url } = await setup({ allowedOrigins: ['https://app.test'] });
      const cookie = await login('ada');
      await expect(connect(url, { headers: { cookie, origin: 'https://evil.test' }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } })).rejects.toMatchObject({ code: 'ERR_REFUSED' });
      const client = await connect(url, { headers: { cookie, origin: 'https://app.test' }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } });
      cleanup.push(async () => client.abort());
      expect(peerOf(server).principal).toMatchObject({ principal: 'ada' });
    });

    it('webIdentify fits ServiceHost.identify: a name from the cookie, undefined when anonymous', async () => {
      const { sessions, tokens, login } = await setup();
      const identify = webIdentify({ sessions, tokens });
      const host = new ServiceHost([], { identify });
      expect(host.names).toEqual([]);
      const cookie = await login('ada');
      const base: AuthRequest = { credentials: new Uint8Array(0), userData: new Uint8Array(0), remoteAddress: '127.0.0.1:1', transport: 'ws', proposal: {} as AuthRequest['proposal'] };
      expect(await identify({ ...base, headers: { cookie } })).toBe('ada');
      expect(await identify({ ...base, headers: {} })).toBeUndefined();
      const pair = await tokens.issue('bob');
      expect(await identify({ ...base, headers: { authorization: `Bearer ${pair.accessToken}` } })).toBe('bob');
      await expect(identify({ ...base, credentials: new TextEncoder().encode('bad') })).rejects.toThrow();
    });
  });
}
