// TCP: maps a net.Socket (or a tls.TLSSocket, which is one) onto the Transport contract, plus
// connectTcp / listenTcp. tls.ts reuses wrapSocket, connectSocket and listenServer.
//
//   write      -> socket.write (its return value is the backpressure signal), 'drain' -> drain
//   cork       -> socket.cork / uncork: the writes between leave in one writev
//   pause      -> socket.pause (the kernel window fills and the peer's writes block)
//   close      -> socket.end: queued bytes go out, then FIN; 'close' once both sides ended
//   destroy    -> socket.destroy (no FIN wait, queued bytes dropped)
//   'error'    -> remembered and reported with the 'close' that always follows it
//
// Sockets are created with allowHalfOpen false (Node's default), so a FIN from the peer ends our
// side too once its data was read: the contract has no half-open state.

import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { TransportBase, type TransportListener } from './base.js';
import { ReadSlab } from './read-slab.js';
import type { Transport } from './transport.js';

export interface WrapSocketOptions {
  /** Disable Nagle's algorithm: session frames are small and latency-bound. Default true. */
  noDelay?: boolean;
  /** The socket was made with `onread` through this (connectTcp): its reads arrive here. */
  reads?: SlabReads;
}

/** A socket's `onread` through a ReadSlab, handed to the transport that wraps the socket. */
export interface SlabReads {
  receive: (chunk: Uint8Array) => void;
}

class SocketTransport extends TransportBase {
  readonly kind: 'tcp' | 'tls';
  readonly remoteAddress: string;
  readonly #socket: net.Socket;
  #error: Error | undefined;

  constructor(socket: net.Socket, kind: 'tcp' | 'tls', options: WrapSocketOptions) {
    super();
    this.kind = kind;
    this.#socket = socket;
    this.remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
    // Paused before the 'data' listener goes on, so nothing flows until setHandlers().
    socket.pause();
    socket.setNoDelay(options.noDelay ?? true);
    // A socket made with a ReadSlab (connectTcp) reads through it, not through 'data'.
    if (options.reads) options.reads.receive = (chunk) => this.receive(chunk);
    else socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.emitDrain());
    socket.on('error', (error: Error) => {
      this.#error ??= error;
    });
    socket.on('close', () => this.finished(this.#error));
    if (socket.destroyed) this.finished(this.#error);
  }

  override get tlsSessionReused(): boolean | undefined {
    return this.kind === 'tls' ? (this.#socket as TLSSocket).isSessionReused() : undefined;
  }

  protected writeBytes(bytes: Uint8Array): boolean {
    return this.#socket.write(bytes);
  }

  cork(): void {
    this.#socket.cork();
  }

  uncork(): void {
    this.#socket.uncork();
  }

  protected closeGracefully(): void {
    this.#socket.end();
  }

  protected destroyNow(): void {
    this.#socket.destroy();
  }

  protected setFlowing(flowing: boolean): void {
    if (flowing) this.#socket.resume();
    else this.#socket.pause();
  }
}

/** Wraps a connected socket. Use it as soon as the socket is connected (data is held until then). */
export function wrapSocket(
  socket: net.Socket,
  kind: 'tcp' | 'tls' = 'tcp',
  options: WrapSocketOptions = {},
): Transport {
  return new SocketTransport(socket, kind, options);
}

export function formatAddress(host: string | undefined, port: number | undefined): string {
  if (host === undefined) return 'unknown';
  return `${host.includes(':') ? `[${host}]` : host}:${port ?? 0}`;
}

/**
 * Settles when `socket` emits `readyEvent` (resolving with `onReady()`, called synchronously so
 * no event is missed) or fails; aborting `signal` destroys the socket and rejects with its reason.
 */
export function connectSocket<T>(
  socket: net.Socket,
  readyEvent: string,
  onReady: () => T,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanup = (): void => {
      socket.off(readyEvent, ready);
      socket.off('error', fail);
      signal?.removeEventListener('abort', abort);
    };
    const ready = (): void => {
      const value = onReady();
      cleanup();
      resolve(value);
    };
    const fail = (reason: unknown): void => {
      cleanup();
      socket.destroy();
      reject(reason);
    };
    const abort = (): void => fail(signal?.reason);
    socket.once(readyEvent, ready);
    socket.once('error', fail);
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
  });
}

export interface ConnectTcpOptions {
  host: string;
  port: number;
  signal?: AbortSignal;
  noDelay?: boolean;
  /** The local address to connect from. */
  localAddress?: string;
}

export async function connectTcp(options: ConnectTcpOptions): Promise<Transport> {
  options.signal?.throwIfAborted();
  // Reads land side by side in a slab (./read-slab.ts): frames that span reads are not joined.
  const slab = new ReadSlab();
  const reads: SlabReads = { receive: () => {} };
  const socket = net.connect({
    host: options.host,
    port: options.port,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    onread: {
      buffer: slab.region,
      callback: (n: number, region: Uint8Array) => {
        reads.receive(slab.took(n, region as Buffer));
        return true;
      },
    },
  });
  return connectSocket(
    socket,
    'connect',
    () => wrapSocket(socket, 'tcp', { noDelay: options.noDelay, reads }),
    options.signal,
  );
}

export interface ListenOptions {
  host: string;
  /** 0 picks a free port; the listener's `port` says which. */
  port: number;
}

export interface SocketListener extends TransportListener {
  readonly port: number;
}

/** Starts `server` listening and returns the listener view of it; used by tcp, tls and ws. */
export function listenServer(server: net.Server, options: { host?: string; port: number }): Promise<SocketListener> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      // Once listening, errors are failed accepts (EMFILE...): transient, and they concern no
      // transport handed out, so they must not crash the process.
      server.on('error', () => {});
      const { address, port } = server.address() as net.AddressInfo;
      resolve({
        port,
        address: formatAddress(address, port),
        // server.close() releases the port at once; its callback would wait for every
        // accepted connection, which belong to their owners, so it is not awaited.
        close: () => {
          server.close();
          return Promise.resolve();
        },
      });
    });
  });
}

export function listenTcp(
  options: ListenOptions & WrapSocketOptions,
  onTransport: (transport: Transport) => void,
): Promise<SocketListener> {
  const server = net.createServer((socket) => onTransport(wrapSocket(socket, 'tcp', options)));
  return listenServer(server, options);
}
