// Finding 5 (issue 11): a client that never reads nor acknowledges makes the server hold what it
// sends (replay buffer and send queue, kept through the resume window). The server's total is
// bounded (maxHeldBytes): past it, the session holding the most is aborted with
// ERR_BUDGET_EXCEEDED (reason buffer-overflow), while a client that reads keeps receiving.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { listen, type Server } from '../../src/server/server.js';

const servers: Server[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const s of servers.splice(0)) await s.destroy();
});

/** A proxy that forwards the handshake, then swallows everything both ways: the client never reads nor acknowledges. */
async function blackhole(target: number, afterBytesDown: number): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
    }
    let down = 0;
    client.on('data', (chunk: Buffer) => {
      if (down < afterBytesDown) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (down < afterBytesDown) client.write(chunk);
      down += chunk.length;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

describe('global budget for held bytes (finding 5)', () => {
  it('clients that never read are aborted (ERR_BUDGET_EXCEEDED) before the server holds more than maxHeldBytes; a reading client goes on', async () => {
    const maxHeldBytes = 32 * 1024 * 1024;
    const server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, maxHeldBytes });
    servers.push(server);
    const ended: { id: string; code: string | undefined; reason: unknown }[] = [];
    let peak = 0;
    const chunk = new Uint8Array(64 * 1024);
    // The service: send to every client as fast as it takes it.
    server.on('session', (s: Session) => {
      s.on('closed', ({ error }) => ended.push({ id: s.id, code: error?.code, reason: error?.details.limit }));
      void (async () => {
        for (let i = 0; i < 4096 && !s.closed; i++) {
          await s.send(chunk);
          peak = Math.max(peak, (server as unknown as { budget: { bytes: number } }).budget.bytes);
        }
      })().catch(() => {});
    });

    // A reading client, directly.
    const reader = await connect(`tcp://127.0.0.1:${server.addresses.tcp}`, { heartbeatMs: 0, reconnect: false });
    let read = 0;
    const reading = (async () => {
      for await (const m of reader) {
        read += m.length;
        if (read >= 40 * 1024 * 1024) break;
      }
    })();

    // Two clients that stop reading right after the handshake.
    const hole = await blackhole(server.addresses.tcp as number, 1);
    const silent = await Promise.all(
      [0, 1].map(() => connect(`tcp://127.0.0.1:${hole}`, { heartbeatMs: 0, reconnect: false })),
    );
    cleanups.push(() => {
      for (const s of silent) s.abort('done');
    });
    const silentIds = silent.map((s) => s.id);

    for (let i = 0; i < 1000 && !ended.some((e) => silentIds.includes(e.id)); i++)
      await new Promise((r) => setTimeout(r, 20));
    const aborted = ended.filter((e) => silentIds.includes(e.id));
    expect(aborted.length).toBeGreaterThanOrEqual(1);
    expect(aborted[0]).toMatchObject({ code: 'ERR_BUDGET_EXCEEDED', reason: 'maxHeldBytes' });
    // The bound held (one send of slack), and the reading client was never the one cut.
    expect(peak).toBeLessThanOrEqual(maxHeldBytes + chunk.length + 1024);
    await reading;
    expect(read).toBeGreaterThanOrEqual(40 * 1024 * 1024);
    expect(ended.some((e) => e.id === reader.id)).toBe(false);
    reader.abort('done');
  }, 60_000);
});
