// The transport contract: an ordered, reliable byte pipe under one session connection.
//
// Every transport (tcp, tls, ws, memory) is a short mapping onto this interface. The driver is
// its only user: it installs handlers once, writes coalesced frames, and respects backpressure
// in both directions.
//
// Rules
//   - write() queues the bytes and returns false when the transport wants the writer to wait
//     for `drain` (like net.Socket#write); after a false, `drain` fires once write() would
//     accept again. Bytes passed to write() are not reused by the caller, and the transport
//     does not modify them. Once `closed` is true, write() sends nothing and returns false;
//     it never throws.
//   - Received bytes arrive through `onData` in order; chunk boundaries mean nothing (on
//     WebSocket a message holds whole frames, but the driver does not rely on that).
//   - Nothing is delivered before the first setHandlers(): received bytes and an early close
//     wait for it, so a transport can be handed over before its user is ready. After that,
//     handlers may be replaced at any time; events with no handler (NO_HANDLERS) are dropped.
//   - No handler runs synchronously inside a call to one of these methods.
//   - pause() stops `onData` until resume() (receive backpressure: the kernel window fills and
//     the peer's writes block). Bytes already received are held, not dropped. A browser
//     WebSocket cannot stop its peer: it holds up to a bound, then fails.
//   - close() sets `closed` at once, flushes queued bytes, then ends. Bytes the peer still
//     sends are delivered until its end; `onClose()` follows once both directions ended, and
//     the peer closes cleanly too (there is no half-open state). A paused transport may not
//     finish closing until resumed; call destroy() if it must end now.
//   - destroy(error) drops queued and held bytes and reports `onClose(error)` (the caller's
//     error, whatever the connection says afterwards). The peer closes with or without an
//     error, depending on the transport (TCP: FIN, or RST -> ECONNRESET).
//   - `onClose` fires exactly once: after held bytes were delivered for a clean end, at once
//     (dropping them) for an error. Errors are TransportError (errors.ts) or come from Node or
//     `ws` unchanged, with their own `code`.

export type TransportKind = 'tcp' | 'tls' | 'ws' | 'memory';

export interface TransportHandlers {
  data(chunk: Uint8Array): void;
  drain(): void;
  close(error?: Error): void;
}

export interface Transport {
  readonly kind: TransportKind;
  /** For logs and the `authenticate` hook: "127.0.0.1:53412", "memory:3". */
  readonly remoteAddress: string;
  /** True from close() / destroy(), or once the connection ended: write() refuses from then on. */
  readonly closed: boolean;
  /** TLS only: whether the handshake resumed an earlier TLS session. */
  readonly tlsSessionReused?: boolean;
  /** WebSocket (server side) only: the headers of the HTTP upgrade request (a cookie, a token). */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** WebSocket (server side) only: the upgrade came over TLS (wss). */
  readonly secure?: boolean;
  setHandlers(handlers: TransportHandlers): void;
  write(bytes: Uint8Array): boolean;
  /**
   * Optional (TCP, TLS): writes from cork() to uncork() leave together, in one system call
   * (writev), so a frame header and its large payload can be written apart without a copy.
   */
  cork?(): void;
  uncork?(): void;
  pause(): void;
  resume(): void;
  close(): void;
  destroy(error?: Error): void;
}

/** A handler set that ignores everything: the state of a transport nobody listens to yet. */
export const NO_HANDLERS: TransportHandlers = { data() {}, drain() {}, close() {} };
