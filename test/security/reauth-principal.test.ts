// Finding 6 (issue 11): REAUTH may not switch a live session to another principal, and the
// authenticate hook is bounded by handshakeTimeoutMs on REAUTH as on CONNECT.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import type { SessionError } from '../../src/engine/errors.js';
import { listen, Refusal, type AuthRequest, type Server, type ServerOptions } from '../../src/server/server.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.destroy();
});

/** Credentials are "name:pw"; "hang" never answers. */
function authenticate(request: AuthRequest): Promise<string> {
  const text = new TextDecoder().decode(request.credentials);
  if (text === 'hang') return new Promise(() => {});
  const [name, pw] = text.split(':');
  if (pw !== 'pw' || !name) throw new Refusal('bad credentials');
  return Promise.resolve(name);
}

async function start(
  extra: Partial<ServerOptions> = {},
): Promise<{ server: Server; sessions: Session[]; rejected: SessionError[]; url: string }> {
  const server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, authenticate, ...extra });
  servers.push(server);
  const sessions: Session[] = [];
  const rejected: SessionError[] = [];
  server.on('session', (s) => sessions.push(s));
  server.on('rejected', ({ error }) => rejected.push(error));
  return { server, sessions, rejected, url: `tcp://127.0.0.1:${server.addresses.tcp}` };
}

describe('REAUTH keeps the principal (finding 6)', () => {
  it('a refresh naming another principal is refused (ERR_REFUSED at the client, ERR_PRINCIPAL_CHANGED at the server); the same principal refreshes', async () => {
    const { sessions, rejected, url } = await start();
    const client = await connect(url, { credentials: 'alice:pw', heartbeatMs: 0, reconnect: false });
    expect(sessions[0]?.principal).toBe('alice');

    await expect(client.refreshCredentials('bob:pw')).rejects.toMatchObject({
      code: 'ERR_REFUSED',
      details: { service: 'reauth' },
    });
    expect(sessions[0]?.principal).toBe('alice');
    expect(rejected.map((e) => e.code)).toEqual(['ERR_PRINCIPAL_CHANGED']);

    await client.refreshCredentials('alice:pw'); // legitimate refresh
    expect(sessions[0]?.principal).toBe('alice');
    expect(client.state).toBe('established');
    await client.release();
  });

  it('the server may opt in to a change (allowPrincipalChange)', async () => {
    const { sessions, url } = await start({ allowPrincipalChange: true });
    const client = await connect(url, { credentials: 'alice:pw', heartbeatMs: 0, reconnect: false });
    await client.refreshCredentials('bob:pw');
    expect(sessions[0]?.principal).toBe('bob');
    await client.release();
  });

  it('a hook that never answers a REAUTH is cut off at handshakeTimeoutMs; the session goes on', async () => {
    const { sessions, url } = await start({ handshakeTimeoutMs: 300 });
    const client = await connect(url, { credentials: 'alice:pw', heartbeatMs: 0, reconnect: false });
    const started = performance.now();
    await expect(client.refreshCredentials('hang')).rejects.toMatchObject({
      code: 'ERR_REFUSED',
      message: expect.stringContaining('handshakeTimeoutMs'),
    });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(sessions[0]?.principal).toBe('alice');
    await client.refreshCredentials('alice:pw');
    await client.release();
  });
});
