// The put side of the files client: one upload in one session (./files-client.ts wraps it in
// new sessions when a session is lost; the shared parts are in ./files-session.ts).
//
//   put        {"op":"put","path","size","sha256","transfer"?}: the server answers put-ok with
//              the transfer id and where to go on (its record's last confirmed point, or 0)
//   chunks     from there, a major sync point every syncEveryBytes and at the end
//   commit     the server hashes and renames; answers committed (or ERR_CHECKSUM_MISMATCH)
//   interrupted  a node that took the session over (its node died) has no open upload: stop
//              sending, and put again naming the transfer; the server's record (in the shared
//              files directory) says where to go on. Points sent before we heard are confirmed
//              as mere markers there; only the record counts.
//
// The answers are read by one reader beside the sending loop, so an `interrupted` arriving in
// the middle of the chunks is seen at the next chunk.

import { lstat, open, unlink } from 'node:fs/promises';
import { SessionError } from '../engine/errors.js';
import type { ClientSession } from '../client/connect.js';
import {
  KIND_CHUNK,
  decodeUnit,
  encodeControl,
  encodeOffset,
  hashFile,
  protocolError,
  remoteError,
  writeJsonAtomic,
} from './files-wire.js';
import type { ControlMessage } from './files-wire.js';
import {
  PUT_CHECKPOINT_SUFFIX,
  closeSession,
  countCuts,
  openSession,
  readJson,
  releaseBudget,
  watchEnd,
} from './files-session.js';
import type { PutCheckpoint, TransferOptions, TransferResult } from './files-session.js';
import { releasedByServer, watchPeerRelease } from './peer-release.js';
import type {} from './errors.js';

/** Most takeovers one put follows in one session (each is a node dying under it). */
const MAX_TAKEOVERS = 1000;

/** The server's answers, in order; `interrupted` voids whatever was awaited and counts a takeover. */
class Answers {
  takeovers = 0;
  private readonly queue: ControlMessage[] = [];
  private waiter: ((m: ControlMessage | null) => void) | undefined;
  private failure: Error | undefined;

  private readonly peerRelease: { reason(): string | undefined };

  constructor(session: ClientSession) {
    this.peerRelease = watchPeerRelease(session);
    void this.run(session);
  }

  private async run(session: ClientSession): Promise<void> {
    try {
      for await (const raw of session) {
        const unit = decodeUnit(raw);
        if (unit.kind !== 'control') throw protocolError('expected-control', 'file bytes where an answer was expected');
        if (unit.message.op === 'interrupted') {
          if (++this.takeovers > MAX_TAKEOVERS)
            throw protocolError('takeovers', `the transfer was interrupted ${this.takeovers} times in one session`);
          this.queue.length = 0;
          this.settle(null);
          continue;
        }
        if (this.waiter) this.settle(unit.message);
        else this.queue.push(unit.message);
      }
      const byServer = this.peerRelease.reason();
      throw new SessionError(
        'ERR_INVALID_STATE',
        byServer === undefined ? 'the server ended the session' : releasedByServer(byServer),
        'remote',
        byServer === undefined ? { state: 'closed' } : { state: 'closed', reason: byServer },
      );
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      if (!session.closed) session.abort(`files: ${this.failure.message}`);
      this.settle(null);
    }
  }

  private settle(m: ControlMessage | null): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(m);
  }

  /** The next answer, or null when the session was taken over since `since` takeovers. */
  next(since: number): Promise<ControlMessage | null> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.takeovers !== since) return Promise.resolve(null);
    const m = this.queue.shift();
    if (m) return m.op === 'error' ? Promise.reject(remoteError(m)) : Promise.resolve(m);
    return new Promise((resolve, reject) => {
      this.waiter = (got) => {
        if (this.failure) reject(this.failure);
        else if (got?.op === 'error') reject(remoteError(got));
        else resolve(this.takeovers !== since ? null : got);
      };
    });
  }
}

