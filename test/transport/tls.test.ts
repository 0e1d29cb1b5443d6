// TLS specifics: TLS 1.3 session resumption (one server, and two servers sharing ticket keys),
// certificate checks, and an abort during the handshake. The certificate is made by openssl at
// test time (support.ts), for tests only.

import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTls, listenTls, type ConnectTlsOptions } from '../../src/transport/tls.js';
import type { Transport } from '../../src/transport/transport.js';
import { Probe, testCertificate } from './support.js';

const open: Array<{ close(): Promise<void> } | Transport> = [];
afterEach(async () => {
  for (const item of open.splice(0)) {
    if ('destroy' in item) item.destroy();
    else await item.close();
  }
});

/** An echo server: every transport it accepts writes back what it receives. */
async function echoServer(ticketKeys?: Buffer): Promise<number> {
  const { cert, key } = testCertificate();
  const listener = await listenTls({ host: '127.0.0.1', port: 0, cert, key, ticketKeys }, (t) => {
    open.push(t);
    t.setHandlers({ data: (chunk) => t.write(chunk), drain() {}, close() {} });
  });
  open.push(listener);
  return listener.port;
}

/** Connects, exchanges one message (tickets arrive with the first read), closes cleanly. */
async function exchange(
  options: ConnectTlsOptions,
): Promise<{ reused: boolean | undefined; session: Buffer | undefined }> {
  const connection = await connectTls(options);
  const probe = new Probe(connection.transport);
  probe.transport.write(new TextEncoder().encode('ping'));
  await probe.waitBytes(4);
  const result = { reused: connection.transport.tlsSessionReused, session: connection.session() };
  probe.transport.close();
  expect(await probe.closed()).toBeUndefined();
  return result;
}

describe('tls', () => {
  it('resumes a TLS 1.3 session with the saved ticket', async () => {
    const port = await echoServer();
    const ca = testCertificate().cert;
    const first = await exchange({ host: '127.0.0.1', port, ca, minVersion: 'TLSv1.3' });
    expect(first.reused).toBe(false);
    expect(first.session).toBeInstanceOf(Buffer);
    const second = await exchange({ host: '127.0.0.1', port, ca, session: first.session });
    expect(second.reused).toBe(true);
    // A resumed connection receives no new ticket: session() offers the one that worked.
    expect(second.session).toBe(first.session);
    const third = await exchange({ host: '127.0.0.1', port, ca, session: second.session });
    expect(third.reused).toBe(true);
  });

  it('resumes on another server that shares the ticket keys', async () => {
    const ticketKeys = cryptoRandomBytes(48);
    const [portA, portB, portC] = [await echoServer(ticketKeys), await echoServer(ticketKeys), await echoServer()];
    const ca = testCertificate().cert;
    const { session } = await exchange({ host: '127.0.0.1', port: portA, ca });
    expect((await exchange({ host: '127.0.0.1', port: portB, ca, session })).reused).toBe(true);
    expect((await exchange({ host: '127.0.0.1', port: portC, ca, session })).reused).toBe(false);
  });

  it('rejects a certificate it does not trust', async () => {
    const port = await echoServer();
    await expect(connectTls({ host: '127.0.0.1', port })).rejects.toMatchObject({
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    });
  });

  it('reports kind tls and the server address', async () => {
    const port = await echoServer();
    const { transport } = await connectTls({ host: '127.0.0.1', port, ca: testCertificate().cert });
    open.push(transport);
    expect(transport.kind).toBe('tls');
    expect(transport.remoteAddress).toBe(`127.0.0.1:${port}`);
  });

  it('rejects with the signal reason when aborted during the handshake', async () => {
    // A TCP server that accepts and never answers the ClientHello.
    const controller = new AbortController();
    const reason = new Error('handshake took too long');
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => controller.abort(reason));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      await expect(connectTls({ host: '127.0.0.1', port, signal: controller.signal })).rejects.toBe(reason);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
