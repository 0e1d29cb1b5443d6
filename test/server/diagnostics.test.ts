// The diagnostics channels (src/server/diagnostics.ts): each message as documented in
// docs/operations.md, published by a real server and by the stores' bounded calls; and nothing
// built (nothing even read) when nobody subscribes.

import { connect as tcpConnect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client.js';
import { encodeFrame } from '../../src/engine/codec/index.js';

import { SessionError } from '../../src/engine/errors.js';
import type { Session } from '../../src/driver/session.js';
import { listen, Refusal, type Server } from '../../src/server.js';
import { CHANNELS, publishOpened, publishSessionEvent, publishTurnedAway } from '../../src/server/diagnostics.js';
import { storeCallStarted } from '../../src/store/diagnostics.js';
import { runBounded } from '../../src/store/shared.js';

type Message = Record<string, unknown>;
const subscriptions: [string, (m: unknown) => void][] = [];
const servers: Server[] = [];

function record(...names: string[]): { name: string; m: Message }[] {
  const seen: { name: string; m: Message }[] = [];
  for (const name of names) {
    const fn = (m: unknown): void => {
      seen.push({ name, m: m as Message });
    };
    subscribe(name, fn);
    subscriptions.push([name, fn]);
  }
  return seen;
}

afterEach(async () => {
  for (const [name, fn] of subscriptions.splice(0)) unsubscribe(name, fn);
  for (const s of servers.splice(0)) await s.destroy();
});

function rawExchange(port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => socket.write(bytes));
    socket.on('data', () => {});
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

describe('diagnostics channels', () => {
  it("publish a session's life: opened, interrupted, resumed, closed; refusals with their reason", async () => {
    const seen = record(...Object.values(CHANNELS));
    const server = await listen({
      tcp: { host: '127.0.0.1', port: 0 },
      authenticate: (r) => {
        if (r.credentials.length > 0) throw new Refusal('no entry');
        return 'anyone';
      },
    });
    servers.push(server);
    const port = server.addresses.tcp as number;
    const s = await connect(`tcp://127.0.0.1:${port}`, { heartbeatMs: 0 });
    const resumed = new Promise<void>((resolve) => {
      const off = s.on('resumed', () => {
        off();
        resolve();
      });
    });
    server.sessions.get(s.id)?.driver.dropTransport();
    await resumed;
    // A RESUME with the right ID and a wrong secret; one for an ID nobody has; a bad first byte; refused credentials.
    await rawExchange(
      port,
      encodeFrame({
        type: 'RESUME',
        sessionId: new Uint8Array(Buffer.from(s.id, 'hex')),
        resumeSecret: new Uint8Array(randomBytes(16)),
        received: 0,
      }),
    );
    await rawExchange(
      port,
      encodeFrame({
        type: 'RESUME',
        sessionId: new Uint8Array(randomBytes(16)),
        resumeSecret: new Uint8Array(randomBytes(16)),
        received: 0,
      }),
    );
    await rawExchange(port, new Uint8Array([0xee, 1, 2, 3]));
    await expect(
      connect(`tcp://127.0.0.1:${port}`, { heartbeatMs: 0, reconnect: false, credentials: new Uint8Array([1]) }),
    ).rejects.toThrow(/no entry/);
    const held = server.sessions.get(s.id);
    const gone = new Promise<void>((resolve) => held?.on('closed', () => resolve()));
    await s.release();
    await gone;

    const names = seen.map((e) => e.name);
    expect(names.filter((n) => n === CHANNELS.sessionOpened)).toHaveLength(1);
    const opened = seen.find((e) => e.name === CHANNELS.sessionOpened)?.m;
    expect(opened).toMatchObject({ server, id: s.id, transport: 'tcp', restored: false });
    expect(opened?.session).toBe(held);
    expect(seen.find((e) => e.name === CHANNELS.sessionInterrupted)?.m).toMatchObject({ server, id: s.id });
    expect(seen.find((e) => e.name === CHANNELS.sessionResumed)?.m).toMatchObject({
      server,
      id: s.id,
      transport: 'tcp',
      replayed: 0,
    });
    const refusals = seen.filter((e) => e.name === CHANNELS.sessionResumeRefused).map((e) => e.m);
    expect(refusals).toEqual([
      expect.objectContaining({ server, id: s.id, reason: 'wrongSecret', transport: 'tcp' }),
      expect.objectContaining({ server, reason: 'unknown', transport: 'tcp' }),
    ]);
    const handshakes = seen.filter((e) => e.name === CHANNELS.handshakeRefused).map((e) => e.m);
    expect(handshakes).toEqual([
      expect.objectContaining({
        server,
        code: 'ERR_PROTOCOL_VIOLATION',
        transport: 'tcp',
        remoteAddress: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      }),
      expect.objectContaining({ server, code: 'ERR_REFUSED', message: 'no entry' }),
    ]);
    // The refused handshake never opened a session, so only the released one is closed.
    expect(seen.filter((e) => e.name === CHANNELS.sessionClosed).map((e) => e.m)).toEqual([
      expect.objectContaining({ server, id: s.id, code: null }),
    ]);
  }, 30_000);

  it('ISO 8327 sessions (listen({ iso })) are reported opened and closed too', async () => {
    const seen = record(CHANNELS.sessionOpened, CHANNELS.sessionClosed);
    const server = await listen({ iso: { port: 0 } });
    servers.push(server);
    const peer = new Promise<Session>((resolve) => server.on('session', resolve));
    const client = await connect(`iso://127.0.0.1:${server.addresses.iso as number}`);
    const held = await peer;
    const gone = new Promise<void>((resolve) => held.on('closed', () => resolve()));
    await client.release();
    await gone;
    expect(seen.map((e) => [e.name, e.m.server, e.m.id, e.m.session])).toEqual([
      [CHANNELS.sessionOpened, server, held.id, held],
      [CHANNELS.sessionClosed, server, held.id, held],
    ]);
    expect(seen[0]?.m.transport).toBe('tcp');
    expect(seen[1]?.m.code).toBeNull();
  }, 30_000);

  it('store calls: the duration and the outcome (ok, the mapped error, a timeout)', async () => {
    const seen = record(CHANNELS.storeCall);
    await runBounded(
      'test',
      'get',
      false,
      1000,
      undefined,
      async () => 1,
      (e) => e,
    );
    await expect(
      runBounded(
        'test',
        'set',
        false,
        1000,
        undefined,
        () => Promise.reject(new Error('boom')),
        () => new SessionError('ERR_STORE_UNAVAILABLE', 'down'),
      ),
    ).rejects.toThrow('down');
    await expect(
      runBounded(
        'test',
        'touch',
        false,
        20,
        undefined,
        () => new Promise(() => {}),
        (e) => e,
      ),
    ).rejects.toMatchObject({ code: 'ERR_STORE_TIMEOUT' });
    expect(seen.map((e) => e.m)).toEqual([
      { store: 'test', op: 'get', durationMs: expect.any(Number), error: null },
      { store: 'test', op: 'set', durationMs: expect.any(Number), error: 'ERR_STORE_UNAVAILABLE' },
      { store: 'test', op: 'touch', durationMs: expect.any(Number), error: 'ERR_STORE_TIMEOUT' },
    ]);
    expect(seen[2]?.m.durationMs).toBeGreaterThanOrEqual(15);
  });

  it('build nothing when nobody subscribes: the objects passed are not even read', () => {
    const untouchable = new Proxy(
      {},
      {
        get(_t, key) {
          throw new Error(`read ${String(key)} with no subscriber`);
        },
      },
    ) as never;
    expect(() => publishOpened({}, untouchable, false)).not.toThrow();
    expect(() => publishSessionEvent({}, untouchable, 'id', { type: 'resumed', replayed: 1 })).not.toThrow();
    expect(() => publishSessionEvent({}, untouchable, 'id', { type: 'closed' })).not.toThrow();
    expect(() => publishTurnedAway({}, untouchable, untouchable, { type: 'RESUME_REFUSED', reason: 0 })).not.toThrow();
    expect(() => publishTurnedAway({}, untouchable, untouchable)).not.toThrow();
    expect(storeCallStarted('redis', 'get')).toBeNull();
    // With a subscriber the same calls do read them (the test above would fail otherwise).
    record(CHANNELS.sessionOpened);
    expect(() => publishOpened({}, untouchable, false)).toThrow(/with no subscriber/);
  });
});
