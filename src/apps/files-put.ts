// The put side of the files client: one upload in one session (./files-client.ts wraps it in
// new sessions when a session is lost; the shared parts are in ./files-session.ts).
//
//   put        {"op":"put","path","size","sha256","transfer"?}: the server answers put-ok with
//              the transfer id and where to go on (its record's last confirmed point, or 0)
//   chunks     from there, read ahead; a minor sync point (confirmed once the server has the
//              bytes on disk and its record says so) every syncEveryBytes with at most syncWindow
//              unconfirmed, and a major one at the end (./files-stream.ts)
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
import { ChunkReader, DEFAULT_CHUNK_BYTES, DEFAULT_SYNC_WINDOW, SyncWindow, chunkBytesFor } from './files-stream.js';
import { decodeUnit, encodeControl, hashFile, protocolError, remoteError, writeJsonAtomic } from './files-wire.js';
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
  /** Resolves at the next takeover (or the end of the answers): the sending loop stops waiting. */
  private nextTakeover!: Promise<void>;
  private tookOver: () => void = () => {};

  private readonly peerRelease: { reason(): string | undefined };

  constructor(session: ClientSession) {
    this.peerRelease = watchPeerRelease(session);
    this.arm();
    void this.run(session);
  }

  private arm(): void {
    this.nextTakeover = new Promise((resolve) => {
      this.tookOver = resolve;
    });
  }

  /** Resolves once the session was taken over since `since` takeovers (or the answers ended). */
  takenOver(since: number): Promise<void> {
    return this.takeovers !== since || this.failure ? Promise.resolve() : this.nextTakeover;
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
          this.tookOver();
          this.arm();
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
      this.tookOver();
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
  const wantChunk = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const syncEvery = options.syncEveryBytes ?? 2 * 1024 * 1024;
  const syncWindow = options.syncWindow ?? DEFAULT_SYNC_WINDOW;
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
      // Read ahead and sent without copies; a minor point every syncEveryBytes with at most
      // syncWindow unconfirmed, the major point at the end (./files-stream.ts).
      const reader = new ChunkReader(
        fd,
        chunkBytesFor(session, wantChunk),
        size,
        pos,
        () =>
          new SessionError('ERR_CHECKSUM_MISMATCH', `'${local}' changed while it was being sent`, 'local', {
            reason: 'file-changed',
          }),
      );
      // Progress is what the server confirmed: on its disk and in its record.
      const window = new SyncWindow(session, syncEvery, syncWindow, options.signal, (at) => {
        if (answers.takeovers === since) options.onProgress?.({ transferred: at, total: size, resumedFrom });
      });
      for (let c = await reader.chunk(); c; c = await reader.chunk()) {
        if (answers.takeovers !== since) break;
        await session.send(c, sendOpts);
        pos += c.length - 1;
        // A node that took the session over never confirms the points the old one held: the
        // wait for room in the window ends with the takeover (the loop then puts again).
        if (pos < size) await window.sent(c.length - 1, pos, answers.takenOver(since));
      }
      window.reset();
      if (answers.takeovers === since) await window.end(pos);
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
