// The files service's messages and the barrier that makes a major sync point mean "on disk".
//
// Messages: one per session data unit; the first byte says what follows.
//   0x01 control  UTF-8 JSON object with an "op": get, get-ok, put, put-ok, commit, committed, error
//   0x02 chunk    file bytes; their offset is implicit (the session delivers in order, once)
// Sync points (minor ones asking for confirmation every syncEveryBytes, a major one at the end)
// carry {"offset":N} in their user data: the sender's position after the data before the point.
// The receiver confirms a point only after everything before it is written and flushed (and the
// checkpoint file or upload record updated), so a confirmed point is a durable checkpoint in the
// X.225 sense. The sender goes on past unconfirmed minor points, up to a window of them
// (./files-stream.ts):
//
//   sender                                       receiver
//   chunk ... MINOR_SYNC{offset} chunk ... ----->  write ... write; fsync, checkpoint
//   chunk ... (window)         <--------------   MINOR_SYNC_ACK
//   chunk ... MAJOR_SYNC{size} ---------------->  the same; the transfer's end
//   (no data until confirmed)  <--------------   MAJOR_SYNC_ACK

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';

/** The tokens a major sync point needs in a full-duplex session (data does not exist there). */
export const SYNC_TOKENS = ['minorSync', 'majorActivity'] as const;

/** SHA-256 of a file, hex. */
export async function hashFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024, ...(signal ? { signal } : {}) }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes a small JSON file so that a reader sees the old or the new version, never a torn one. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, path);
}

export const KIND_CONTROL = 0x01;
export const KIND_CHUNK = 0x02;

/** Largest control message accepted (bytes of JSON). */
export const MAX_CONTROL_BYTES = 16 * 1024;

export type ControlMessage = { op: string } & Record<string, unknown>;
export type Unit = { kind: 'control'; message: ControlMessage } | { kind: 'chunk'; bytes: Uint8Array };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function protocolError(reason: string, message: string): SessionError {
  return new SessionError('ERR_APP_PROTOCOL', message, 'remote', { reason });
}

export function encodeControl(message: ControlMessage): Uint8Array {
  const json = encoder.encode(JSON.stringify(message));
  const out = new Uint8Array(json.length + 1);
  out[0] = KIND_CONTROL;
  out.set(json, 1);
  return out;
}

export function decodeUnit(unit: Uint8Array): Unit {
  if (unit.length === 0) throw protocolError('empty', 'an empty files message');
  if (unit[0] === KIND_CHUNK) return { kind: 'chunk', bytes: unit.subarray(1) };
  if (unit[0] !== KIND_CONTROL)
    throw protocolError('kind', `unknown files message kind 0x${(unit[0] as number).toString(16)}`);
  if (unit.length - 1 > MAX_CONTROL_BYTES)
    throw protocolError('too-large', `a control message of ${unit.length - 1} bytes; at most ${MAX_CONTROL_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(unit.subarray(1)));
  } catch {
    throw protocolError('not-json', 'a control message that is not UTF-8 JSON');
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    typeof (value as { op?: unknown }).op !== 'string'
  ) {
    throw protocolError('no-op', 'a control message must be an object with an "op" string');
  }
  return { kind: 'control', message: value as ControlMessage };
}

export function encodeOffset(offset: number): Uint8Array {
  return encoder.encode(JSON.stringify({ offset }));
}

export function decodeOffset(userData: Uint8Array): number {
  try {
    const v = JSON.parse(decoder.decode(userData)) as { offset?: unknown };
    if (Number.isSafeInteger(v.offset) && (v.offset as number) >= 0) return v.offset as number;
  } catch {
    // falls through
  }
  throw protocolError('sync-offset', 'a major sync point without a valid {"offset":N}');
}

/** A typed error as the other side sends it in {"op":"error"}. */
export function errorMessage(error: unknown): ControlMessage {
  if (error instanceof SessionError)
    return { op: 'error', code: error.code, message: error.message, details: error.details };
  return {
    op: 'error',
    code: 'ERR_APP_PROTOCOL',
    message: error instanceof Error ? error.message : String(error),
    details: {},
  };
}

const REMOTE_CODES = new Set([
  'ERR_PATH_REJECTED',
  'ERR_FILE_NOT_FOUND',
  'ERR_FILE_TOO_LARGE',
  'ERR_CHECKSUM_MISMATCH',
  'ERR_QUOTA_EXCEEDED',
  'ERR_APP_PROTOCOL',
  'ERR_INVALID_ARGUMENT',
]);

/** The SessionError for a received {"op":"error"} (codes outside the files set become ERR_APP_PROTOCOL). */
export function remoteError(m: ControlMessage): SessionError {
  const code =
    typeof m['code'] === 'string' && REMOTE_CODES.has(m['code'])
      ? (m['code'] as 'ERR_APP_PROTOCOL')
      : 'ERR_APP_PROTOCOL';
  const details =
    typeof m['details'] === 'object' && m['details'] !== null ? (m['details'] as Record<string, unknown>) : {};
  return new SessionError(
    code,
    typeof m['message'] === 'string' ? m['message'] : 'the server reported an error',
    'remote',
    details,
  );
}
