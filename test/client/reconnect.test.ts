// Reconnect behaviour: TLS session resumption on redial, idle transport close and transparent
// reopen, and backoff giving up.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { listen, Refusal } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { startFaultProxy } from '../chaos/fault-proxy.js';
import { testCertificate } from '../support/tls-cert.js';
import { collect } from '../driver/conformance.js';

let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

const once = <T>(subscribe: (cb: (v: T) => void) => unknown): Promise<T> =>
  new Promise((resolve) => {
    subscribe(resolve);
  });

describe('reconnect', () => {
  it('a TLS redial resumes the TLS session from the ticket (isSessionReused)', async () => {
    const { cert, key } = testCertificate();
    server = await listen({ tls: { port: 0, cert, key }, heartbeatMs: 0 });
    const client = await connect(`tls://127.0.0.1:${server.addresses.tls}`, {
      tls: { ca: cert },
      heartbeatMs: 0,
      reconnect: { initialDelayMs: 1 },
    });
    expect(client.driver.attached?.tlsSessionReused).toBe(false);
    // Let the server's session ticket arrive (TLS 1.3 sends it after the handshake): one round trip.
    const peer = [...server.sessions.values()][0] as NonNullable<ReturnType<Server['sessions']['get']>>;
    await client.send('x');
    await collect(peer, 1);
    await peer.send('y');
    await collect(client, 1);
    const resumed = once((cb) => client.on('resumed', cb));
    client.driver.attached?.destroy();
    await resumed;
    expect(client.driver.attached?.tlsSessionReused).toBe(true);
  });

  it('closes an idle transport, keeps the session, and reopens it on the next send', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    const client = await connect(`tcp://127.0.0.1:${server.addresses.tcp}`, { heartbeatMs: 0, idleTimeoutMs: 30 });
    const peer = [...server.sessions.values()][0] as NonNullable<ReturnType<Server['sessions']['get']>>;
    const interrupted = once((cb) => client.on('interrupted', cb));
    await once((cb) => client.on('idle', cb));
    await interrupted;
    expect(client.driver.attached).toBeNull();
    expect(client.state).toBe('interrupted');
    const resumed = once((cb) => client.on('resumed', cb));
    await client.send('wake up');
    await resumed;
    expect(new TextDecoder().decode((await collect(peer, 1))[0])).toBe('wake up');
    expect(peer.id).toBe(client.id);
  });

  it('gives up after maxAttempts failed dials and closes with ERR_CONNECT_FAILED', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    // The client reaches the server through a proxy; closing the proxy makes the server vanish
    // without an ABORT, as a crashed host or a broken route would.
    const proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: server.addresses.tcp as number },
      seed: 1,
      cutEveryMs: [1e9, 1e9],
      maxChunk: 65536,
      maxDelayMs: 0,
    });
    const client = await connect(`tcp://127.0.0.1:${proxy.port}`, {
      heartbeatMs: 0,
      reconnect: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 },
    });
    const attempts: number[] = [];
    client.on('reconnecting', ({ attempt }: { attempt: number }) => attempts.push(attempt));
    const closed = once<{ error?: { code: string } }>((cb) => client.on('closed', cb));
    await proxy.close();
    const { error } = await closed;
    expect(error?.code).toBe('ERR_CONNECT_FAILED');
    expect(attempts).toEqual([1, 2, 3]);
  });
});

