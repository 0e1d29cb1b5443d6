// WebSocket specifics: attaching to an existing http.Server at a path, the server attachWs owns,
// text frames, maxPayload, handshake headers, close statuses, aborts, and the native surface.

import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Transport } from '../../src/transport/transport.js';
import { attachWs, connectWs, wrapWebSocket, type WsListener } from '../../src/transport/ws.js';
import { Probe, connectWhatwg, roundTrip } from './support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const PATH = '/colloquy';

async function ownServer(
  maxPayload = 64 * 1024,
): Promise<{ listener: WsListener; url: string; accepted: Promise<[Transport, http.IncomingMessage]> }> {
  let accept!: (value: [Transport, http.IncomingMessage]) => void;
  const accepted = new Promise<[Transport, http.IncomingMessage]>((resolve) => (accept = resolve));
  const listener = await attachWs({ host: '127.0.0.1', port: 0, path: PATH, maxPayload }, (t, req) => {
    cleanups.push(() => t.destroy());
    accept([t, req]);
  });
  cleanups.push(() => listener.close());
  return { listener, url: `ws://127.0.0.1:${listener.port}${PATH}`, accepted };
}

function rawClient(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    cleanups.push(() => socket.terminate());
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function closeOf(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code) => resolve(code)));
}

describe('ws', () => {
  it('attaches to an existing http.Server at a path; other paths and upgrades stay with their owners', async () => {
    const server = http.createServer((_req, res) => res.end('plain http'));
    const other = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/other') other.handleUpgrade(req, socket, head, (ws) => ws.send('from the other handler'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as net.AddressInfo;
    let accept!: (t: Transport) => void;
    const accepted = new Promise<Transport>((resolve) => (accept = resolve));
    const listener = await attachWs({ server, path: PATH, maxPayload: 1024 }, (t) => accept(t));
    cleanups.push(() => listener.close());
    expect(listener.port).toBe(port);

    const c = new Probe(await connectWs({ url: `ws://127.0.0.1:${port}${PATH}?resume=1` }));
    cleanups.push(() => c.transport.destroy());
    const s = new Probe(await accepted);
    await roundTrip(s.transport, c);
    await roundTrip(c.transport, s);

    const otherSocket = new WebSocket(`ws://127.0.0.1:${port}/other`);
    cleanups.push(() => otherSocket.terminate());
    // Listening from the start: the message may be emitted right after 'open'.
    const message = await new Promise<string>((resolve) =>
      otherSocket.once('message', (data) => resolve(String(data))),
    );
    expect(message).toBe('from the other handler');
    const response = await fetch(`http://127.0.0.1:${port}/index.html`);
    expect(await response.text()).toBe('plain http');
  });

  it('on its own server: 404 for other paths, 426 for plain requests to the path', async () => {
    const { listener } = await ownServer();
    expect(listener.address).toBe(`ws://127.0.0.1:${listener.port}${PATH}`);
    await expect(connectWs({ url: `ws://127.0.0.1:${listener.port}/elsewhere` })).rejects.toThrow(/404/);
    expect((await fetch(`http://127.0.0.1:${listener.port}${PATH}`)).status).toBe(426);
    expect((await fetch(`http://127.0.0.1:${listener.port}/`)).status).toBe(404);
  });

  it('passes headers and subprotocols, and names both ends', async () => {
    const { listener, url, accepted } = await ownServer();
    const client = await connectWs({ url, headers: { 'x-colloquy': 'yes' }, protocols: ['colloquy.v1'] });
    cleanups.push(() => client.destroy());
    const [server, req] = await accepted;
    expect(req.headers['x-colloquy']).toBe('yes');
    expect(req.headers['sec-websocket-protocol']).toBe('colloquy.v1');
    expect(client.kind).toBe('ws');
    expect(client.remoteAddress).toBe(`127.0.0.1:${listener.port}`);
    expect(server.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('treats a text frame as a protocol error: closed with 1003, ERR_TRANSPORT_TEXT_FRAME', async () => {
    const { url, accepted } = await ownServer();
    const raw = await rawClient(url);
    const s = new Probe((await accepted)[0]);
    const code = closeOf(raw);
    raw.send('hello as text');
    expect(await s.closed()).toMatchObject({ code: 'ERR_TRANSPORT_TEXT_FRAME', origin: 'remote' });
    expect(await code).toBe(1003);
    expect(s.bytes).toBe(0);
  });

  it('enforces maxPayload: the sender sees 1009, the receiver the ws error', async () => {
    const { url, accepted } = await ownServer(1024);
    const c = new Probe(await connectWs({ url }));
    cleanups.push(() => c.transport.destroy());
    const s = new Probe((await accepted)[0]);
    c.transport.write(new Uint8Array(2048));
    expect(await s.closed()).toMatchObject({ code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' });
    expect(await c.closed()).toMatchObject({ code: 'ERR_TRANSPORT_PEER_ERROR', details: { code: 1009 } });
  });

  it('reports a close status from the peer, and a reset as ERR_TRANSPORT_RESET', async () => {
    const { url, accepted } = await ownServer();
    const c = new Probe(await connectWs({ url }));
    const s = new Probe((await accepted)[0]);
    c.transport.destroy();
    expect(await s.closed()).toMatchObject({ code: 'ERR_TRANSPORT_RESET', details: { code: 1006 } });

    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => wss.close());
    wss.on('connection', (ws) => ws.close(4001, 'not you'));
    await new Promise((resolve) => wss.once('listening', resolve));
    const port = (wss.address() as net.AddressInfo).port;
    const refused = new Probe(await connectWs({ url: `ws://127.0.0.1:${port}/` }));
    expect(await refused.closed()).toMatchObject({
      code: 'ERR_TRANSPORT_PEER_ERROR',
      details: { code: 4001, reason: 'not you' },
    });
  });

  it('rejects with the signal reason when aborted during the handshake', async () => {
    const controller = new AbortController();
    const reason = new Error('no answer');
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => controller.abort(reason));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const { port } = silent.address() as net.AddressInfo;
    await expect(connectWs({ url: `ws://127.0.0.1:${port}/`, signal: controller.signal })).rejects.toBe(reason);
  });

  it('native surface: holds at most maxHeldBytes while paused, then fails with ERR_TRANSPORT_RECEIVE_OVERFLOW', async () => {
    const { url, accepted } = await ownServer();
    const c = new Probe(await connectWhatwg(url, { maxHeldBytes: 4096 }));
    const s = new Probe((await accepted)[0]);
    c.transport.pause();
    s.transport.write(new Uint8Array(3000));
    s.transport.write(new Uint8Array(3000));
    expect(await c.closed()).toMatchObject({ code: 'ERR_TRANSPORT_RECEIVE_OVERFLOW', details: { limit: 4096 } });
    expect(c.bytes).toBe(0);
    await s.closed();
  });

  it('wrapWebSocket wants an open socket', async () => {
    const { url } = await ownServer();
    const socket = new WebSocket(url);
    cleanups.push(() => socket.terminate());
    expect(() => wrapWebSocket(socket)).toThrow(TypeError);
    await new Promise((resolve) => socket.once('open', resolve));
  });
});
