// Files, the limits a stranger could otherwise exhaust: disk (a total and a per-principal quota),
// uploads at once (in total and per principal), directory depth, and uploads left behind (a
// sweeper on a timer). The service (./files.ts) asks here before a put starts and reports how
// each upload ends; nothing here touches a session.
//
// Theory of operation
//   used       bytes of the files under the root: counted once (a walk, at the first put), then
//              kept up to date by this service's own commits (size - the size it replaced).
//   reserved   per transfer: the announced size of each upload in progress, held from the put
//              until it is committed, fails its checksum, or is swept; an upload whose session
//              ended keeps its reservation, since its bytes stay on disk for a resume.
//   written    per principal: bytes it committed since the service started.
//   A put is refused with ERR_QUOTA_EXCEEDED (details.limit names the bound) when
//     used + reserved + size > maxTotalBytes, or
//     the principal's reserved + written + size > maxBytesPerPrincipal, or
//     uploads held by live sessions reach maxConcurrentUploads (maxUploadsPerPrincipal for one).
//   Check and reservation are one synchronous step (`reserve`), so concurrent puts cannot both
//   pass a check that only one of them fits.
//   The sweeper runs every sweepIntervalMs (unref'd): it walks the root (at most maxDepth deep)
//   and deletes every upload no live session holds that nobody touched for staleUploadMs, with
//   its record, and drops reservations whose upload is gone.

import { lstat, opendir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SessionError } from '../engine/errors.js';
import { RESERVED_PREFIX, pathRejected } from './files-path.js';
import type {} from './errors.js';

export interface FilesLimits {
  readonly maxTotalBytes: number;
  readonly maxBytesPerPrincipal: number;
  readonly maxConcurrentUploads: number;
  readonly maxUploadsPerPrincipal: number;
  readonly maxDepth: number;
  readonly staleUploadMs: number;
  readonly sweepIntervalMs: number;
}

/** Entries the usage walk and the sweeper visit at most per run (a bound on their work). */
export const MAX_WALK_ENTRIES = 200_000;

const UPLOAD_PREFIX = `${RESERVED_PREFIX}upload-`;

interface Reservation {
  principal: string;
  size: number;
  dir: string | null;
  live: boolean;
}

/** A reservation made by `reserve`, bound to its transfer once the put has one. */
export interface Held {
  bind(transfer: string, dir: string): void;
  cancel(): void;
}

export class FilesQuota {
  private used: number | null = null;
  private counting: Promise<void> | null = null;
  private readonly reserved = new Map<string, Reservation>();
  private readonly written = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private sweeping: Promise<void> | null = null;
  private provisional = 0;

  constructor(
    private readonly root: () => Promise<string>,
    private readonly limits: FilesLimits,
    /** True while a live session holds the transfer. */
    private readonly isActive: (transfer: string) => boolean,
  ) {}

  /** Refuses a path deeper than maxDepth (ERR_PATH_REJECTED, reason too-deep). */
  checkDepth(segments: readonly string[], shown: string): void {
    if (segments.length > this.limits.maxDepth)
      throw pathRejected(
        'too-deep',
        `'${shown}' is ${segments.length} levels deep; this server allows ${this.limits.maxDepth} (maxDepth)`,
        shown,
      );
  }

  /** Counts the root's files once, before the first reservation. */
  async ready(): Promise<void> {
    if (this.used !== null) return;
    this.counting ??= this.walk(async () => {}).then((bytes) => {
      this.used = bytes;
    });
    await this.counting;
  }

