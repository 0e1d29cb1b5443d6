// The offline queue of a bus (./redis-bus.ts), as a part it owns: messages published while the
// publishing connection is not ready wait here, in order, until it is, bounded three ways.
//
//   add()    past maxQueuedMessages or maxQueuedBytes: ERR_BUS_FULL at once, nothing queued;
//            else it waits at most offlineTimeoutMs (then ERR_BUS_UNAVAILABLE, dropped)
//   flush()  while the connection is ready: each message, oldest first, handed to host.send
//            (one connection keeps the order); its promise settles with that send
//   clear()  the bus closes: every waiting message fails with `error`
//
// Nothing is ever resent: a message handed to send is the bus's, whatever becomes of it.

import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';

export interface OfflineQueueLimits {
  readonly offlineTimeoutMs?: number;
  readonly maxQueuedMessages?: number;
  readonly maxQueuedBytes?: number;
}

/** What the queue needs of the bus that owns it. */
export interface OfflineQueueHost {
  /** The publishing connection takes messages now. */
  ready(): boolean;
  /** Why the connection is down, for the errors ('' when unknown). */
  lastError(): string;
  send(channel: string, message: Buffer): Promise<void>;
  /** A message was dropped (full, or waited too long). */
  dropped(): void;
}

interface Queued {
  channel: string;
  message: Buffer;
  resolve: () => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class OfflineQueue {
  private queue: Queued[] = [];
  private queuedBytes = 0;

  constructor(
    private readonly options: OfflineQueueLimits,
    private readonly host: OfflineQueueHost,
  ) {}

  get length(): number {
    return this.queue.length;
  }

  add(channel: string, message: Buffer): Promise<void> {
    const maxN = this.options.maxQueuedMessages ?? 10_000;
    const maxB = this.options.maxQueuedBytes ?? 16 * 1024 * 1024;
    if (this.queue.length >= maxN || this.queuedBytes + message.length > maxB) {
      this.host.dropped();
      const limit = this.queue.length >= maxN ? 'maxQueuedMessages' : 'maxQueuedBytes';
      return Promise.reject(
        new SessionError(
          'ERR_BUS_FULL',
          `Redis is unreachable and the offline queue is full (${limit}); the message was dropped`,
          'local',
          { limit, cause: this.host.lastError() },
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const item: Queued = {
        channel,
        message,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.queue.indexOf(item);
          if (i < 0) return;
          this.queue.splice(i, 1);
          this.queuedBytes -= message.length;
          this.host.dropped();
          const cause = this.host.lastError() || 'not connected';
          reject(
            new SessionError(
              'ERR_BUS_UNAVAILABLE',
              `Redis stayed unreachable for ${this.options.offlineTimeoutMs ?? 5000} ms (offlineTimeoutMs); the message was dropped: ${cause}`,
              'local',
              { cause },
            ),
          );
        }, this.options.offlineTimeoutMs ?? 5000),
      };
      this.queue.push(item);
      this.queuedBytes += message.length;
      if (this.host.ready()) this.flush();
    });
  }

  /** Sends the offline queue in order (one connection keeps the order). */
  flush(): void {
    while (this.queue.length > 0 && this.host.ready()) {
      const q = this.queue.shift() as Queued;
      this.queuedBytes -= q.message.length;
      clearTimeout(q.timer);
      this.host.send(q.channel, q.message).then(q.resolve, q.reject);
    }
  }

  /** Fails every waiting message with `error` (the bus closed). */
  clear(error: () => Error): void {
    for (const q of this.queue.splice(0)) {
      clearTimeout(q.timer);
      q.reject(error());
    }
    this.queuedBytes = 0;
  }
}
