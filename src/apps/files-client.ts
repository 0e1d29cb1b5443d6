// The files client: getFile and putFile, used by `colloquy get` / `colloquy put` and usable as a
// library. Protocol and server: ./files.ts; framing and the sync-point barrier: ./files-wire.ts.
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
// Cuts of the connection need none of this: the session resumes by itself.

import { lstat, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { SessionError } from '../engine/errors.js';
import { connect } from '../client/connect.js';
import type { ClientSession, ConnectOptions } from '../client/connect.js';
import { encodeHello } from './service.js';
import { KIND_CHUNK, ReceiveBarrier, SYNC_TOKENS, decodeOffset, decodeUnit, encodeControl, encodeOffset, hashFile, protocolError, remoteError, writeJsonAtomic } from './files-wire.js';
import type { ControlMessage } from './files-wire.js';

export interface TransferProgress {
  /** Bytes of the file now on the receiving side (including those from before a restart). */
  transferred: number;
  total: number;
  /** Where this run started (0, or a checkpoint's offset). */
  resumedFrom: number;
}

export interface TransferOptions {
  /** Passed to connect() (credentials, tls, reconnect, ...); userData is set to the files hello. */
  connect?: ConnectOptions;
  /** Aborting ends the session by orderly release (the checkpoint stays, so a rerun resumes). */
  signal?: AbortSignal;
  onProgress?(progress: TransferProgress): void;
  /** Keep checkpoints so that a restarted process resumes. Default true. */
  checkpoint?: boolean;
  /** put: bytes per chunk. Default 64 KiB. */
  chunkBytes?: number;
  /** put: a major sync point after this many bytes. Default 2 MiB. */
  syncEveryBytes?: number;
  /**
   * Time allowed for the orderly release at the end, in ms. Default 5000. After an abort (the
   * signal) at most ABORT_RELEASE_MS of it, then the session is aborted: Ctrl-C stops at once.
   */
  releaseTimeoutMs?: number;
}

export interface TransferResult {
  local: string;
  remote: string;
  size: number;
  sha256: string;
  /** The offset this run started from (above 0 when it resumed a checkpoint). */
  resumedFrom: number;
  /** Connection cuts the session survived. */
  interruptions: number;
  elapsedMs: number;
}

/** The orderly release's budget once the caller aborted: a stop is prompt, the checkpoint kept. */
export const ABORT_RELEASE_MS = 300;

/** The release budget for an ending transfer: short when the caller gave up. */
function releaseBudget(options: TransferOptions): number {
  const ms = options.releaseTimeoutMs ?? 5000;
  return options.signal?.aborted ? Math.min(ms, ABORT_RELEASE_MS) : ms;
}

export const PART_SUFFIX = '.colloquy-part';
export const GET_CHECKPOINT_SUFFIX = '.colloquy-checkpoint';
export const PUT_CHECKPOINT_SUFFIX = '.colloquy-put-checkpoint';
export const LOCK_SUFFIX = '.colloquy-lock';

interface GetCheckpoint { version: 1; op: 'get'; remote: string; size: number; sha256: string; offset: number }
interface PutCheckpoint { version: 1; op: 'put'; remote: string; size: number; sha256: string; mtimeMs: number; transfer: string }

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function openSession(url: string, options: TransferOptions): Promise<ClientSession> {
  return connect(url, { ...options.connect, userData: encodeHello({ service: 'files' }), ...(options.signal ? { signal: options.signal } : {}) });
}

async function readControl(session: ClientSession, signal?: AbortSignal): Promise<ControlMessage> {
  const r = await session.read(signal ? { signal } : {});
  if (r.done) throw new SessionError('ERR_INVALID_STATE', 'the server ended the session', 'remote', { state: 'closed' });
  const unit = decodeUnit(r.value);
  if (unit.kind !== 'control') throw protocolError('expected-control', 'file bytes where an answer was expected');
  if (unit.message.op === 'error') throw remoteError(unit.message);
  return unit.message;
}

/**
 * Orderly release within `ms`: take back the tokens a release needs (asking again while the
 * peer cannot give them yet), wait out our own pending confirmation, then release; abort if
 * that does not work out in time.
 */
async function closeSession(session: ClientSession, ms: number): Promise<void> {
  if (session.closed) return;
  const until = performance.now() + ms;
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 100));
  try {
    while (!session.closed && performance.now() < until) {
      const missing = SYNC_TOKENS.filter((t) => !session.tokens.includes(t));
      if (missing.length === 0) break;
      try { session.requestTokens(missing); } catch { /* asked already */ }
      await pause();
    }
    while (!session.closed && performance.now() < until) {
      try {
        await session.release(undefined, { signal: AbortSignal.timeout(Math.max(1, Math.ceil(until - performance.now()))) });
        return;
      } catch (e) {
        const code = e instanceof SessionError ? e.code : undefined;
        if (code !== 'ERR_CONFIRM_PENDING' && code !== 'ERR_SYNC_PENDING' && code !== 'ERR_RESPONSE_REQUIRED' && code !== 'ERR_TOKEN_NOT_HELD') throw e;
        await pause();
      }
    }
    if (!session.closed) throw new Error('no release in time');
  } catch {
    if (!session.closed) session.abort('files: could not release in time');
  }
}

