// Files: resumable, SHA-256 verified file transfer over a session, confined to one directory.
//
// Theory of operation
//   A client opens a session with the hello {"service":"files"} and asks for one transfer at a
//   time with a control message (framing and sync points: ./files-wire.ts):
//
//   get  client: gives the minor-sync and major/activity tokens, then {"op":"get","path",
//        "offset","expect":{"size","sha256"}}. Server: {"op":"get-ok","size","sha256","offset"}
//        (offset 0 when `expect` no longer matches: the file changed, start over), then chunks
//        with a major sync point every syncEveryBytes and one at the end; then it gives the
//        tokens back so the client can release.
//   put  client: {"op":"put","path","size","sha256","transfer"?}. Server: {"op":"put-ok",
//        "transfer","offset"}: a new transfer id and offset 0, or, for a known transfer with the
//        same path, size and SHA-256, the offset of its last confirmed sync point. The client
//        sends chunks from there with major sync points; the server confirms a point once the
//        bytes before it are flushed and the transfer's record updated. Then {"op":"commit"}: the
//        server hashes the upload and, if it matches, renames it into place atomically and
//        answers {"op":"committed"}; otherwise it deletes it and answers ERR_CHECKSUM_MISMATCH.
//
//   The death of a node: with a shared store another node restores the session (the session
//   layer replays what the old node sent) and this service, opened there with `restored`, sends
//   {"op":"interrupted"} after it. The transfer is an activity in the X.225 sense, interrupted
//   with its node and resumed in the same session at its last confirmed point: the client asks
//   again (get: from the bytes it has, naming size and SHA-256; put: naming its transfer, whose
//   record in the shared files directory says where to go on). File bytes and sync points the
//   client sent before it heard are discarded (the points confirmed as mere markers). Nothing
//   per chunk goes to the store; the state that outlives a node is the client's checkpoint and
//   the upload's record and partial file beside its target.
//
//   Cuts are the session's business: it resumes by itself and nothing is lost or repeated. A
//   client that restarts (a new session) resumes from its own checkpoint (get) or from the
//   server's record of the transfer (put). Uploads in progress live next to their target as
//   `.colloquy-upload-<id>` with a `.json` record, invisible to files.list and unreachable by
//   any path (reserved names); a new session resuming a transfer takes it over from an older
//   session that still holds it. Refusals before a transfer starts are {"op":"error"} messages
//   with a typed code and the session stays usable; failures in mid-transfer abort the session.
//
//   This file: the service and the session loop. Its parts: the catalogue (the root, files.list,
//   files.stat, hashes: ./files-catalog.ts), the get side (./files-download.ts), the put side
//   (upload records, resume, commit: ./files-upload.ts) and the limits (./files-limits.ts);
//   clients ./files-client.ts.

import { lstat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SessionError } from '../engine/errors.js';
import type { Session } from '../driver/session.js';
import type { OpenContext, Principal, Service } from './service.js';
import type { RpcMethods } from './rpc.js';
import { positiveIntegers } from './options.js';
import { splitPath } from './files-path.js';
import { decodeUnit, encodeControl, errorMessage, protocolError, writeJsonAtomic } from './files-wire.js';
import type { ControlMessage } from './files-wire.js';
import { beginPut, commitUpload } from './files-upload.js';
import { FilesCatalog } from './files-catalog.js';
import { sendFile } from './files-download.js';
import { DEFAULT_CHUNK_BYTES, DEFAULT_SYNC_WINDOW, DurablePoints } from './files-stream.js';
import { FilesQuota } from './files-limits.js';
import type { Held } from './files-limits.js';
import type { ActiveTransfers, Upload, UploadContext, UploadRecord } from './files-upload.js';
import type {} from './errors.js';

export { getFile, putFile } from './files-client.js';
export { SYNC_TOKENS, hashFile } from './files-wire.js';
export type { TransferOptions, TransferProgress, TransferResult } from './files-client.js';

