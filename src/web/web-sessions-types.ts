// The shapes of the web-session core (web-sessions.ts): its options, the record it stores, what
// listing a principal's sessions returns, what an adapter hands to load(), and the calls a
// WebSession makes back into its manager. Types only; no code.

import type { SessionStore } from '../store/store.js';
import type { SessionToken } from './cookie.js';
import type { WebSession, SessionData } from './web-session.js';
import type { Outcome, QUEUED } from './writer.js';
import type { Revocations } from './revocation.js';

export interface WebSessionsOptions {
  /** Where sessions live. Default: a new MemoryStore (one process). */
  store?: SessionStore;
  /** Cookie name; `__Host-` is prefixed when the cookie is Secure with Path=/ and no Domain. Default 'sid'. */
  cookieName?: string;
  /** Idle timeout: a session not seen for this long is over. Default 30 min. */
  idleTimeoutMs?: number;
  /** Absolute timeout: a session this old is over, however active. Default 12 h. */
  absoluteTimeoutMs?: number;
  /** Re-send the cookie (fresh Max-Age) on every response. Default false (only when written). */
  rolling?: boolean;
  /** Last-seen is written at most this often. Default min(60 s, idleTimeoutMs / 10). */
  touchAfterMs?: number;
  /** Default 'Lax'. 'None' needs Secure. */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** 'auto' (default): Secure when the request came over TLS (or X-Forwarded-Proto https with trustProxy). */
  secure?: boolean | 'auto';
  /** Believe X-Forwarded-Proto / X-Forwarded-For from a reverse proxy. Default false. */
  trustProxy?: boolean;
  path?: string;
  /** Setting a Domain gives up the `__Host-` prefix. */
  domain?: string;
  /** Per store call. Default 1000 ms. */
  storeTimeoutMs?: number;
  /** 'fail' (default): 503 when the store fails; 'anonymous': go on without a session. */
  onStoreError?: 'fail' | 'anonymous';
  /** Told about store failures that did not fail the request (anonymous mode, best-effort cleanup). */
  onError?: (error: unknown) => void;
  /** Serialised session data at most. Default 64 KiB (ERR_WEB_SESSION_TOO_LARGE). */
  maxDataBytes?: number;
  /** Compare-and-set attempts per write under contention from other processes. Default 64. */
  maxRetries?: number;
  /** The clock deciding expiry. Default Date.now. */
  now?: () => number;
  /** Key namespace in the store. Default 'web'. */
  namespace?: string;
  /**
   * Concurrent requests for one session in this process share one store read (never one that
   * began before this process's last write to it finished). Default true.
   */
  coalesceReads?: boolean;
}

/** What is stored per session (short keys: this is on every request's path). */
export interface SessionRecord {
  /** SHA-256 of the cookie's secret, base64url. */
  h: string;
  d: SessionData;
  /** Created, last seen (this layer's clock, ms). */
  c: number;
  s: number;
  ua?: string;
  ip?: string;
}

export interface SessionInfo {
  id: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  userAgent?: string;
  address?: string;
}

export interface LoadInput {
  cookie: string | string[] | null | undefined;
  secure: boolean;
  userAgent?: string;
  address?: string;
}

/** @internal What WebSession calls back into. */
export interface SessionManagerInternals {
  newToken(): SessionToken;
  readonly revocations: Revocations;
  save(session: WebSession<SessionData>, create?: boolean): Promise<void>;
  destroyStored(id: string): Promise<void>;
  writeRecord(
    session: WebSession<SessionData>,
    change: (rec: SessionRecord) => SessionRecord | undefined,
  ): Promise<Outcome<SessionRecord>>;
  writeRecordNow(
    session: WebSession<SessionData>,
    change: (rec: SessionRecord) => SessionRecord | undefined,
  ): Outcome<SessionRecord> | typeof QUEUED;
}
