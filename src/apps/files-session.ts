// What the files client's get and put sides share: options and results, checkpoint names,
// opening and closing a session, and going on in a new session when one is lost.
//
// Two kinds of trouble, two answers:
//   - The node serving the session died and another node restored it from the shared store:
//     that node sends {"op":"interrupted"} after everything the old node sent, and the get or
//     put side resumes the transfer in the same session from its last confirmed point (the
//     transfer is an activity in the X.225 sense: interrupted with its node, resumed later).
//   - No node could resume the session (memory store, store lost, resume window over): the
//     session is lost; `withNewSessions` runs the transfer again in a new session, where the
//     checkpoint (get) or the server's upload record (put) says where to go on, up to
//     `newSessions` times, telling `onNotice` each time. Only when that fails does the transfer
//     fail, with the error that ended the session and what was tried.

import { readFile } from 'node:fs/promises';
import { SessionError } from '../engine/errors.js';
import { connect } from '../client/connect.js';
import type { ClientSession, ConnectOptions } from '../client/connect.js';
import { encodeHello } from './service.js';
import { SYNC_TOKENS } from './files-wire.js';
import type {} from '../driver/errors.js';

export interface TransferProgress {
  /**
   * Bytes of the file now on the receiving side's disk, as of its last confirmed sync point
   * (including those from before a restart): what a restart would keep.
   */
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
  /** put: bytes per chunk. Default 256 KiB; at most a frame (the session's maxFrameSize less one byte). */
  chunkBytes?: number;
  /** put: a sync point (confirmed once the server has the bytes on disk) after this many bytes. Default 2 MiB. */
  syncEveryBytes?: number;
  /** put: sync points that may be unconfirmed while the bytes after them are sent. Default 8. */
  syncWindow?: number;
  /**
   * Time allowed for the orderly release at the end, in ms. Default 5000. After an abort (the
   * signal) at most ABORT_RELEASE_MS of it, then the session is aborted: Ctrl-C stops at once.
   */
  releaseTimeoutMs?: number;
  /**
   * When the session is lost (no node could resume it: refused, or the resume window ran out),
   * go on from the checkpoint in this many new sessions before failing. Default 2.
   */
  newSessions?: number;
  /** Told what happened when the transfer had to go on in a new session (for the user). */
  onNotice?(message: string): void;
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
  /** Times a node that took the session over told us to resume the transfer in the same session. */
  takeovers: number;
  /** New sessions the transfer went on in after a session was lost. */
  newSessions: number;
  elapsedMs: number;
}

/** The orderly release's budget once the caller aborted: a stop is prompt, the checkpoint kept. */
export const ABORT_RELEASE_MS = 300;

/** The release budget for an ending transfer: short when the caller gave up. */
export function releaseBudget(options: TransferOptions): number {
  const ms = options.releaseTimeoutMs ?? 5000;
  return options.signal?.aborted ? Math.min(ms, ABORT_RELEASE_MS) : ms;
}

export const PART_SUFFIX = '.colloquy-part';
export const GET_CHECKPOINT_SUFFIX = '.colloquy-checkpoint';
export const PUT_CHECKPOINT_SUFFIX = '.colloquy-put-checkpoint';
export const LOCK_SUFFIX = '.colloquy-lock';

