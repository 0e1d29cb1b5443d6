// The bounds of `colloquy serve` that a stranger could otherwise exhaust, by name, with their
// defaults. Every one can be set with `--limit NAME=VALUE` (repeatable) or `ServeOptions.limits`;
// docs/security.md (Limits) lists them with why each default is what it is.
//
//   HTTP         headersTimeoutMs, requestTimeoutMs: a slow client cannot hold a connection
//                with a trickle of header or body bytes (Node's own defaults are 60 s / 300 s).
//   logins       loginsPerAddressPerMinute, loginsPerMinute: token buckets (burst = the rate);
//                unusedLoginMs: a login that is never used again is dropped from the store after
//                this long, so a login flood cannot fill the store; trackedAddresses bounds the
//                per-address table itself.
//   files        the files service's quotas, upload slots, depth and sweeper (src/apps/files-limits.ts).

import { SessionError } from '../engine/errors.js';

export interface ServeLimits {
  /** Time to receive a request's headers (ms). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, headers and body (ms); then 408 and the connection closes. */
  requestTimeoutMs: number;
  /** Logins one address may make per minute (a token bucket with this burst). */
  loginsPerAddressPerMinute: number;
  /** Logins the whole node accepts per minute, from every address together. */
  loginsPerMinute: number;
  /** A login not used after it was made (no request, no WebSocket with its cookie) is dropped after this (ms). */
  unusedLoginMs: number;
  /** Addresses whose login rate is tracked at once (the least recently seen is forgotten first). */
  trackedAddresses: number;
  /** Bytes under --files (files plus uploads in progress); a put that would pass it is refused. */
  filesMaxTotalBytes: number;
  /** Bytes one principal may have in uploads in progress plus files it wrote since serve started. */
  filesMaxBytesPerPrincipal: number;
  /** Uploads in progress at once, on this node. */
  filesMaxConcurrentUploads: number;
  /** Uploads in progress at once per principal. */
  filesMaxUploadsPerPrincipal: number;
  /** Directories deep a path may go (segments, the file's name included). */
  filesMaxDepth: number;
  /** An upload untouched this long (ms) and held by no session is deleted by the sweeper. */
  filesStaleUploadMs: number;
  /** How often the sweeper looks for abandoned uploads (ms). */
  filesSweepIntervalMs: number;
}

export const DEFAULT_LIMITS: Readonly<ServeLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  loginsPerAddressPerMinute: 10,
  loginsPerMinute: 120,
  unusedLoginMs: 10 * 60_000,
  trackedAddresses: 10_000,
  filesMaxTotalBytes: 8 * 1024 ** 3,
  filesMaxBytesPerPrincipal: 1024 ** 3,
  filesMaxConcurrentUploads: 32,
  filesMaxUploadsPerPrincipal: 4,
  filesMaxDepth: 16,
  filesStaleUploadMs: 60 * 60_000,
  filesSweepIntervalMs: 5 * 60_000,
});

/** The defaults with `given` over them; every value must be an integer >= 1. */
export function resolveLimits(given: Partial<ServeLimits> = {}): ServeLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(given) as [keyof ServeLimits, number | undefined][]) {
    if (value === undefined) continue;
    if (!(name in DEFAULT_LIMITS))
      throw new SessionError(
        'ERR_INVALID_ARGUMENT',
        `no limit named '${name}'; the limits are ${Object.keys(DEFAULT_LIMITS).join(', ')}`,
      );
    if (!Number.isSafeInteger(value) || value < 1)
      throw new SessionError('ERR_INVALID_ARGUMENT', `the limit ${name} must be an integer >= 1, got ${String(value)}`);
    out[name] = value;
  }
  return out;
}

/** Parses `--limit NAME=VALUE` arguments (VALUE an integer; ms or bytes as the name says). */
export function parseLimitArgs(args: readonly string[]): Partial<ServeLimits> {
  const out: Partial<ServeLimits> = {};
  for (const arg of args) {
    const m = /^([A-Za-z]+)=(\d{1,16})$/.exec(arg);
    if (!m) throw new SessionError('ERR_INVALID_ARGUMENT', `--limit takes NAME=INTEGER, not '${arg}'`);
    const name = m[1] as keyof ServeLimits;
    if (!(name in DEFAULT_LIMITS))
      throw new SessionError(
        'ERR_INVALID_ARGUMENT',
        `no limit named '${name}'; the limits are ${Object.keys(DEFAULT_LIMITS).join(', ')}`,
      );
    out[name] = Number(m[2]);
  }
  resolveLimits(out);
  return out;
}
