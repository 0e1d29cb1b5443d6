// Issue 11, finding 1: "any login reads everyone's traffic". Against a spawned serve: two people
// log in with the same name; the impostor cannot list, watch or cut the other's session, while
// each sees and cuts their own, the admin sees all, and a name claimed in a hello proves nothing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import { encodeHello } from '../../src/apps/service.js';
import { startServe, type ServeNode } from '../support/serve.js';
import { JSON_TYPE, login, raw } from './support.js';

const dec = new TextDecoder();

async function nextText(s: ClientSession): Promise<string> {
  const r = await s[Symbol.asyncIterator]().next();
  if (r.done) throw new Error('the session ended');
  return dec.decode(r.value);
}

interface Listing {
  total: number;
  sessions: { id: string; name: string | null; authenticated: boolean }[];
}

describe('scoped live view (finding 1)', () => {
  let node: ServeNode;
  beforeAll(async () => {
    node = await startServe();
  }, 90_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('two logins as "ada" are two principals: each sees, watches and cuts only its own session', async () => {
    const real = await login(node, 'ada');
    const impostor = await login(node, 'ada');
    expect(real.principal).not.toBe(impostor.principal);

    // The real ada chats over the page's WebSocket (her cookie on the upgrade).
    const mine = await connect(node.ws, {
      userData: encodeHello({ service: 'echo' }),
      heartbeatMs: 0,
      headers: { cookie: real.cookie },
    });
    // Someone without a login claims the name in the hello only.
    const claimed = await connect(node.tcp, {
      userData: encodeHello({ service: 'echo', nick: 'ada' }),
      heartbeatMs: 0,
    });

    const list = async (headers: Record<string, string>): Promise<Listing> =>
      JSON.parse((await raw(node, '/api/sessions', { headers })).body) as Listing;
    const hers = await list({ cookie: real.cookie });
    expect(hers.sessions.map((s) => s.id)).toEqual([mine.id]);
    expect(hers.total).toBe(1);
    expect(hers.sessions[0]).toMatchObject({ name: 'ada', authenticated: true });

    // The impostor sees nothing of hers, and cannot watch or cut it (answered as unknown).
    const theirs = await list({ cookie: impostor.cookie });
    expect(theirs).toMatchObject({ total: 0, sessions: [] });
    expect((await raw(node, `/api/sessions/${mine.id}/frames`, { headers: { cookie: impostor.cookie } })).status).toBe(
      404,
    );
    const cut = await raw(node, `/api/sessions/${mine.id}/cut`, {
      method: 'POST',
      headers: { cookie: impostor.cookie, ...JSON_TYPE },
      body: '{}',
    });
    expect(cut.status).toBe(404);
    expect(mine.driver.attached).not.toBeNull();

    // Nobody at all: no live view.
    expect((await raw(node, '/api/sessions')).status).toBe(401);

    // The admin sees both, and the claimed name is marked as not proven.
    const all = await list({ authorization: `Bearer ${node.adminToken}` });
    expect(all.sessions.find((s) => s.id === claimed.id)).toMatchObject({ name: 'ada', authenticated: false });
    expect(all.sessions.find((s) => s.id === mine.id)).toMatchObject({ name: 'ada', authenticated: true });

    // The owner watches her own frames, payload previews included, and cuts her own transport.
    const controller = new AbortController();
    const stream = await fetch(new URL(`/api/sessions/${mine.id}/frames`, node.http), {
      headers: { cookie: real.cookie },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    await mine.send('only for ada');
    expect(await nextText(mine)).toBe('only for ada');
    let text = '';
    for (let i = 0; i < 50 && !text.includes('«only for ada»'); i++) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += dec.decode(chunk.value);
    }
    expect(text).toContain('«only for ada»');
    controller.abort();
    const resumed = new Promise<void>((resolve) => mine.on('resumed', () => resolve()));
    const own = await raw(node, `/api/sessions/${mine.id}/cut`, {
      method: 'POST',
      headers: { cookie: real.cookie, ...JSON_TYPE },
      body: '{}',
    });
    expect(JSON.parse(own.body)).toEqual({ id: mine.id, cut: true });
    await resumed;
    await mine.send('still here');
    expect(await nextText(mine)).toBe('still here');

    // A login cannot cut an anonymous session either; the admin can.
    expect(
      (
        await raw(node, `/api/sessions/${claimed.id}/cut`, {
          method: 'POST',
          headers: { cookie: real.cookie, ...JSON_TYPE },
          body: '{}',
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await raw(node, `/api/sessions/${claimed.id}/cut`, {
          method: 'POST',
          headers: { authorization: `Bearer ${node.adminToken}` },
        })
      ).status,
    ).toBe(200);
    await Promise.all([mine.release(), claimed.release().catch(() => {})]);
  }, 60_000);

  it('a page login made with the admin token is the admin; a wrong token is refused', async () => {
    const s = await connect(node.tcp, { userData: encodeHello({ service: 'echo' }), heartbeatMs: 0 });
    const wrong = await raw(node, '/api/login', {
      method: 'POST',
      headers: JSON_TYPE,
      body: JSON.stringify({ name: 'root', adminToken: 'not-the-token-at-all' }),
    });
    expect(wrong.status).toBe(401);
    const admin = await login(node, 'root', { adminToken: node.adminToken });
    expect(admin.admin).toBe(true);
    const listing = JSON.parse(
      (await raw(node, '/api/sessions', { headers: { cookie: admin.cookie } })).body,
    ) as Listing;
    expect(listing.sessions.map((x) => x.id)).toContain(s.id);
    await s.release();
  }, 30_000);
});