export async function uploadOnce(
  local: string,
  remote: string,
  options: TransferOptions,
  url: string,
): Promise<TransferResult> {
  const started = performance.now();
  const keep = options.checkpoint ?? true;
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  const syncEvery = options.syncEveryBytes ?? 2 * 1024 * 1024;
  const info = await lstat(local).catch(() => undefined);
  if (!info?.isFile())
    throw new SessionError('ERR_FILE_NOT_FOUND', `no regular file '${local}' to upload`, 'local', { path: local });
  const size = info.size;
  const mtimeMs = Math.floor(info.mtimeMs);
  const cpPath = local + PUT_CHECKPOINT_SUFFIX;
  const sha256 = await hashFile(local, options.signal);
  const cp = keep ? await readJson<PutCheckpoint>(cpPath) : undefined;
  const usable =
    cp?.version === 1 &&
    cp.op === 'put' &&
    cp.remote === remote &&
    cp.size === size &&
    cp.sha256 === sha256 &&
    typeof cp.transfer === 'string';
  let transfer = usable ? cp.transfer : undefined;

  const session = await openSession(url, options);
  const cuts = countCuts(session);
  const end = watchEnd(session);
  const answers = new Answers(session);
  const fd = await open(local, 'r');
  const sendOpts = options.signal ? { signal: options.signal } : {};
  let resumedFrom = -1;
  try {
    for (;;) {
      const since = answers.takeovers;
      await session.send(
        encodeControl({ op: 'put', path: remote, size, sha256, ...(transfer ? { transfer } : {}) }),
        sendOpts,
      );
      const ok = await answers.next(since);
      if (ok === null) continue;
      if (
        ok.op !== 'put-ok' ||
        typeof ok['transfer'] !== 'string' ||
        !Number.isSafeInteger(ok['offset']) ||
        (ok['offset'] as number) > size
      )
        throw protocolError('put-ok', 'a put-ok without a valid transfer and offset');
      let pos = ok['offset'] as number;
      if (resumedFrom < 0) resumedFrom = pos;
      if (transfer !== ok['transfer']) {
        transfer = ok['transfer'];
        if (keep)
          await writeJsonAtomic(cpPath, {
            version: 1,
            op: 'put',
            remote,
            size,
            sha256,
            mtimeMs,
            transfer,
          } satisfies PutCheckpoint).catch(() => {
            /* a read-only source directory: no restart resume */
          });
      }
      options.onProgress?.({ transferred: pos, total: size, resumedFrom });
      let sinceSync = 0;
      do {
        if (answers.takeovers !== since) break;
        const n = Math.min(chunkBytes, size - pos);
        if (n > 0) {
          const buf = Buffer.allocUnsafe(n + 1);
          buf[0] = KIND_CHUNK;
          const { bytesRead } = await fd.read(buf, 1, n, pos);
          if (bytesRead !== n)
            throw new SessionError('ERR_CHECKSUM_MISMATCH', `'${local}' changed while it was being sent`, 'local', {
              reason: 'file-changed',
            });
          await session.send(buf, sendOpts);
          pos += n;
          sinceSync += n;
        }
        if (sinceSync >= syncEvery || pos === size) {
          await session.syncMajor(encodeOffset(pos), sendOpts);
          sinceSync = 0;
          options.onProgress?.({ transferred: pos, total: size, resumedFrom });
        }
      } while (pos < size);
      if (answers.takeovers !== since) continue;
      await session.send(encodeControl({ op: 'commit' }), sendOpts);
      let done: ControlMessage | null;
      try {
        done = await answers.next(since);
      } catch (e) {
        if (e instanceof SessionError && e.code === 'ERR_CHECKSUM_MISMATCH') await unlink(cpPath).catch(() => {});
        throw e;
      }
      if (done === null) continue;
      if (done.op !== 'committed') throw protocolError('op', `expected committed, got ${done.op}`);
      await unlink(cpPath).catch(() => {});
      await closeSession(session, options.releaseTimeoutMs ?? 5000);
      return {
        local,
        remote,
        size,
        sha256,
        resumedFrom,
        interruptions: cuts(),
        takeovers: answers.takeovers,
        newSessions: 0,
        elapsedMs: performance.now() - started,
      };
    }
  } catch (error) {
    await closeSession(session, releaseBudget(options));
    throw end.lost(error);
  } finally {
    await fd.close();
  }
}
