// Regression tests for two runtime bugs the chaos test found (both fixed: the heartbeat now counts
// bytes, not only whole frames, and the driver mutes a transport the machine gave up on; minor
// sync waiters are matched by order, not by serial).
//
// Bug 1 (seed 973104797 with COLLOQUY_CHAOS_MAX_CHUNK=7 COLLOQUY_CHAOS_MESSAGES=300: "server
// session closed: ERR_PROTOCOL_VIOLATION: DATA before the session is established").
//
// What happens
//   1. A frame arrives slowly (here: a 200 KiB message through a link of ~100 KB/s). The
//      heartbeat counts whole frames only, so after 2 x heartbeatMs without a complete frame the
//      server's machine emits close-transport (ERR_HEARTBEAT_TIMEOUT), detaches and goes to
//      `interrupted`, although bytes keep arriving.
//   2. The driver answers close-transport with a graceful close (closeWithLinger) but keeps the
//      transport as `this.transport`, so its data handler still feeds bytes to the machine.
//   3. The rest of the frame arrives on that closing transport; the detached machine decodes a
//      DATA frame in `interrupted` -> protocol violation -> the whole session is closed, and the
//      client's resume is refused. A transport problem became the end of the session.
//
// Expected: after close-transport the old transport's bytes are ignored; the client resumes and
// the message is delivered exactly once.
//
// Bug 2 (every 100k half-duplex chaos run: "never settled 17"): Session.syncMinor({ confirm })
// waits under the key `sync-minor:<serial>`. Serials start again at 1 with every activity (and
// move back with a resynchronize), so a later point with the same serial replaces the waiter of
// an earlier unconfirmed one: that promise never settles, not even when the session closes.

import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server/server.js';

/** Client-to-server bytes trickle at ~100 KB/s; the server's FIN is never passed on. */
async function slowLink(targetPort: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<ReturnType<typeof setInterval>>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const target = net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    for (const s of [client, target]) {
      sockets.add(s);
      s.on('error', () => {});
    }
    target.on('data', (d: Buffer) => {
      if (!client.destroyed) client.write(d);
    }); // fast, FIN not forwarded
    const queue: Buffer[] = [];
    client.on('data', (d: Buffer) => queue.push(d));
    const t = setInterval(() => {
      let budget = 1024; // per 10 ms
      while (budget > 0 && queue.length > 0 && !target.destroyed) {
        const head = queue[0] as Buffer;
        const n = Math.min(budget, head.length);
        target.write(head.subarray(0, n));
        budget -= n;
        if (n === head.length) queue.shift();
        else queue[0] = head.subarray(n);
      }
    }, 10);
    timers.add(t);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('repro 1: bytes of a transport the machine already dropped', () => {
  it('a frame finishing on a transport closed by heartbeat timeout must not end the session', async () => {
    const server = await listen({ tcp: { port: 0 }, heartbeatMs: 200, resumeWindowMs: 10_000 });
    const link = await slowLink(server.addresses.tcp as number);
    const serverSessions: Session[] = [];
    const serverClosed: string[] = [];
    const received: Uint8Array[] = [];
    server.on('session', (s) => {
      serverSessions.push(s);
      s.on('closed', ({ error }) => serverClosed.push(error ? `${error.code}: ${error.message}` : 'released'));
      s.on('event', (e) => {
        if (e.type === 'data') received.push(e.payload);
      });
    });
    const client = await connect(`tcp://127.0.0.1:${link.port}`, {
      heartbeatMs: 200,
      resumeWindowMs: 10_000,
      reconnect: { initialDelayMs: 10, maxDelayMs: 100, maxAttempts: 50 },
    });
    try {
      const message = new Uint8Array(200 * 1024).fill(7);
      await client.send(message);
      // The frame needs ~2 s on this link; the server gives up on the transport after 400 ms.
      // The client notices too (heartbeat), lingers, redials and resumes; the message is replayed.
      const until = performance.now() + 15_000;
      while (received.length === 0 && serverClosed.length === 0 && performance.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      expect(serverClosed, 'the server session ended because of a dropped transport').toEqual([]);
      expect(received.length).toBe(1);
      expect(Buffer.from(received[0] as Uint8Array).equals(Buffer.from(message))).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
      expect(received.length, 'delivered twice').toBe(1);
    } finally {
      client.abort();
      link.close();
      await server.destroy();
    }
  }, 30_000);
});

describe('repro 2: a confirmed minor sync whose serial comes round again', () => {
  it('every syncMinor({ confirm: true }) promise settles, at the latest when the session closes', async () => {
    const server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    const client = await connect(`tcp://127.0.0.1:${server.addresses.tcp as number}`, {
      heartbeatMs: 0,
      units: ['activities', 'minorSync', 'majorSync'],
    });
    try {
      const settled: string[] = [];
      const track = (name: string, p: Promise<number>): void => {
        p.then(
          () => settled.push(`${name} confirmed`),
          () => settled.push(`${name} rejected`),
        );
      };
      client.startActivity('a');
      track('activity a, serial 1', client.syncMinor({ confirm: true })); // the peer does not confirm it
      await client.endActivity();
      client.startActivity('b');
      track('activity b, serial 1', client.syncMinor({ confirm: true }));
      await client.endActivity();
      client.abort('done');
      await new Promise((r) => setTimeout(r, 200));
      // Each settles one way or the other (rejected at close, or earlier when its activity ended).
      expect(
        settled.map((x) => x.replace(/ (confirmed|rejected)$/, '')).sort(),
        `settled: ${settled.join('; ')}`,
      ).toEqual(['activity a, serial 1', 'activity b, serial 1']);
    } finally {
      client.abort();
      await server.destroy();
    }
  }, 10_000);
});