export interface FilesServiceOptions {
  /** The directory served; no path can leave it. */
  root: string;
  /** Largest file served or accepted. Default 1 GiB. */
  maxFileBytes?: number;
  /** Longest path (UTF-8 bytes). Default 1024. */
  maxPathBytes?: number;
  /** Bytes per chunk the server sends. Default 256 KiB; at most a frame (the session's maxFrameSize less one byte). */
  chunkBytes?: number;
  /** The server puts a sync point (confirmed once the client has the bytes on disk) after this many bytes it sends. Default 2 MiB. */
  syncEveryBytes?: number;
  /** Sync points the server may have unconfirmed while it sends on. Default 8. */
  syncWindow?: number;
  /** Entries files.list returns at most. Default 1000. */
  maxListEntries?: number;
  /** Remembered file hashes (by device, inode, size and mtime). Default 256. */
  maxHashCacheEntries?: number;
  /**
   * An upload in progress untouched this long (ms) and held by no session is abandoned: the
   * sweeper (every sweepIntervalMs) or a put into the same directory deletes it. Default 1 hour.
   */
  staleUploadMs?: number;
  /** How often the sweeper looks for abandoned uploads (ms). Default 5 minutes. */
  sweepIntervalMs?: number;
  /** Bytes under the root (files plus uploads in progress) a put may not pass. Default 8 GiB. */
  maxTotalBytes?: number;
  /** Bytes one principal may have in uploads in progress plus files it wrote since the service started. Default 1 GiB. */
  maxBytesPerPrincipal?: number;
  /** Uploads in progress at once. Default 32. */
  maxConcurrentUploads?: number;
  /** Uploads in progress at once per principal. Default 4. */
  maxUploadsPerPrincipal?: number;
  /** Levels a path may go deep (its segments, the file's name included). Default 16. */
  maxDepth?: number;
}

const DEFAULTS = {
  maxFileBytes: 1024 * 1024 * 1024,
  maxPathBytes: 1024,
  chunkBytes: DEFAULT_CHUNK_BYTES,
  syncEveryBytes: 2 * 1024 * 1024,
  syncWindow: DEFAULT_SYNC_WINDOW,
  maxListEntries: 1000,
  maxHashCacheEntries: 256,
  staleUploadMs: 60 * 60 * 1000,
  sweepIntervalMs: 5 * 60 * 1000,
  maxTotalBytes: 8 * 1024 ** 3,
  maxBytesPerPrincipal: 1024 ** 3,
  maxConcurrentUploads: 32,
  maxUploadsPerPrincipal: 4,
  maxDepth: 16,
};

export class FilesService implements Service {
  readonly name = 'files';
  readonly root: string;
  private readonly o: typeof DEFAULTS;
  /** The root, files.list and files.stat, the hash cache (./files-catalog.ts). */
  private readonly catalog: FilesCatalog;
  /** Transfers held by a live session: a newer session of the same transfer takes over. */
  private readonly active: ActiveTransfers = new Map();
  /** What the upload side (./files-upload.ts) needs of this service. */
  private readonly uploads: UploadContext;
  /** Quotas, upload slots, depth and the sweeper (./files-limits.ts). */
  private readonly quota: FilesQuota;

  constructor(options: FilesServiceOptions) {
    if (typeof options.root !== 'string' || options.root === '')
      throw new SessionError('ERR_INVALID_ARGUMENT', 'filesService: root must name a directory');
    this.root = options.root;
    this.o = positiveIntegers('filesService', DEFAULTS, options, Number.isSafeInteger);
    this.catalog = new FilesCatalog(this.root, this.o);
    const realRoot = (): Promise<string> => this.catalog.realRoot();
    this.uploads = { realRoot, limits: this.o, active: this.active };
    this.quota = new FilesQuota(realRoot, this.o, (id) => this.active.has(id));
    this.quota.start();
  }

  /** Stops the sweeper. */
  async close(): Promise<void> {
    await this.quota.stop();
  }

  get limits(): Readonly<typeof DEFAULTS> {
    return this.o;
  }

