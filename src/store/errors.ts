// The session stores' codes (SessionError).

import type { ErrorTable } from '../util/colloquy-error.js';

export const STORE_ERROR_CODES = {
  ERR_STORE_TIMEOUT: {
    what: 'A session store call did not finish within its timeout (`details.timeoutMs`, `details.op`).',
    todo: 'The store is slow or unreachable; the caller decides between failing closed (the default) and going on without it. Check the store.',
  },
  ERR_STORE_UNAVAILABLE: {
    what: 'The session store cannot be reached (`details.cause`), or it was closed.',
    todo: 'Check that the store runs and is reachable; calls fail fast until it is back.',
  },
  ERR_STORE_FULL: {
    what: 'The memory store is at its bound (`details.limit`: maxEntries or maxBytes); nothing was written.',
    todo: 'Raise the bound, shorten TTLs, or use a remote store.',
  },
  ERR_STORE_CONFLICT: {
    what: 'An atomic update lost the race more times than allowed (`details.retries`): other writers keep changing the session.',
    todo: 'Retry later, or reduce contention on the session (write fewer fields, less often).',
  },
} as const satisfies ErrorTable;

declare module '../engine/errors.js' {
  interface SessionErrorTables {
    store: typeof STORE_ERROR_CODES;
  }
}
