// TLS: connectTls / listenTls over node:tls, with TLS 1.3 session resumption. The byte pipe is
// tcp.ts's wrapSocket (a TLSSocket is a net.Socket); this file owns the handshake and tickets.
//
// Resumption (verified on Node 20.20 / OpenSSL 3.0, see protocols/iso8327-netbios-tls-facts.md §6):
//   - In TLS 1.3 the server sends tickets after the handshake (OpenSSL: two); each arrives as a
//     client 'session' event. getSession() at 'secureConnect' returns a buffer that does NOT
//     resume, so we keep the latest 'session' buffer instead.
//   - Tickets are only read while the socket is read: one exchange of data is enough.
//   - A resumed connection gets no new ticket ('session' does not fire), so session() then
//     returns the buffer that was offered; OpenSSL accepts a ticket more than once.
//   - transport.tlsSessionReused is socket.isSessionReused().
// To resume across processes, give every server the same `ticketKeys` (48 random bytes).

import tls from 'node:tls';
import type { Transport } from './transport.js';
import { connectSocket, listenServer, wrapSocket, type ListenOptions, type SocketListener } from './tcp.js';

/** PEM text or bytes (a Buffer is a Uint8Array), or a list of them. */
export type Pem = string | Uint8Array | Array<string | Uint8Array>;

function toNode(pem: Pem): string | Buffer | Array<string | Buffer>;
function toNode(pem: Pem | undefined): string | Buffer | Array<string | Buffer> | undefined;
function toNode(pem: Pem | undefined): string | Buffer | Array<string | Buffer> | undefined {
  if (pem === undefined || typeof pem === 'string') return pem;
  if (Array.isArray(pem))
    return pem.map((one) => (typeof one === 'string' ? one : Buffer.from(one.buffer, one.byteOffset, one.byteLength)));
  return Buffer.from(pem.buffer, pem.byteOffset, pem.byteLength);
}

export interface ConnectTlsOptions {
  host: string;
  port: number;
  /** Trusted CA certificates; the system store when absent. */
  ca?: Pem;
  /** Client certificate and key, when the server asks for one. */
  cert?: Pem;
  key?: Pem;
  /** SNI and the name the certificate must match; defaults to `host` unless it is an IP. */
  servername?: string;
  /** Default true. false accepts any certificate: for tests against self-signed servers only. */
  rejectUnauthorized?: boolean;
  /** A buffer from an earlier connection's session(), to resume that TLS session. */
  session?: Buffer;
  minVersion?: tls.SecureVersion;
  noDelay?: boolean;
  signal?: AbortSignal;
}

export interface TlsConnection {
  transport: Transport;
  /** The latest resumable session for this server, to pass as `session` on reconnect. */
  session(): Buffer | undefined;
}

export async function connectTls(options: ConnectTlsOptions): Promise<TlsConnection> {
  options.signal?.throwIfAborted();
  const { signal, noDelay, ca, cert, key, ...rest } = options;
  const socket = tls.connect({ ...rest, ca: toNode(ca), cert: toNode(cert), key: toNode(key) });
  let latest: Buffer | undefined;
  socket.on('session', (session: Buffer) => {
    latest = session;
  });
  return connectSocket(
    socket,
    'secureConnect',
    () => ({
      transport: wrapSocket(socket, 'tls', { noDelay }),
      session: () => latest ?? (socket.isSessionReused() ? options.session : undefined),
    }),
    signal,
  );
}

export interface ListenTlsOptions extends ListenOptions, Omit<tls.TlsOptions, 'cert' | 'key' | 'ca'> {
  cert: Pem;
  key: Pem;
  /** CAs for client certificates (with requestCert). */
  ca?: Pem;
  noDelay?: boolean;
}

/** A TLS listener whose certificate can be replaced while it runs (new handshakes use the new one). */
export interface TlsListener extends SocketListener {
  setCredentials(credentials: { cert: Pem; key: Pem }): void;
}

export async function listenTls(
  options: ListenTlsOptions,
  onTransport: (transport: Transport) => void,
): Promise<TlsListener> {
  const { host, port, noDelay, cert, key, ca, ...tlsOptions } = options;
  const secure = { ...tlsOptions, cert: toNode(cert), key: toNode(key), ca: toNode(ca) };
  const server = tls.createServer(secure, (socket) => onTransport(wrapSocket(socket, 'tls', { noDelay })));
  // A failed handshake concerns no transport handed out; Node destroys that socket.
  server.on('tlsClientError', () => {});
  const listener = await listenServer(server, { host, port });
  // Connections already up keep the context they were made with.
  return {
    ...listener,
    setCredentials: (c) => server.setSecureContext({ ...secure, cert: toNode(c.cert), key: toNode(c.key) }),
  };
}
