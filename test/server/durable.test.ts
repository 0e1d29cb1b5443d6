// Resume on another node: two servers share a store; the node holding a session becomes
// unreachable (as if killed), the client's next connection lands on the other node, which
// restores the session from the store and resumes it with nothing lost or duplicated.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { conformance } from '../driver/conformance.js';
import { forwarder } from '../support/forwarder.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.destroy();
});

const msg = (i: number): Uint8Array => {
  const b = new Uint8Array(64);
  new DataView(b.buffer).setUint32(0, i);
  return b;
};
const idx = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);

describe('durable sessions', () => {
  it('a session resumes on another node after its node becomes unreachable: exactly once, both ways', async () => {
    const store = new MemoryStore();
    const options = { tcp: { port: 0 }, heartbeatMs: 0, durability: { store } } as const;
    const node1 = await listen(options);
    const node2 = await listen(options);
    servers.push(node2, node1);
    const lb = await forwarder(node1.addresses.tcp as number);
    const peers: Session[] = [];
    const received: number[] = [];
    const echoed: number[] = [];
    const onSession = (s: Session): void => {
      peers.push(s);
      void (async () => {
        for await (const m of s) {
          received.push(idx(m));
          await s.send(m);
        }
      })().catch(() => {});
    };
    node1.on('session', onSession);
    node2.on('session', onSession);
    try {
      const client = await connect(`tcp://127.0.0.1:${lb.port}`, {
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      });
      const reading = (async () => {
        for await (const m of client) {
          echoed.push(idx(m));
          if (echoed.length === 400) break;
        }
      })();
      for (let i = 0; i < 400; i++) {
        await client.send(msg(i));
        if (i === 200) {
          // node1 "dies": its connection is gone, and the next one lands on node2.
          lb.switchTo(node2.addresses.tcp as number);
          lb.cutAll();
        }
      }
      await reading;
      expect(received).toEqual(Array.from({ length: 400 }, (_, i) => i));
      expect(echoed).toEqual(Array.from({ length: 400 }, (_, i) => i));
      expect(peers.length).toBe(2); // the same session, first on node1, then restored on node2
      expect(peers[1]?.id).toBe(client.id);
      expect(node2.sessions.has(client.id)).toBe(true);
      await client.release();
    } finally {
      await lb.close();
    }
  });

  it('without durability, the other node refuses the resume as unknown', async () => {
    const node1 = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    const node2 = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    servers.push(node2, node1);
    const lb = await forwarder(node1.addresses.tcp as number);
    try {
      const client = await connect(`tcp://127.0.0.1:${lb.port}`, { heartbeatMs: 0, reconnect: { initialDelayMs: 5 } });
      const failed = new Promise<{ details: { reason: number } }>((resolve) =>
        client.on('resume-failed', resolve as never),
      );
      lb.switchTo(node2.addresses.tcp as number);
      lb.cutAll();
      expect((await failed).details.reason).toBe(0); // unknown
    } finally {
      await lb.close();
    }
  });
});

describe('runtime over tcp with durable sessions (conformance)', () => {
  conformance({
    name: 'tcp+durable',
    endpoint: () => ({ tcp: { port: 0 }, durability: { store: new MemoryStore() } }),
    url: (s) => `tcp://127.0.0.1:${s.addresses.tcp}`,
  });
});
