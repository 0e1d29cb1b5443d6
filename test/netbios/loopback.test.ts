// Our client against our server on loopback (port 0), and each against raw sockets that play a
// misbehaving or independent peer. No sleeps: every wait is on an event or a deadline under test.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectNetbios,
  listenNetbios,
  NetbiosDecoder,
  NetbiosError,
  type NetbiosPacket,
  type NetbiosServer,
  type NetbiosServerOptions,
  type NetbiosSession,
} from '../../src/netbios/index.js';
import { concat, FACTS_MALFORMED_F, FACTS_REQUEST_A, hex, toHex } from './cases.js';

const servers: Array<{ close(): Promise<void> }> = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(
  options: Partial<NetbiosServerOptions> = {},
): Promise<NetbiosServer & { sessions: NetbiosSession[]; errors: Error[] }> {
  const sessions: NetbiosSession[] = [];
  const errors: Error[] = [];
  const s = await listenNetbios({
    port: 0,
    onSession: (session) => {
      sessions.push(session);
      void echo(session);
    },
    onError: (error) => errors.push(error),
    ...options,
  });
  servers.push(s);
  return Object.assign(s, { sessions, errors });
}

/** Echoes every message back, then closes when the peer does. */
async function echo(session: NetbiosSession): Promise<void> {
  try {
    for await (const data of session) await session.send(data);
    await session.close();
  } catch {
    session.destroy();
  }
}

/** A raw TCP server: `onSocket` plays the peer. */
async function rawServer(onSocket: (socket: net.Socket) => void): Promise<number> {
  const srv = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => new Promise<void>((resolve) => srv.close(() => resolve())) });
  return (srv.address() as net.AddressInfo).port;
}

/** Sends raw octets to port, returns every octet received until the peer closes. */
function rawExchange(port: number, bytes: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    socket.write(bytes);
  });
}

