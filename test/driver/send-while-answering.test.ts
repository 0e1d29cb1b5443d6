// A send while the peer's request awaits our answer: the handler (default: accept) is producing
// the answer, so the send waits for it to go out instead of failing with ERR_RESPONSE_REQUIRED.
// The first case is the README's example: an echo server whose loop sends while the client's
// syncMajor() waits for the server's confirmation.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server/server.js';
import type { Server, ServerOptions } from '../../src/server/server.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

async function echoServer(
  options: Partial<ServerOptions> = {},
): Promise<{ url: string; failures: unknown[]; sessions: Session[]; ends: unknown[] }> {
  server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, ...options });
  const failures: unknown[] = [];
  const sessions: Session[] = [];
  const ends: unknown[] = [];
  server.on('session', (s) => {
    sessions.push(s);
    s.on('closed', ({ error }) => ends.push(error ?? 'released'));
    void (async () => {
      for await (const m of s) await s.send(m);
    })().catch((e: unknown) => failures.push(e));
  });
  return { url: `tcp://127.0.0.1:${server.addresses.tcp as number}`, failures, sessions, ends };
}

describe('a send while the peer waits for our answer', () => {
  it("the README's echo loop: send while the client's syncMajor() awaits the confirmation", async () => {
    const { url, failures } = await echoServer();
    const session = await connect(url, { heartbeatMs: 0 });
    const echoes: string[] = [];
    const reading = (async () => {
      for await (const m of session) echoes.push(text(m));
    })();
    await session.send('hello');
    const serial = await session.syncMajor();
    expect(serial).toBeGreaterThanOrEqual(0);
    await session.send('after');
    await session.syncMajor();
    expect(await session.release()).toBe(true);
    await reading;
    expect(echoes).toEqual(['hello', 'after']);
    expect(failures).toEqual([]);
  });

  it("server.close() right after the client's release: the server's session ends released, not aborted", async () => {
    const { url, failures, ends } = await echoServer();
    const session = await connect(url, { heartbeatMs: 0 });
    await session.send('hello');
    await session.syncMajor();
    await session.release();
    await server?.close();
    expect(ends).toEqual(['released']);
    expect(failures).toEqual([]);
  });

  it('many rounds of data and sync points: every echo arrives, in order, and no send throws', async () => {
    const { url, failures } = await echoServer();
    const session = await connect(url, { heartbeatMs: 0 });
    const echoes: string[] = [];
    const reading = (async () => {
      for await (const m of session) echoes.push(text(m));
    })();
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      for (let j = 0; j < 3; j++) {
        const m = `${i}.${j}`;
        sent.push(m);
        await session.send(m);
      }
      await session.syncMajor();
    }
    await session.release();
    await reading;
    expect(echoes).toEqual(sent);
    expect(failures).toEqual([]);
  });

  it('a slow async handler: the send waits until its answer is out, then goes', async () => {
    let answered = false;
    const { url, failures } = await echoServer({
      handlers: {
        syncMajor: async () => {
          await new Promise((r) => setTimeout(r, 50));
          answered = true;
        },
      },
    });
    const session = await connect(url, { heartbeatMs: 0 });
    const first = (async () => {
      for await (const m of session) return { text: text(m), answered };
    })();
    await session.send('x');
    await session.syncMajor();
    expect(await first).toEqual({ text: 'x', answered: true });
    await session.release();
    expect(failures).toEqual([]);
  });

  it('a waiting send honours its signal; the session is untouched', async () => {
    server = await listen({
      tcp: { port: 0 },
      heartbeatMs: 0,
      handlers: { syncMajor: () => new Promise<void>((r) => setTimeout(r, 300)) },
    });
    const peer = new Promise<Session>((resolve) => server?.on('session', resolve));
    const session = await connect(`tcp://127.0.0.1:${server.addresses.tcp as number}`, { heartbeatMs: 0 });
    const s = await peer;
    const indicated = new Promise<void>((resolve) =>
      s.on('event', (e) => {
        if (e.type === 'sync-major') resolve();
      }),
    );
    const confirmed = session.syncMajor();
    await indicated;
    const controller = new AbortController();
    const sending = s.send('late', { signal: controller.signal });
    controller.abort();
    await expect(sending).rejects.toMatchObject({ name: 'AbortError' });
    await confirmed;
    await s.send('after the answer');
    const [got] = await (async () => {
      for await (const m of session) return [text(m)];
      return [];
    })();
    expect(got).toBe('after the answer');
    await session.release();
  });

  it('a send the machine refuses for another reason still throws at once', async () => {
    const { url } = await echoServer();
    const session = await connect(url, { heartbeatMs: 0 });
    const confirming = session.syncMajor();
    // Our own major sync point is unconfirmed: no new data until it is (ERR_SYNC_PENDING).
    await expect(session.send('too soon')).rejects.toMatchObject({ code: 'ERR_SYNC_PENDING' });
    await confirming;
    await session.release();
  });
});
