// The get side of the files client: one download in one session (./files-client.ts wraps it
// in new sessions when a session is lost; the shared parts are in ./files-session.ts).
//
//   ask    give the sync tokens, {"op":"get","path","offset","expect"?}
//   get-ok the server's size, SHA-256 and where it starts (0 when the file changed): the part
//          file is cut back to there and the checkpoint rewritten
//   chunk  queued for writing at the current position (written behind the reader, ./files-stream.ts)
//          progress is reported at each point made durable (what a restart would keep)
//   point  MINOR_SYNC{offset} asking for confirmation, every syncEveryBytes: once the bytes before
//          it are written and flushed, the checkpoint says `offset` and the point is confirmed
//          (the server sends on meanwhile, up to its window of unconfirmed points);
//          MAJOR_SYNC{size}, the same at the end of the file, ends the get
//   interrupted  a node that took the session over (its node died) lost the transfer: ask again
//          from where the bytes so far end, naming the size and SHA-256 expected; it answers
//          get-ok and goes on. Everything the old node sent arrives before this message.

import { open, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { SessionError } from '../engine/errors.js';
import type { ClientSession } from '../client/connect.js';
import { DurablePoints, FileWriter, TrailingHash } from './files-stream.js';
import { SYNC_TOKENS, decodeUnit, encodeControl, protocolError, remoteError, writeJsonAtomic } from './files-wire.js';
import {
  GET_CHECKPOINT_SUFFIX,
  PART_SUFFIX,
  abortable,
  closeSession,
  countCuts,
  openSession,
  readJson,
  releaseBudget,
  watchEnd,
} from './files-session.js';
import type { GetCheckpoint, TransferOptions, TransferResult } from './files-session.js';
import type {} from './errors.js';
import { releasedByServer, watchPeerRelease } from './peer-release.js';

/** Most takeovers one get follows in one session (each is a node dying under it). */
const MAX_TAKEOVERS = 1000;

export async function downloadOnce(
  url: string,
  remote: string,
  local: string,
  options: TransferOptions,
): Promise<TransferResult> {
  const started = performance.now();
  const keep = options.checkpoint ?? true;
  const part = local + PART_SUFFIX;
  const cpPath = local + GET_CHECKPOINT_SUFFIX;
  const cp = keep ? await readJson<GetCheckpoint>(cpPath) : undefined;
  const partSize = await stat(part)
    .then((s) => s.size)
    .catch(() => -1);
  const usable =
    cp?.version === 1 &&
    cp.op === 'get' &&
    cp.remote === remote &&
    Number.isSafeInteger(cp.offset) &&
    cp.offset >= 0 &&
    cp.offset <= partSize &&
    typeof cp.sha256 === 'string';
  // What the next ask says: where to start and, once known, which version of the file.
  let offset = usable ? cp.offset : 0;
  let expect = usable ? { size: cp.size, sha256: cp.sha256 } : undefined;

  const session = await openSession(url, options);
  const peerRelease = watchPeerRelease(session);
  const cuts = countCuts(session);
  const end = watchEnd(session);
  let fd: FileHandle | undefined;
  // Writes the chunks behind the reader (./files-stream.ts); a new one after each get-ok.
  let writer: FileWriter | undefined;
  // SHA-256 of the part file, read back behind the writer (the whole file, resumed part too).
  let hasher: TrailingHash | undefined;
  let stopping = false;
  // Set once get-ok arrived and the part file is ready. Points are made durable in order by
  // `points` (installed before the request: a point may arrive before we are done setting up;
  // it is reached only once the setup counted get-ok as processed).
  let pos = 0;
  let total = -1;
  let sha256 = '';
  let resumedFrom = -1;
  let takeovers = 0;
  const checkpoint = (at: number): Promise<void> =>
    keep
      ? writeJsonAtomic(cpPath, {
          version: 1,
          op: 'get',
          remote,
          size: total,
          sha256,
          offset: at,
        } satisfies GetCheckpoint)
      : Promise.resolve();
  let finish: () => void = () => {};
  let fail: (e: Error) => void = () => {};
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  finished.catch(() => {});
  session.on('closed', ({ error }) => {
    const byServer = peerRelease.reason();
    fail(
      error ??
        new SessionError(
          'ERR_INVALID_STATE',
          `${releasedByServer(byServer ?? '')} before the file was complete`,
          'remote',
          byServer === undefined ? { state: 'closed' } : { state: 'closed', reason: byServer },
        ),
    );
  });
  // A point is made durable only for the writer it arrived under: after an `interrupted` the
  // transfer starts again (get-ok may cut the part back), and points from before are markers.
  const points = new DurablePoints<{ pos: number; writer: FileWriter | undefined }>(
    session,
    {
      snapshot: () => ({ pos, writer }),
      check: (at, s) => {
        if (s.writer && s.writer === writer && at !== s.pos)
          throw protocolError('sync-offset', `the sync point says offset ${at}; ${s.pos} bytes arrived`);
      },
      durable: async (at, s, major) => {
        const w = s.writer;
        if (stopping || !w || w !== writer) return;
        await w.settled(at);
        if (stopping || w !== writer) return;
        await (fd as FileHandle).datasync();
        if (stopping || w !== writer) return;
        await checkpoint(at);
        options.onProgress?.({ transferred: at, total, resumedFrom });
        if (major && at === total) finish();
      },
    },
    (e) => {
      if (!stopping && !session.closed) session.abort(`files: ${e instanceof Error ? e.message : String(e)}`);
    },
  );
  /** Waits until no point is being made durable (one started meanwhile sees the new writer). */
  const quiet = async (): Promise<void> => {
    for (let w = points.working; ; w = points.working) {
      await w;
      if (w === points.working) return;
    }
  };
  const ask = async (): Promise<void> => {
    const held = SYNC_TOKENS.filter((t) => session.tokens.includes(t));
    if (held.length > 0) session.giveTokens(held);
    await session.send(encodeControl({ op: 'get', path: remote, offset, ...(expect ? { expect } : {}) }));
  };
  const onGetOk = async (m: Record<string, unknown>): Promise<void> => {
    const size = m['size'];
    const sha = m['sha256'];
    const start = m['offset'];
    if (
      !Number.isSafeInteger(size) ||
      typeof sha !== 'string' ||
      !Number.isSafeInteger(start) ||
      (start as number) > offset
    )
      throw protocolError('get-ok', 'a get-ok without a valid size, sha256 and offset');
    total = size as number;
    sha256 = sha;
    // The bytes of the transfer before (an interrupted one) are written and no point of it is
    // being saved before the part is cut back.
    const before = writer;
    writer = undefined;
    if (before) await before.settled(before.end);
    await quiet();
    fd ??= await open(part, partSize >= 0 ? 'r+' : 'w+');
    // The bytes before `start` are on disk already (written, and flushed here) or none at all.
    await fd.truncate(start as number);
    await fd.datasync();
    pos = start as number;
    await checkpoint(pos);
    const h = (hasher ??= new TrailingHash(fd));
    await h.truncated(pos);
    writer = new FileWriter(fd, pos, (written) => h.upTo(written));
    if (resumedFrom < 0) resumedFrom = pos;
    options.onProgress?.({ transferred: pos, total, resumedFrom });
  };
  // Reading stops when the final point was confirmed (`finished`): nothing else comes then.
  const done = new AbortController();
  void finished.then(
    () => done.abort(),
    () => done.abort(),
  );
  // One signal for every read (not one combined per chunk).
  const readOpts = { signal: options.signal ? AbortSignal.any([done.signal, options.signal]) : done.signal };
  try {
    await ask();
    let asking = true;
    while (!done.signal.aborted) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await session.read(readOpts);
      } catch (e) {
        if (done.signal.aborted && !options.signal?.aborted) break;
        throw e;
      }
      if (r.done) {
        const byServer = peerRelease.reason();
        throw new SessionError(
          'ERR_INVALID_STATE',
          byServer === undefined
            ? 'the server ended the session before the file was complete'
            : `${releasedByServer(byServer)} before the file was complete`,
          'remote',
          byServer === undefined ? { state: 'closed' } : { state: 'closed', reason: byServer },
        );
      }
      let room: Promise<void> | undefined;
      try {
        const unit = decodeUnit(r.value);
        if (unit.kind === 'control') {
          const m = unit.message;
          if (m.op === 'error') throw remoteError(m);
          if (m.op === 'interrupted') {
            if (++takeovers > MAX_TAKEOVERS)
              throw protocolError('takeovers', `the transfer was interrupted ${takeovers} times in one session`);
            if (total >= 0) {
              offset = pos;
              expect = { size: total, sha256 };
            }
            asking = true;
            await ask();
            continue;
          }
          if (m.op !== 'get-ok' || !asking) throw protocolError('op', `unexpected ${m.op} during a get`);
          asking = false;
          await onGetOk(m);
          continue;
        }
        if (asking || !writer) throw protocolError('op', 'file bytes before get-ok');
        if (pos + unit.bytes.length > total)
          throw protocolError('too-much', `more bytes than the announced size ${total}`);
        room = writer.write(unit.bytes);
        pos += unit.bytes.length;
      } finally {
        points.done();
      }
      // The writer is a full queue behind: read on once it took some.
      if (room) await abortable(room, options.signal);
    }
    await abortable(finished, options.signal);
    const closing = closeSession(session, options.releaseTimeoutMs ?? 5000);
    const actual = await (hasher as TrailingHash).digest(total);
    const handle = fd as FileHandle;
    fd = undefined;
    await handle.close();
    await closing;
    if (actual !== sha256) {
      await unlink(part).catch(() => {});
      await unlink(cpPath).catch(() => {});
      throw new SessionError(
        'ERR_CHECKSUM_MISMATCH',
        `'${remote}' arrived with SHA-256 ${actual}, the server announced ${sha256}; the partial copy was deleted`,
        'local',
        { expected: sha256, actual },
      );
    }
    await rename(part, local);
    await unlink(cpPath).catch(() => {});
    return {
      local,
      remote,
      size: total,
      sha256,
      resumedFrom,
      interruptions: cuts(),
      takeovers,
      newSessions: 0,
      elapsedMs: performance.now() - started,
    };
  } catch (error) {
    stopping = true;
    points.release();
    writer?.abandon();
    hasher?.stop();
    const closing = fd?.close().catch(() => {});
    // After an abort nothing is awaited that the kernel holds (a write or fdatasync in flight
    // finishes on its own, and no checkpoint is written after it): the stop is prompt. Otherwise
    // (the session was lost; a new one may follow on this part file) the point in progress and
    // the handle are let finish first, so no late checkpoint crosses the next session's.
    if (!options.signal?.aborted) {
      await points.working.catch(() => {});
      await closing;
    }
    // What the server sent ahead (up to its window) is read and dropped meanwhile, so that the
    // tokens it gives back, behind that data, reach us and the release can be orderly.
    void drain(session);
    await closeSession(session, releaseBudget(options));
    throw end.lost(error);
  } finally {
    points.dispose();
  }
}

/** Reads and drops everything until the session ends. */
async function drain(session: ClientSession): Promise<void> {
  try {
    while (!(await session.read()).done);
  } catch {
    // ended
  }
}