function countCuts(session: ClientSession): () => number {
  let n = 0;
  session.on('interrupted', () => n++);
  return () => n;
}

/**
 * Takes LOCAL.colloquy-lock (our PID inside) so that two downloads never write one part file.
 * A lock whose process no longer runs is stale and taken over (a killed run leaves one).
 */
async function lockLocal(local: string): Promise<() => Promise<void>> {
  const path = local + LOCK_SUFFIX;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const h = await open(path, 'wx');
      try { await h.writeFile(String(process.pid)); } finally { await h.close(); }
      return () => unlink(path).catch(() => {});
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(await readFile(path, 'utf8').catch(() => ''));
      if (Number.isSafeInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new SessionError('ERR_FILE_BUSY', `process ${pid} is already downloading into ${local}`, 'local', { pid, lock: path });
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
export async function getFile(url: string, remote: string, local: string, options: TransferOptions = {}): Promise<TransferResult> {
  const unlock = await lockLocal(local);
  try {
    return await download(url, remote, local, options);
  } finally {
    await unlock();
  }
}

async function download(url: string, remote: string, local: string, options: TransferOptions): Promise<TransferResult> {
  const started = performance.now();
  const keep = options.checkpoint ?? true;
  const part = local + PART_SUFFIX;
  const cpPath = local + GET_CHECKPOINT_SUFFIX;
  const cp = keep ? await readJson<GetCheckpoint>(cpPath) : undefined;
  const partSize = await stat(part).then((s) => s.size).catch(() => -1);
  const usable = cp?.version === 1 && cp.op === 'get' && cp.remote === remote && Number.isSafeInteger(cp.offset) && cp.offset >= 0 && cp.offset <= partSize && typeof cp.sha256 === 'string';
  let offset = usable ? cp.offset : 0;

  const session = await openSession(url, options);
  const cuts = countCuts(session);
  const barrier = new ReceiveBarrier(session);
  let fd: FileHandle | undefined;
  let stopping = false;
  // Filled in once get-ok arrived and the part file is ready. The sync handler is installed
  // before the request (a point may arrive before we are done setting up); it first waits for
  // the barrier, which cannot pass before the setup counted get-ok as processed.
  let pos = 0;
  let total = -1;
  let checkpoint: (at: number) => Promise<void> = async () => {};
  let finish: () => void = () => {};
  let fail: (e: Error) => void = () => {};
  const finished = new Promise<void>((resolve, reject) => { finish = resolve; fail = reject; });
  finished.catch(() => {});
  session.on('closed', ({ error }) => fail(error ?? new SessionError('ERR_INVALID_STATE', 'the server released the session before the file was complete', 'remote', { state: 'closed' })));
  const onSyncMajor = async (userData: Uint8Array): Promise<void> => {
    await barrier.wait();
    if (stopping || !fd) return;
    const at = decodeOffset(userData);
    if (at !== pos) throw protocolError('sync-offset', `the sync point says offset ${at}; ${pos} bytes arrived`);
    await fd.datasync();
    await checkpoint(at);
    if (at === total) finish();
  };
  // The running handler: the part file is closed only after it, never under its fsync.
  let handling: Promise<void> = Promise.resolve();
  session.setHandlers({
    syncMajor: (_serial, userData) => {
      const run = onSyncMajor(userData);
      handling = run.catch(() => {});
      return run;
    },
  });
  try {
    session.giveTokens(SYNC_TOKENS.filter((t) => session.tokens.includes(t)));
    await session.send(encodeControl({ op: 'get', path: remote, offset, ...(usable ? { expect: { size: cp.size, sha256: cp.sha256 } } : {}) }));
    const ok = await readControl(session, options.signal);
    if (ok.op !== 'get-ok') throw protocolError('op', `expected get-ok, got ${ok.op}`);
    const size = ok['size'];
    const sha256 = ok['sha256'];
    const start = ok['offset'];
    if (!Number.isSafeInteger(size) || typeof sha256 !== 'string' || !Number.isSafeInteger(start) || (start as number) > offset) throw protocolError('get-ok', 'a get-ok without a valid size, sha256 and offset');
    offset = start as number;
    total = size as number;
    const resumedFrom = offset;

    fd = await open(part, partSize >= 0 ? 'r+' : 'w+');
    await fd.truncate(offset);
    checkpoint = (at: number): Promise<void> => (keep ? writeJsonAtomic(cpPath, { version: 1, op: 'get', remote, size: total, sha256, offset: at } satisfies GetCheckpoint) : Promise.resolve());
    await checkpoint(offset);
    pos = offset;
    const handle = fd;
    barrier.done(); // get-ok
    options.onProgress?.({ transferred: pos, total, resumedFrom });
    while (pos < total) {
      const r = await session.read(options.signal ? { signal: options.signal } : {});
      if (r.done) throw new SessionError('ERR_INVALID_STATE', 'the server ended the session before the file was complete', 'remote', { state: 'closed' });
      try {
        const unit = decodeUnit(r.value);
        if (unit.kind !== 'chunk') throw unit.message.op === 'error' ? remoteError(unit.message) : protocolError('op', `unexpected ${unit.message.op} during a get`);
        if (pos + unit.bytes.length > total) throw protocolError('too-much', `more bytes than the announced size ${total}`);
        await handle.write(unit.bytes, 0, unit.bytes.length, pos);
        pos += unit.bytes.length;
      } finally {
        barrier.done();
      }
      options.onProgress?.({ transferred: pos, total, resumedFrom });
    }
    await abortable(finished, options.signal);
    await handle.close();
    fd = undefined;
    const closing = closeSession(session, options.releaseTimeoutMs ?? 5000);
    const actual = await hashFile(part);
    await closing;
    if (actual !== sha256) {
      await unlink(part).catch(() => {});
      await unlink(cpPath).catch(() => {});
      throw new SessionError('ERR_CHECKSUM_MISMATCH', `'${remote}' arrived with SHA-256 ${actual}, the server announced ${sha256}; the partial copy was deleted`, 'local', { expected: sha256, actual });
    }
    await rename(part, local);
    await unlink(cpPath).catch(() => {});
    return { local, remote, size: total, sha256, resumedFrom, interruptions: cuts(), elapsedMs: performance.now() - started };
  } catch (error) {
    stopping = true;
    barrier.release();
    await handling;
    await fd?.close().catch(() => {});
    await closeSession(session, releaseBudget(options));
    throw error;
  } finally {
    barrier.dispose();
  }
}

function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new SessionError('ERR_CANCELLED', 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); }, (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e instanceof Error ? e : new Error(String(e))); });
  });
}

