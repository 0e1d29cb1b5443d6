// Issue 11, finding 6 (library): "the WebSocket cookie check accepts the plain cookie name over
// TLS (losing __Host-'s protection) and any Origin by default". Against a real https server with
// the web-session middleware and a Colloquy wss endpoint (webUpgradeCheck + webAuthenticator):
//   - a plain `sid` cookie (what a network attacker or a sibling subdomain can plant, unlike a
//     __Host- one) over wss is refused, by name, while `__Host-sid` works;
//   - an upgrade from another site's page is refused with 403 before anything is upgraded (and by
//     the authenticator too when a server has no verify hook), while the server's own origin, an
//     allowed one and a native client without Origin all work.

import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { listen, type Server } from '../../src/server/server.js';
import {
  UPGRADE_REFUSED_STATUS,
  WebSessions,
  webAuthenticator,
  webUpgradeCheck,
  withSession,
} from '../../src/web/index.js';
import { testCertificate } from '../support/tls-cert.js';
import { upgradeAt } from './support.js';

const { cert, key } = testCertificate();
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(options: {
  verify: boolean;
  allowedOrigins?: string[];
}): Promise<{ url: string; origin: string; port: number; login(): Promise<string>; server: Server }> {
  const sessions = new WebSessions();
  const web = https.createServer(
    { cert, key },
    withSession(sessions, async (req, res) => {
      await req.session.login('ada');
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
  const auth = { sessions, ...(options.allowedOrigins ? { allowedOrigins: options.allowedOrigins } : {}) };
  const server = await listen({
    ws: { server: web, path: '/session', ...(options.verify ? { verify: webUpgradeCheck(auth) } : {}) },
    heartbeatMs: 0,
    closeTimeoutMs: 200,
    authenticate: webAuthenticator(auth),
  });
  cleanup.push(() => server.close());
  const port = (web.address() as AddressInfo).port;
  const login = async (): Promise<string> => {
    const setCookie = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/login', ca: cert }, (res) => {
          res.resume();
          resolve(res.headers['set-cookie']?.[0] ?? '');
        })
        .on('error', reject);
    });
    return setCookie.split(';')[0] as string;
  };
  return { url: `wss://127.0.0.1:${port}/session`, origin: `https://127.0.0.1:${port}`, port, login, server };
}

function open(url: string, headers: Record<string, string>) {
  return connect(url, { headers, tls: { ca: cert }, heartbeatMs: 0, reconnect: { maxAttempts: 0 } });
}

/** A raw upgrade over TLS; resolves with the HTTP status (101 when upgraded) and body. */
function upgrade(port: number, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return upgradeAt(new URL(`https://127.0.0.1:${port}/session`), headers, cert);
}

describe('the WebSocket cookie check (finding 6, library)', () => {
  it('over wss the cookie counts only under its __Host- name: a plain sid with the same value is refused', async () => {
    const { url, login, server } = await setup({ verify: true });
    const cookie = await login();
    expect(cookie).toMatch(/^__Host-sid=/);
    const value = cookie.slice(cookie.indexOf('=') + 1);

    // The attack: the same token under the plain name (a planted or downgraded cookie).
    await expect(open(url, { cookie: `sid=${value}` })).rejects.toMatchObject({
      code: 'ERR_REFUSED',
      message: expect.stringContaining('must be __Host-sid'),
    });

    // Legitimate use: the cookie as the browser holds it.
    const client = await open(url, { cookie });
    cleanup.push(async () => client.abort());
    expect([...server.sessions.values()].at(-1)?.principal).toMatchObject({ principal: 'ada', via: 'cookie' });
  }, 30_000);

  it(`a cross-site upgrade is refused with ${UPGRADE_REFUSED_STATUS} before it is upgraded; the own origin, an allowed one and a native client work`, async () => {
    const { url, origin, port, login } = await setup({ verify: true, allowedOrigins: ['https://app.test'] });
    const cookie = await login();

    const attack = await upgrade(port, { cookie, origin: 'https://evil.test' });
    expect(attack.status).toBe(UPGRADE_REFUSED_STATUS);
    expect(attack.body).toContain('https://evil.test may not open sessions here');
    expect((await upgrade(port, { cookie, origin: 'null' })).status).toBe(UPGRADE_REFUSED_STATUS);
    // An http:// page of the same host is another origin too.
    expect((await upgrade(port, { cookie, origin: `http://127.0.0.1:${port}` })).status).toBe(UPGRADE_REFUSED_STATUS);
    await expect(open(url, { cookie, origin: 'https://evil.test' })).rejects.toThrow();

    expect((await upgrade(port, { cookie, origin })).status).toBe(101);
    const tries: Record<string, string>[] = [{ cookie, origin }, { cookie, origin: 'https://app.test' }, { cookie }];
    for (const headers of tries) {
      const client = await open(url, headers);
      cleanup.push(async () => client.abort());
      expect(client.state).toBe('established');
    }
  }, 30_000);

  it('without the verify hook the authenticator still refuses the cookie from another site', async () => {
    const { url, origin, login } = await setup({ verify: false });
    const cookie = await login();
    await expect(open(url, { cookie, origin: 'https://evil.test' })).rejects.toMatchObject({
      code: 'ERR_REFUSED',
      message: expect.stringContaining('cross-site'),
    });
    const client = await open(url, { cookie, origin });
    cleanup.push(async () => client.abort());
  }, 30_000);
});
