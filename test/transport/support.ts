// Test helpers for transports: a Probe that records what a transport reports and lets a test
// wait on it (events only, no sleeps), seeded data, a backpressure-respecting pump, and a
// throwaway self-signed certificate made with openssl at test time (nothing is committed).

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { Transport } from '../../src/transport/transport.js';
import { wrapWebSocket, type WebSocketLike, type WrapWebSocketOptions } from '../../src/transport/ws.js';

export class Probe {
  readonly chunks: Uint8Array[] = [];
  bytes = 0;
  drains = 0;
  readonly closes: Array<Error | undefined> = [];
  /** Bytes received when close was reported (-1 before). */
  bytesAtClose = -1;
  readonly #waiters = new Set<() => void>();

  constructor(readonly transport: Transport) {
    transport.setHandlers({
      data: (chunk) => {
        this.chunks.push(chunk);
        this.bytes += chunk.byteLength;
        this.#wake();
      },
      drain: () => {
        this.drains += 1;
        this.#wake();
      },
      close: (error) => {
        if (this.bytesAtClose < 0) this.bytesAtClose = this.bytes;
        this.closes.push(error);
        this.#wake();
      },
    });
  }

  /** Resolves once `test()` holds; rejects if the transport closes first (unless test is about closing). */
  until(test: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (test()) {
          this.#waiters.delete(check);
          resolve();
        } else if (this.closes.length > 0) {
          this.#waiters.delete(check);
          reject(new Error(`closed (${String(this.closes[0])}) before ${what}; had ${this.bytes} bytes`));
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  waitBytes(count: number): Promise<void> {
    return this.until(() => this.bytes >= count, `${count} bytes arrived`);
  }

  nextDrain(): Promise<void> {
    const seen = this.drains;
    return this.until(() => this.drains > seen, 'drain');
  }

  async closed(): Promise<Error | undefined> {
    await this.until(() => this.closes.length > 0, 'close').catch(() => {});
    return this.closes[0];
  }

  received(): Uint8Array {
    return concat(this.chunks);
  }

  #wake(): void {
    for (const check of [...this.#waiters]) check();
  }
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** xorshift32: reproducible data and chunk sizes. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function randomBytes(length: number, seed: number): Uint8Array {
  const next = rng(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) out[i] = next() & 0xff;
  return out;
}

/** Writes `data` in chunks of `size()` bytes, waiting for drain whenever write() says so. */
export async function pump(probe: Probe, data: Uint8Array, size: () => number): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    const end = Math.min(data.byteLength, offset + Math.max(1, size()));
    const ok = probe.transport.write(data.subarray(offset, end));
    offset = end;
    if (!ok) await probe.nextDrain();
  }
}

/** One byte from `from` to `to` and back to the test: a causal barrier on the reverse path. */
export async function roundTrip(from: Transport, to: Probe): Promise<void> {
  from.write(new Uint8Array([0x2a]));
  await to.waitBytes(to.bytes + 1);
}

/** A macrotask turn (not a timed sleep), for checks that something did NOT happen. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

let cert: { cert: Buffer; key: Buffer } | undefined;

/** A P-256 self-signed certificate for localhost / 127.0.0.1, made once per test file. */
export function testCertificate(): { cert: Buffer; key: Buffer } {
  if (cert) return cert;
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-tls-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'pipe' },
    );
    cert = { cert: readFileSync(certPath), key: readFileSync(keyPath) };
    return cert;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A `ws` socket seen only through the WHATWG surface (no pause, no send callback, no
 * terminate): how wrapWebSocket sees a browser's native WebSocket.
 */
export function whatwgView(socket: WebSocket): WebSocketLike {
  return {
    get binaryType() {
      return socket.binaryType;
    },
    set binaryType(value: string) {
      socket.binaryType = value as WebSocket['binaryType'];
    },
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    get readyState() {
      return socket.readyState;
    },
    get url() {
      return socket.url;
    },
    send: (data) => socket.send(data),
    close: (code, reason) => socket.close(code, reason),
    addEventListener: (type, listener) => socket.addEventListener(type, listener as never),
  };
}

/** Opens a `ws` client and wraps its WHATWG view inside 'open' (as a browser app would). */
export function connectWhatwg(url: string, options: WrapWebSocketOptions = {}): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.once('open', () => resolve(wrapWebSocket(whatwgView(socket), options)));
    socket.once('error', reject);
  });
}
