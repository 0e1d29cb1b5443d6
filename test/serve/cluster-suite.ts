// The multi-node suite of `colloquy serve`, run for every shared store (cluster.test.ts: Redis,
// cluster-postgres.test.ts: PostgreSQL): two nodes started with the same --store form one
// service: a web login made on one node is valid on the other, chat crosses nodes on the store's
// bus, and a session whose node is killed (SIGKILL: nothing of it runs again) resumes on the other
// node with nothing lost or repeated.
//
// The client reaches the nodes through a small TCP forwarder whose target the test switches, as
// a load balancer would after a node died.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/apps/chat-client.js';
import { encodeHello } from '../../src/apps/service.js';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import { ANONYMOUS, startServe, type ServeNode } from '../support/serve.js';

const dec = new TextDecoder();

/** The shared store the nodes run on: start() resolves with the --store value. */
export interface SharedBacking {
  start(): Promise<string>;
  stop(): Promise<void>;
}

/** Forwards every TCP connection to the port `target()` names at the time it arrives. */
async function forwarder(target: () => number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target(), '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function nextText(s: ClientSession): Promise<string> {
  const r = await s[Symbol.asyncIterator]().next();
  if (r.done) throw new Error('the session ended');
  return dec.decode(r.value);
}

export function clusterSuite(name: string, skip: boolean, backing: SharedBacking): void {
  describe.skipIf(skip)(`serve nodes sharing ${name}`, () => {
    let a: ServeNode;
    let b: ServeNode;
    beforeAll(async () => {
      const store = await backing.start();
      [a, b] = await Promise.all([
        startServe([...ANONYMOUS, '--store', store]),
        startServe([...ANONYMOUS, '--store', store]),
      ]);
    }, 120_000);
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await backing.stop();
    });

    it('a web login made on one node is valid on the other', async () => {
      const login = await fetch(new URL('/api/login', a.http), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":"grace"}',
      });
      expect(login.status).toBe(200);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
      expect(await (await fetch(new URL('/api/me', b.http), { headers: { cookie } })).json()).toMatchObject({
        name: 'grace',
        admin: false,
      });
    }, 30_000);

    it("is one chat: people on different nodes see each other's messages", async () => {
      const ada = await ChatClient.connect(a.ws, { nick: 'ada', room: 'cluster', heartbeatMs: 0 });
      const bob = await ChatClient.connect(b.tcp, { nick: 'bob', room: 'cluster', heartbeatMs: 0 });
      const seen = (c: ChatClient, text: string): Promise<string> =>
        new Promise((resolve) => {
          const off = c.on('message', (m) => {
            if (m.text === text) {
              off();
              resolve(m.from);
            }
          });
        });
      // Bus subscriptions become active asynchronously: repeat a greeting until the other node hears one.
      const heard = seen(bob, 'hello from a');
      let greeted = false;
      void heard.then(() => {
        greeted = true;
      });
      for (let i = 0; i < 100 && !greeted; i++) {
        await ada.send('hello from a');
        await Promise.race([heard, new Promise((r) => setTimeout(r, 100))]);
      }
      expect(await heard).toBe('ada');
      const back = seen(ada, 'hello from b');
      await bob.send('hello from b');
      expect(await back).toBe('bob');
      await ada.close();
      await bob.close();
    }, 60_000);

    it('resumes a session on the other node after the node holding it is killed', async () => {
      let target = Number(new URL(a.tcp.replace('tcp:', 'http:')).port);
      const lb = await forwarder(() => target);
      try {
        const s = await connect(`tcp://127.0.0.1:${lb.port}`, {
          userData: encodeHello({ service: 'echo' }),
          heartbeatMs: 0,
          reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
        });
        await s.send('one');
        expect(await nextText(s)).toBe('one');
        const resumed = new Promise<void>((resolve) => s.on('resumed', () => resolve()));
        a.process.kill('SIGKILL');
        target = Number(new URL(b.tcp.replace('tcp:', 'http:')).port);
        await s.send('two');
        await resumed;
        expect(await nextText(s)).toBe('two');
        const listed = (await (
          await fetch(new URL('/api/sessions', b.http), { headers: { authorization: `Bearer ${b.adminToken}` } })
        ).json()) as { sessions: { id: string; restored: boolean; service: string }[] };
        expect(listed.sessions.find((x) => x.id === s.id)).toMatchObject({ restored: true, service: 'echo' });
        await s.send('three');
        expect(await nextText(s)).toBe('three');
        await s.release();
      } finally {
        await lb.close();
      }
    }, 60_000);
  });
}
