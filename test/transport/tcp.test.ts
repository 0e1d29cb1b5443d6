// TCP specifics beyond the conformance suite: addresses, connect failures, listener close, and
// a socket error mapped to exactly one close.

import { afterEach, describe, expect, it } from 'vitest';
import { connectTcp, listenTcp, type SocketListener } from '../../src/transport/tcp.js';
import type { Transport } from '../../src/transport/transport.js';
import { Probe, randomBytes, roundTrip, turn } from './support.js';

const open: Array<{ close(): Promise<void> } | Transport> = [];
afterEach(async () => {
  for (const item of open.splice(0)) {
    if ('destroy' in item) item.destroy();
    else await item.close();
  }
});

async function listen(): Promise<{ listener: SocketListener; accepted: Promise<Transport> }> {
  let accept!: (t: Transport) => void;
  const accepted = new Promise<Transport>((resolve) => (accept = resolve));
  const listener = await listenTcp({ host: '127.0.0.1', port: 0 }, (t) => {
    open.push(t);
    accept(t);
  });
  open.push(listener);
  return { listener, accepted };
}

describe('tcp', () => {
  it('names both ends by ip:port and is not TLS', async () => {
    const { listener, accepted } = await listen();
    expect(listener.address).toBe(`127.0.0.1:${listener.port}`);
    const client = await connectTcp({ host: '127.0.0.1', port: listener.port });
    open.push(client);
    const server = await accepted;
    expect(client.kind).toBe('tcp');
    expect(client.remoteAddress).toBe(`127.0.0.1:${listener.port}`);
    expect(server.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(client.tlsSessionReused).toBeUndefined();
  });

  it('rejects a refused connect with ECONNREFUSED, and stops accepting once the listener closes', async () => {
    const { listener } = await listen();
    await listener.close();
    await expect(connectTcp({ host: '127.0.0.1', port: listener.port })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('rejects with the signal reason when aborted', async () => {
    const { listener } = await listen();
    const reason = new Error('gave up');
    await expect(
      connectTcp({ host: '127.0.0.1', port: listener.port, signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
  });

  it('maps a reset by the peer to one close with the socket error', async () => {
    const { listener, accepted } = await listen();
    const c = new Probe(await connectTcp({ host: '127.0.0.1', port: listener.port }));
    open.push(c.transport);
    const server = await accepted;
    // Unread bytes in the server's kernel buffer make its close a RST (Linux, BSD).
    c.transport.write(randomBytes(256 * 1024, 9));
    await roundTrip(server, c);
    server.destroy();
    const error = (await c.closed()) as NodeJS.ErrnoException | undefined;
    expect(['ECONNRESET', 'EPIPE']).toContain(error?.code);
    await turn();
    expect(c.closes).toHaveLength(1);
  });
});
