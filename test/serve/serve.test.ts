// `colloquy serve` as a real process: the listening line, sessions over ws:// and tcp:// to a
// service, the login API, the live view with its frame ladder, the admin cut (the client
// resumes), `colloquy sessions`, and an orderly stop on SIGTERM (sessions released, exit 0).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import { ChatClient } from '../../src/apps/chat-client.js';
import { encodeHello } from '../../src/apps/service.js';
import { ANONYMOUS, startServe, type ServeNode } from '../support/serve.js';

const dec = new TextDecoder();

async function nextText(s: ClientSession): Promise<string> {
  const r = await s[Symbol.asyncIterator]().next();
  if (r.done) throw new Error('the session ended');
  return dec.decode(r.value);
}

describe('colloquy serve (a real process)', () => {
  let node: ServeNode;
  beforeAll(async () => {
    node = await startServe(ANONYMOUS);
  }, 90_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('prints the listening line with its URLs', () => {
    expect(node.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(node.ws).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/session$/);
    expect(node.tcp).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(node.ws).port).toBe(new URL(node.http).port);
  });

  it('routes sessions over ws:// and tcp:// to the service their hello names', async () => {
    for (const url of [node.ws, node.tcp]) {
      const s = await connect(url, { userData: encodeHello({ service: 'echo' }), heartbeatMs: 0 });
      await s.send(`hello over ${url}`);
      expect(await nextText(s)).toBe(`hello over ${url}`);
      await s.release();
    }
    await expect(
      connect(node.tcp, { userData: encodeHello({ service: 'nope' }), heartbeatMs: 0, reconnect: false }),
    ).rejects.toThrow(/no service 'nope'/);
  }, 30_000);

  it('logs in by name with a cookie, answers /api/me, logs out', async () => {
    const api = (p: string): string => new URL(p, node.http).toString();
    expect((await fetch(api('/api/me'))).status).toBe(401);
    expect((await fetch(api('/api/login'), { method: 'POST', body: '{"name":"ada"}' })).status).toBe(415);
    expect(
      (
        await fetch(api('/api/login'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"name":"a b<"}',
        })
      ).status,
    ).toBe(400);
    const login = await fetch(api('/api/login'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"ada"}',
    });
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    expect(cookie).toMatch(/^colloquy=\S{20,}$/);
    expect(login.headers.get('set-cookie')).toMatch(/HttpOnly/);
    expect(await (await fetch(api('/api/me'), { headers: { cookie } })).json()).toMatchObject({
      name: 'ada',
      admin: false,
      principal: expect.stringMatching(/^login:/),
    });
    // The WebSocket upgrade carries the login cookie: the session's principal is that name.
    const s = await connect(node.ws, {
      userData: encodeHello({ service: 'echo' }),
      heartbeatMs: 0,
      headers: { cookie },
    });
    const auth = { authorization: `Bearer ${node.adminToken}` };
    const listed = (await (await fetch(api('/api/sessions'), { headers: auth })).json()) as {
      sessions: { id: string; name: string; authenticated: boolean; transport: string }[];
    };
    expect(listed.sessions.find((x) => x.id === s.id)).toMatchObject({
      name: 'ada',
      authenticated: true,
      transport: 'ws',
    });
    // A logged-in chat session speaks under its login, whatever nick its hello claims.
    const chat = await ChatClient.connect(node.ws, {
      nick: 'mallory',
      room: 'login-test',
      heartbeatMs: 0,
      headers: { cookie },
    });
    expect(chat.nick).toBe('ada');
    await chat.close();
    // A logged-in page may read the live view with its cookie alone.
    expect((await fetch(api('/api/sessions'), { headers: { cookie } })).status).toBe(200);
    await s.release();
    expect(
      (
        await fetch(api('/api/logout'), {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/json' },
          body: '{}',
        })
      ).status,
    ).toBe(204);
    expect((await fetch(api('/api/me'), { headers: { cookie } })).status).toBe(401);
  }, 30_000);

  it('lists live sessions to the admin, streams a frame ladder, cuts a transport and the client resumes', async () => {
    const api = (p: string): string => new URL(p, node.http).toString();
    const auth = { authorization: `Bearer ${node.adminToken}` };
    expect((await fetch(api('/api/sessions'))).status).toBe(401);
    expect(
      (await fetch(api('/api/sessions'), { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status,
    ).toBe(401);
    const s = await connect(node.tcp, { userData: encodeHello({ service: 'echo', nick: 'bob' }), heartbeatMs: 0 });
    const list = (await (await fetch(api('/api/sessions'), { headers: auth })).json()) as {
      sessions: { id: string; service: string; name: string; transport: string; resumes: number; bytesIn: number }[];
    };
    const mine = list.sessions.find((x) => x.id === s.id);
    expect(mine).toMatchObject({ service: 'echo', name: 'bob', transport: 'tcp', resumes: 0 });
    expect(mine?.bytesIn).toBeGreaterThan(0);

    // The ladder: an event stream of frames, from the moment someone watches.
    const controller = new AbortController();
    const stream = await fetch(api(`/api/sessions/${s.id}/frames`), { headers: auth, signal: controller.signal });
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    await s.send('traced');
    expect(await nextText(s)).toBe('traced');
    let text = '';
    for (
      let i = 0;
      i < 50 && !(text.includes('"direction":"in","type":"DATA"') && text.includes('"direction":"out","type":"DATA"'));
      i++
    ) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += dec.decode(chunk.value);
    }
    expect(text).toContain('"direction":"in","type":"DATA"');
    expect(text).toContain('«traced»');
    controller.abort();

    const resumed = new Promise<void>((resolve) => s.on('resumed', () => resolve()));
    const cut = await fetch(api(`/api/sessions/${s.id}/cut`), { method: 'POST', headers: auth });
    expect(await cut.json()).toEqual({ id: s.id, cut: true });
    await resumed;
    await s.send('after the cut');
    expect(await nextText(s)).toBe('after the cut');
    const after = (await (await fetch(api('/api/sessions'), { headers: auth })).json()) as {
      sessions: { id: string; resumes: number; interruptions: number }[];
    };
    expect(after.sessions.find((x) => x.id === s.id)).toMatchObject({ resumes: 1, interruptions: 1 });
    await s.release();
  }, 30_000);
});

