// Web sessions' and tokens' codes (SessionError).

import type { ErrorTable } from '../util/colloquy-error.js';

export const WEB_ERROR_CODES = {
  ERR_WEB_SESSION_GONE: {
    what: 'The web session was destroyed, revoked or expired (`details.reason`) while this request used it; the change was not written.',
    todo: 'Treat the user as logged out: send them to log in again, which starts a new session.',
  },
  ERR_WEB_SESSION_TOO_LARGE: {
    what: "A web session's data would exceed `maxDataBytes` once serialised (`details.bytes`, `details.limit`); nothing was written.",
    todo: 'Keep session data small (ids, not documents), or raise `maxDataBytes`.',
  },
  ERR_TOKEN_INVALID: {
    what: 'An access token did not verify (`details.reason`: malformed, signature, algorithm, issuer, audience, expired, unknown-key, claims, revoked).',
    todo: 'Get a new access token with the refresh token; if that fails too, log in again.',
  },
  ERR_REFRESH_INVALID: {
    what: 'A refresh token is malformed, unknown, revoked or past its lifetime (`details.reason`).',
    todo: 'Log in again: the token family is gone.',
  },
  ERR_REFRESH_REUSED: {
    what: 'A refresh token that had already been rotated was presented again (outside the grace window): it may have been stolen, so its whole family was revoked (RFC 9700 section 4.14.2).',
    todo: 'Log in again. If this happens without an attack, make sure the client keeps only the newest refresh token and does not refresh twice at once.',
  },
} as const satisfies ErrorTable;

declare module '../engine/errors.js' {
  interface SessionErrorTables {
    web: typeof WEB_ERROR_CODES;
  }
}
