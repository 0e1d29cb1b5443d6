// Runs the one conformance suite (conformance.ts) unchanged against every transport.

import type { Transport } from '../../src/transport/transport.js';
import { connectMemory, listenMemory, memoryPair } from '../../src/transport/memory.js';
import { connectTcp, listenTcp } from '../../src/transport/tcp.js';
import { connectTls, listenTls } from '../../src/transport/tls.js';
import { attachWs, connectWs } from '../../src/transport/ws.js';
import { transportConformance, type TransportPair } from './conformance.js';
import { connectWhatwg, testCertificate } from './support.js';

/** Connects through a listener and pairs the client with the transport the listener accepted. */
async function viaListener(
  listen: (onTransport: (t: Transport) => void) => Promise<{ close(): Promise<void> }> | { close(): Promise<void> },
  connect: () => Promise<Transport>,
): Promise<TransportPair> {
  let accept!: (t: Transport) => void;
  const accepted = new Promise<Transport>((resolve) => (accept = resolve));
  const listener = await listen((t) => accept(t));
  const [client, server] = await Promise.all([connect(), accepted]);
  return { client, server, cleanup: () => listener.close() };
}

let memoryNames = 0;
transportConformance('memory', () => {
  const name = `conformance-${++memoryNames}`;
  return viaListener(
    (on) => listenMemory(name, on),
    () => connectMemory(`memory://${name}`),
  );
});

transportConformance('memory (2 ms latency, 64 KiB window)', async () => {
  const [client, server] = memoryPair({ latencyMs: 2, capacityBytes: 64 * 1024 });
  return { client, server, cleanup: async () => {} };
});

transportConformance('tcp', () => {
  let port = 0;
  return viaListener(
    async (on) => {
      const listener = await listenTcp({ host: '127.0.0.1', port: 0 }, on);
      port = listener.port;
      return listener;
    },
    () => connectTcp({ host: '127.0.0.1', port }),
  );
});

transportConformance('tls', () => {
  const { cert, key } = testCertificate();
  let port = 0;
  return viaListener(
    async (on) => {
      const listener = await listenTls({ host: '127.0.0.1', port: 0, cert, key }, on);
      port = listener.port;
      return listener;
    },
    async () => (await connectTls({ host: '127.0.0.1', port, ca: cert })).transport,
  );
});

const wsOptions = { host: '127.0.0.1', port: 0, path: '/colloquy', maxPayload: 1024 * 1024 };

transportConformance('ws', () => {
  let url = '';
  return viaListener(
    async (on) => {
      const listener = await attachWs(wsOptions, on);
      url = `ws://127.0.0.1:${listener.port}/colloquy`;
      return listener;
    },
    () => connectWs({ url }),
  );
});

transportConformance('ws (client through the WHATWG surface, as in a browser)', () => {
  let url = '';
  return viaListener(
    async (on) => {
      const listener = await attachWs(wsOptions, on);
      url = `ws://127.0.0.1:${listener.port}/colloquy`;
      return listener;
    },
    () => connectWhatwg(url),
  );
});