/** Sends raw octets to port, resolves with the first `count` octets received. */
function rawReceive(port: number, bytes: Uint8Array, count: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    let got = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length >= count) resolve(new Uint8Array(got.subarray(0, count)));
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after ${got.length} octets`)));
    socket.write(bytes);
  });
}

function catchError(promise: Promise<unknown>): Promise<NetbiosError & { details: Record<string, unknown> }> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error as NetbiosError & { details: Record<string, unknown> },
  );
}

describe('client and server', () => {
  it('accepts a listed called name and carries messages both ways, 17-bit lengths included', async () => {
    const s = await server({ names: ['TESTSRV'] });
    const session = await connectNetbios({ host: '127.0.0.1', port: s.port, called: 'testsrv', calling: 'NODECLIENT' });
    expect(session.called).toEqual({ name: 'TESTSRV', suffix: 0x20, scope: '' });
    expect(session.retargets).toEqual([]);
    const big = new Uint8Array(0x1ffff).map((_, i) => i * 31);
    const sent = [hex('01 02 03'), new Uint8Array(0), big, hex('ff')];
    const received: Uint8Array[] = [];
    const reading = (async () => {
      for await (const data of session) received.push(data.slice());
    })();
    session.keepAlive();
    for (const data of sent) await session.send(data);
    await session.close();
    await reading;
    expect(received.map(toHex)).toEqual(sent.map(toHex));
    expect(s.sessions[0]?.calling).toEqual({ name: 'NODECLIENT', suffix: 0x00, scope: '' });
  });

  it('refuses an unlisted called name with 0x82 (called name not present)', async () => {
    const s = await server({ names: ['TESTSRV'] });
    const error = await catchError(connectNetbios({ host: '127.0.0.1', port: s.port, called: 'OTHER' }));
    expect(error).toBeInstanceOf(NetbiosError);
    expect(error).toMatchObject({
      code: 'ERR_NETBIOS_REFUSED',
      origin: 'remote',
      details: { errorCode: 0x82, reason: 'called name not present' },
    });
  });

  it.each([
    [0x80, 'not listening on called name'],
    [0x81, 'not listening for calling name'],
    [0x83, 'called name present, but insufficient resources'],
    [0x8f, 'unspecified error'],
  ])('passes on the refusal code 0x%s chosen by answer()', async (errorCode, reason) => {
    const s = await server({ answer: () => ({ kind: 'refuse', errorCode }) });
    const error = await catchError(connectNetbios({ host: '127.0.0.1', port: s.port, called: 'ANY' }));
    expect(error).toMatchObject({ code: 'ERR_NETBIOS_REFUSED', details: { errorCode, reason } });
  });

  it('sends the refusal as 83 00 00 01 <code> and closes', async () => {
    const s = await server({ names: ['TESTSRV'] });
    expect(toHex(await rawExchange(s.port, FACTS_REQUEST_A))).toBe('8300000182');
  });

  it('follows a retarget to another server, and records the hop', async () => {
    const target = await server({ names: ['TESTSRV'] });
    const front = await server({ retarget: [{ called: 'TESTSRV', address: '127.0.0.1', port: target.port }] });
    const session = await connectNetbios({ host: '127.0.0.1', port: front.port, called: 'TESTSRV' });
    expect(session.retargets).toEqual([{ address: '127.0.0.1', port: target.port }]);
    await session.send(hex('aa'));
    const it = session[Symbol.asyncIterator]();
    expect(toHex((await it.next()).value as Uint8Array)).toBe('aa');
    await session.close();
    expect(target.sessions).toHaveLength(1);
    expect(front.sessions).toHaveLength(0);
  });

  it('sends a retarget as 84 00 00 06 <address> <port>', async () => {
    const s = await server({ retarget: [{ called: '*SMBSERVER', address: '127.0.0.1', port: 1139 }] });
    expect(toHex(await rawExchange(s.port, FACTS_REQUEST_A))).toBe('840000067f0000010473');
  });

  it('gives up after maxRetargets hops of a retarget loop', async () => {
    let port = 0;
    const s = await server({ answer: () => ({ kind: 'retarget', address: '127.0.0.1', port }) });
    port = s.port;
    const error = await catchError(connectNetbios({ host: '127.0.0.1', port, called: 'LOOP', maxRetargets: 3 }));
    expect(error).toMatchObject({ code: 'ERR_NETBIOS_TOO_MANY_RETARGETS', details: { maxRetargets: 3 } });
    expect(error.details.hops).toHaveLength(4);
  });

  it('maxRetargets 0 refuses the first retarget', async () => {
    const s = await server({ answer: () => ({ kind: 'retarget', address: '127.0.0.1', port: 9 }) });
    const error = await catchError(connectNetbios({ host: '127.0.0.1', port: s.port, called: 'X', maxRetargets: 0 }));
    expect(error.code).toBe('ERR_NETBIOS_TOO_MANY_RETARGETS');
  });

  it('accepts any name when no names are configured, like Samba', async () => {
    const s = await server();
    for (const called of ['*SMBSERVER', 'NOSUCHNAME', '*', 'X<1b>']) {
      const session = await connectNetbios({ host: '127.0.0.1', port: s.port, called });
      await session.close();
    }
    expect(s.sessions).toHaveLength(4);
  });

  it('skips keep-alives before the request and before the answer', async () => {
    const s = await server();
    const got = await rawReceive(
      s.port,
      concat([hex('85 00 00 00 85 00 00 00'), FACTS_REQUEST_A, hex('00 00 00 02 be ef')]),
      10,
    );
    expect(toHex(got)).toBe('82000000000000' + '02beef');
    const port = await rawServer((socket) => {
      socket.once('data', () => socket.write(hex('85 00 00 00 85 00 00 00 82 00 00 00 00 00 00 01 77')));
    });
    const session = await connectNetbios({ host: '127.0.0.1', port, called: 'X' });
    const it = session[Symbol.asyncIterator]();
    expect(toHex((await it.next()).value as Uint8Array)).toBe('77');
    session.destroy();
  });
});

describe('the server against an independent peer', () => {
  it('answers the facts file request bytes (probe A) with 82 00 00 00', async () => {
    const s = await server({ names: ['*SMBSERVER'] });
    const got = await rawReceive(s.port, FACTS_REQUEST_A, 4);
    expect(toHex(got)).toBe('82000000');
    expect(s.sessions[0]?.calling).toEqual({ name: 'NODECLIENT', suffix: 0, scope: '' });
  });

  it('answers a malformed request (facts probe F) with 83 00 00 01 82 and closes, as smbd does', async () => {
    const s = await server();
    expect(toHex(await rawExchange(s.port, FACTS_MALFORMED_F))).toBe('8300000182');
    expect(s.errors[0]).toMatchObject({ code: 'ERR_MALFORMED_FRAME', reason: 'bad-length', packet: 'SESSION_REQUEST' });
  });

  it('answers a request whose name does not decode with 0x82', async () => {
    const s = await server();
    const bad = FACTS_REQUEST_A.slice();
    bad[5] = 0x5a; // 'Z' in the called name
    expect(toHex(await rawExchange(s.port, bad))).toBe('8300000182');
    expect(s.errors[0]).toMatchObject({ reason: 'bad-name' });
  });

  it('closes without an answer when the first packet is a session message or an unknown type', async () => {
    const s = await server();
    expect(await rawExchange(s.port, hex('00 00 00 01 aa'))).toHaveLength(0);
    expect(await rawExchange(s.port, hex('89 00 00 00'))).toHaveLength(0);
    expect(s.errors.map((e) => (e as { code?: string }).code)).toEqual([
      'ERR_NETBIOS_UNEXPECTED_PACKET',
      'ERR_UNKNOWN_FRAME_TYPE',
    ]);
  });

  it('ends a connection that sends no request within requestTimeoutMs', async () => {
    const s = await server({ requestTimeoutMs: 50 });
    expect(await rawExchange(s.port, hex('85 00 00 00'))).toHaveLength(0);
    expect(s.errors[0]).toMatchObject({ code: 'ERR_NETBIOS_TIMEOUT' });
  });

  it('drops an established session that receives a second session request', async () => {
    const s = await server();
    expect(toHex(await rawExchange(s.port, concat([FACTS_REQUEST_A, FACTS_REQUEST_A])))).toBe('82000000');
  });
});

describe('the client against a misbehaving peer', () => {
  it('times out when nothing answers', async () => {
    const port = await rawServer(() => {});
    const error = await catchError(connectNetbios({ host: '127.0.0.1', port, called: 'X', timeoutMs: 50 }));
    expect(error).toMatchObject({ code: 'ERR_NETBIOS_TIMEOUT', details: { timeoutMs: 50 } });
  });

  it('reports a close before the answer', async () => {
    const port = await rawServer((socket) => socket.once('data', () => socket.end()));
    expect((await catchError(connectNetbios({ host: '127.0.0.1', port, called: 'X' }))).code).toBe(
      'ERR_NETBIOS_CLOSED',
    );
  });

  it('refuses a session message in place of the answer', async () => {
    const port = await rawServer((socket) => socket.once('data', () => socket.write(hex('00 00 00 01 aa'))));
    expect(await catchError(connectNetbios({ host: '127.0.0.1', port, called: 'X' }))).toMatchObject({
      code: 'ERR_NETBIOS_UNEXPECTED_PACKET',
      details: { packet: 'SESSION_MESSAGE' },
    });
  });

  it('passes on a malformed answer as a NetbiosProtocolError', async () => {
    const port = await rawServer((socket) => socket.once('data', () => socket.write(hex('82 00 00 01 00'))));
    expect(await catchError(connectNetbios({ host: '127.0.0.1', port, called: 'X' }))).toMatchObject({
      code: 'ERR_MALFORMED_FRAME',
      reason: 'bad-length',
    });
  });

  it('sends the request octets of the facts file for the same names', async () => {
    const requests: Uint8Array[] = [];
    const port = await rawServer((socket) =>
      socket.once('data', (c: Buffer) => {
        requests.push(new Uint8Array(c));
        socket.write(hex('82 00 00 00'));
      }),
    );
    const session = await connectNetbios({ host: '127.0.0.1', port, called: '*SMBSERVER', calling: 'NODECLIENT' });
    session.destroy();
    expect(toHex(requests[0]!)).toBe(toHex(FACTS_REQUEST_A));
  });

  it('ends iteration with ERR_NETBIOS_UNEXPECTED_PACKET on a stray response after the session opened', async () => {
    const port = await rawServer((socket) =>
      socket.once('data', () => socket.write(hex('82 00 00 00 00 00 00 01 01 82 00 00 00'))),
    );
    const session = await connectNetbios({ host: '127.0.0.1', port, called: 'X' });
    const got: string[] = [];
    const error = await catchError(
      (async () => {
        for await (const data of session) got.push(toHex(data));
      })(),
    );
    expect(got).toEqual(['01']);
    expect(error).toMatchObject({
      code: 'ERR_NETBIOS_UNEXPECTED_PACKET',
      details: { packet: 'POSITIVE_SESSION_RESPONSE' },
    });
  });

  it('decodes what our server sends with an independent decoder run', async () => {
    const s = await server();
    const wire = await rawExchange(s.port, FACTS_MALFORMED_F);
    const decoder = new NetbiosDecoder();
    decoder.push(wire);
    expect(decoder.next()).toEqual({ type: 'NEGATIVE_SESSION_RESPONSE', errorCode: 0x82 } satisfies NetbiosPacket);
  });
});

describe('PacketConnection', () => {
  it('after a decode failure the owner can still answer, and close() completes', async () => {
    const { listenTcp, connectTcp } = await import('../../src/transport/tcp.js');
    const { PacketConnection } = await import('../../src/netbios/index.js');
    let accepted!: (c: InstanceType<typeof PacketConnection>) => void;
    const serverSide = new Promise<InstanceType<typeof PacketConnection>>((resolve) => (accepted = resolve));
    const listener = await listenTcp({ host: '127.0.0.1', port: 0 }, (t) => accepted(new PacketConnection(t)));
    servers.push(listener);
    const client = new PacketConnection(await connectTcp({ host: '127.0.0.1', port: listener.port }));
    client.transport.write(FACTS_MALFORMED_F);
    const conn = await serverSide;
    await expect(conn.read()).rejects.toMatchObject({ reason: 'bad-length' });
    conn.write({ type: 'NEGATIVE_SESSION_RESPONSE', errorCode: 0x82 });
    await conn.close();
    expect(await client.read()).toEqual({ type: 'NEGATIVE_SESSION_RESPONSE', errorCode: 0x82 });
    expect(await client.read()).toBeUndefined();
    expect(conn.closed).toBe(true);
  });
});
