// When the server ended a session, the client hears why (the code and message that ended it),
// on the node that ended it and on any other node sharing the store, instead of a bare
// "no such session" resume refusal.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { SessionError } from '../../src/engine/errors.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { forwarder } from '../support/forwarder.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.destroy();
});

async function pair(): Promise<{ node1: Server; node2: Server }> {
  const store = new MemoryStore();
  const options = { tcp: { port: 0 }, heartbeatMs: 0, durability: { store } } as const;
  const node1 = await listen(options);
  const node2 = await listen(options);
  servers.push(node2, node1);
  return { node1, node2 };
}

function closedError(client: Awaited<ReturnType<typeof connect>>): Promise<SessionError | undefined> {
  return new Promise((resolve) => client.on('closed', ({ error }) => resolve(error)));
}

describe('the client hears why the server ended its session', () => {
  it('a service that ends a restored session on opening: the resume is refused with its reason', async () => {
    const { node1, node2 } = await pair();
    node2.on('session', (s) => s.abort('demo: this service cannot continue here'));
    const lb = await forwarder(node1.addresses.tcp as number);
    try {
      const client = await connect(`tcp://127.0.0.1:${lb.port}`, {
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      });
      const closed = closedError(client);
      await client.send('x');
      lb.switchTo(node2.addresses.tcp as number);
      lb.cutAll();
      const error = await closed;
      expect(error?.code).toBe('ERR_RESUME_REFUSED');
      expect(error?.message).toBe('the server ended the session: ERR_ABORTED: demo: this service cannot continue here');
    } finally {
      await lb.close();
    }
  });

  it('a session ended by an error on one node: a resume on the other node is told that error', async () => {
    const { node1, node2 } = await pair();
    const lb = await forwarder(node1.addresses.tcp as number);
    try {
      const client = await connect(`tcp://127.0.0.1:${lb.port}`, {
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      });
      await client.send('x');
      // node1 ends the session while its connection is down (the ABORT never reaches the client).
      lb.switchTo(0);
      lb.cutAll();
      const held = node1.sessions.get(client.id);
      expect(held).toBeDefined();
      held?.abort('maintenance: draining this node');
      // Wait for the tombstone to be in the store, then let the client reach node2.
      for (let i = 0; i < 200 && node1.sessions.has(client.id); i++) await new Promise((r) => setTimeout(r, 5));
      const closed = closedError(client);
      lb.switchTo(node2.addresses.tcp as number);
      const error = await closed;
      expect(error?.code).toBe('ERR_RESUME_REFUSED');
      expect(error?.message).toBe('the server ended the session: ERR_ABORTED: maintenance: draining this node');
    } finally {
      await lb.close();
    }
  });
});
