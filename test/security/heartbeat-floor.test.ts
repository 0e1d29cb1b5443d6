// Finding 5 (issue 11): a client may not make the server send a heartbeat every millisecond. A
// client proposing heartbeatMs 1 gets the server's floor (minHeartbeatMs, default 1 s): the
// agreed interval says so, and the server sends at most a handful of frames while idle.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { listen, type Server } from '../../src/server/server.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.destroy();
});

/** A TCP proxy counting the bytes the server sends to the client. */
async function countingProxy(target: number): Promise<{ port: number; downBytes(): number; close(): Promise<void> }> {
  let down = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      down += chunk.length;
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    downBytes: () => down,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('heartbeat floor (finding 5)', () => {
  it('a 1 ms heartbeat proposal gets the server floor (1 s by default); the session still works', async () => {
    const server = await listen({ tcp: { port: 0 } });
    servers.push(server);
    server.on('session', (s) => {
      void (async () => {
        for await (const m of s) await s.send(m);
      })().catch(() => {});
    });
    const proxy = await countingProxy(server.addresses.tcp as number);
    try {
      const client = await connect(`tcp://127.0.0.1:${proxy.port}`, { heartbeatMs: 1, reconnect: false });
      expect(client.negotiated?.heartbeatMs).toBe(1000);
      const afterHandshake = proxy.downBytes();
      // Idle for 600 ms: at 1 ms the server would send ~600 heartbeats; at the floor, none or one.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(proxy.downBytes() - afterHandshake).toBeLessThan(64);
      // Legitimate use on the same session.
      await client.send(new TextEncoder().encode('ping'));
      for await (const m of client) {
        expect(new TextDecoder().decode(m)).toBe('ping');
        break;
      }
      await client.release();
    } finally {
      await proxy.close();
    }
  });

  it('the floor is an option (minHeartbeatMs), and a server asking for a faster heartbeat itself keeps it', async () => {
    const floored = await listen({ tcp: { port: 0 }, minHeartbeatMs: 250 });
    const fast = await listen({ tcp: { port: 0 }, heartbeatMs: 100 });
    servers.push(floored, fast);
    const a = await connect(`tcp://127.0.0.1:${floored.addresses.tcp}`, { heartbeatMs: 1, reconnect: false });
    expect(a.negotiated?.heartbeatMs).toBe(250);
    const b = await connect(`tcp://127.0.0.1:${fast.addresses.tcp}`, { heartbeatMs: 1, reconnect: false });
    expect(b.negotiated?.heartbeatMs).toBe(100);
    a.abort('done');
    b.abort('done');
  });
});
