// connect({ resume: snapshot }): a client that lost its whole state (a page reload) goes on with
// its session from a snapshot of its machine, which is what the web page keeps in
// sessionStorage. Nothing is lost or repeated: frames the old client sent but the server had
// not acknowledged are replayed from the snapshot, and the server replays what it sent since.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { MachineSnapshot } from '../../src/engine/machine/index.js';
import { listen, type Server } from '../../src/server/server.js';

const dec = new TextDecoder();
let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

async function echoServer(): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
  server.on('session', (s) => {
    void (async () => {
      for await (const m of s) {
        seen.push(dec.decode(m));
        await s.send(m);
      }
    })().catch(() => {});
  });
  return { url: `tcp://127.0.0.1:${String(server.addresses.tcp)}`, seen };
}

describe('connect({ resume })', () => {
  it('resumes a session from a snapshot after the first client object is gone, once and in order', async () => {
    const { url, seen } = await echoServer();
    const first = await connect(url, { heartbeatMs: 0, reconnect: false });
    let snapshot: MachineSnapshot | undefined;
    first.driver.durability = {
      persist: async (s) => {
        snapshot = s;
      },
      failed: (e) => e as never,
    };
    await first.send('one');
    const it1 = first[Symbol.asyncIterator]();
    expect(dec.decode((await it1.next()).value as Uint8Array)).toBe('one');
    // The page goes away: its transport drops with no RELEASE or ABORT, and the object is dropped.
    first.driver.dropTransport();
    expect(snapshot).toBeDefined();
    const second = await connect(url, { heartbeatMs: 0, resume: snapshot });
    expect(second.id).toBe(first.id);
    await second.send('two');
    const it2 = second[Symbol.asyncIterator]();
    expect(dec.decode((await it2.next()).value as Uint8Array)).toBe('two');
    expect(seen).toEqual(['one', 'two']);
    await second.release();
  }, 30_000);

  it('rejects with ERR_RESUME_REFUSED when the server no longer holds the session', async () => {
    const { url } = await echoServer();
    const first = await connect(url, { heartbeatMs: 0, reconnect: false });
    const snapshot = first.machine.snapshot();
    await first.release();
    await expect(connect(url, { heartbeatMs: 0, resume: snapshot })).rejects.toMatchObject({
      code: 'ERR_RESUME_REFUSED',
    });
  }, 30_000);
});
