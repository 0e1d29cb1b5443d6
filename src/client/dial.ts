// Dialers: from a parsed session URL to a function that opens a fresh transport.

import { connectMemory } from '../transport/memory.js';
import { connectTcp } from '../transport/tcp.js';
import { connectTls } from '../transport/tls.js';
import { connectWs } from '../transport/ws.js';
import type { Transport } from '../transport/transport.js';
import type { Endpoint } from './url.js';

export interface DialOptions {
  /** TLS (tls:// and wss://): trust anchors, server name, and whether to verify the peer. */
  tls?: { ca?: string | Buffer | (string | Buffer)[]; servername?: string; rejectUnauthorized?: boolean };
  /** WebSocket: extra request headers (e.g. a cookie carrying the HTTP session). */
  headers?: Record<string, string>;
  /** tcp and ws (Node): the local address outgoing connections bind to, e.g. one of several 127.0.0.x. */
  localAddress?: string;
}

export function dialer(endpoint: Endpoint, options: DialOptions): (signal?: AbortSignal) => Promise<Transport> {
  switch (endpoint.scheme) {
    case 'tcp':
      return (signal) =>
        connectTcp({ host: endpoint.host, port: endpoint.port, signal, localAddress: options.localAddress });
    case 'tls': {
      // Offer the previous connection's latest TLS session ticket on every redial (TLS 1.3
      // tickets arrive after the handshake, so it is read at redial time, not at connect).
      let previous: (() => Buffer | undefined) | undefined;
      return async (signal) => {
        const ticket = previous?.();
        const { transport, session } = await connectTls({
          host: endpoint.host,
          port: endpoint.port,
          ...options.tls,
          session: ticket,
          signal,
        });
        previous = session;
        return transport;
      };
    }
    case 'ws':
    case 'wss':
      return (signal) =>
        connectWs({
          url: endpoint.url,
          signal,
          headers: options.headers,
          tls: options.tls,
          localAddress: options.localAddress,
        });
    case 'memory':
      return async () => connectMemory(endpoint.name);
  }
}
