// A major sync point the dying node received but never confirmed: two servers share a store; the
// first node's handler is still working on the client's sync point (it never answers: the node
// "dies" in it) when the node becomes unreachable. The client's RESUME lands on the second node,
// which restores the session from the store (a JSON store: the request's user data must survive
// the encoding) and gives the sync point to its own handler, which confirms it: the client's
// syncMajor() resolves in the same session. A message the second node's service sends as it
// opens, before the resume (the files service's `interrupted`), waits for that answer instead of
// failing with ERR_RESPONSE_REQUIRED.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { forwarder } from '../support/forwarder.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.destroy();
});

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('durable sessions: a request received but not answered by the dead node', () => {
  it('the node that resumes the session confirms the major sync point; the client goes on in the same session', async () => {
    const store = new MemoryStore();
    const options = { tcp: { port: 0 }, heartbeatMs: 0, durability: { store } } as const;
    const node1 = await listen(options);
    const node2 = await listen(options);
    servers.push(node2, node1);
    const lb = await forwarder(node1.addresses.tcp as number);
    let inHandler!: () => void;
    const reached = new Promise<void>((resolve) => (inHandler = resolve));
    node1.on('session', (s: Session) => {
      s.setHandlers({
        syncMajor: () => {
          inHandler();
          return new Promise<void>(() => {}); // the node dies before it answers
        },
      });
    });
    const seenOn2: string[] = [];
    let opened2: Promise<void> | undefined;
    node2.on('session', (s: Session) => {
      s.setHandlers({
        syncMajor: (_serial, userData) => {
          seenOn2.push(text(userData));
        },
      });
      opened2 = s.send('node2 here'); // before the resume: the restored request blocks new data
    });
    try {
      const client = await connect(`tcp://127.0.0.1:${lb.port}`, {
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      });
      await client.send('payload');
      const confirmed = client.syncMajor(bytes('offset 1234'));
      await reached;
      lb.switchTo(node2.addresses.tcp as number);
      lb.cutAll();
      const serial = await confirmed;
      expect(serial).toBeGreaterThan(0);
      expect(seenOn2).toEqual(['offset 1234']);
      await opened2;
      const first = await client.read();
      expect(text(first.value as Uint8Array)).toBe('node2 here');
      expect(node2.sessions.has(client.id)).toBe(true);
      await client.release();
    } finally {
      await lb.close();
    }
  });
});