export interface GetCheckpoint {
  version: 1;
  op: 'get';
  remote: string;
  size: number;
  sha256: string;
  offset: number;
}
export interface PutCheckpoint {
  version: 1;
  op: 'put';
  remote: string;
  size: number;
  sha256: string;
  mtimeMs: number;
  transfer: string;
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export async function openSession(url: string, options: TransferOptions): Promise<ClientSession> {
  return connect(url, {
    ...options.connect,
    userData: encodeHello({ service: 'files' }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/**
 * Orderly release within `ms`: take back the tokens a release needs (asking again while the
 * peer cannot give them yet), wait out our own pending confirmation, then release; abort if
 * that does not work out in time.
 */
export async function closeSession(session: ClientSession, ms: number): Promise<void> {
  if (session.closed) return;
  const until = performance.now() + ms;
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 100));
  try {
    while (!session.closed && performance.now() < until) {
      const missing = SYNC_TOKENS.filter((t) => !session.tokens.includes(t));
      if (missing.length === 0) break;
      try {
        session.requestTokens(missing);
      } catch {
        /* asked already */
      }
      await pause();
    }
    while (!session.closed && performance.now() < until) {
      try {
        await session.release(undefined, {
          signal: AbortSignal.timeout(Math.max(1, Math.ceil(until - performance.now()))),
        });
        return;
      } catch (e) {
        const code = e instanceof SessionError ? e.code : undefined;
        if (
          code !== 'ERR_CONFIRM_PENDING' &&
          code !== 'ERR_SYNC_PENDING' &&
          code !== 'ERR_RESPONSE_REQUIRED' &&
          code !== 'ERR_TOKEN_NOT_HELD'
        )
          throw e;
        await pause();
      }
    }
    if (!session.closed) throw new Error('no release in time');
  } catch {
    if (!session.closed) session.abort('files: could not release in time');
  }
}

export function countCuts(session: ClientSession): () => number {
  let n = 0;
  session.on('interrupted', () => n++);
  return () => n;
}

export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void =>
      reject(signal.reason instanceof Error ? signal.reason : new SessionError('ERR_CANCELLED', 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** How an established session ends when no node could continue it: worth a new session. */
const LOST: ReadonlySet<string> = new Set([
  'ERR_RESUME_REFUSED',
  'ERR_RESUME_WINDOW_EXPIRED',
  'ERR_HEARTBEAT_TIMEOUT',
  'ERR_REPLAY_OVERFLOW',
  'ERR_CONNECT_FAILED',
]);

/**
 * Watches how `session` ends. `lost(error)` is what a transfer throws: the session's own error,
 * marked `details.sessionLost`, when the session was lost (whatever failed first in the
 * transfer because of it), else `error`.
 */
export function watchEnd(session: ClientSession): { lost(error: unknown): unknown } {
  let end: SessionError | undefined;
  session.on('closed', ({ error }) => {
    end = error;
  });
  return {
    lost: (error) =>
      end && LOST.has(end.code)
        ? new SessionError(end.code, end.message, end.origin, { ...end.details, sessionLost: true })
        : error,
  };
}

export function sessionLost(error: unknown): error is SessionError {
  return error instanceof SessionError && error.details['sessionLost'] === true;
}

/**
 * Runs `once` (a transfer in a new session) and, while it fails because its session was lost,
 * again, at most `newSessions` more times. `once` receives how many sessions were lost so far.
 */
export async function withNewSessions(
  options: TransferOptions,
  what: string,
  once: (lost: number) => Promise<TransferResult>,
): Promise<TransferResult> {
  const limit = options.newSessions ?? 2;
  const started = performance.now();
  let lostWith: SessionError | undefined;
  for (let lost = 0; ; lost++) {
    try {
      const result = await once(lost);
      return { ...result, newSessions: lost, elapsedMs: performance.now() - started };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      if (lostWith !== undefined && (!(error instanceof SessionError) || error.code === 'ERR_CONNECT_FAILED')) {
        // No new session either: say what ended the old one, and that nothing could continue.
        const details = error instanceof SessionError ? error.details : {};
        const why = error instanceof Error ? error.message : String(error);
        throw new SessionError(
          'ERR_CONNECT_FAILED',
          lostWith.details['durable'] === false
            ? `${what}: ${lostWith.message} (the checkpoint is kept; a new session could not be opened either: ${why})`
            : `${what}: the session was lost (${lostWith.code}: ${lostWith.message}) and no node could continue it; a new session could not be opened either: ${why}`,
          'local',
          { ...details, lost: lostWith.code },
        );
      }
      if (!sessionLost(error)) throw error;
      if (lost >= limit) {
        throw new SessionError(
          error.code,
          `${what}: the session was lost ${lost + 1} times (last: ${error.message}); no node could continue it (newSessions ${limit})`,
          error.origin,
          { ...error.details, newSessions: limit },
        );
      }
      lostWith = error;
      options.onNotice?.(
        error.details['durable'] === false
          ? `${what}: the node that held the session is gone (the server keeps sessions in memory only); trying from the checkpoint in a new session`
          : `${what}: the session was lost (${error.code}: ${error.message}); going on from the checkpoint in a new session`,
      );
    }
  }
}
