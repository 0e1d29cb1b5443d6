// A transport that counts the bytes through it, for the live view's per-session byte totals.
//
// serve opens the endpoints itself and hands every accepted transport to the Server wrapped in
// one of these; everything else passes straight through (kind, address, the upgrade request's
// headers for cookie authentication, backpressure, close). Channels of a multiplexed connection
// are accepted inside the server and are not counted (the live view shows null bytes for them).
// `totals`, when given, is the node's running sum for /metrics (./metrics.ts).

import type { Transport, TransportHandlers, TransportKind } from '../transport/transport.js';

export class CountingTransport implements Transport {
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly inner: Transport,
    private readonly totals: { in: number; out: number } = { in: 0, out: 0 },
  ) {}

  get kind(): TransportKind {
    return this.inner.kind;
  }
  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }
  get closed(): boolean {
    return this.inner.closed;
  }
  get tlsSessionReused(): boolean | undefined {
    return this.inner.tlsSessionReused;
  }
  get headers(): Transport['headers'] {
    return this.inner.headers;
  }
  get secure(): boolean | undefined {
    return this.inner.secure;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.inner.setHandlers({
      data: (chunk) => {
        this.bytesIn += chunk.length;
        this.totals.in += chunk.length;
        handlers.data(chunk);
      },
      drain: () => handlers.drain(),
      close: (error) => handlers.close(error),
    });
  }

  write(bytes: Uint8Array): boolean {
    if (!this.inner.closed) {
      this.bytesOut += bytes.length;
      this.totals.out += bytes.length;
    }
    return this.inner.write(bytes);
  }

  pause(): void {
    this.inner.pause();
  }
  resume(): void {
    this.inner.resume();
  }
  close(): void {
    this.inner.close();
  }
  destroy(error?: Error): void {
    this.inner.destroy(error);
  }
}
