// Channels and the client pool: several sessions over one transport connection, and the
// connection reused by the next session after a release.

import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { ConnectionPool } from '../../src/client/pool.js';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { collect, conformance } from '../driver/conformance.js';

let server: Server | undefined;
let pool: ConnectionPool | undefined;
afterEach(async () => {
  pool?.close();
  pool = undefined;
  await server?.destroy();
  server = undefined;
});

const baseAddress = (s: Session): string => (s.driver.attached?.remoteAddress ?? '').replace(/#\d+$/, '');

describe('channels over one connection', () => {
  it('three sessions share one TCP connection, each with its own data', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    pool = new ConnectionPool();
    const url = `tcp://127.0.0.1:${server.addresses.tcp}`;
    const clients = await Promise.all([0, 1, 2].map(() => connect(url, { pool, heartbeatMs: 0 })));
    expect(pool.stats).toEqual({ connections: 1, channels: 3 });
    const peers = [...server.sessions.values()];
    expect(new Set(peers.map(baseAddress)).size).toBe(1);
    await Promise.all(clients.map((c, i) => c.send(`hello from ${i}`)));
    for (const c of clients) {
      const peer = peers.find((p) => p.id === c.id) as Session;
      expect(new TextDecoder().decode((await collect(peer, 1))[0])).toBe(`hello from ${clients.indexOf(c)}`);
    }
  });

  it('maxChannelsPerConnection (pool): past that many channels on a connection the pool opens another', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    pool = new ConnectionPool({ maxChannelsPerConnection: 2 });
    const url = `tcp://127.0.0.1:${server.addresses.tcp}`;
    for (let i = 0; i < 3; i++) await connect(url, { pool, heartbeatMs: 0 });
    expect(pool.stats).toEqual({ connections: 2, channels: 3 });
    expect(new Set([...server.sessions.values()].map(baseAddress)).size).toBe(2);
  });

  it('maxChannelsPerConnection (pool): more sessions opening at once than one connection carries spread over new ones', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, maxChannelsPerConnection: 2 });
    pool = new ConnectionPool({ maxChannelsPerConnection: 2 });
    const url = `tcp://127.0.0.1:${server.addresses.tcp}`;
    const clients = await Promise.all(Array.from({ length: 7 }, () => connect(url, { pool, heartbeatMs: 0 })));
    expect(pool.stats).toEqual({ connections: 4, channels: 7 });
    expect(server.sessions.size).toBe(7);
    for (const c of clients) c.abort('done');
  });

  it('maxChannelsPerConnection (server): a peer opening more channels than allowed loses the connection; no session past the limit opens', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, maxChannelsPerConnection: 2 });
    pool = new ConnectionPool({ maxChannelsPerConnection: 3 });
    const url = `tcp://127.0.0.1:${server.addresses.tcp}`;
    const first = [
      await connect(url, { pool, heartbeatMs: 0, reconnect: false }),
      await connect(url, { pool, heartbeatMs: 0, reconnect: false }),
    ];
    const lost = Promise.all(
      first.map(
        (c) =>
          new Promise((resolve) => {
            c.on('interrupted', resolve);
            c.on('closed', resolve);
          }),
      ),
    );
    const third = await connect(url, { pool, heartbeatMs: 0, reconnect: false }).then(
      () => 'opened',
      (e: unknown) => e,
    );
    expect(third).toMatchObject({ code: 'ERR_CONNECT_FAILED', details: { cause: 'closed-before-accept' } });
    // The whole shared connection went: both sessions on it lost their transport.
    expect(await Promise.race([lost.then(() => 'lost'), delay(10_000).then(() => 'kept')])).toBe('lost');
    expect(server.sessions.size).toBe(2);
  });

  it('after a release the next session reuses the same connection', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    pool = new ConnectionPool({ idleMs: 10_000 });
    const url = `tcp://127.0.0.1:${server.addresses.tcp}`;
    const first = await connect(url, { pool, heartbeatMs: 0 });
    const firstAddress = baseAddress([...server.sessions.values()][0] as Session);
    await first.release();
    expect(pool.stats).toEqual({ connections: 1, channels: 0 });
    const second = await connect(url, { pool, heartbeatMs: 0 });
    const peer = [...server.sessions.values()].find((p) => p.id === second.id) as Session;
    expect(baseAddress(peer)).toBe(firstAddress);
    expect(second.id).not.toBe(first.id);
    expect(pool.stats).toEqual({ connections: 1, channels: 1 });
  });

  it('when the shared connection dies, every session on it resumes on a new one', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    pool = new ConnectionPool();
    const url = `tcp://127.0.0.1:${server.addresses.tcp}`;
    const clients = await Promise.all(
      [0, 1].map(() => connect(url, { pool, heartbeatMs: 0, reconnect: { initialDelayMs: 1 } })),
    );
    const resumed = Promise.all(clients.map((c) => new Promise((resolve) => c.on('resumed', resolve))));
    pool.close();
    await resumed;
    await Promise.all(clients.map((c) => c.send('after')));
    for (const c of clients) {
      const peer = [...(server as Server).sessions.values()].find((p) => p.id === c.id) as Session;
      expect((await collect(peer, 1)).length).toBe(1);
    }
    expect(pool.stats.connections).toBe(1);
  });
});

describe('runtime over tcp channels (conformance)', () => {
  const shared = new ConnectionPool({ idleMs: 1000 });
  conformance({
    name: 'tcp+mux',
    endpoint: () => ({ tcp: { port: 0 } }),
    url: (s) => `tcp://127.0.0.1:${s.addresses.tcp}`,
    client: { pool: shared },
  });
});