describe('credentials refresh on a live session', () => {
  it('a new token is accepted without reconnecting; a bad one is refused and the session goes on', async () => {
    server = await listen({
      tcp: { port: 0 },
      heartbeatMs: 0,
      // The principal here is the token itself, so every refresh changes it: opted in explicitly.
      allowPrincipalChange: true,
      authenticate: ({ credentials, refresh }) => {
        const token = new TextDecoder().decode(credentials);
        if (!token.startsWith('valid-')) throw new Refusal(`token '${token}' is not valid`);
        return { token, refreshedFrom: (refresh?.principal as { token?: string } | undefined)?.token };
      },
    });
    const client = await connect(`tcp://127.0.0.1:${server.addresses.tcp}`, { credentials: 'valid-1', heartbeatMs: 0 });
    const peer = [...server.sessions.values()][0] as NonNullable<ReturnType<Server['sessions']['get']>>;
    const transport = client.driver.attached;
    await client.refreshCredentials('valid-2');
    expect(peer.principal).toEqual({ token: 'valid-2', refreshedFrom: 'valid-1' });
    await expect(client.refreshCredentials('forged')).rejects.toMatchObject({
      code: 'ERR_REFUSED',
      origin: 'remote',
      message: "token 'forged' is not valid",
    });
    expect(peer.principal).toEqual({ token: 'valid-2', refreshedFrom: 'valid-1' });
    expect(client.driver.attached).toBe(transport); // never reconnected
    await client.send('still fine');
    expect((await collect(peer, 1)).length).toBe(1);
  });
});

describe('minor sync confirmation through the Session API', () => {
  it('syncMinor({ confirm: true }) resolves when the peer calls confirmMinorSync()', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    const client = await connect(`tcp://127.0.0.1:${server.addresses.tcp}`, { heartbeatMs: 0 });
    const peer = [...server.sessions.values()][0] as NonNullable<ReturnType<Server['sessions']['get']>>;
    peer.on('sync-minor', ({ confirm }) => {
      if (confirm) peer.confirmMinorSync();
    });
    await expect(client.syncMinor({ confirm: true })).resolves.toBe(1);
  });
});

describe('wss and resume-failed', () => {
  it('wss:// through a WebSocket endpoint attached to an existing https server at a path', async () => {
    const https = await import('node:https');
    const { cert, key } = testCertificate();
    const web = https.createServer({ cert, key }, (_req, res) => {
      res.writeHead(200);
      res.end('page');
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    try {
      server = await listen({ ws: { server: web, path: '/session' }, heartbeatMs: 0 });
      const port = (web.address() as { port: number }).port;
      const client = await connect(`wss://127.0.0.1:${port}/session`, { tls: { ca: cert }, heartbeatMs: 0 });
      const peer = [...server.sessions.values()][0] as NonNullable<ReturnType<Server['sessions']['get']>>;
      await client.send('over wss');
      expect(new TextDecoder().decode((await collect(peer, 1))[0])).toBe('over wss');
      const page = await fetch(`https://127.0.0.1:${port}/`).catch(() => undefined); // untrusted cert: fine either way
      expect(page === undefined || page.status === 200).toBe(true);
    } finally {
      await server?.destroy();
      server = undefined;
      await new Promise((resolve) => web.close(resolve));
    }
  });

  it('a resume refused by the server gives resume-failed with the reason, then closed', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    const proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: server.addresses.tcp as number },
      seed: 2,
      cutEveryMs: [1e9, 1e9],
      maxChunk: 65536,
      maxDelayMs: 0,
    });
    try {
      const client = await connect(`tcp://127.0.0.1:${proxy.port}`, {
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 5 },
      });
      const peer = [...server.sessions.values()][0] as NonNullable<ReturnType<Server['sessions']['get']>>;
      const failed = once<{ code: string; details: { reason: number } }>((cb) =>
        client.on('resume-failed', cb as never),
      );
      const closed = once<{ error?: { code: string } }>((cb) => client.on('closed', cb));
      // The connection breaks, and the server ends the session before the client is back (its
      // ABORT is lost with the connection): the client's RESUME meets a tombstone.
      proxy.cutAll();
      peer.abort('forgotten while the client was away');
      expect(await failed).toMatchObject({ code: 'ERR_RESUME_REFUSED', details: { reason: 4 } }); // closed
      expect((await closed).error?.code).toBe('ERR_RESUME_REFUSED');
    } finally {
      await proxy.close();
    }
  });
});
