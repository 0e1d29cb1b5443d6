// PacketConnection: one transport plus one NetbiosDecoder, read as a queue of packets. The only
// place where NetBIOS meets a socket; the client, the server and NetbiosSession sit on top.
//
//   transport --data--> decoder --packets--> queue --read()--> caller
//                                              |
//                          queued octets > highWaterMark: transport.pause() until read() drains it
//
// Rules:
//   - read() resolves the next packet, undefined after a clean end, and rejects with the error
//     that ended the stream (a NetbiosProtocolError from the decoder, or the transport's error)
//     once the packets before it were read. One read() at a time.
//   - A decode failure stops reading but leaves the transport open: the owner may still answer
//     (the server sends a NEGATIVE SESSION RESPONSE to a malformed request) before closing.
//   - Receive memory is bounded: highWaterMark of queued packets, plus one packet in the decoder.

import type { Transport } from '../transport/transport.js';
import { encodePacket } from './codec.js';
import { NetbiosDecoder } from './decoder.js';
import type { NetbiosPacket } from './packets.js';

export interface PacketConnectionOptions {
  /** Largest SESSION MESSAGE accepted (octets, 0..0x1FFFF). Default 0x1FFFF. */
  maxMessageSize?: number;
  /** Queued received octets above which the transport is paused. Default 1 MiB. */
  highWaterMark?: number;
}

interface Waiter {
  resolve(packet: NetbiosPacket | undefined): void;
  reject(error: unknown): void;
}

function packetBytes(packet: NetbiosPacket): number {
  return packet.type === 'SESSION_MESSAGE' ? packet.data.length + 4 : 4;
}

export class PacketConnection {
  readonly transport: Transport;
  readonly remoteAddress: string;
  readonly #decoder: NetbiosDecoder;
  readonly #highWaterMark: number;
  readonly #queue: NetbiosPacket[] = [];
  #queuedBytes = 0;
  #paused = false;
  #waiter: Waiter | null = null;
  /** Set once no more packets will be queued: the error, or null for a clean end. */
  #end: { error: Error | null } | null = null;
  #closed = false;
  readonly #closeWaiters: Array<() => void> = [];
  readonly #drainWaiters: Array<() => void> = [];

  constructor(transport: Transport, options: PacketConnectionOptions = {}) {
    this.transport = transport;
    this.remoteAddress = transport.remoteAddress;
    this.#decoder = new NetbiosDecoder({ maxMessageSize: options.maxMessageSize });
    this.#highWaterMark = options.highWaterMark ?? 1 << 20;
    transport.setHandlers({
      data: (chunk) => this.#onData(chunk),
      drain: () => this.#wakeDrain(),
      close: (error) => this.#onClose(error),
    });
  }

  /** True once the transport reported its close. */
  get closed(): boolean {
    return this.#closed;
  }

  #onData(chunk: Uint8Array): void {
    if (this.#end !== null) return;
    this.#decoder.push(chunk);
    try {
      for (let p = this.#decoder.next(); p !== undefined; p = this.#decoder.next()) this.#enqueue(p);
    } catch (error) {
      this.#finish(error as Error);
      // Nothing more will be decoded; close() resumes the transport so that its end is read.
      this.#paused = true;
      this.transport.pause();
    }
  }

  #enqueue(packet: NetbiosPacket): void {
    const waiter = this.#waiter;
    if (waiter !== null && this.#queue.length === 0) {
      this.#waiter = null;
      waiter.resolve(packet);
      return;
    }
    this.#queue.push(packet);
    this.#queuedBytes += packetBytes(packet);
    if (!this.#paused && this.#queuedBytes > this.#highWaterMark) {
      this.#paused = true;
      this.transport.pause();
    }
  }

  #finish(error: Error | null): void {
    if (this.#end !== null) return;
    this.#end = { error };
    const waiter = this.#waiter;
    if (waiter !== null && this.#queue.length === 0) {
      this.#waiter = null;
      if (error === null) waiter.resolve(undefined);
      else waiter.reject(error);
    }
  }

  #onClose(error: Error | undefined): void {
    this.#closed = true;
    this.#finish(error ?? null);
    this.#wakeDrain();
    for (const wake of this.#closeWaiters.splice(0)) wake();
  }

  #wakeDrain(): void {
    for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  /** The next packet; undefined after a clean end. Rejects with the stream's error or signal.reason. */
  read(signal?: AbortSignal): Promise<NetbiosPacket | undefined> {
    const packet = this.#queue.shift();
    if (packet !== undefined) {
      this.#queuedBytes -= packetBytes(packet);
      if (this.#paused && this.#queuedBytes <= this.#highWaterMark / 2) {
        this.#paused = false;
        this.transport.resume();
      }
      return Promise.resolve(packet);
    }
    if (this.#end !== null)
      return this.#end.error === null ? Promise.resolve(undefined) : Promise.reject(this.#end.error);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiter = null;
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiter = {
        resolve: (p) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(p);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
    });
  }

  /** Queues the packet; false asks the writer to wait for waitDrain(). Throws on a bad packet. */
  write(packet: NetbiosPacket): boolean {
    return this.transport.write(encodePacket(packet));
  }

  /** Settles once the transport accepts writes again (or is closed). */
  waitDrain(signal?: AbortSignal): Promise<void> {
    if (this.#closed || this.transport.closed) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#drainWaiters.indexOf(wake);
        if (i >= 0) this.#drainWaiters.splice(i, 1);
        reject(signal?.reason);
      };
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#drainWaiters.push(wake);
    });
  }

  /** Settles when the transport reported its close. */
  whenClosed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#closeWaiters.push(resolve));
  }

  /** Graceful: queued octets go out, then FIN; settles once the transport closed. */
  close(): Promise<void> {
    // A paused transport may not finish closing; reading is over anyway.
    if (this.#paused) this.transport.resume();
    this.transport.close();
    return this.whenClosed();
  }

  destroy(error?: Error): void {
    this.transport.destroy(error);
  }
}
