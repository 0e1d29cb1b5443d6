// Issue 11, finding 2: "any web page the user visits can drive the local server". Against a
// spawned serve, as a browser would send them: a WebSocket upgrade from a foreign Origin, a DNS
// rebinding Host, a cross-site form post to cut a session, and framing. Each is refused with the
// documented status while the same request from serve's own page (or a native client) works.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { encodeHello } from '../../src/apps/service.js';
import { startServe, type ServeNode } from '../support/serve.js';
import { JSON_TYPE, login, raw, upgrade } from './support.js';

describe('browser-facing defences (finding 2)', () => {
  let node: ServeNode;
  let allowed: ServeNode;
  let origin: string;
  beforeAll(async () => {
    [node, allowed] = await Promise.all([
      startServe(),
      startServe(['--allow-origin', 'https://app.example', '--allow-host', 'colloquy.test']),
    ]);
    origin = new URL(node.http).origin;
  }, 90_000);
  afterAll(async () => {
    await Promise.all([node?.stop(), allowed?.stop()]);
  });

  it("refuses a WebSocket upgrade from another site; serve's own page and native clients get in", async () => {
    const evil = await upgrade(node, { origin: 'https://evil.example', host: new URL(node.http).host });
    expect(evil.status).toBe(403);
    expect(evil.body).toMatch(/--allow-origin https:\/\/evil\.example/);
    expect((await upgrade(node, { origin: 'null' })).status).toBe(403);
    // The page's own origin, and no Origin at all (not a browser), are let in.
    expect((await upgrade(node, { origin })).status).toBe(101);
    expect((await upgrade(node, {})).status).toBe(101);
    // Through the library: the foreign page's session never opens; the legitimate one works.
    await expect(
      connect(node.ws, {
        userData: encodeHello({ service: 'echo' }),
        heartbeatMs: 0,
        reconnect: false,
        headers: { origin: 'https://evil.example' },
      }),
    ).rejects.toThrow();
    const s = await connect(node.ws, {
      userData: encodeHello({ service: 'echo' }),
      heartbeatMs: 0,
      headers: { origin },
    });
    await s.release();
    // --allow-origin adds an origin.
    expect((await upgrade(allowed, { origin: 'https://app.example' })).status).toBe(101);
    expect((await upgrade(allowed, { origin: 'https://evil.example' })).status).toBe(403);
  }, 60_000);

  it('refuses a rebinding Host on the page, the API and the upgrade; its own names work', async () => {
    const port = new URL(node.http).port;
    for (const path of ['/', '/api/me', '/api/health']) {
      const res = await raw(node, path, { headers: { host: `evil.example:${port}` } });
      expect(res.status).toBe(403);
      expect(res.body).toMatch(/DNS rebinding/);
    }
    const login = await raw(node, '/api/login', {
      method: 'POST',
      headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}`, ...JSON_TYPE },
      body: '{"name":"x"}',
    });
    expect(login.status).toBe(403);
    expect((await upgrade(node, { host: `evil.example:${port}`, origin: `http://evil.example:${port}` })).status).toBe(
      403,
    );
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      expect((await raw(node, '/api/health', { headers: { host } })).status).toBe(200);
    }
    expect((await raw(allowed, '/api/health', { headers: { host: 'colloquy.test' } })).status).toBe(200);
  }, 30_000);

  it("a cross-site form post cannot cut a session; the page's own JSON post can", async () => {
    const ada = await login(node, 'ada');
    const s = await connect(node.ws, {
      userData: encodeHello({ service: 'echo' }),
      heartbeatMs: 0,
      headers: { cookie: ada.cookie },
    });
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie: ada.cookie };
    // From another site's page: the browser names it in Origin.
    expect(
      (
        await raw(node, `/api/sessions/${s.id}/cut`, {
          method: 'POST',
          headers: { ...form, origin: 'https://evil.example' },
          body: 'x=1',
        })
      ).status,
    ).toBe(403);
    // Even without Origin (an old browser), a form cannot send JSON.
    expect((await raw(node, `/api/sessions/${s.id}/cut`, { method: 'POST', headers: form, body: 'x=1' })).status).toBe(
      415,
    );
    expect(
      (
        await raw(node, '/api/logout', {
          method: 'POST',
          headers: { ...form, origin: 'https://evil.example' },
          body: '',
        })
      ).status,
    ).toBe(403);
    expect(s.driver.attached).not.toBeNull();
    const resumed = new Promise<void>((resolve) => s.on('resumed', () => resolve()));
    const own = await raw(node, `/api/sessions/${s.id}/cut`, {
      method: 'POST',
      headers: { cookie: ada.cookie, origin, ...JSON_TYPE },
      body: '{}',
    });
    expect(own.status).toBe(200);
    await resumed;
    await s.release();
  }, 30_000);

  it('no response may be framed; the page states its content security policy', async () => {
    for (const path of ['/', '/api/health', '/api/me', '/nope']) {
      const res = await raw(node, path);
      expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  }, 30_000);
});
