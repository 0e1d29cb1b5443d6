// Test support for the ISO runtime: a listener and a client on loopback, event waits, and a raw
// TPKT peer (a socket that reads and writes whole TPKTs) for mock libiec61850 peers.

import net from 'node:net';
import { toHex } from '../../src/engine/bytes.js';
import type { SessionEvent } from '../../src/engine/machine/index.js';
import { connectIso, listenIso } from '../../src/iso/runtime.js';
import type { IsoConnectOptions, IsoListenOptions, IsoServer, IsoSession } from '../../src/iso/runtime.js';

export interface Pair {
  client: IsoSession;
  server: IsoSession;
  listener: IsoServer;
  close(): Promise<void>;
}

export async function listen(
  options: Omit<IsoListenOptions, 'port'> = {},
): Promise<{ listener: IsoServer; sessions: IsoSession[]; next(): Promise<IsoSession> }> {
  const sessions: IsoSession[] = [];
  const waiting: ((s: IsoSession) => void)[] = [];
  const listener = await listenIso({ ...options, host: '127.0.0.1', port: 0 }, (s) => {
    sessions.push(s);
    waiting.shift()?.(s);
  });
  let taken = 0;
  return {
    listener,
    sessions,
    next: () =>
      taken < sessions.length
        ? Promise.resolve(sessions[taken++]!)
        : new Promise((resolve) => {
            taken++;
            waiting.push(resolve);
          }),
  };
}

export async function pair(
  serverOptions: Omit<IsoListenOptions, 'port'> = {},
  clientOptions: IsoConnectOptions = {},
): Promise<Pair> {
  const l = await listen(serverOptions);
  const serverSession = l.next();
  const client = await connectIso(`iso://127.0.0.1:${l.listener.port}`, clientOptions);
  const server = await serverSession;
  return {
    client,
    server,
    listener: l.listener,
    async close() {
      client.abort('test over');
      await l.listener.close();
    },
  };
}

/** The next machine event of `type` on `session`. */
export function nextEvent<T extends SessionEvent['type']>(
  session: IsoSession,
  type: T,
): Promise<Extract<SessionEvent, { type: T }>> {
  return new Promise((resolve) => {
    const off = session.on('event', (e) => {
      if (e.type === type) {
        off();
        resolve(e as Extract<SessionEvent, { type: T }>);
      }
    });
  });
}

export function closedOf(session: IsoSession): Promise<{
  error?: Error & { code?: string; details?: Record<string, unknown>; origin?: string };
  userData?: Uint8Array;
}> {
  if (session.closed) return Promise.resolve({});
  return new Promise((resolve) => session.on('closed', (c) => resolve(c)));
}

/** A socket that speaks whole TPKTs: `next()` is the next TPKT's bytes (header included). */
export class RawPeer {
  private buf = Buffer.alloc(0);
  private readonly queue: Uint8Array[] = [];
  private readonly waiters: ((b: Uint8Array | null) => void)[] = [];
  ended = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4) {
        const n = this.buf.readUInt16BE(2);
        if (n < 4 || this.buf.length < n) break;
        this.push(new Uint8Array(this.buf.subarray(0, n)));
        this.buf = this.buf.subarray(n);
      }
    });
    socket.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
    socket.on('error', () => {
      /* reported as the close */
    });
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  private push(b: Uint8Array): void {
    const w = this.waiters.shift();
    if (w) w(b);
    else this.queue.push(b);
  }

  /** The next TPKT, or null once the peer closed. */
  next(): Promise<Uint8Array | null> {
    const b = this.queue.shift();
    if (b) return Promise.resolve(b);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  write(b: Uint8Array): void {
    this.socket.write(b);
  }
  closed(): Promise<void> {
    return this.ended ? Promise.resolve() : new Promise((resolve) => this.socket.once('close', () => resolve()));
  }
}

/** A one-connection TCP server whose peer is a RawPeer. */
export function rawServer(): Promise<{ port: number; peer: Promise<RawPeer>; close(): void }> {
  return new Promise((resolve) => {
    let got: (p: RawPeer) => void = () => {};
    const peer = new Promise<RawPeer>((r) => {
      got = r;
    });
    const server = net.createServer((s) => got(new RawPeer(s)));
    server.listen(0, '127.0.0.1', () =>
      resolve({ port: (server.address() as net.AddressInfo).port, peer, close: () => server.close() }),
    );
  });
}

/**
 * Octets as hex strings, deeply (received data are views of Node Buffers, which compare unequal
 * to plain Uint8Arrays); errors as { code, origin, message, details }.
 */
export function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Error) {
    const e = v as Error & { code?: string; origin?: string; details?: unknown };
    return { code: e.code, origin: e.origin, message: e.message, details: plain(e.details) };
  }
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}
