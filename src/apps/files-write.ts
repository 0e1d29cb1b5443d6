// The receiver's disk side of a streamed transfer (./files-stream.ts): the bytes written behind
// the session's reader, and the SHA-256 read back behind the writer.

import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';
import type {} from '../driver/errors.js';

/** Bytes a FileWriter holds queued (not yet handed to the kernel) before write() asks to wait. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** Bytes the trailing hash reads at a time. */
const HASH_READ_BYTES = 1024 * 1024;
/** Bytes one writev takes at most. */
const MAX_BATCH_BYTES = 2 * 1024 * 1024;

function stopped(): SessionError {
  return new SessionError('ERR_CANCELLED', 'the transfer was abandoned', 'local', {});
}
/**
 * Writes appended bytes to a file behind the reader: one writev at a time with everything that
 * queued meanwhile, so the session is read while the disk works. `written` is where the
 * completed writes end; `settled(n)` waits until the first n bytes were handed to the file.
 */
export class FileWriter {
  /** End of the completed writes. */
  written: number;
  /** End of everything queued. */
  end: number;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private writing = false;
  private failure: Error | undefined;
  private waits: { until: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private room: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(
    private readonly fd: FileHandle,
    start: number,
    /** Told where the completed writes end, after each write (the trailing hash follows). */
    private readonly onWritten?: (written: number) => void,
  ) {
    this.written = this.end = start;
  }

  /** Queues `bytes` at the end. Returns a promise when the queue is full: await it before the next. */
  write(bytes: Uint8Array): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (bytes.length === 0) return undefined;
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.end += bytes.length;
    if (!this.writing) void this.pump();
    if (this.queued < MAX_QUEUED_BYTES) return undefined;
    return new Promise((resolve, reject) => {
      this.room = { resolve, reject };
    });
  }

  /** Resolves once the first `until` bytes are written (rejects if a write failed or it was abandoned). */
  settled(until: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.written >= until) return Promise.resolve();
    return new Promise((resolve, reject) => this.waits.push({ until, resolve, reject }));
  }

  /** Starts over at `start` (the file was cut back there); call once everything queued is written. */
  reset(start: number): void {
    if (this.written !== this.end) throw new Error('FileWriter.reset with writes outstanding');
    this.written = this.end = start;
  }

  /** Drops what is queued and fails every wait; a write in the kernel finishes by itself. */
  abandon(): void {
    this.fail(stopped());
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.queue = [];
    this.queued = 0;
    for (const w of this.waits.splice(0)) w.reject(this.failure);
    const room = this.room;
    this.room = undefined;
    room?.reject(this.failure);
  }

  private async pump(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0 && !this.failure) {
        let n = 0;
        let bytes = 0;
        while (n < this.queue.length && n < 1024 && (n === 0 || bytes < MAX_BATCH_BYTES))
          bytes += (this.queue[n++] as Uint8Array).length;
        const batch = this.queue.splice(0, n);
        this.queued -= bytes;
        if (this.room && this.queued < MAX_QUEUED_BYTES) {
          const room = this.room;
          this.room = undefined;
          room.resolve();
        }
        const at = this.written;
        let done = 0;
        // writev may write less than asked (a signal, a full disk): go on from where it stopped.
        while (done < bytes) {
          const { bytesWritten } = await this.fd.writev(done === 0 ? batch : rest(batch, done), at + done);
          if (bytesWritten <= 0) throw new Error(`writing at ${at + done} wrote nothing`);
          done += bytesWritten;
        }
        if (this.failure) return;
        this.written = at + bytes;
        this.onWritten?.(this.written);
        if (this.waits.length > 0)
          this.waits = this.waits.filter((w) => (w.until <= this.written ? (w.resolve(), false) : true));
      }
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.writing = false;
    }
  }
}
/**
 * SHA-256 of a file as it is being written, read back from the file (so it is the file on disk
 * that is checked, as hashFile does) a little behind the writer, while the transfer goes on:
 * at the end only the tail is left to hash. `upTo(n)` says the first n bytes are written.
 */
export class TrailingHash {
  private hash: Hash = createHash('sha256');
  private hashed = 0;
  private limit = 0;
  private running: Promise<void> | undefined;
  private failure: Error | undefined;
  private stopped = false;
  private buffer: Buffer | undefined;

  constructor(private readonly fd: FileHandle) {}

  upTo(limit: number): void {
    if (limit > this.limit) this.limit = limit;
    if (!this.running && !this.stopped && !this.failure && this.hashed < this.limit) {
      this.running = this.pump().finally(() => {
        this.running = undefined;
      });
    }
  }

  /** The file was cut back to `length`: what was hashed past it no longer counts. */
  async truncated(length: number): Promise<void> {
    this.stopped = true;
    await this.running;
    this.stopped = false;
    if (this.hashed > length) {
      this.hash = createHash('sha256');
      this.hashed = 0;
    }
    this.limit = 0;
    this.upTo(length);
  }

  /** The hex digest of the first `size` bytes (all of them written). */
  async digest(size: number): Promise<string> {
    this.upTo(size);
    while (this.running) await this.running;
    if (this.failure) throw this.failure;
    if (this.hashed !== size) throw new Error(`hashed ${this.hashed} bytes of ${size}`);
    return this.hash.digest('hex');
  }

  /** Stops reading (the transfer is abandoned). */
  stop(): void {
    this.stopped = true;
  }

  private async pump(): Promise<void> {
    try {
      while (this.hashed < this.limit && !this.stopped) {
        const n = Math.min(HASH_READ_BYTES, this.limit - this.hashed);
        this.buffer ??= Buffer.allocUnsafe(HASH_READ_BYTES);
        const { bytesRead } = await this.fd.read(this.buffer, 0, n, this.hashed);
        if (this.stopped) return;
        if (bytesRead <= 0) throw new Error(`the file ends at ${this.hashed} bytes; ${this.limit} were written`);
        this.hash.update(this.buffer.subarray(0, bytesRead));
        this.hashed += bytesRead;
      }
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
    }
  }
}

/** The buffers of `batch` after its first `skip` bytes. */
export function rest(batch: Uint8Array[], skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of batch) {
    if (skip >= b.length) skip -= b.length;
    else {
      out.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return out;
}
