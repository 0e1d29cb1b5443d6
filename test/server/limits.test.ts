// Failure paths at the runtime level: each ends with its documented code, and the server keeps
// serving other sessions. Raw TCP sockets play the misbehaving peer, speaking our own codec.

import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { encodeFrame, FrameDecoder } from '../../src/engine/codec/index.js';
import type { Frame } from '../../src/engine/frames.js';
import { AbortReason, ResumeRefuseReason } from '../../src/engine/frames.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { collect } from '../driver/conformance.js';

let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

/** A raw TCP peer: write frames or bytes, read frames until the socket closes. */
async function rawPeer(
  port: number,
): Promise<{ send(f: Frame | Uint8Array): void; frames(): Promise<Frame[]>; socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const decoder = new FrameDecoder({ maxFrameSize: 16 * 1024 * 1024 });
  const got: Frame[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (b) => {
    decoder.push(b);
    for (let f = decoder.next(); f; f = decoder.next()) got.push(f);
  });
  socket.on('error', () => {});
  return {
    socket,
    send: (f) => {
      socket.write(f instanceof Uint8Array ? f : encodeFrame(f));
    },
    frames: async () => {
      await closed;
      return got;
    },
  };
}

async function serverWithOneSession(options: Parameters<typeof listen>[0] = {}) {
  server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, ...options });
  const port = server.addresses.tcp as number;
  const client = await connect(`tcp://127.0.0.1:${port}`, { heartbeatMs: 0, reconnect: false });
  return { port, client };
}

async function stillServes(port: number): Promise<void> {
  const other = await connect(`tcp://127.0.0.1:${port}`, { heartbeatMs: 0 });
  const peer = [...(server as Server).sessions.values()].find((s) => s.id === other.id);
  await other.send('still here');
  expect(new TextDecoder().decode((await collect(peer as NonNullable<typeof peer>, 1))[0])).toBe('still here');
  await other.release();
}

