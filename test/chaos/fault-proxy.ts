// A fault-injecting TCP proxy for chaos tests (a test helper, never shipped).
//
// Theory of operation
//   Every accepted client connection gets its own connection to the target; the pair is piped
//   both ways through a scheduler that
//     (a) splits every chunk it reads into random pieces of 1..maxChunk bytes, each written
//         with its own write() (so a cut can fall on any byte, and a reader sees odd boundaries),
//     (b) holds each piece back 0..maxDelayMs, keeping order per direction
//         (due = max(previous due, arrival + random delay)),
//     (c) cuts the pair at a random time drawn from cutEveryMs after it opened: both sockets are
//         destroyed at once and whatever the scheduler still holds is dropped, so the cut may
//         fall in the middle of a frame.
//   Randomness comes from a seeded PRNG (mulberry32). Each connection and each direction draws
//   from its own stream derived from (seed, connection number), so one direction's timing never
//   shifts another's draws; a failing run is replayed by its seed (timing aside).
//
// Backpressure
//   A direction pauses its source socket while the destination's write() returned false (until
//   'drain') or while it holds more than maxQueuedBytes not yet written; memory per direction is
//   bounded by maxQueuedBytes plus one read.
//
// A clean end (FIN) is forwarded after the pieces before it were written; when one socket of a
// pair goes away abruptly (reset, destroy), the other is ended after its pending pieces.

import net from 'node:net';
import { Worker } from 'node:worker_threads';

/** mulberry32: a tiny, fast, seedable PRNG with a 2^32 period. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes numbers into one 32-bit seed (for derived streams: seed, connection, direction). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** An integer in [min, max] (both inclusive). */
export function randInt(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/** A seed for this run: COLLOQUY_CHAOS_SEED if set, else a fresh one (print it!). */
export function chaosSeed(): number {
  const fromEnv = process.env.COLLOQUY_CHAOS_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
      throw new Error(`COLLOQUY_CHAOS_SEED must be an integer in 0..2^32-1, got '${fromEnv}'`);
    return n;
  }
  return (Math.random() * 0x100000000) >>> 0;
}

export interface FaultProxyOptions {
  target: { host: string; port: number };
  seed: number;
  /** Each connection pair is cut at a random time in [min, max] ms after it opened. */
  cutEveryMs: [number, number];
  /** Largest piece written at once. Default 7 (tiny: every frame is torn apart). */
  maxChunk?: number;
  /** Largest hold-back per piece. Default 0 (no delay). */
  maxDelayMs?: number;
  /** Bytes a direction may hold before it pauses its source. Default 256 KiB. */
  maxQueuedBytes?: number;
  /** Disable Nagle on both sockets so pieces leave as written. Default true. */
  noDelay?: boolean;
  /** Sees every piece as it is written ('up': client to target). For tests of the proxy itself. */
  onPiece?: (direction: 'up' | 'down', bytes: number) => void;
  /** Where the counters live (the worker variant passes one backed by shared memory). */
  stats?: FaultProxyStats;
}

export interface FaultProxyStats {
  /** Client connections accepted. */
  connections: number;
  /** Pairs cut by the schedule. */
  cuts: number;
  /** Bytes forwarded (handed to a destination socket), both directions. */
  bytes: number;
  /** Pieces written (one write() each), both directions. */
  chunks: number;
  /** Bytes dropped by cuts (held by the scheduler when the pair was cut). */
  dropped: number;
  /** Largest number of bytes one direction held at once. */
  maxQueued: number;
}

export interface FaultProxy {
  port: number;
  seed: number;
  stats: FaultProxyStats;
  /** Cuts every open pair now (counted as cuts). */
  cutAll(): void;
  /** Stops accepting and destroys every open pair (not counted as cuts). */
  close(): Promise<void>;
}

interface Piece {
  bytes: Buffer;
  due: number;
}

const now = (): number => performance.now();

