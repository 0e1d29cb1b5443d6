// NetbiosSession: an established NetBIOS session (after a POSITIVE SESSION RESPONSE), the same on
// the calling and the called side. Session messages out through send(), in through async
// iteration; keep-alives are skipped by the machine (RFC 1002: they are only there to be ignored).
// The protocol is in NetbiosMachine (machine.ts); the transport and the timer in ByteDriver.
//
// Rules:
//   - Iterate once. Iteration ends when the peer closes cleanly, and throws the error that ended
//     the connection otherwise. A packet other than SESSION MESSAGE or SESSION KEEP ALIVE (a
//     second SESSION REQUEST, a stray response) destroys the session with
//     ERR_NETBIOS_UNEXPECTED_PACKET, as Samba drops such a connection.
//   - send() resolves once the transport took the message without asking to wait, or after its
//     drain; it rejects ERR_PAYLOAD_TOO_LARGE past 0x1FFFF octets (split it yourself: NetBIOS
//     messages are records, not a byte stream).
//   - Receive memory is bounded: past highWaterMark octets of messages not yet iterated, the
//     transport is paused until half of them are taken.
//   - close() ends gracefully (FIN after queued octets) and settles when the connection is over.

import { SessionError } from '../engine/errors.js';
import type { ByteDriver } from '../driver/byte-driver.js';
import type { NetbiosEvent, NetbiosMachine, RetargetHop } from './machine.js';
import type { NetbiosName } from './names.js';

export type { RetargetHop } from './machine.js';

export interface NetbiosSessionInfo {
  readonly called: NetbiosName;
  readonly calling: NetbiosName;
  /** Client side: the retarget responses followed before the positive one, in order. */
  readonly retargets: readonly RetargetHop[];
  /** Queued received octets above which the transport is paused. Default 1 MiB. */
  readonly highWaterMark?: number;
}

interface Waiter {
  resolve(data: Uint8Array | undefined): void;
  reject(error: unknown): void;
}

export class NetbiosSession implements AsyncIterable<Uint8Array> {
  readonly called: NetbiosName;
  readonly calling: NetbiosName;
  readonly retargets: readonly RetargetHop[];
  readonly remoteAddress: string;
  readonly #driver: ByteDriver<NetbiosEvent>;
  readonly #machine: NetbiosMachine;
  readonly #highWaterMark: number;
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #waiter: Waiter | null = null;
  /** Set once no more messages will come: the error, or null for a clean end. */
  #end: { error: Error | null } | null = null;
  #iterating = false;

  constructor(driver: ByteDriver<NetbiosEvent>, machine: NetbiosMachine, info: NetbiosSessionInfo) {
    this.#driver = driver;
    this.#machine = machine;
    this.called = info.called;
    this.calling = info.calling;
    this.retargets = info.retargets;
    this.remoteAddress = driver.attached?.remoteAddress ?? '';
    this.#highWaterMark = info.highWaterMark ?? 1 << 20;
    driver.onEvent = (e) => this.#onEvent(e);
  }

  get closed(): boolean {
    return this.#driver.attached === null;
  }

  #onEvent(e: NetbiosEvent): void {
    if (e.type === 'message') {
      const waiter = this.#waiter;
      if (waiter !== null && this.#queue.length === 0) {
        this.#waiter = null;
        waiter.resolve(e.data);
        return;
      }
      this.#queue.push(e.data);
      this.#queuedBytes += e.data.length + 4;
      if (this.#queuedBytes > this.#highWaterMark) this.#driver.pauseReading();
      return;
    }
    if (e.type !== 'ended' || this.#end !== null) return;
    this.#end = { error: e.error ?? null };
    const waiter = this.#waiter;
    if (waiter !== null && this.#queue.length === 0) {
      this.#waiter = null;
      if (e.error === undefined) waiter.resolve(undefined);
      else waiter.reject(e.error);
    }
  }

  #read(signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const data = this.#queue.shift();
    if (data !== undefined) {
      this.#queuedBytes -= data.length + 4;
      if (this.#queuedBytes <= this.#highWaterMark / 2) this.#driver.resumeReading();
      return Promise.resolve(data);
    }
    if (this.#end !== null)
      return this.#end.error === null ? Promise.resolve(undefined) : Promise.reject(this.#end.error);
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiter = null;
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiter = {
        resolve: (d) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(d);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e as Error);
        },
      };
    });
  }

  async send(data: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted();
    const t = this.#driver.attached;
    if (t === null || t.closed)
      throw new SessionError('ERR_INVALID_STATE', 'the NetBIOS session is closed', 'local', { state: 'closed' });
    this.#driver.input(() => this.#machine.send(data));
    if (!this.#driver.writable) await this.#driver.waitDrain(options.signal);
  }

  keepAlive(): void {
    this.#driver.input(() => this.#machine.keepAlive());
  }

  async *messages(options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.#iterating)
      throw new SessionError('ERR_INVALID_STATE', 'a NetBIOS session is iterated once', 'local', {
        state: 'iterating',
      });
    this.#iterating = true;
    for (;;) {
      const data = await this.#read(options.signal);
      if (data === undefined) return;
      yield data;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    return this.messages();
  }

  close(): Promise<void> {
    const closed = this.#driver.whenClosed();
    this.#driver.close();
    return closed;
  }

  destroy(error?: Error): void {
    this.#driver.destroy(error);
  }

  /** Settles when the connection is over, whoever ended it. */
  whenClosed(): Promise<void> {
    return this.#driver.whenClosed();
  }
}