  open(session: Session, principal: Principal, context?: OpenContext): void {
    let finish = (): void => {};
    const ended = new Promise<void>((resolve) => {
      finish = resolve;
    });
    void this.serve(session, ended, context?.restored === true, quotaOwner(session, principal)).finally(finish);
  }

  /** Methods for an RPC service: `rpcService({ methods: files.rpcMethods() })`. */
  rpcMethods(): RpcMethods {
    return {
      'files.list': (params) => this.list(params),
      'files.stat': (params) => this.stat(params),
    };
  }

  /** Lists a directory under the root: {path, entries: [{name, type, size, mtimeMs}], truncated}. */
  list(params: unknown): Promise<{
    path: string;
    entries: { name: string; type: string; size: number; mtimeMs: number }[];
    truncated: boolean;
  }> {
    return this.catalog.list(params);
  }

  /** {path, size, mtimeMs, sha256} of a file under the root. */
  stat(params: unknown): Promise<{ path: string; size: number; mtimeMs: number; sha256: string }> {
    return this.catalog.stat(params);
  }

  // ---- one session --------------------------------------------------------------------------

  private async serve(session: Session, ended: Promise<void>, restored: boolean, owner: string): Promise<void> {
    let upload: Upload | undefined;
    let over = false;
    // Restored from the store after the node holding it died: the transfer in progress there
    // (its open file, its position) is interrupted. The client hears so after everything the
    // old node sent, and resumes the transfer in this session from its last confirmed point;
    // until then its file bytes and sync points (sent before it heard) are discarded and
    // confirmed as mere markers: only the upload record counts for a put.
    let interrupted = restored;
    // Sync points of a put, made durable in order behind the writes (./files-stream.ts): its
    // bytes written and flushed, then the record. The session's end waits for the one in
    // progress, so that a session taking the transfer over never races a late record write.
    const points = new DurablePoints<{ upload: Upload | undefined; pos: number; interrupted: boolean }>(
      session,
      {
        snapshot: () => ({ upload, pos: upload?.pos ?? 0, interrupted }),
        check: (offset, s) => {
          if (!s.upload && s.interrupted) return;
          if (!s.upload) throw protocolError('sync-outside-put', 'a sync point outside an upload');
          if (offset !== s.pos)
            throw protocolError('sync-offset', `the sync point says offset ${offset}; ${s.pos} bytes arrived`);
        },
        durable: async (offset, s) => {
          const u = s.upload;
          if (over || !u) return;
          await u.writer.settled(offset);
          if (over) return;
          await u.fd.datasync();
          if (over) return;
          await writeJsonAtomic(u.record, {
            version: 1,
            path: u.shown,
            size: u.size,
            sha256: u.sha256,
            offset,
          } satisfies UploadRecord);
        },
      },
      (e) => {
        if (!over && !session.closed) session.abort(`files: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
    const reply = (m: ControlMessage): Promise<void> => session.send(encodeControl(m));
    try {
      // Not awaited: the loop must go on reading (and confirming) while a pending point holds it back.
      if (restored)
        sendWhenAllowed(
          session,
          encodeControl({
            op: 'interrupted',
            reason: 'the node serving this transfer went away; resume it from your last confirmed point',
          }),
        ).catch(() => {});
      for await (const raw of session) {
        // The writer is a full queue behind: read on once it took some.
        let room: Promise<void> | undefined;
        try {
          const unit = decodeUnit(raw);
          if (unit.kind === 'chunk') {
            if (!upload && interrupted) continue;
            if (!upload) throw protocolError('chunk-outside-put', 'file bytes outside an upload');
            if (upload.pos + unit.bytes.length > upload.size)
              throw protocolError('too-much', `more bytes than the announced size ${upload.size}`);
            room = upload.writer.write(unit.bytes);
            upload.pos += unit.bytes.length;
            continue;
          }
          const m = unit.message;
          if (m.op === 'get' || m.op === 'put') interrupted = false;
          if (m.op === 'commit' && !upload && interrupted) continue; // the client resends its put first
          if (m.op === 'get') {
            if (upload) throw protocolError('busy', 'a get during an upload');
            await sendFile(session, m, reply, this.catalog, this.o);
          } else if (m.op === 'put') {
            if (upload) throw protocolError('busy', 'a put during an upload');
            let held: Held | undefined;
            try {
              held = await this.admitPut(m, owner);
              upload = await beginPut(this.uploads, session, m, ended);
              held?.bind(upload.id, dirname(upload.temp));
            } catch (e) {
              held?.cancel();
              if (e instanceof SessionError && e.code !== 'ERR_APP_PROTOCOL') {
                await reply(errorMessage(e));
                continue;
              }
              throw e;
            }
            await reply({ op: 'put-ok', transfer: upload.id, offset: upload.pos });
          } else if (m.op === 'commit') {
            if (!upload) throw protocolError('commit-outside-put', 'a commit outside an upload');
            const u = upload;
            upload = undefined;
            this.active.delete(u.id);
            this.quota.detach(u.id);
            try {
              const replaced = await lstat(u.target).then(
                (i) => (i.isFile() ? i.size : 0),
                () => 0,
              );
              await commitUpload(u);
              this.quota.committed(u.id, replaced);
              await reply({ op: 'committed', path: u.shown, size: u.size, sha256: u.sha256 });
            } catch (e) {
              if (e instanceof SessionError && e.code === 'ERR_CHECKSUM_MISMATCH') {
                this.quota.dropped(u.id);
                await reply(errorMessage(e));
                continue;
              }
              throw e;
            }
          } else {
            throw protocolError('op', `unknown op '${m.op}'`);
          }
        } finally {
          points.done();
        }
        if (room) await room;
      }
    } catch (e) {
      if (!session.closed)
        session.abort(
          e instanceof SessionError && e.code === 'ERR_APP_PROTOCOL'
            ? `files: ${e.message}`
            : `files: ${e instanceof Error ? e.message : String(e)}`,
        );
    } finally {
      over = true;
      upload?.writer.abandon();
      upload?.hasher.stop();
      points.dispose();
      await points.working;
      if (upload) {
        if (this.active.get(upload.id)?.session === session) {
          this.active.delete(upload.id);
          this.quota.detach(upload.id);
        }
        await upload.fd.close().catch(() => {});
      }
    }
  }

  /** Depth and quotas for a put, checked and held before anything is created (./files-limits.ts). */
  private async admitPut(m: ControlMessage, owner: string): Promise<Held | undefined> {
    const segments = splitPath(m['path'], this.o.maxPathBytes);
    this.quota.checkDepth(segments, segments.join('/'));
    const size = m['size'];
    if (!Number.isSafeInteger(size) || (size as number) < 0) return undefined; // beginPut says what is wrong
    await this.quota.ready();
    return this.quota.reserve(owner, size as number, typeof m['transfer'] === 'string' ? m['transfer'] : undefined);
  }
}

/**
 * Sends `bytes` once the session allows new data: a session restored from the store may still
 * await the confirmation of a major sync point the old node put in the stream.
 */
async function sendWhenAllowed(session: Session, bytes: Uint8Array): Promise<void> {
  for (;;) {
    try {
      return await session.send(bytes);
    } catch (e) {
      if (!(e instanceof SessionError) || e.code !== 'ERR_SYNC_PENDING' || session.closed) throw e;
      await new Promise<void>((resolve) => {
        const offs = [
          session.on('event', () => {
            for (const off of offs) off();
            resolve();
          }),
          session.on('closed', () => {
            for (const off of offs) off();
            resolve();
          }),
        ];
      });
    }
  }
}

/** The files service: `new ServiceHost([filesService({ root }), ...])`. */
export function filesService(options: FilesServiceOptions): FilesService {
  return new FilesService(options);
}

/** Whose quota an upload counts against: the proven identity, else the client's address. */
function quotaOwner(session: Session, principal: Principal): string {
  const proven = principal.id ?? principal.name;
  if (proven !== undefined) return proven;
  const address = session.driver.attached?.remoteAddress ?? '';
  return `anonymous@${address.replace(/:\d+$/, '')}`;
}
