// The runtime conformance suite: one set of cases, run unchanged over every transport
// (memory, tcp, tls, ws). Each case starts a fresh server on loopback with port 0.

import { expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { ClientSession, ConnectOptions } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { SessionError } from '../../src/engine/errors.js';
import { listen, Refusal } from '../../src/server/server.js';
import type { Server, ServerOptions } from '../../src/server/server.js';

export interface Setup {
  name: string;
  /** Server options that open this transport's endpoint. */
  endpoint(): Promise<Partial<ServerOptions>> | Partial<ServerOptions>;
  /** The URL a client dials for a running server. */
  url(server: Server): string;
  client?: Partial<ConnectOptions>;
}

export async function start(
  setup: Setup,
  options: Partial<ServerOptions> = {},
): Promise<{ server: Server; url: string; next: () => Promise<Session> }> {
  const server = await listen({ heartbeatMs: 0, ...(await setup.endpoint()), ...options });
  const queue: Session[] = [];
  const waiting: ((s: Session) => void)[] = [];
  server.on('session', (s) => {
    const w = waiting.shift();
    if (w) w(s);
    else queue.push(s);
  });
  const next = (): Promise<Session> => {
    const s = queue.shift();
    return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
  };
  return { server, url: setup.url(server), next };
}

export async function collect(session: Session, count: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const m of session) {
    out.push(m);
    if (out.length === count) break;
  }
  return out;
}

const msg = (i: number, size = 16): Uint8Array => {
  const b = new Uint8Array(Math.max(4, size));
  new DataView(b.buffer).setUint32(0, i);
  return b;
};
const idx = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);

export function conformance(setup: Setup): void {
  const dial = (url: string, o: Partial<ConnectOptions> = {}): Promise<ClientSession> =>
    connect(url, { heartbeatMs: 0, ...setup.client, ...o });

  it('connects, exchanges data both ways, and both ends know the same session', async () => {
    const { server, url, next } = await start(setup);
    try {
      const client = await dial(url);
      const peer = await next();
      expect(peer.id).toBe(client.id);
      await client.send('ping');
      const [got] = await collect(peer, 1);
      expect(new TextDecoder().decode(got)).toBe('ping');
      await peer.send('pong');
      const [back] = await collect(client, 1);
      expect(new TextDecoder().decode(back)).toBe('pong');
      await expect(client.release()).resolves.toBe(true);
      expect(client.closed).toBe(true);
    } finally {
      await server.destroy();
    }
  });

  it('keeps order and loses nothing for 5,000 messages each way', async () => {
    const { server, url, next } = await start(setup);
    try {
      const client = await dial(url);
      const peer = await next();
      const n = 5000;
      const sending = (async () => {
        for (let i = 0; i < n; i++) await client.send(msg(i, (i * 37) % 2000));
      })();
      const replying = (async () => {
        for (let i = 0; i < n; i++) await peer.send(msg(i, (i * 53) % 2000));
      })();
      const [a, b] = await Promise.all([collect(peer, n), collect(client, n), sending, replying]);
      expect(a.map(idx)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(b.map(idx)).toEqual(Array.from({ length: n }, (_, i) => i));
    } finally {
      await server.destroy();
    }
  });

  it('resumes after the transport is cut mid-stream: nothing lost, nothing duplicated', async () => {
    const { server, url, next } = await start(setup);
    try {
      const client = await dial(url, { reconnect: { initialDelayMs: 5, maxDelayMs: 20 } });
      const peer = await next();
      const n = 3000;
      let resumed = 0;
      client.on('resumed', () => {
        resumed++;
      });
      const receiving = collect(peer, n);
      for (let i = 0; i < n; i++) {
        await client.send(msg(i, 256));
        if (i === 1000 || i === 2000) peer.driver.attached?.destroy(new Error('cut by test'));
      }
      const got = await receiving;
      expect(got.map(idx)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(resumed).toBeGreaterThanOrEqual(1);
    } finally {
      await server.destroy();
    }
  });

  it('half duplex: only the token holder sends; a major sync resolves when confirmed', async () => {
    const { server, url, next } = await start(setup);
    try {
      const client = await dial(url, { modes: ['halfDuplex'] });
      const peer = await next();
      expect(client.tokens).toContain('data');
      await expect(peer.send('x')).rejects.toMatchObject({ code: 'ERR_TOKEN_NOT_HELD', details: { token: 'data' } });
      await client.send('first');
      const serial = await client.syncMajor();
      expect(serial).toBe(1);
      client.giveTokens(['data']);
      const given = new Promise((resolve) => peer.on('tokens-given', resolve));
      expect(await given).toContain('data');
      await peer.send('second');
      const [m] = await collect(client, 1);
      expect(new TextDecoder().decode(m)).toBe('second');
    } finally {
      await server.destroy();
    }
  });

  it("refuses wrong credentials with the server's reason and keeps serving others", async () => {
    const { server, url, next } = await start(setup, {
      authenticate: ({ credentials }) => {
        const token = new TextDecoder().decode(credentials);
        if (token !== 'secret') throw new Refusal('bad token');
        return { user: 'ada' };
      },
    });
    try {
      const refused = await dial(url, { credentials: 'wrong' }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(SessionError);
      expect(refused).toMatchObject({ code: 'ERR_REFUSED', origin: 'remote', message: 'bad token' });
      const ok = await dial(url, { credentials: 'secret' });
      const peer = await next();
      expect(peer.principal).toEqual({ user: 'ada' });
      await ok.send('hi');
      expect((await collect(peer, 1)).length).toBe(1);
    } finally {
      await server.destroy();
    }
  });

  it('abort ends both sides with ERR_ABORTED', async () => {
    const { server, url, next } = await start(setup);
    try {
      const client = await dial(url);
      const peer = await next();
      const closed = new Promise<SessionError | undefined>((resolve) =>
        peer.on('closed', ({ error }) => resolve(error)),
      );
      client.abort('bye');
      expect(await closed).toMatchObject({ code: 'ERR_ABORTED', origin: 'remote' });
      await expect(client.send('late')).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    } finally {
      await server.destroy();
    }
  });

  it('server close() releases sessions in order; iterators end', async () => {
    const { server, url } = await start(setup);
    const client = await dial(url);
    const ended = (async () => {
      for await (const _ of client) {
        /* drain */
      }
      return 'done';
    })();
    await server.close();
    expect(await ended).toBe('done');
    expect(client.closed).toBe(true);
  });
}
