// Path confinement for the files service: a client's path names a file under the served root
// and can never reach outside it.
//
// Rules (each breach is ERR_PATH_REJECTED with details.reason):
//   - the path is a non-empty string of at most maxPathBytes UTF-8 bytes, without NUL (nul);
//   - it is relative: no leading '/' or '\', no drive letter (absolute);
//   - '/' and '\' both separate segments; '.' and empty segments are dropped; '..' is refused
//     outright rather than resolved (dot-dot), so "a/../b" is an error, not "b";
//   - no segment starts with '.colloquy-': those names hold uploads in progress (reserved);
//   - symbolic links are followed only when their target stays inside the root's real path
//     (outside-root); every existing directory on the way is checked after resolving it.
// The root itself is resolved once (realpath), so a root that is itself a symlink works.

import { lstat, mkdir, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';

/** Prefix of the names the files service keeps for itself (uploads in progress). */
export const RESERVED_PREFIX = '.colloquy-';

export function pathRejected(reason: string, message: string, path?: string): SessionError {
  return new SessionError('ERR_PATH_REJECTED', message, 'local', path === undefined ? { reason } : { reason, path });
}

/** Checks a client's path and returns its segments (empty for the root itself when allowRoot). */
export function splitPath(path: unknown, maxPathBytes: number, allowRoot = false): string[] {
  if (typeof path !== 'string') throw pathRejected('empty', 'the path must be a string');
  if (Buffer.byteLength(path) > maxPathBytes)
    throw pathRejected('too-long', `the path is longer than ${maxPathBytes} bytes (maxPathBytes)`);
  if (path.includes('\0')) throw pathRejected('nul', 'the path contains a NUL character');
  if (/^[/\\]/.test(path) || /^[A-Za-z]:/.test(path))
    throw pathRejected('absolute', `'${path}' is absolute; give a path relative to the served root`, path);
  const segments = path.split(/[/\\]/).filter((s) => s !== '' && s !== '.');
  if (segments.includes('..'))
    throw pathRejected('dot-dot', `'${path}' contains '..'; paths cannot leave the served root`, path);
  if (segments.some((s) => s.startsWith(RESERVED_PREFIX)))
    throw pathRejected(
      'reserved',
      `names starting with '${RESERVED_PREFIX}' are reserved for uploads in progress`,
      path,
    );
  if (segments.length === 0 && !allowRoot) throw pathRejected('empty', 'the path names no file');
  return segments;
}

export function isInside(rootReal: string, p: string): boolean {
  return p === rootReal || p.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep);
}

/** The real path of an existing entry under the root (symlinks resolved and checked). */
export async function resolveExisting(rootReal: string, segments: readonly string[], shown: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(join(rootReal, ...segments));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new SessionError('ERR_FILE_NOT_FOUND', `no file '${shown}' under the served root`, 'local', {
        path: shown,
      });
    throw e;
  }
  if (!isInside(rootReal, real))
    throw pathRejected('outside-root', `'${shown}' leads outside the served root (through a symbolic link)`, shown);
  return real;
}

/**
 * The real directory that will hold the file named by `segments`, created (mkdir) where missing;
 * every existing step is resolved and checked, so a symlinked directory cannot lead outside.
 */
export async function resolveParent(
  rootReal: string,
  segments: readonly string[],
  shown: string,
): Promise<{ dir: string; name: string }> {
  let dir = rootReal;
  for (const segment of segments.slice(0, -1)) {
    const next = join(dir, segment);
    let info;
    try {
      info = await lstat(next);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await mkdir(next).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      info = await lstat(next);
    }
    if (info.isSymbolicLink()) {
      const real = await realpath(next);
      if (!isInside(rootReal, real))
        throw pathRejected('outside-root', `'${shown}' leads outside the served root (through a symbolic link)`, shown);
      dir = real;
    } else if (info.isDirectory()) {
      dir = next;
    } else {
      throw pathRejected('not-a-directory', `'${segment}' in '${shown}' is not a directory`, shown);
    }
  }
  return { dir, name: segments[segments.length - 1] as string };
}
