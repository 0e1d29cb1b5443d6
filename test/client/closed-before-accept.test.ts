// A server that closes a new connection without a word before the session is accepted (full:
// maxPendingHandshakes, a pool past maxChannelsPerConnection; or shutting down): connect() fails
// promptly with ERR_CONNECT_FAILED saying so, and with reconnect on each such connection is a
// failed attempt (backoff, bounded by maxAttempts), never a wait for the caller's signal.

import { once } from 'node:events';
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { connect } from '../../src/client/connect.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A TCP server that accepts every connection and destroys it at once; counts them. */
async function slammer(): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server: NetServer = createServer((socket) => {
    accepted++;
    socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

/** The outcome of `p`, or 'still waiting' after `ms` (no signal: the bound is the test's). */
const within = <T>(p: Promise<T>, ms: number): Promise<T | 'still waiting'> => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const wait = new Promise<'still waiting'>((resolve) => {
    timer = setTimeout(() => resolve('still waiting'), ms);
  });
  return Promise.race([p, wait]).finally(() => clearTimeout(timer));
};

const closedBeforeAccept = {
  code: 'ERR_CONNECT_FAILED',
  message: expect.stringMatching(/server closed the connection before the session was accepted.*full.*retry later/),
  details: { cause: 'closed-before-accept' },
};

describe('a server that closes the connection before accepting the session', () => {
  it('tcp, reconnect off: connect() rejects promptly with ERR_CONNECT_FAILED (closed-before-accept)', async () => {
    const { port, accepted } = await slammer();
    const outcome = await within(
      connect(`tcp://127.0.0.1:${port}`, { heartbeatMs: 0, reconnect: false }).then(
        () => 'opened',
        (e: unknown) => e,
      ),
      5000,
    );
    expect(outcome).toMatchObject(closedBeforeAccept);
    expect(accepted()).toBe(1);
  });

  it('ws, reconnect off: the upgrade succeeds and the server closes at once: the same prompt rejection', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    closers.push(() => new Promise((resolve) => wss.close(resolve)));
    wss.on('connection', (socket) => socket.close(1013, 'full'));
    const port = (wss.address() as AddressInfo).port;
    const outcome = await within(
      connect(`ws://127.0.0.1:${port}/session`, { heartbeatMs: 0, reconnect: false }).then(
        () => 'opened',
        (e: unknown) => e,
      ),
      5000,
    );
    expect(outcome).toMatchObject(closedBeforeAccept);
  });

  it('tcp, reconnect on: every closed connection is a failed attempt with backoff, and maxAttempts ends it', async () => {
    const { port, accepted } = await slammer();
    const scheduled: { attempt: number; delayMs: number }[] = [];
    const outcome = await within(
      connect(`tcp://127.0.0.1:${port}`, {
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 20, maxDelayMs: 100, maxAttempts: 3 },
        onSession: (session) => {
          session.on('reconnecting', (r) => scheduled.push(r));
        },
      }).then(
        () => 'opened',
        (e: unknown) => e,
      ),
      5000,
    );
    expect(outcome).toMatchObject({
      ...closedBeforeAccept,
      message: expect.stringMatching(/closed the connection before the session was accepted \(3 attempts/),
      details: { attempts: 3 },
    });
    // The first connection and three redials, no more; all but the first redial waited a backoff.
    expect(accepted()).toBe(4);
    expect(scheduled.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(scheduled[0]!.delayMs).toBe(0);
    for (const r of scheduled.slice(1)) expect(r.delayMs).toBeGreaterThan(0);
  });
});
