// The stored form of a durable session (durable.ts): the head record under the session's key,
// the snapshot inside it (the resume secret replaced by its hash, bytes as base64url), and the
// chunks of outbound frames it names. Encoding only: no store calls here.

import { createHash } from 'node:crypto';
import { toBase64, fromBase64 } from './base64.js';
import { decodeFrame } from '../engine/codec/index.js';
import { SessionError } from '../engine/errors.js';
import { MAX_FRAME_SIZE } from '../engine/frames.js';
import type {} from '../store/errors.js';
import type { ResumeRefuseReasonValue, SessionFrame } from '../engine/frames.js';
import type { MachineSnapshot } from '../engine/machine/index.js';

/** One chunk of the outbound sequence: frames start..start+count-1, stored under `name`. */
export type ChunkRef = [name: string, start: number, count: number];

/** What the store holds under a session's key (the head). */
export interface Record {
  snapshot: EncodedHead;
  principal: unknown;
  log: { base: number; sent: number; end: number; chunks: ChunkRef[]; tailStart: number; tail: string[] };
  ended?: boolean;
  /** Why it ended (code: message), when an error ended it. */
  why?: string;
  /** The write token of the persist that stored this head (random per try). */
  w?: string;
  /** The RESUME_REFUSED reason later RESUMEs hear, when not `closed` (stale-state). */
  reason?: ResumeRefuseReasonValue;
  /**
   * Ended by an orderly release: what answers a client that lost the end of the release and
   * resumes on another node (ReleasedEnd; frames base64url-encoded), and the secret's hash to
   * check its RESUME against.
   */
  released?: { secretHash: string; received: number; base: number; frames: string[] };
}

type Dialogue = MachineSnapshot['dialogue'];
type Pending = NonNullable<Dialogue['pendingRemote']>;
/** A pending request with its user data (what the peer's indication carried) as base64url. */
type EncodedPending = { kind: Pending['kind']; userData?: string } & { [field: string]: unknown };

export type EncodedHead = Omit<MachineSnapshot, 'sessionId' | 'resumeSecret' | 'replay' | 'queued' | 'dialogue'> & {
  sessionId: string;
  /** SHA-256 of the resume secret, base64url: the secret itself is never stored. */
  secretHash: string;
  dialogue: Omit<Dialogue, 'activity' | 'pendingLocal' | 'pendingRemote' | 'minorUserData'> & {
    activity: string | null;
    pendingLocal: EncodedPending | null;
    pendingRemote: EncodedPending | null;
    minorUserData?: string;
  };
};

function encodePending(p: Pending | null): EncodedPending | null {
  if (p === null) return null;
  const { userData, ...rest } = p as Pending & { userData?: Uint8Array };
  return userData === undefined ? rest : { ...rest, userData: toBase64(userData) };
}

function decodePending(p: EncodedPending | null | undefined): Pending | null {
  if (p === null || p === undefined) return null;
  const { userData, ...rest } = p;
  return (typeof userData === 'string' ? { ...rest, userData: fromBase64(userData) } : rest) as Pending;
}

/** The stored form of a resume secret. */
export function hashResumeSecret(secret: Uint8Array): string {
  return createHash('sha256').update(secret).digest('base64url');
}

export function encodeHead(s: MachineSnapshot): EncodedHead {
  const { replay: _replay, queued: _queued, resumeSecret: _secret, ...rest } = s;
  return {
    ...rest,
    sessionId: toBase64(s.sessionId),
    secretHash: hashResumeSecret(s.resumeSecret),
    dialogue: encodeDialogue(s.dialogue),
  };
}

function encodeDialogue(d: Dialogue): EncodedHead['dialogue'] {
  const { minorUserData, ...rest } = d;
  return {
    ...rest,
    activity: d.activity ? toBase64(d.activity) : null,
    pendingLocal: encodePending(d.pendingLocal),
    pendingRemote: encodePending(d.pendingRemote),
    ...(minorUserData ? { minorUserData: toBase64(minorUserData) } : {}),
  };
}

function decodeDialogue(e: EncodedHead['dialogue']): Dialogue {
  const { minorUserData, ...rest } = e;
  return {
    ...rest,
    activity: e.activity === null ? null : fromBase64(e.activity),
    pendingLocal: decodePending(e.pendingLocal),
    pendingRemote: decodePending(e.pendingRemote),
    ...(typeof minorUserData === 'string' ? { minorUserData: fromBase64(minorUserData) } : {}),
  };
}

export function decodeHead(
  e: EncodedHead,
  resumeSecret: Uint8Array,
  replay: SessionFrame[],
  queued: SessionFrame[],
): MachineSnapshot {
  const { secretHash: _hash, ...rest } = e;
  return {
    ...rest,
    sessionId: fromBase64(e.sessionId),
    resumeSecret,
    replay,
    queued,
    dialogue: decodeDialogue(e.dialogue),
  };
}

/** A chunk as this node knows it. */
export interface Chunk {
  name: string;
  start: number;
  count: number;
  /** When it was last written or touched (Date.now()); 0: never by this node. */
  at: number;
}

/**
 * The outbound frames a head's log names, from its chunks (`parts`, in the log's order) and its
 * tail: those from log.base on. Throws ERR_STORE_UNAVAILABLE (cause chunk-malformed) when they
 * do not add up.
 */
export function storedFrames(
  id: string,
  log: Record['log'],
  parts: { data: string[] }[],
): { frames: SessionFrame[]; chunks: Chunk[] } {
  const frames: SessionFrame[] = [];
  const chunks: Chunk[] = [];
  log.chunks.forEach(([name, start, count], i) => {
    const data = (parts[i] as { data: string[] }).data;
    if (!Array.isArray(data) || data.length < count)
      throw new SessionError('ERR_STORE_UNAVAILABLE', `a stored chunk of session ${id} is malformed`, 'local', {
        id,
        cause: 'chunk-malformed',
      });
    for (let k = 0; k < count; k++) {
      if (start + k >= log.base && start + k < log.end)
        frames.push(decodeFrame(fromBase64(data[k] as string), MAX_FRAME_SIZE) as SessionFrame);
    }
    chunks.push({ name, start, count, at: 0 });
  });
  if (!Array.isArray(log.tail) || log.tailStart + log.tail.length !== log.end)
    throw new SessionError('ERR_STORE_UNAVAILABLE', `the stored tail of session ${id} is malformed`, 'local', {
      id,
      cause: 'chunk-malformed',
    });
  log.tail.forEach((f, k) => {
    if (log.tailStart + k >= log.base) frames.push(decodeFrame(fromBase64(f), MAX_FRAME_SIZE) as SessionFrame);
  });
  if (frames.length !== log.end - log.base)
    throw new SessionError(
      'ERR_STORE_UNAVAILABLE',
      `the stored frames of session ${id} do not cover ${log.base}..${log.end}`,
      'local',
      { id, cause: 'chunk-malformed' },
    );
  return { frames, chunks };
}
