// Streaming a file through a session with the pipe kept full (issue 14), both directions:
//
//   sender                                          receiver
//   read ahead (one readv per MiB of chunks)         write behind (one writev per run of chunks,
//   chunk chunk ... MINOR_SYNC{offset} confirm ---> one at a time, bounded), then per point in
//   chunk chunk ... MINOR_SYNC{offset} confirm --->   order: its bytes written, fdatasync, the
//   ... at most `window` points unconfirmed            checkpoint or record saved, confirmed
//   chunk ... MAJOR_SYNC{size} (the end)   ------->  the same, answered by the major handler
//
// The guarantee stays that of a major sync point: a point is confirmed only once the bytes
// before it are on disk at the receiver and its checkpoint (get) or upload record (put) says so.
// What changes is that the sender does not stop at each point: it has up to `window` of them
// unconfirmed, so the fdatasync, the checkpoint write and the round trip of a point overlap with
// the bytes after it. A major sync point (no new data until confirmed) is used only where the
// protocol needs one: at the end of the file. Confirming a point confirms every one before it,
// so a receiver that falls behind confirms the latest point it made durable, once.
//
// Stopping: `abandon()` drops what is queued and fails the waits at once; a write or fdatasync
// already in the kernel finishes on its own (it cannot be recalled), nothing new is started.
import type { FileHandle } from 'node:fs/promises';
import type { Session } from '../driver/session.js';
import { KIND_CHUNK } from './files-wire.js';
import { rest } from './files-write.js';
import type {} from './errors.js';

export { DEFAULT_SYNC_WINDOW, DurablePoints, SyncWindow } from './files-points.js';
export type { DurablePointsOptions } from './files-points.js';
export { FileWriter, TrailingHash } from './files-write.js';

/** Bytes one readv fills at most (at least one chunk). */
const READ_BATCH_BYTES = 1024 * 1024;
/** Bytes of file per chunk message by default: a whole frame at the default frame size. */
export const DEFAULT_CHUNK_BYTES = 256 * 1024;

/**
 * Bytes of file per chunk message: as asked, but at most what one frame of this session carries
 * (its negotiated maxFrameSize less the kind byte). Fewer, larger messages cost less per byte.
 */
export function chunkBytesFor(session: Session, wanted: number): number {
  const frame = session.negotiated?.maxFrameSize ?? 64 * 1024;
  return Math.max(1, Math.min(wanted, frame - 1));
}

/**
 * Reads a file ahead in batches: one readv fills up to READ_BATCH_CHUNKS chunk messages of one
 * buffer, each with its kind byte in front, so nothing is copied between the disk and the session.
 */
export class ChunkReader {
  private batch: Uint8Array[] = [];
  private next: Promise<Uint8Array[]> | undefined;
  private nextAt = 0;

  constructor(
    private readonly fd: FileHandle,
    private readonly chunkBytes: number,
    private readonly size: number,
    private pos: number,
    private readonly shrank: () => Error,
  ) {
    this.nextAt = pos;
  }

  /** The next chunk message (kind byte + up to chunkBytes of the file), or undefined at the end. */
  async chunk(): Promise<Uint8Array | undefined> {
    if (this.batch.length === 0) {
      if (this.pos >= this.size) return undefined;
      this.batch = await (this.next ?? this.read());
      this.next = undefined;
      // Read the batch after this one while this one is sent.
      if (this.nextAt < this.size) {
        this.next = this.read();
        this.next.catch(() => {});
      }
    }
    const c = this.batch.shift() as Uint8Array;
    this.pos += c.length - 1;
    return c;
  }

  private async read(): Promise<Uint8Array[]> {
    const at = this.nextAt;
    const lengths: number[] = [];
    let total = 0;
    for (
      let p = at;
      p < this.size && (total === 0 || total + this.chunkBytes <= READ_BATCH_BYTES);
      p += this.chunkBytes
    ) {
      const n = Math.min(this.chunkBytes, this.size - p);
      lengths.push(n);
      total += n;
    }
    this.nextAt = at + total;
    const buf = Buffer.allocUnsafe(total + lengths.length);
    const messages: Uint8Array[] = [];
    const targets: Uint8Array[] = [];
    let o = 0;
    for (const n of lengths) {
      buf[o] = KIND_CHUNK;
      messages.push(buf.subarray(o, o + n + 1));
      targets.push(buf.subarray(o + 1, o + n + 1));
      o += n + 1;
    }
    let done = 0;
    while (done < total) {
      const { bytesRead } = await this.fd.readv(done === 0 ? targets : rest(targets, done), at + done);
      if (bytesRead <= 0) throw this.shrank();
      done += bytesRead;
    }
    return messages;
  }
}
