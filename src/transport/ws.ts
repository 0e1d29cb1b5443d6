// WebSocket endpoints: connectWs opens a client connection (the `ws` package in Node, the
// native WebSocket in a browser) and attachWs accepts them on an http.Server at one path. The
// byte mapping is ws-transport.ts. `ws` and node:http are imported lazily, so this module
// loads in a browser; only attachWs needs Node.
//
// Server rules
//   - Upgrades go through the server's 'upgrade' event with a noServer ws.WebSocketServer, so
//     a caller's server keeps serving plain HTTP, and other paths stay free for other upgrade
//     handlers. On a server attachWs created, other paths get 404 and plain requests get 426
//     (our path) or 404.
//   - maxPayload is required: it bounds what one message can make us buffer. A larger message
//     closes the connection with 1009 and reports ws's WS_ERR_UNSUPPORTED_MESSAGE_LENGTH.
//   - No per-message deflate on either side: frames are small, and compression costs memory
//     per connection.
//   - close() stops accepting (and closes the server if attachWs created it); transports
//     already handed out are left alone.

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TransportListener } from './base.js';
import { TransportError } from './errors.js';
import type { Transport } from './transport.js';
import { wrapWebSocket, type NodeWebSocket, type WebSocketLike, type WrapWebSocketOptions } from './ws-transport.js';

export { wrapWebSocket, type WebSocketLike, type WrapWebSocketOptions } from './ws-transport.js';

export interface ConnectWsOptions extends Omit<WrapWebSocketOptions, 'remoteAddress'> {
  /** ws:// or wss:// */
  url: string;
  protocols?: string | string[];
  /** Extra handshake headers (a cookie, a token); `ws` only: browsers cannot set them. */
  headers?: Record<string, string>;
  /** `ws` only: the local address to connect from. */
  localAddress?: string;
  /** wss:// certificate checks; `ws` only (browsers use their own trust store). */
  tls?: { ca?: string | Uint8Array | Array<string | Uint8Array>; servername?: string; rejectUnauthorized?: boolean };
  /** Largest message accepted from the server; `ws` only. Default 100 MiB (ws's default). */
  maxPayload?: number;
  signal?: AbortSignal;
}

type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: object) => WebSocketLike;

async function loadWebSocket(): Promise<{ Ctor: WebSocketConstructor; node: boolean }> {
  // In a browser bundle `ws` resolves to a stub without a WebSocket export.
  const mod = (await import('ws').catch(() => undefined)) as { WebSocket?: unknown } | undefined;
  if (typeof mod?.WebSocket === 'function') return { Ctor: mod.WebSocket as WebSocketConstructor, node: true };
  const native = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (typeof native === 'function') return { Ctor: native as WebSocketConstructor, node: false };
  throw new TypeError('no WebSocket implementation: install `ws` or run where globalThis.WebSocket exists');
}

export async function connectWs(options: ConnectWsOptions): Promise<Transport> {
  const { url, protocols, headers, tls, maxPayload, signal, localAddress, ...wrapOptions } = options;
  signal?.throwIfAborted();
  const { Ctor, node } = await loadWebSocket();
  signal?.throwIfAborted();
  if (!node && (headers || tls))
    throw new TypeError('headers and tls options need the `ws` package: a browser WebSocket cannot take them');
  const socket = node
    ? new Ctor(url, protocols, {
        headers,
        maxPayload,
        perMessageDeflate: false,
        ...tls,
        ...(localAddress ? { localAddress } : {}),
      })
    : new Ctor(url, protocols);
  return new Promise<Transport>((resolve, reject) => {
    let settled = false;
    const settle = (run: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', abort);
      run();
    };
    const refused = (why: string): TransportError =>
      new TransportError('ERR_TRANSPORT_REFUSED', `WebSocket connection to ${url} ${why}`, 'remote', { url });
    const abort = (): void =>
      settle(() => {
        if (node) (socket as NodeWebSocket).terminate();
        else socket.close(4000, 'aborted');
        reject(signal?.reason);
      });
    // Wrapped inside 'open': ws may emit the first message before a promise continuation runs.
    socket.addEventListener('open', () =>
      settle(() => resolve(wrapWebSocket(socket, { ...wrapOptions, remoteAddress: new URL(url).host }))),
    );
    socket.addEventListener('error', (event) =>
      settle(() => reject(event.error instanceof Error ? event.error : refused('failed'))),
    );
    socket.addEventListener('close', (event) =>
      settle(() => reject(refused(`closed before opening (${event.code ?? 1006})`))),
    );
    signal?.addEventListener('abort', abort, { once: true });
  });
}

