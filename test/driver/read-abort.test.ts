// read() and the other waits with a signal that is already aborted: they reject at once. Before,
// an abort that fired while the application was busy (writing the previous chunk to disk) was
// missed by the next read, which waited on as if no one had asked to stop; and a read served
// from the buffer never looked at the signal, so `colloquy get` ran on after Ctrl-C.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';

let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

async function pair(): Promise<{ client: Awaited<ReturnType<typeof connect>>; peer: Session }> {
  server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
  const peer = new Promise<Session>((resolve) => server?.on('session', resolve));
  const client = await connect(`tcp://127.0.0.1:${server.addresses.tcp as number}`, { heartbeatMs: 0 });
  return { client, peer: await peer };
}

const reason = new Error('interrupted');

describe('waits with an already aborted signal', () => {
  it('read() with nothing buffered rejects at once instead of waiting for data', async () => {
    const { client } = await pair();
    const controller = new AbortController();
    controller.abort(reason);
    await expect(client.read({ signal: controller.signal })).rejects.toBe(reason);
    await client.release();
  });

  it('read() with data buffered rejects too, and the data stays for the next read', async () => {
    const { client, peer } = await pair();
    await peer.send('buffered');
    await expect.poll(() => client.stats.receiveBufferBytes).toBeGreaterThan(0);
    const controller = new AbortController();
    controller.abort(reason);
    await expect(client.read({ signal: controller.signal })).rejects.toBe(reason);
    const next = await client.read();
    expect(new TextDecoder().decode(next.value)).toBe('buffered');
    await client.release();
  });

  it('an abort while no read is waiting is seen by the next read (the loop was busy elsewhere)', async () => {
    const { client, peer } = await pair();
    const controller = new AbortController();
    const reads: string[] = [];
    await peer.send('one');
    const loop = (async () => {
      for (;;) {
        const r = await client.read({ signal: controller.signal });
        reads.push(new TextDecoder().decode(r.value));
        controller.abort(reason); // Ctrl-C while we "write to disk"
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await expect(loop).rejects.toBe(reason);
    expect(reads).toEqual(['one']);
    await client.release();
  });

  it('a send waiting for room rejects at once with an aborted signal', async () => {
    const { client } = await pair();
    const controller = new AbortController();
    controller.abort(reason);
    await expect(client.send('x', { signal: controller.signal })).rejects.toBe(reason);
    await client.release();
  });
});