describe('colloquy serve stops in order', () => {
  it('on SIGTERM releases a live session (the client sees a release, not an abort) and exits 0', async () => {
    const node = await startServe();
    const s = await connect(node.tcp, { userData: encodeHello({ service: 'echo' }), heartbeatMs: 0 });
    const closed = new Promise<{ error?: unknown }>((resolve) => s.on('closed', (e) => resolve(e)));
    expect(await node.stop()).toBe(0);
    expect((await closed).error).toBeUndefined();
    await node.event('stopped');
    const kinds = node.events.map((e) => e.event);
    expect(kinds).toContain('stopping');
    expect(kinds[kinds.length - 1]).toBe('stopped');
  }, 90_000);

  it('on Ctrl-C (SIGINT) the same, exit 0; a generated admin token is announced as an event', async () => {
    const node = await startServe(['--admin-token', '']);
    const { token } = await node.event('admin-token');
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const listed = await fetch(new URL('/api/sessions', node.http), {
      headers: { authorization: `Bearer ${String(token)}` },
    });
    expect(listed.status).toBe(200);
    const s = await connect(node.ws, { userData: encodeHello({ service: 'echo' }), heartbeatMs: 0 });
    const closed = new Promise<{ error?: unknown }>((resolve) => s.on('closed', (e) => resolve(e)));
    expect(await node.stop('SIGINT')).toBe(0);
    expect((await closed).error).toBeUndefined();
  }, 90_000);
});