export interface AttachWsOptions {
  /** Serve on this server; when absent, one is created and listens on host:port. */
  server?: Server;
  /** Only without `server`. Default: all interfaces, like http.Server#listen. */
  host?: string;
  /** Only without `server`. Default 0 (a free port; the listener's `port` says which). */
  port?: number;
  /** The one path (query ignored) accepted, e.g. "/colloquy". */
  path: string;
  /** Largest message accepted, in bytes; size it to the maximum frame size. */
  maxPayload: number;
  /** Unsent bytes above which write() returns false. Default 1 MiB. */
  highWaterMark?: number;
  /**
   * Looks at each upgrade request on `path` first (Origin, Host, cookies): a refusal is answered
   * with its HTTP status and message and the connection closed; nothing is upgraded.
   */
  verify?(request: IncomingMessage): { status: number; message: string } | undefined;
  /** How long a peer has to answer the closing handshake before its socket is destroyed. Default 5 s. */
  closeTimeoutMs?: number;
}

export interface WsListener extends TransportListener {
  /** The server's port (0 when an attached server is not listening yet). */
  readonly port: number;
}

function pathOf(url: string | undefined): string {
  return new URL(url ?? '/', 'http://localhost').pathname;
}

export async function attachWs(
  options: AttachWsOptions,
  onTransport: (transport: Transport, request: IncomingMessage) => void,
): Promise<WsListener> {
  const { path, maxPayload, highWaterMark, closeTimeoutMs } = options;
  const [{ WebSocketServer }, http, { formatAddress, listenServer }] = await Promise.all([
    import('ws'),
    import('node:http'),
    import('./tcp.js'),
  ]);
  const owned = options.server === undefined;
  const server =
    options.server ??
    http.createServer((req, res) => {
      res.writeHead(pathOf(req.url) === path ? 426 : 404, { connection: 'close' }).end();
    });
  const wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: false });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathOf(req.url) !== path) {
      if (owned) {
        socket.on('error', () => {});
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
      return;
    }
    const refused = options.verify?.(req);
    if (refused) {
      const body = `${refused.message}\n`;
      socket.on('error', () => {});
      socket.end(
        `HTTP/1.1 ${refused.status} ${http.STATUS_CODES[refused.status] ?? 'Refused'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    const remoteAddress = formatAddress(req.socket.remoteAddress, req.socket.remotePort);
    // Wrapped inside the callback, before ws can emit a message (see connectWs).
    wss.handleUpgrade(req, socket, head, (ws) =>
      onTransport(
        wrapWebSocket(ws, {
          remoteAddress,
          highWaterMark,
          headers: req.headers,
          secure: (req.socket as { encrypted?: boolean }).encrypted === true,
          ...(closeTimeoutMs !== undefined ? { closeTimeoutMs } : {}),
        }),
        req,
      ),
    );
  };
  server.on('upgrade', onUpgrade);

  let listening = server.address();
  if (owned) {
    await listenServer(server, { host: options.host, port: options.port ?? 0 });
    listening = server.address();
  }
  const info = typeof listening === 'object' && listening !== null ? listening : undefined;
  return {
    port: info?.port ?? 0,
    address: `ws://${formatAddress(info?.address, info?.port)}${path}`,
    close: async () => {
      server.off('upgrade', onUpgrade);
      wss.close();
      if (owned) {
        server.close();
        server.closeIdleConnections();
      }
    },
  };
}