class Direction {
  private queue: Piece[] = [];
  private head = 0;
  private queued = 0;
  private lastDue = 0;
  private blocked = false;
  private paused = false;
  private srcEnded = false;
  private ended = false;
  private dead = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly rand: () => number,
    private readonly maxChunk: number,
    private readonly maxDelayMs: number,
    private readonly maxQueuedBytes: number,
    private readonly stats: FaultProxyStats,
    private readonly onPiece: ((bytes: number) => void) | undefined,
  ) {
    src.on('data', (data: Buffer) => this.onData(data));
    src.on('end', () => this.onSourceGone());
    dst.on('drain', () => {
      this.blocked = false;
      this.pump();
    });
  }

  /** The source is gone (FIN, or it closed abruptly): end the destination after what is held. */
  onSourceGone(): void {
    if (this.srcEnded) return;
    this.srcEnded = true;
    this.pump();
  }

  /** The destination is gone: nothing more can be written, so drop what is held. */
  onDestinationGone(): void {
    this.kill();
  }

  /** Drops everything held; the pair is being cut or closed. Returns the bytes dropped. */
  kill(): number {
    if (this.dead) return 0;
    this.dead = true;
    const dropped = this.queued;
    this.queue = [];
    this.head = 0;
    this.queued = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return dropped;
  }

  private onData(data: Buffer): void {
    if (this.dead) return;
    const arrival = now();
    for (let off = 0; off < data.length;) {
      const n = Math.min(data.length - off, randInt(this.rand, 1, this.maxChunk));
      const delay = this.maxDelayMs > 0 ? this.rand() * this.maxDelayMs : 0;
      const due = Math.max(this.lastDue, arrival + delay);
      this.lastDue = due;
      this.queue.push({ bytes: data.subarray(off, off + n), due });
      off += n;
    }
    this.queued += data.length;
    if (this.queued > this.stats.maxQueued) this.stats.maxQueued = this.queued;
    this.pump();
  }

  private pump(): void {
    if (this.dead) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const t = now();
    while (this.head < this.queue.length && !this.blocked) {
      const p = this.queue[this.head] as Piece;
      if (p.due > t) break;
      this.queue[this.head++] = undefined as unknown as Piece;
      this.queued -= p.bytes.length;
      this.stats.bytes += p.bytes.length;
      this.stats.chunks++;
      this.onPiece?.(p.bytes.length);
      if (!this.dst.write(p.bytes)) this.blocked = true;
      if (this.dead) return; // a synchronous error tore the pair down
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.head < this.queue.length && !this.blocked) {
      const wait = Math.max(0, Math.ceil((this.queue[this.head] as Piece).due - t));
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
    }
    this.flow();
    if (this.srcEnded && this.head === this.queue.length && !this.ended) {
      this.ended = true;
      // Once the source is gone for good, the destination has nothing more to read either.
      this.dst.end(() => {
        if (this.src.destroyed) this.dst.destroy();
      });
    }
  }

  private flow(): void {
    const hold = this.blocked || this.queued > this.maxQueuedBytes;
    if (hold && !this.paused) {
      this.paused = true;
      this.src.pause();
    } else if (!hold && this.paused) {
      this.paused = false;
      this.src.resume();
    }
  }
}

export function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const [cutMin, cutMax] = options.cutEveryMs;
  const maxChunk = Math.max(1, Math.floor(options.maxChunk ?? 7));
  const maxDelayMs = Math.max(0, options.maxDelayMs ?? 0);
  const maxQueuedBytes = options.maxQueuedBytes ?? 256 * 1024;
  const noDelay = options.noDelay ?? true;
  const onPiece = options.onPiece;
  if (!(cutMin >= 0 && cutMax >= cutMin))
    throw new Error(
      `cutEveryMs must be [min, max] with 0 <= min <= max, got [${cutMin}, ${cutMax}] (seed ${options.seed})`,
    );
  const stats: FaultProxyStats = options.stats ?? {
    connections: 0,
    cuts: 0,
    bytes: 0,
    chunks: 0,
    dropped: 0,
    maxQueued: 0,
  };
  const pairs = new Set<(counted: boolean) => void>();

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const n = ++stats.connections;
    const pairRand = mulberry32(mixSeed(options.seed, n, 0));
    const target = net.connect({ host: options.target.host, port: options.target.port, allowHalfOpen: true });
    client.setNoDelay(noDelay);
    target.setNoDelay(noDelay);
    const up = new Direction(
      client,
      target,
      mulberry32(mixSeed(options.seed, n, 1)),
      maxChunk,
      maxDelayMs,
      maxQueuedBytes,
      stats,
      onPiece && ((b) => onPiece('up', b)),
    );
    const down = new Direction(
      target,
      client,
      mulberry32(mixSeed(options.seed, n, 2)),
      maxChunk,
      maxDelayMs,
      maxQueuedBytes,
      stats,
      onPiece && ((b) => onPiece('down', b)),
    );
    let cutTimer: ReturnType<typeof setTimeout> | null = null;
    let done = false;

    const teardown = (counted: boolean): void => {
      if (done) return;
      done = true;
      pairs.delete(teardown);
      if (cutTimer) clearTimeout(cutTimer);
      cutTimer = null;
      const dropped = up.kill() + down.kill();
      if (counted) {
        stats.cuts++;
        stats.dropped += dropped;
      }
      client.destroy();
      target.destroy();
    };
    pairs.add(teardown);

    const settleIfGone = (): void => {
      if (client.destroyed && target.destroyed) teardown(false);
    };
    // An abrupt close of one side: the other gets what is already held, then an end.
    client.on('close', () => {
      down.onDestinationGone();
      up.onSourceGone();
      settleIfGone();
    });
    target.on('close', () => {
      up.onDestinationGone();
      down.onSourceGone();
      settleIfGone();
    });
    // Errors (ECONNRESET, ECONNREFUSED...) are part of the game; 'close' follows each.
    client.on('error', () => {});
    target.on('error', () => {});

    const delay = randInt(pairRand, Math.floor(cutMin), Math.floor(cutMax));
    cutTimer = setTimeout(() => {
      cutTimer = null;
      teardown(true);
    }, delay);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      server.on('error', () => {});
      const { port } = server.address() as net.AddressInfo;
      resolve({
        port,
        seed: options.seed,
        stats,
        cutAll: () => {
          for (const t of [...pairs]) t(true);
        },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const t of [...pairs]) t(false);
          }),
      });
    });
  });
}