  /**
   * Checks the bounds for a put of `size` bytes by `principal` and holds them at once. `resuming`
   * names the transfer a put resumes, whose own reservation does not count against it.
   */
  reserve(principal: string, size: number, resuming?: string): Held {
    const own = resuming !== undefined ? this.reserved.get(resuming) : undefined;
    let total = (this.used ?? 0) - (own?.size ?? 0);
    let mine = (this.written.get(principal) ?? 0) - (own?.principal === principal ? own.size : 0);
    let live = 0;
    let liveMine = 0;
    for (const [id, r] of this.reserved) {
      total += r.size;
      if (r.principal === principal) mine += r.size;
      if (r.live && id !== resuming) {
        live++;
        if (r.principal === principal) liveMine++;
      }
    }
    const l = this.limits;
    if (live >= l.maxConcurrentUploads)
      throw quota(
        'maxConcurrentUploads',
        `${live} uploads are in progress on this server; it takes ${l.maxConcurrentUploads} at once (maxConcurrentUploads): try again later`,
      );
    if (liveMine >= l.maxUploadsPerPrincipal)
      throw quota(
        'maxUploadsPerPrincipal',
        `you have ${liveMine} uploads in progress; at most ${l.maxUploadsPerPrincipal} at once (maxUploadsPerPrincipal)`,
      );
    if (total + size > l.maxTotalBytes)
      throw quota(
        'maxTotalBytes',
        `the files here would take ${total + size} bytes; this server keeps at most ${l.maxTotalBytes} (maxTotalBytes)`,
        { size, max: l.maxTotalBytes },
      );
    if (mine + size > l.maxBytesPerPrincipal)
      throw quota(
        'maxBytesPerPrincipal',
        `your uploads would take ${mine + size} bytes; each principal may have ${l.maxBytesPerPrincipal} (maxBytesPerPrincipal)`,
        { size, max: l.maxBytesPerPrincipal },
      );
    const key = `provisional:${++this.provisional}`;
    this.reserved.set(key, { principal, size, dir: null, live: true });
    return {
      bind: (transfer, dir) => {
        this.reserved.delete(key);
        this.reserved.set(transfer, { principal, size, dir, live: true });
      },
      cancel: () => {
        this.reserved.delete(key);
      },
    };
  }

  /** The session holding `transfer` ended; its upload stays on disk (and reserved) for a resume. */
  detach(transfer: string): void {
    const r = this.reserved.get(transfer);
    if (r) r.live = false;
  }

  /** `transfer` was renamed into place over a file of `replaced` bytes (0 if new). */
  committed(transfer: string, replaced: number): void {
    const r = this.reserved.get(transfer);
    if (!r) return;
    this.reserved.delete(transfer);
    this.used = (this.used ?? 0) + r.size - replaced;
    this.written.set(r.principal, (this.written.get(r.principal) ?? 0) + r.size);
  }

  /** `transfer` is gone without a commit (checksum mismatch, swept). */
  dropped(transfer: string): void {
    this.reserved.delete(transfer);
  }

  /** Starts the sweeper's timer. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.sweep();
    }, this.limits.sweepIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sweeping;
  }

  /** One pass: deletes abandoned uploads and forgets reservations whose upload is gone. */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      const cutoff = Date.now() - this.limits.staleUploadMs;
      await this.walk(async (dir, name) => {
        if (!name.startsWith(UPLOAD_PREFIX)) return;
        const id = name.slice(UPLOAD_PREFIX.length, UPLOAD_PREFIX.length + 32);
        if (this.isActive(id)) return;
        const info = await lstat(join(dir, name)).catch(() => undefined);
        if (!info?.isFile() || info.mtimeMs >= cutoff) return;
        await unlink(join(dir, name)).catch(() => {});
      }).catch(() => 0);
      for (const [id, r] of this.reserved) {
        if (r.live || r.dir === null) continue;
        const there = await lstat(join(r.dir, `${UPLOAD_PREFIX}${id}`)).then(
          () => true,
          () => false,
        );
        if (!there) this.reserved.delete(id);
      }
    })().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  /** Walks the root up to maxDepth, calling `reserved` for each reserved name; returns the bytes of the other files. */
  private async walk(onReserved: (dir: string, name: string) => Promise<void>): Promise<number> {
    const root = await this.root();
    let bytes = 0;
    let visited = 0;
    const dirs: [string, number][] = [[root, 0]];
    while (dirs.length > 0 && visited < MAX_WALK_ENTRIES) {
      const [dir, depth] = dirs.pop() as [string, number];
      const handle = await opendir(dir).catch(() => null);
      if (!handle) continue;
      for await (const d of handle) {
        if (++visited > MAX_WALK_ENTRIES) break;
        if (d.name.startsWith(RESERVED_PREFIX)) {
          await onReserved(dir, d.name);
          continue;
        }
        if (d.isDirectory() && depth + 1 < this.limits.maxDepth) dirs.push([join(dir, d.name), depth + 1]);
        else if (d.isFile()) bytes += (await lstat(join(dir, d.name)).catch(() => undefined))?.size ?? 0;
      }
    }
    return bytes;
  }
}

function quota(limit: string, message: string, details: Record<string, unknown> = {}): SessionError {
  return new SessionError('ERR_QUOTA_EXCEEDED', message, 'local', { limit, ...details });
}
