// Finding 5 (issue 11): one address may not take all of a server. Caps per address on open
// connections, handshakes in progress and live sessions (maxConnectionsPerAddress,
// maxPendingHandshakesPerAddress, maxSessionsPerAddress); past one, the newcomer is turned away
// with ERR_REFUSED naming the option, and what was already there keeps working. A WebSocket peer
// that never answers the closing handshake is cut after closeTimeoutMs.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type ClientSession } from '../../src/client/connect.js';
import { ConnectionPool } from '../../src/client/pool.js';
import type { SessionError } from '../../src/engine/errors.js';
import { listen, type Server, type ServerOptions } from '../../src/server/server.js';

const servers: Server[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.destroy();
});

async function start(
  extra: Partial<ServerOptions>,
): Promise<{ server: Server; rejected: SessionError[]; url: string }> {
  const server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, ...extra });
  servers.push(server);
  const rejected: SessionError[] = [];
  server.on('rejected', ({ error }) => rejected.push(error));
  server.on('session', (s) => {
    void (async () => {
      for await (const m of s) await s.send(m);
    })().catch(() => {});
  });
  return { server, rejected, url: `tcp://127.0.0.1:${server.addresses.tcp}` };
}

async function idleSocket(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  sockets.push(s);
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  return s;
}

const closedWithin = (s: net.Socket, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (s.destroyed || s.closed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });

async function echo(client: ClientSession, text: string): Promise<string> {
  await client.send(text);
  for await (const m of client) return new TextDecoder().decode(m);
  throw new Error('ended');
}

describe('per-address caps (finding 5)', () => {
  it('maxSessionsPerAddress: the next CONNECT from that address is refused; the others go on; a slot frees when one ends', async () => {
    const { rejected, url } = await start({ maxSessionsPerAddress: 2 });
    const a = await connect(url, { heartbeatMs: 0, reconnect: false });
    const b = await connect(url, { heartbeatMs: 0, reconnect: false });
    await expect(connect(url, { heartbeatMs: 0, reconnect: false })).rejects.toMatchObject({
      code: 'ERR_REFUSED',
      message: expect.stringContaining('maxSessionsPerAddress'),
    });
    expect(rejected.map((e) => e.details.limit)).toEqual(['maxSessionsPerAddress']);
    expect(await echo(a, 'a')).toBe('a');
    await b.release();
    const c = await connect(url, { heartbeatMs: 0, reconnect: false });
    expect(await echo(c, 'c')).toBe('c');
    a.abort('done');
    c.abort('done');
  });

  it('maxSessionsPerAddress counts the channels of a multiplexed connection for its address', async () => {
    const { rejected, url } = await start({ maxSessionsPerAddress: 2 });
    const pool = new ConnectionPool();
    try {
      const a = await connect(url, { pool, heartbeatMs: 0, reconnect: false });
      await connect(url, { pool, heartbeatMs: 0, reconnect: false });
      await expect(connect(url, { pool, heartbeatMs: 0, reconnect: false })).rejects.toMatchObject({
        code: 'ERR_REFUSED',
        message: expect.stringContaining('maxSessionsPerAddress'),
      });
      expect(rejected.map((e) => e.details.limit)).toEqual(['maxSessionsPerAddress']);
      expect(await echo(a, 'a')).toBe('a');
    } finally {
      pool.close();
    }
  });

  it('maxPendingHandshakesPerAddress and maxConnectionsPerAddress: silent sockets cannot hold every slot', async () => {
    const { server, rejected, url } = await start({ maxPendingHandshakesPerAddress: 2, maxConnectionsPerAddress: 3 });
    const port = server.addresses.tcp as number;
    const silent = [await idleSocket(port), await idleSocket(port)];
    const third = await idleSocket(port);
    expect(await closedWithin(third, 5000)).toBe(true); // no third handshake in progress
    expect(silent[0]?.destroyed).toBe(false);
    // One real session uses the third connection slot; a fourth connection is refused.
    silent[1]?.destroy();
    for (let i = 0; i < 100 && server['pending'].size > 1; i++) await new Promise((r) => setTimeout(r, 10));
    const client = await connect(url, { heartbeatMs: 0, reconnect: false });
    const extra = await idleSocket(port);
    const another = await idleSocket(port);
    expect((await closedWithin(another, 5000)) || (await closedWithin(extra, 5000))).toBe(true);
    expect(rejected.map((e) => e.details.limit)).toEqual(
      expect.arrayContaining(['maxPendingHandshakesPerAddress', 'maxConnectionsPerAddress']),
    );
    expect(await echo(client, 'still')).toBe('still');
    client.abort('done');
  });
});

describe('memory transports', () => {
  it('each in-process pair is its own address: more handshakes at once than one address may hold all go through', async () => {
    const name = `caps-memory-${process.pid}`;
    const server = await listen({ memory: name, heartbeatMs: 0 });
    servers.push(server);
    const rejected: SessionError[] = [];
    server.on('rejected', ({ error }) => rejected.push(error));
    // 150 > maxPendingHandshakesPerAddress (100): all in flight at once.
    const clients = await Promise.all(
      Array.from({ length: 150 }, () => connect(`memory://${name}`, { heartbeatMs: 0, reconnect: false })),
    );
    expect(rejected).toEqual([]);
    expect(server.sessions.size).toBe(150);
    for (const c of clients) c.abort();
  });
});

describe('WebSocket close timeout (finding 5)', () => {
  it('a peer that never answers the closing handshake is cut after closeTimeoutMs', async () => {
    const server = await listen({ ws: { port: 0, closeTimeoutMs: 300 }, heartbeatMs: 0 });
    servers.push(server);
    const s = await idleSocket(server.addresses.ws as number);
    s.write(
      'GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    // A masked binary frame with one byte that opens neither CONNECT nor RESUME: turned away.
    s.write(Buffer.from([0x82, 0x81, 1, 2, 3, 4, 0xff ^ 1]));
    // The server sends its close frame; this peer never answers it (nor closes).
    const started = performance.now();
    expect(await closedWithin(s, 4000)).toBe(true);
    expect(performance.now() - started).toBeLessThan(4000);
  });
});