// ---- the same proxy on its own thread ------------------------------------------------------
//
// A chaos run pushes gigabytes through the proxy; in-process, the proxy competes with both
// session ends for one JavaScript thread. startFaultProxyWorker runs it in a worker thread
// (fault-proxy-worker.ts, loaded through tsx) with its counters in shared memory, so `stats`
// reads live values. `onPiece` cannot cross threads and is not supported there.

const STAT_KEYS = ['connections', 'cuts', 'bytes', 'chunks', 'dropped', 'maxQueued'] as const;

/** Counters over a shared Float64Array: one thread writes, others read. */
export function sharedStats(buffer: SharedArrayBuffer): FaultProxyStats {
  const a = new Float64Array(buffer);
  const stats = {} as FaultProxyStats;
  STAT_KEYS.forEach((key, i) => {
    Object.defineProperty(stats, key, {
      enumerable: true,
      get: () => a[i] as number,
      set: (v: number) => {
        a[i] = v;
      },
    });
  });
  return stats;
}

export const STATS_BYTES = STAT_KEYS.length * Float64Array.BYTES_PER_ELEMENT;

type WorkerReply = { type: 'listening'; port: number } | { type: 'closed' } | { type: 'error'; message: string };

export async function startFaultProxyWorker(
  options: Omit<FaultProxyOptions, 'onPiece' | 'stats'>,
): Promise<FaultProxy> {
  const buffer = new SharedArrayBuffer(STATS_BYTES);
  const entry = new URL('./fault-proxy-worker.ts', import.meta.url).href;
  // Plain Node cannot load TypeScript: register tsx in the worker, then import the entry.
  const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`;
  const worker = new Worker(boot, { eval: true, workerData: { options, buffer } });
  let failed: Error | undefined;
  const replies: ((r: WorkerReply) => void)[] = [];
  worker.on('message', (r: WorkerReply) => {
    if (r.type === 'error') failed ??= new Error(`fault proxy worker (seed ${options.seed}): ${r.message}`);
    replies.shift()?.(r);
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (e: Error) => {
    failed ??= e;
    for (const r of replies.splice(0)) r({ type: 'error', message: e.message });
  });
  const reply = (ms: number): Promise<WorkerReply> =>
    new Promise((resolve) => {
      const t = setTimeout(() => resolve({ type: 'error', message: `no answer within ${ms} ms` }), ms);
      replies.push((r) => {
        clearTimeout(t);
        resolve(r);
      });
    });
  const first = await reply(30_000);
  if (first.type !== 'listening') {
    await worker.terminate();
    throw new Error(
      `fault proxy worker did not start (seed ${options.seed}): ${first.type === 'error' ? first.message : first.type}`,
    );
  }
  return {
    port: first.port,
    seed: options.seed,
    stats: sharedStats(buffer),
    cutAll: () => worker.postMessage({ type: 'cutAll' }),
    close: async () => {
      const done = reply(10_000);
      worker.postMessage({ type: 'close' });
      await done;
      await worker.terminate();
      await exited;
      if (failed) throw failed;
    },
  };
}
