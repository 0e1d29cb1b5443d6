// The server's codes (SessionError): refreshed credentials, the held-bytes budget, the handover on stop.

import type { ErrorTable } from '../util/colloquy-error.js';

export const SERVER_ERROR_CODES = {
  ERR_PRINCIPAL_CHANGED: {
    what: 'A credentials refresh (REAUTH) named another principal than the one the session was opened for; the refresh was refused and the session keeps its principal. The client sees ERR_REFUSED (`details.service` reauth).',
    todo: 'Open a new session to change users, or set `allowPrincipalChange: true` on the server if switching users on a live session is intended.',
  },
  ERR_BUDGET_EXCEEDED: {
    what: "The server's total of bytes held for unacknowledged and unsent data across all sessions passed `maxHeldBytes`; the session holding the most (its peer reads least) was aborted (reason buffer-overflow). `details.heldBytes` is what it held.",
    todo: 'Read and acknowledge what the server sends (a client that never reads is cut first); raise `maxHeldBytes` if legitimate peers hold this much.',
  },
  ERR_HANDED_OVER: {
    what: "The node holding the session stopped with a handover (`colloquy serve --on-stop handover`, `server.close({ mode: 'handover' })`): its copy of the session ended without a word to the client, and the session itself lives on in the shared store. Seen only on the server, in its `closed` event.",
    todo: 'Nothing: the client resumes on another node sharing the store (through the load balancer). If none takes it within the resume window, the session expires there.',
  },
} as const satisfies ErrorTable;

declare module '../engine/errors.js' {
  interface SessionErrorTables {
    server: typeof SERVER_ERROR_CODES;
  }
}
