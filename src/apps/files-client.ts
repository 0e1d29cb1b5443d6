// The files client: getFile and putFile, used by `colloquy get` / `colloquy put` and usable as a
// library. Protocol and server: ./files.ts; framing and the sync-point barrier: ./files-wire.ts;
// one download ./files-get.ts, one upload ./files-put.ts, what they share ./files-session.ts.
//
// Checkpoints (so that a restarted process resumes instead of starting over):
//   get  LOCAL.colloquy-part holds the bytes so far; LOCAL.colloquy-checkpoint (JSON: remote
//        path, size, sha256, offset) is rewritten at every confirmed major sync point, after
//        the part file was flushed, so `offset` bytes of the part are always good. A restart
//        cuts the part back to `offset` and asks for the rest, naming the size and SHA-256 it
//        expects (the server starts over at 0 if the file changed). When everything arrived, the
//        part is hashed; only a match is renamed to LOCAL (and the checkpoint removed).
//        LOCAL.colloquy-lock (a PID) keeps a second download from writing the same part.
//   put  LOCAL.colloquy-put-checkpoint (JSON: remote path, size, sha256, mtime, transfer id)
//        names the server's transfer; a restart presents it and the server says where to go on.
// Cuts of the connection need none of this: the session resumes by itself. The death of the
// node serving the session needs none of it either when another node takes the session over
// (shared store): that node says `interrupted` and the transfer goes on in the same session.
// When no node can take it over, the transfer goes on from the checkpoint in a new session by
// itself (TransferOptions.newSessions).

import { open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { SessionError } from '../engine/errors.js';
import { downloadOnce } from './files-get.js';
import { uploadOnce } from './files-put.js';
import { LOCK_SUFFIX, withNewSessions } from './files-session.js';
import type { TransferOptions, TransferResult } from './files-session.js';
import type {} from './errors.js';

export {
  ABORT_RELEASE_MS,
  GET_CHECKPOINT_SUFFIX,
  LOCK_SUFFIX,
  PART_SUFFIX,
  PUT_CHECKPOINT_SUFFIX,
} from './files-session.js';
export type { TransferOptions, TransferProgress, TransferResult } from './files-session.js';

/**
 * Takes LOCAL.colloquy-lock (our PID inside) so that two downloads never write one part file.
 * A lock whose process no longer runs is stale and taken over (a killed run leaves one).
 */
async function lockLocal(local: string): Promise<() => Promise<void>> {
  const path = local + LOCK_SUFFIX;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const h = await open(path, 'wx');
      try {
        await h.writeFile(String(process.pid));
      } finally {
        await h.close();
      }
      return () => unlink(path).catch(() => {});
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(await readFile(path, 'utf8').catch(() => ''));
      if (Number.isSafeInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new SessionError('ERR_FILE_BUSY', `process ${pid} is already downloading into ${local}`, 'local', {
          pid,
          lock: path,
        });
      }
      await unlink(path).catch(() => {}); // stale: its process is gone
    }
  }
  throw new SessionError('ERR_FILE_BUSY', `another process keeps taking the lock of ${local}`, 'local', { lock: path });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Downloads REMOTE to LOCAL; resolves once LOCAL is in place and its SHA-256 matched. */
export async function getFile(
  url: string,
  remote: string,
  local: string,
  options: TransferOptions = {},
): Promise<TransferResult> {
  // Say so before anything else (the lock file would fail first, naming itself).
  const dir = dirname(resolve(local));
  if (
    !(await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  ) {
    throw new SessionError(
      'ERR_FILE_NOT_FOUND',
      `cannot save to ${local}: the directory ${dir} does not exist (create it, or choose a path in an existing directory)`,
      'local',
      { path: local, directory: dir },
    );
  }
  const unlock = await lockLocal(local);
  try {
    return await withNewSessions(options, `get ${remote}`, () => downloadOnce(url, remote, local, options));
  } finally {
    await unlock();
  }
}

/** Uploads LOCAL to REMOTE; resolves once the server verified the SHA-256 and renamed it into place. */
export async function putFile(
  url: string,
  local: string,
  remote: string,
  options: TransferOptions = {},
): Promise<TransferResult> {
  return withNewSessions(options, `put ${remote}`, () => uploadOnce(local, remote, options, url));
}