describe('runtime limits and hostile peers', () => {
  it('a wrong resume secret is refused with wrong-secret; the session and the server live on', async () => {
    const { port, client } = await serverWithOneSession();
    const peer = await rawPeer(port);
    const sessionId = client.machine.sessionId as Uint8Array;
    peer.send({ type: 'RESUME', sessionId, resumeSecret: new Uint8Array(16), received: 0 });
    const frames = await peer.frames();
    expect(frames).toEqual([
      { type: 'RESUME_REFUSED', reason: ResumeRefuseReason.wrongSecret, message: 'wrong resume secret' },
    ]);
    expect(client.state).toBe('established');
    await stillServes(port);
  });

  it('a resume after the window is refused as expired', async () => {
    const { port, client } = await serverWithOneSession({ resumeWindowMs: 30 });
    const sessionId = client.machine.sessionId as Uint8Array;
    const secret = client.machine.resumeSecret as Uint8Array;
    const expired = new Promise((resolve) => {
      for (const s of (server as Server).sessions.values()) s.on('closed', resolve);
    });
    client.driver.attached?.destroy();
    await expired;
    const peer = await rawPeer(port);
    peer.send({ type: 'RESUME', sessionId, resumeSecret: secret, received: 0 });
    expect(await peer.frames()).toMatchObject([{ type: 'RESUME_REFUSED', reason: ResumeRefuseReason.expired }]);
    await stillServes(port);
  });

  it('a frame larger than maxFrameSize is answered with ABORT frame-too-large before it is buffered', async () => {
    server = await listen({ tcp: { port: 0 }, maxFrameSize: 4096 });
    const port = server.addresses.tcp as number;
    const peer = await rawPeer(port);
    peer.send(Uint8Array.of(0x01, 0x80, 0x80, 0x40)); // CONNECT announcing a 1 MiB body
    expect(await peer.frames()).toMatchObject([{ type: 'ABORT', reason: AbortReason.frameTooLarge }]);
    await stillServes(port);
  });

  it('a peer silent during the handshake is cut after handshakeTimeoutMs with ABORT timeout', async () => {
    server = await listen({ tcp: { port: 0 }, handshakeTimeoutMs: 50 });
    const port = server.addresses.tcp as number;
    const rejected = new Promise<{ error: { code: string } }>((resolve) => (server as Server).on('rejected', resolve));
    const peer = await rawPeer(port);
    expect(await peer.frames()).toMatchObject([{ type: 'ABORT', reason: AbortReason.timeout }]);
    expect((await rejected).error.code).toBe('ERR_HANDSHAKE_TIMEOUT');
    await stillServes(port);
  });

  it('garbage as a first frame is answered with ABORT protocol-error', async () => {
    server = await listen({ tcp: { port: 0 } });
    const port = server.addresses.tcp as number;
    const peer = await rawPeer(port);
    peer.send(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'));
    const frames = await peer.frames();
    expect(frames[0]).toMatchObject({ type: 'ABORT', reason: AbortReason.protocolError });
    await stillServes(port);
  });

  it('maxSessions turns the next connect away with a congested refusal', async () => {
    const { port } = await serverWithOneSession({ maxSessions: 1 });
    await expect(connect(`tcp://127.0.0.1:${port}`)).rejects.toMatchObject({
      code: 'ERR_REFUSED',
      details: { reason: 2 },
    });
  });

  it('maxPendingHandshakes: past that many silent connections the next is closed at once (ERR_REFUSED naming the option); a freed slot admits again', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, maxPendingHandshakes: 2, handshakeTimeoutMs: 30_000 });
    const port = server.addresses.tcp as number;
    const rejected: unknown[] = [];
    server.on('rejected', ({ error }) => rejected.push(error));
    // Two connections that never send their first frame hold both slots (accepted in order).
    const silent = [await rawPeer(port), await rawPeer(port)];
    const third = await rawPeer(port);
    const outcome = await Promise.race([third.frames().then(() => 'closed'), delay(10_000).then(() => 'still open')]);
    expect(outcome).toBe('closed');
    expect(rejected).toMatchObject([{ code: 'ERR_REFUSED', details: { limit: 'maxPendingHandshakes' } }]);
    // One silent peer goes: its slot admits a real client (bounded tries: until the server sees
    // the close, a client turned away without a word is rejected at once, ERR_CONNECT_FAILED).
    silent[0]!.socket.destroy();
    let client: Awaited<ReturnType<typeof connect>> | undefined;
    for (let i = 0; i < 20 && client === undefined; i++) {
      client = await connect(`tcp://127.0.0.1:${port}`, { heartbeatMs: 0, reconnect: false }).catch(
        async (e: unknown) => {
          expect(e).toMatchObject({ code: 'ERR_CONNECT_FAILED', details: { cause: 'closed-before-accept' } });
          await delay(100);
          return undefined;
        },
      );
    }
    expect(client?.state).toBe('established');
    silent[1]!.socket.destroy();
  });

  it("maxTombstones: only the most recent ended sessions are remembered; an older one's late RESUME is refused as unknown", async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, resumeWindowMs: 30, maxTombstones: 1 });
    const port = server.addresses.tcp as number;
    /** A session whose resume window runs out on the server: its id and secret. */
    const expire = async (): Promise<{ sessionId: Uint8Array; resumeSecret: Uint8Array }> => {
      const client = await connect(`tcp://127.0.0.1:${port}`, { heartbeatMs: 0, reconnect: false });
      const peer = [...(server as Server).sessions.values()].find((s) => s.id === client.id) as NonNullable<
        ReturnType<Server['sessions']['get']>
      >;
      const ended = new Promise((resolve) => peer.on('closed', resolve));
      client.driver.attached?.destroy();
      await ended;
      return {
        sessionId: client.machine.sessionId as Uint8Array,
        resumeSecret: client.machine.resumeSecret as Uint8Array,
      };
    };
    const resume = async (ids: { sessionId: Uint8Array; resumeSecret: Uint8Array }): Promise<Frame[]> => {
      const peer = await rawPeer(port);
      peer.send({ type: 'RESUME', ...ids, received: 0 });
      return peer.frames();
    };
    const older = await expire();
    const newer = await expire();
    expect(await resume(newer)).toMatchObject([{ type: 'RESUME_REFUSED', reason: ResumeRefuseReason.expired }]);
    expect(await resume(older)).toMatchObject([
      { type: 'RESUME_REFUSED', reason: ResumeRefuseReason.unknown, message: 'no such session' },
    ]);
  });

  it('a slow consumer keeps the receive buffer and the sender queue within their bounds', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, maxReceiveBufferBytes: 256 * 1024 });
    const port = server.addresses.tcp as number;
    const client = await connect(`tcp://127.0.0.1:${port}`, {
      heartbeatMs: 0,
      maxSendQueueBytes: 512 * 1024,
      maxReplayBytes: 1024 * 1024,
    });
    const peer = [...server.sessions.values()][0] as NonNullable<ReturnType<Server['sessions']['get']>>;
    const chunk = new Uint8Array(16 * 1024);
    let maxInbox = 0;
    let maxQueued = 0;
    let maxReplay = 0;
    const total = 2000; // 32 MB: far more than every buffer on the path together
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        await client.send(chunk);
        const s = client.stats;
        maxQueued = Math.max(maxQueued, s.queuedBytes);
        maxReplay = Math.max(maxReplay, s.replayBytes);
      }
    })();
    let received = 0;
    for await (const m of peer) {
      received += m.length;
      maxInbox = Math.max(maxInbox, peer.stats.receiveBufferBytes);
      if (received % (64 * 16 * 1024) === 0) await new Promise((r) => setImmediate(r)); // a consumer that lags
      if (received === total * chunk.length) break;
    }
    await sending;
    // Bounds: the receive buffer may exceed its limit by at most one read from the transport.
    expect(maxInbox).toBeLessThanOrEqual(256 * 1024 + 256 * 1024);
    expect(maxQueued).toBeLessThanOrEqual(512 * 1024);
    expect(maxReplay).toBeLessThanOrEqual(1024 * 1024);
  });

  it('a dead peer is detected within two heartbeat intervals: interrupted with ERR_HEARTBEAT_TIMEOUT', async () => {
    // A raw server that accepts the session and then goes silent (alive at TCP, dead above it).
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      const decoder = new FrameDecoder();
      socket.on('data', (b) => {
        decoder.push(b);
        const f = decoder.next();
        if (f?.type !== 'CONNECT') return;
        socket.write(
          encodeFrame({
            type: 'ACCEPT',
            version: 1,
            units: f.units & ~0x0001,
            mode: 1,
            simplexSender: 'initiator',
            tokenSetting: 0,
            initialSerial: 1,
            maxFrameSize: 4096,
            heartbeatMs: 100,
            resumeWindowMs: 1000,
            sessionId: new Uint8Array(16),
            resumeSecret: new Uint8Array(16),
            userData: new Uint8Array(0),
          }),
        );
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const client = await connect(`tcp://127.0.0.1:${port}`, { heartbeatMs: 100, reconnect: false });
      const t0 = performance.now();
      const { error } = await new Promise<{ error?: { code: string } }>((resolve) => client.on('interrupted', resolve));
      expect(error?.code).toBe('ERR_HEARTBEAT_TIMEOUT');
      const elapsed = performance.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(190);
      // Exactness is proven on the virtual clock (scenarios/heartbeat); here only a loose upper bound.
      expect(elapsed).toBeLessThan(2 * 100 + 1000);
      client.abort();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('authentication time', () => {
  it('an authenticate hook that never answers is refused after handshakeTimeoutMs', async () => {
    server = await listen({ tcp: { port: 0 }, handshakeTimeoutMs: 50, authenticate: () => new Promise(() => {}) });
    const port = server.addresses.tcp as number;
    await expect(connect(`tcp://127.0.0.1:${port}`)).rejects.toMatchObject({
      code: 'ERR_REFUSED',
      message: 'authentication did not finish within 50 ms (handshakeTimeoutMs)',
    });
  });
});