/** Uploads LOCAL to REMOTE; resolves once the server verified the SHA-256 and renamed it into place. */
export async function putFile(url: string, local: string, remote: string, options: TransferOptions = {}): Promise<TransferResult> {
  const started = performance.now();
  const keep = options.checkpoint ?? true;
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  const syncEvery = options.syncEveryBytes ?? 2 * 1024 * 1024;
  const info = await lstat(local).catch(() => undefined);
  if (!info?.isFile()) throw new SessionError('ERR_FILE_NOT_FOUND', `no regular file '${local}' to upload`, 'local', { path: local });
  const size = info.size;
  const mtimeMs = Math.floor(info.mtimeMs);
  const cpPath = local + PUT_CHECKPOINT_SUFFIX;
  const sha256 = await hashFile(local, options.signal);
  const cp = keep ? await readJson<PutCheckpoint>(cpPath) : undefined;
  const usable = cp?.version === 1 && cp.op === 'put' && cp.remote === remote && cp.size === size && cp.sha256 === sha256 && typeof cp.transfer === 'string';

  const session = await openSession(url, options);
  const cuts = countCuts(session);
  const fd = await open(local, 'r');
  try {
    await session.send(encodeControl({ op: 'put', path: remote, size, sha256, ...(usable ? { transfer: cp.transfer } : {}) }));
    const ok = await readControl(session, options.signal);
    if (ok.op !== 'put-ok' || typeof ok['transfer'] !== 'string' || !Number.isSafeInteger(ok['offset']) || (ok['offset'] as number) > size) throw protocolError('put-ok', 'a put-ok without a valid transfer and offset');
    let pos = ok['offset'] as number;
    const resumedFrom = pos;
    if (keep) await writeJsonAtomic(cpPath, { version: 1, op: 'put', remote, size, sha256, mtimeMs, transfer: ok['transfer'] } satisfies PutCheckpoint).catch(() => { /* a read-only source directory: no restart resume */ });
    options.onProgress?.({ transferred: pos, total: size, resumedFrom });
    let sinceSync = 0;
    const sendOpts = options.signal ? { signal: options.signal } : {};
    do {
      const n = Math.min(chunkBytes, size - pos);
      if (n > 0) {
        const buf = Buffer.allocUnsafe(n + 1);
        buf[0] = KIND_CHUNK;
        const { bytesRead } = await fd.read(buf, 1, n, pos);
        if (bytesRead !== n) throw new SessionError('ERR_CHECKSUM_MISMATCH', `'${local}' changed while it was being sent`, 'local', { reason: 'file-changed' });
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
    await session.send(encodeControl({ op: 'commit' }), sendOpts);
    let done: ControlMessage;
    try {
      done = await readControl(session, options.signal);
    } catch (e) {
      if (e instanceof SessionError && e.code === 'ERR_CHECKSUM_MISMATCH') await unlink(cpPath).catch(() => {});
      throw e;
    }
    if (done.op !== 'committed') throw protocolError('op', `expected committed, got ${done.op}`);
    await unlink(cpPath).catch(() => {});
    await closeSession(session, options.releaseTimeoutMs ?? 5000);
    return { local, remote, size, sha256, resumedFrom, interruptions: cuts(), elapsedMs: performance.now() - started };
  } catch (error) {
    await closeSession(session, releaseBudget(options));
    throw error;
  } finally {
    await fd.close();
  }
}

