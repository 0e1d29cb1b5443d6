// Files, the upload side (put): where an upload in progress lives, how a put resumes, and the
// commit that puts the file in place. The service and its session loop are in ./files.ts.
//
// Theory of operation
//   An upload of <dir>/<name> writes <dir>/.colloquy-upload-<id> (the temp file) beside its
//   target, with <temp>.json (the record: path, size, SHA-256 and the offset of the last
//   confirmed sync point; written atomically). Both names start with the reserved prefix, so no
//   path reaches them and files.list does not show them. A put that names a known transfer with
//   the same path, size and SHA-256 resumes at the record's offset (the temp file is cut back to
//   it); anything else starts a new transfer at 0. A transfer held by another live session is
//   taken over: that session is aborted and its end awaited first, so two sessions never write
//   one temp file. Every put first sweeps its directory of uploads no session holds and nobody
//   touched for staleUploadMs. Commit: all bytes arrived and are on disk, the temp file hashes
//   to the announced SHA-256, then it is renamed over the target (atomic) and the record goes;
//   on a mismatch both are deleted and ERR_CHECKSUM_MISMATCH reported.

import { randomBytes } from 'node:crypto';
import { lstat, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SessionError } from '../engine/errors.js';
import type { Session } from '../driver/session.js';
import { RESERVED_PREFIX, pathRejected, resolveParent, splitPath } from './files-path.js';
import { protocolError, writeJsonAtomic } from './files-wire.js';
import { FileWriter, TrailingHash } from './files-stream.js';
import type { ControlMessage } from './files-wire.js';
import type {} from './errors.js';

const SHA256 = /^[0-9a-f]{64}$/;
const TRANSFER_ID = /^[0-9a-f]{32}$/;

export interface UploadRecord {
  version: 1;
  path: string;
  size: number;
  sha256: string;
  offset: number;
}

export interface Upload {
  id: string;
  shown: string;
  target: string;
  temp: string;
  record: string;
  size: number;
  sha256: string;
  fd: FileHandle;
  /** Writes the bytes behind the session loop (./files-stream.ts). */
  writer: FileWriter;
  /** SHA-256 of the temp file, read back behind the writer from 0 (a resumed upload's prefix too). */
  hasher: TrailingHash;
  /** Bytes received (queued for writing). */
  pos: number;
}

/** Transfers held by a live session: a newer session of the same transfer takes over. */
export type ActiveTransfers = Map<string, { session: Session; ended: Promise<void> }>;

export interface UploadContext {
  /** The served directory, resolved (symlinks and all). */
  realRoot(): Promise<string>;
  limits: { readonly maxPathBytes: number; readonly maxFileBytes: number; readonly staleUploadMs: number };
  active: ActiveTransfers;
}

export async function beginPut(
  ctx: UploadContext,
  session: Session,
  m: ControlMessage,
  ended: Promise<void>,
): Promise<Upload> {
  const root = await ctx.realRoot();
  const segments = splitPath(m['path'], ctx.limits.maxPathBytes);
  const shown = segments.join('/');
  const size = m['size'];
  const sha256 = m['sha256'];
  if (!Number.isSafeInteger(size) || (size as number) < 0)
    throw protocolError('size', 'put: size must be an integer >= 0');
  if (typeof sha256 !== 'string' || !SHA256.test(sha256))
    throw protocolError('sha256', 'put: sha256 must be 64 lowercase hex digits');
  if ((size as number) > ctx.limits.maxFileBytes)
    throw new SessionError(
      'ERR_FILE_TOO_LARGE',
      `the file is ${size as number} bytes; this server accepts at most ${ctx.limits.maxFileBytes} (maxFileBytes)`,
      'local',
      { limit: 'maxFileBytes', size, max: ctx.limits.maxFileBytes },
    );
  const { dir, name } = await resolveParent(root, segments, shown);
  await sweep(dir, ctx);
  const target = join(dir, name);
  const existing = await lstat(target).catch(() => undefined);
  if (existing && !existing.isFile())
    throw pathRejected('not-a-file', `'${shown}' exists and is not a regular file`, shown);

  let id: string | undefined;
  let offset = 0;
  const asked = m['transfer'];
  if (typeof asked === 'string' && TRANSFER_ID.test(asked)) {
    const holder = ctx.active.get(asked);
    if (holder && holder.session !== session) {
      holder.session.abort('files: this transfer was taken over by a newer session');
      await holder.ended;
    }
    const record = await readFile(join(dir, `${RESERVED_PREFIX}upload-${asked}.json`), 'utf8')
      .then((t) => JSON.parse(t) as UploadRecord)
      .catch(() => undefined);
    const temp = join(dir, `${RESERVED_PREFIX}upload-${asked}`);
    const tempSize = await stat(temp)
      .then((s) => s.size)
      .catch(() => -1);
    if (
      record &&
      record.path === shown &&
      record.size === size &&
      record.sha256 === sha256 &&
      Number.isSafeInteger(record.offset) &&
      record.offset <= tempSize
    ) {
      id = asked;
      offset = record.offset;
    }
  }
  id ??= randomBytes(16).toString('hex');
  const temp = join(dir, `${RESERVED_PREFIX}upload-${id}`);
  const record = `${temp}.json`;
  const fd = await open(temp, offset === 0 ? 'w+' : 'r+');
  try {
    await fd.truncate(offset);
    if (offset === 0)
      await writeJsonAtomic(record, {
        version: 1,
        path: shown,
        size: size as number,
        sha256,
        offset: 0,
      } satisfies UploadRecord);
  } catch (e) {
    await fd.close();
    throw e;
  }
  ctx.active.set(id, { session, ended });
  const hasher = new TrailingHash(fd);
  hasher.upTo(offset);
  return {
    id,
    shown,
    target,
    temp,
    record,
    size: size as number,
    sha256,
    fd,
    writer: new FileWriter(fd, offset, (written) => hasher.upTo(written)),
    hasher,
    pos: offset,
  };
}

/** Deletes uploads in `dir` that no session holds and nobody touched for staleUploadMs. */
async function sweep(dir: string, ctx: UploadContext): Promise<void> {
  const prefix = `${RESERVED_PREFIX}upload-`;
  const names = await readdir(dir).catch(() => [] as string[]);
  const cutoff = Date.now() - ctx.limits.staleUploadMs;
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const id = n.slice(prefix.length, prefix.length + 32);
    if (ctx.active.has(id)) continue;
    const info = await lstat(join(dir, n)).catch(() => undefined);
    if (info?.isFile() && info.mtimeMs < cutoff) await unlink(join(dir, n)).catch(() => {});
  }
}

export async function commitUpload(u: Upload): Promise<void> {
  let actual: string;
  try {
    if (u.pos !== u.size) throw protocolError('short', `commit after ${u.pos} of ${u.size} bytes`);
    await u.writer.settled(u.pos);
    await u.fd.datasync();
    actual = await u.hasher.digest(u.size);
  } finally {
    u.hasher.stop();
    await u.fd.close();
  }
  if (actual !== u.sha256) {
    await unlink(u.temp).catch(() => {});
    await unlink(u.record).catch(() => {});
    throw new SessionError(
      'ERR_CHECKSUM_MISMATCH',
      `the upload of '${u.shown}' hashes to ${actual}, not ${u.sha256}; it was deleted`,
      'local',
      { expected: u.sha256, actual },
    );
  }
  await rename(u.temp, u.target);
  await unlink(u.record).catch(() => {});
}
