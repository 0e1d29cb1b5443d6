// The transport contract: an ordered, reliable byte pipe under one session connection.
//
// Every transport (tcp, tls, ws, memory) is a short mapping onto this interface. The driver is
// its only user: it installs handlers once, writes coalesced frames, and respects backpressure
// in both directions.
//
// Rules
//   - write() queues the bytes and returns false when the transport wants the writer to wait
//     for `drain` (like net.Socket#write). Bytes passed to write() are not reused by the caller.
//   - Received bytes arrive through `onData` in order; chunk boundaries mean nothing (on
//     WebSocket a message holds whole frames, but the driver does not rely on that).
//   - pause() stops `onData` until resume() (receive backpressure: the kernel window fills and
//     the peer's writes block).
//   - close() ends gracefully after queued bytes are flushed; destroy(error) drops them at once.
//     Either way `onClose` fires exactly once, with the error if there was one.
//   - Handlers may be replaced at any time; events with no handler are dropped.

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
  readonly closed: boolean;
  /** TLS only: whether the handshake resumed an earlier TLS session. */
  readonly tlsSessionReused?: boolean;
  setHandlers(handlers: TransportHandlers): void;
  write(bytes: Uint8Array): boolean;
  pause(): void;
  resume(): void;
  close(): void;
  destroy(error?: Error): void;
}

/** A handler set that ignores everything: the state of a transport nobody listens to yet. */
export const NO_HANDLERS: TransportHandlers = { data() {}, drain() {}, close() {} };
