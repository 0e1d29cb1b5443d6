// Memory: a real transport between two ends in one process, with the properties of a network
// that matter to a session layer: latency, a bounded window, backpressure, FIN and RST.
//
// Each direction is a FIFO of entries (data, end, reset), each delivered latencyMs after it was
// written (0: next macrotask, via setImmediate), in order. The writer's window counts bytes
// written and not yet consumed by the reader's data handler: queued, in transit, or held by a
// paused reader. write() returns false once the window exceeds capacityBytes, and drain fires
// when consumption brings it back to capacityBytes or less. So a paused reader stalls its
// writer, as a full TCP window would.
//
//   close():   an `end` entry follows the queued data; the reader delivers what it holds,
//              answers with its own `end` (no half-open state) and reports a clean close.
//   destroy(): the writer's undelivered entries are dropped and a `reset` is sent; the peer
//              reports ERR_TRANSPORT_RESET and drops whatever it held.
//
// listenMemory / connectMemory give names in one process-wide registry, like ports:
// `memory://name`.

import { TransportBase, type TransportListener } from './base.js';
import { TransportError } from './errors.js';
import type { Transport } from './transport.js';

export interface MemoryOptions {
  /** Delay before written bytes reach the peer. Default 0 (next macrotask). */
  latencyMs?: number;
  /** Window per direction: write() returns false past it. Default 1 MiB. */
  capacityBytes?: number;
}

type Entry = { type: 'data'; bytes: Uint8Array } | { type: 'end' } | { type: 'reset' };

const nextMacrotask: (run: () => void) => void =
  typeof setImmediate === 'function' ? (run) => setImmediate(run) : (run) => setTimeout(run, 0);

class MemoryTransport extends TransportBase {
  readonly kind = 'memory' as const;
  readonly remoteAddress: string;
  peer!: MemoryTransport;
  readonly #latencyMs: number;
  readonly #capacity: number;
  readonly #queue: Entry[] = [];
  #window = 0;
  #needDrain = false;

  constructor(remoteAddress: string, options: MemoryOptions) {
    super();
    this.remoteAddress = remoteAddress;
    this.#latencyMs = options.latencyMs ?? 0;
    this.#capacity = options.capacityBytes ?? 1024 * 1024;
  }

  protected writeBytes(bytes: Uint8Array): boolean {
    this.#window += bytes.byteLength;
    this.#send({ type: 'data', bytes });
    if (this.#window <= this.#capacity) return true;
    this.#needDrain = true;
    return false;
  }

  protected closeGracefully(): void {
    this.#send({ type: 'end' });
  }

  protected destroyNow(): void {
    this.#queue.length = 0;
    this.#send({ type: 'reset' });
  }

  // The base holds data while paused; holding it is what stalls the writer's window.
  protected setFlowing(): void {}

  protected override consumed(bytes: number): void {
    this.peer.#credit(bytes);
  }

  #credit(bytes: number): void {
    this.#window -= bytes;
    if (this.#needDrain && this.#window <= this.#capacity) {
      this.#needDrain = false;
      this.emitDrain();
    }
  }

  #send(entry: Entry): void {
    this.#queue.push(entry);
    // One timer per entry, each delivering the queue's head: order holds even when the
    // queue was cut short by destroy() and an older timer delivers the reset.
    if (this.#latencyMs > 0) setTimeout(() => this.#deliverOne(), this.#latencyMs);
    else nextMacrotask(() => this.#deliverOne());
  }

  #deliverOne(): void {
    const entry = this.#queue.shift();
    if (!entry) return;
    const peer = this.peer;
    if (entry.type === 'data') {
      peer.receive(entry.bytes);
    } else if (entry.type === 'end') {
      if (!peer.closed) peer.close();
      peer.finished();
    } else {
      peer.finished(
        new TransportError(
          'ERR_TRANSPORT_RESET',
          `the peer destroyed the connection (${peer.remoteAddress})`,
          'remote',
        ),
      );
    }
  }
}

let connections = 0;

function pair(options: MemoryOptions, clientAddress: string, serverAddress: string): [Transport, Transport] {
  const a = new MemoryTransport(clientAddress, options);
  const b = new MemoryTransport(serverAddress, options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** Two connected ends. Both name the pair as their remote address: "memory:3". */
export function memoryPair(options: MemoryOptions = {}): [Transport, Transport] {
  const address = `memory:${++connections}`;
  return pair(options, address, address);
}

const listeners = new Map<string, (transport: Transport) => void>();

function nameOf(address: string): string {
  return address.startsWith('memory://') ? address.slice('memory://'.length) : address;
}

/** Registers `name` (or "memory://name") at once; throws ERR_TRANSPORT_ADDRESS_IN_USE if taken. */
export function listenMemory(name: string, onTransport: (transport: Transport) => void): TransportListener {
  const key = nameOf(name);
  const address = `memory://${key}`;
  if (listeners.has(key))
    throw new TransportError('ERR_TRANSPORT_ADDRESS_IN_USE', `${address} is already listened on`, 'local', { address });
  listeners.set(key, onTransport);
  return {
    address,
    close: () => {
      if (listeners.get(key) === onTransport) listeners.delete(key);
      return Promise.resolve();
    },
  };
}

export interface ConnectMemoryOptions extends MemoryOptions {
  signal?: AbortSignal;
}

/** Connects to a listener by name ("chat" or "memory://chat"). The server end is handed over first. */
export function connectMemory(name: string, options: ConnectMemoryOptions = {}): Promise<Transport> {
  return new Promise((resolve, reject) => {
    options.signal?.throwIfAborted();
    const key = nameOf(name);
    const onTransport = listeners.get(key);
    if (!onTransport) {
      reject(
        new TransportError('ERR_TRANSPORT_REFUSED', `nothing listens on memory://${key}`, 'remote', {
          address: `memory://${key}`,
        }),
      );
      return;
    }
    const [client, server] = pair(options, `memory://${key}`, `memory:${++connections}`);
    onTransport(server);
    resolve(client);
  });
}
