// Files, the catalogue: what the served root holds, as a part the service (./files.ts) owns. The
// root resolved once (its real path, checked to be a directory), files.list and files.stat, the
// lookup of one existing file a get serves, and the SHA-256 of files by identity.
//
// Rules
//   - Every path goes through ./files-path.ts (confined to the root); reserved names (uploads in
//     progress) are never listed.
//   - A file is known by device, inode, size and mtime: the same key means the same bytes, so
//     its hash is computed once and kept in an LRU of maxHashCacheEntries (a failed hash is
//     forgotten). Nothing here writes.

import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SessionError } from '../engine/errors.js';
import { RESERVED_PREFIX, pathRejected, resolveExisting, splitPath } from './files-path.js';
import { hashFile } from './files-wire.js';
import type {} from './errors.js';

export interface CatalogLimits {
  readonly maxPathBytes: number;
  readonly maxFileBytes: number;
  readonly maxListEntries: number;
  readonly maxHashCacheEntries: number;
}

export interface ListEntry {
  name: string;
  type: string;
  size: number;
  mtimeMs: number;
}

/** One regular file under the root, found by a client's path; `key` names its bytes. */
export interface ExistingFile {
  real: string;
  segments: string[];
  size: number;
  mtimeMs: number;
  key: string;
}

export class FilesCatalog {
  private rootReal: Promise<string> | undefined;
  private readonly hashes = new Map<string, Promise<string>>();

  constructor(
    private readonly root: string,
    private readonly o: CatalogLimits,
  ) {}

  /** The root's real path, resolved on first use and checked to be a directory. */
  realRoot(): Promise<string> {
    this.rootReal ??= realpath(this.root).then(async (r) => {
      if (!(await stat(r)).isDirectory())
        throw new SessionError('ERR_INVALID_ARGUMENT', `the files root ${this.root} is not a directory`);
      return r;
    });
    return this.rootReal;
  }

  /** Lists a directory under the root: {path, entries: [{name, type, size, mtimeMs}], truncated}. */
  async list(params: unknown): Promise<{ path: string; entries: ListEntry[]; truncated: boolean }> {
    const p = (params ?? {}) as { path?: unknown };
    const path = p.path === undefined ? '' : p.path;
    const root = await this.realRoot();
    const segments = splitPath(path, this.o.maxPathBytes, true);
    const dir = await resolveExisting(root, segments, String(path));
    if (!(await stat(dir)).isDirectory())
      throw pathRejected('not-a-directory', `'${String(path)}' is not a directory`, String(path));
    const entries: ListEntry[] = [];
    let truncated = false;
    for await (const d of await opendir(dir)) {
      if (d.name.startsWith(RESERVED_PREFIX)) continue;
      if (entries.length >= this.o.maxListEntries) {
        truncated = true;
        break;
      }
      const info = await lstat(join(dir, d.name)).catch(() => undefined);
      if (!info) continue;
      const type = info.isFile()
        ? 'file'
        : info.isDirectory()
          ? 'directory'
          : info.isSymbolicLink()
            ? 'symlink'
            : 'other';
      entries.push({ name: d.name, type, size: info.isFile() ? info.size : 0, mtimeMs: Math.floor(info.mtimeMs) });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { path: segments.join('/'), entries, truncated };
  }

  /** {path, size, mtimeMs, sha256} of a file under the root. */
  async stat(params: unknown): Promise<{ path: string; size: number; mtimeMs: number; sha256: string }> {
    const path = (params as { path?: unknown } | null)?.path;
    const { real, segments, size, mtimeMs, key } = await this.existingFile(path);
    return { path: segments.join('/'), size, mtimeMs, sha256: await this.hashOf(real, key) };
  }

  /** A regular file under maxFileBytes, or ERR_FILE_NOT_FOUND / ERR_FILE_TOO_LARGE / ERR_PATH_REJECTED. */
  async existingFile(path: unknown): Promise<ExistingFile> {
    const root = await this.realRoot();
    const segments = splitPath(path, this.o.maxPathBytes);
    const shown = segments.join('/');
    const real = await resolveExisting(root, segments, shown);
    const info = await stat(real);
    if (!info.isFile())
      throw new SessionError('ERR_FILE_NOT_FOUND', `'${shown}' is not a regular file`, 'local', { path: shown });
    if (info.size > this.o.maxFileBytes)
      throw new SessionError(
        'ERR_FILE_TOO_LARGE',
        `'${shown}' is ${info.size} bytes; this server sends at most ${this.o.maxFileBytes} (maxFileBytes)`,
        'local',
        { limit: 'maxFileBytes', size: info.size, max: this.o.maxFileBytes },
      );
    return {
      real,
      segments,
      size: info.size,
      mtimeMs: Math.floor(info.mtimeMs),
      key: `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`,
    };
  }

  /** The SHA-256 of the file `real` whose identity is `key`, from the LRU when known. */
  hashOf(real: string, key: string): Promise<string> {
    const known = this.hashes.get(key);
    if (known) {
      this.hashes.delete(key);
      this.hashes.set(key, known);
      return known;
    }
    const p = hashFile(real);
    p.catch(() => this.hashes.delete(key));
    this.hashes.set(key, p);
    while (this.hashes.size > this.o.maxHashCacheEntries) this.hashes.delete(this.hashes.keys().next().value as string);
    return p;
  }
}
