// The listening side of each transport, opened together for one server.

import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { listenMemory } from '../transport/memory.js';
import { listenTcp } from '../transport/tcp.js';
import { listenTls } from '../transport/tls.js';
import { attachWs } from '../transport/ws.js';
import type { Transport } from '../transport/transport.js';

export interface EndpointOptions {
  /** Native framing over TCP. */
  tcp?: { host?: string; port: number };
  /** Native framing over TLS. */
  tls?: { host?: string; port: number; cert: string | Buffer; key: string | Buffer };
  /** WebSocket: its own port, or attached to an existing http.Server, at `path` (default /session). */
  ws?: {
    host?: string;
    port?: number;
    server?: HttpServer;
    path?: string;
    closeTimeoutMs?: number;
    verify?(request: IncomingMessage): { status: number; message: string } | undefined;
  };
  /** An in-process endpoint reachable as memory://name. */
  memory?: string;
  /** Largest frame accepted (also the WebSocket message limit). */
  maxFrameSize?: number;
}

export interface OpenEndpoints {
  addresses: { tcp?: number; tls?: number; ws?: number; memory?: string };
  /** Replaces the TLS endpoint's certificate and key for connections made from now on (no-op without tls). */
  setTlsCredentials(credentials: { cert: string | Buffer; key: string | Buffer }): void;
  close(): Promise<void>;
}

export async function openEndpoints(o: EndpointOptions, onTransport: (t: Transport) => void): Promise<OpenEndpoints> {
  const closers: (() => Promise<void>)[] = [];
  const addresses: OpenEndpoints['addresses'] = {};
  let setTlsCredentials: OpenEndpoints['setTlsCredentials'] = () => {};
  try {
    if (o.tcp) {
      const l = await listenTcp({ host: o.tcp.host ?? '127.0.0.1', port: o.tcp.port }, onTransport);
      addresses.tcp = l.port;
      closers.push(() => l.close());
    }
    if (o.tls) {
      const l = await listenTls(
        { host: o.tls.host ?? '127.0.0.1', port: o.tls.port, cert: o.tls.cert, key: o.tls.key },
        onTransport,
      );
      addresses.tls = l.port;
      setTlsCredentials = (c) => l.setCredentials(c);
      closers.push(() => l.close());
    }
    if (o.ws) {
      // A message holds one coalesced write: up to 64 KiB of frames plus one maximal frame.
      const maxPayload = (o.maxFrameSize ?? 256 * 1024) + 128 * 1024;
      const l = await attachWs(
        {
          server: o.ws.server,
          port: o.ws.port,
          host: o.ws.host ?? '127.0.0.1',
          path: o.ws.path ?? '/session',
          maxPayload,
          ...(o.ws.verify ? { verify: o.ws.verify } : {}),
          ...(o.ws.closeTimeoutMs !== undefined ? { closeTimeoutMs: o.ws.closeTimeoutMs } : {}),
        },
        (t) => onTransport(t),
      );
      if (l.port !== undefined) addresses.ws = l.port;
      closers.push(() => l.close());
    }
    if (o.memory) {
      const l = await listenMemory(o.memory, onTransport);
      addresses.memory = o.memory;
      closers.push(() => l.close());
    }
  } catch (e) {
    for (const c of closers) await c().catch(() => {});
    throw e;
  }
  return {
    addresses,
    setTlsCredentials: (c) => setTlsCredentials(c),
    close: async () => {
      await Promise.all(closers.map((c) => c()));
    },
  };
}
