// Server.close(): every session ended under one deadline, concurrently, and counted.
//
//   - release: clients that answer are released at once, all of them together;
//   - clients that never answer (their connection frozen, as behind a NAT that dropped its
//     mapping): close() ends at its deadline however many there are, each aborted and counted;
//   - handover: two nodes share a store; the first stops with a handover while its clients
//     talk; each client resumes on the second node (the balancer sends the redial there) with
//     nothing lost, nothing repeated, no release and no error on the client.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { forwarder } from '../support/forwarder.js';

const servers: Server[] = [];
const clients: ClientSession[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.abort();
  for (const s of servers.splice(0)) await s.destroy();
});

const echo = (s: Session): void => {
  void (async () => {
    for await (const m of s) await s.send(m);
  })().catch(() => {});
};

describe('Server.close()', () => {
  it('release: every answering client is released, all at once', async () => {
    const server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    servers.push(server);
    server.on('session', echo);
    const closedClean: boolean[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await connect(`tcp://127.0.0.1:${server.addresses.tcp as number}`, {
        heartbeatMs: 0,
        reconnect: false,
      });
      c.on('closed', ({ error }) => closedClean.push(error === undefined));
      clients.push(c);
    }
    const report = await server.close({ timeoutMs: 10_000 });
    expect(report).toMatchObject({ mode: 'release', released: 20, handedOver: 0, aborted: 0 });
    expect(report.elapsedMs).toBeLessThan(5000);
    await expect.poll(() => closedClean.length).toBe(20);
    expect(closedClean.every(Boolean)).toBe(true);
    expect(server.accepting).toBe(false);
  });

  it('clients that never answer: close() ends at its deadline, every session aborted and counted', async () => {
    const server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    servers.push(server);
    server.on('session', echo);
    const lb = await forwarder(() => server.addresses.tcp as number);
    try {
      for (let i = 0; i < 50; i++)
        clients.push(await connect(`tcp://127.0.0.1:${lb.port}`, { heartbeatMs: 0, reconnect: false }));
      const answering = await connect(`tcp://127.0.0.1:${server.addresses.tcp as number}`, {
        heartbeatMs: 0,
        reconnect: false,
      });
      clients.push(answering);
      lb.freeze();
      const started = performance.now();
      const report = await server.close({ timeoutMs: 800 });
      const took = performance.now() - started;
      expect(report).toMatchObject({ released: 1, handedOver: 0, aborted: 50 });
      expect(took).toBeGreaterThanOrEqual(700); // the deadline, less the time reserved to abort
      expect(took).toBeLessThan(800 + 1000);
      expect(server.sessions.size).toBe(0);
    } finally {
      await lb.close();
    }
  });

  it('handover: the clients resume on the other node sharing the store; nothing lost or repeated, nothing released', async () => {
    const store = new MemoryStore();
    const options = { tcp: { port: 0 }, heartbeatMs: 0, durability: { store } } as const;
    const node1 = await listen(options);
    const node2 = await listen(options);
    servers.push(node2, node1);
    const ended: string[] = [];
    for (const n of [node1, node2])
      n.on('session', (s) => {
        s.on('closed', ({ error }) => ended.push(error?.code ?? 'released'));
        echo(s);
      });
    // The balancer: new connections go to node1 while it accepts, then to node2.
    const lb = await forwarder(() => (node1.accepting ? node1.addresses.tcp : node2.addresses.tcp) as number);
    try {
      const sessions: { c: ClientSession; got: string[]; errors: number }[] = [];
      for (let i = 0; i < 5; i++) {
        const c = await connect(`tcp://127.0.0.1:${lb.port}`, {
          heartbeatMs: 0,
          reconnect: { initialDelayMs: 5, maxDelayMs: 50 },
        });
        clients.push(c);
        const entry = { c, got: [] as string[], errors: 0 };
        c.on('closed', () => {
          entry.errors++;
        });
        void (async () => {
          for await (const m of c) entry.got.push(new TextDecoder().decode(m));
        })().catch(() => {
          entry.errors++;
        });
        sessions.push(entry);
      }
      const sending = Promise.all(
        sessions.map(async ({ c }, k) => {
          for (let i = 0; i < 200; i++) {
            await c.send(`${k}:${i}`);
            if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2));
          }
        }),
      );
      await expect.poll(() => sessions.every((s) => s.got.length >= 20)).toBe(true);
      const report = await node1.close({ mode: 'handover', timeoutMs: 10_000 });
      expect(report).toMatchObject({ mode: 'handover', handedOver: 5, released: 0, aborted: 0 });
      await sending;
      await expect.poll(() => sessions.every((s) => s.got.length === 200), { timeout: 10_000 }).toBe(true);
      sessions.forEach(({ got, errors }, k) => {
        expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `${k}:${i}`));
        expect(errors).toBe(0);
      });
      expect(ended).toEqual(Array(5).fill('ERR_HANDED_OVER'));
      expect(node2.sessions.size).toBe(5);
      for (const { c } of sessions) await c.release();
    } finally {
      await lb.close();
    }
  });

  it('handover needs durable sessions', async () => {
    const server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    servers.push(server);
    expect(server.canHandOver).toBe(false);
    await expect(server.close({ mode: 'handover' })).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
  });
});
