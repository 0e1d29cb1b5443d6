// The services' codes (SessionError): RPC, file transfer and chat.

import type { ErrorTable } from '../util/colloquy-error.js';

export const APPS_ERROR_CODES = {
  // -- RPC and file transfer (rpc.ts, files.ts) ----------------------------------------------
  ERR_APP_PROTOCOL: {
    what: "A service message from the peer (RPC or file transfer) did not parse or broke the service's rules; `details.reason` says how. The service aborts the session.",
    todo: 'The peer runs another version or is not a Colloquy service; check both ends. Nothing is retried automatically.',
  },
  ERR_RPC_ERROR: {
    what: "The server answered a JSON-RPC call with an error: `details.rpcCode` (JSON-RPC code, e.g. -32601 method not found), `details.data` (the error's data, if any).",
    todo: 'Read the message: fix the method name or parameters, or handle the application error the method reported.',
  },
  ERR_RPC_TIMEOUT: {
    what: 'A JSON-RPC call got no answer within its timeout (`details.timeoutMs`); the client sent a cancellation for it.',
    todo: 'Raise the timeout, or retry with the same request id: the server runs an id once and answers a retry from its result cache.',
  },
  ERR_PATH_REJECTED: {
    what: 'A file path was refused (`details.reason`: empty, nul, absolute, dot-dot, too-long, too-deep, reserved, outside-root); paths are relative to the served root and may never leave it, also not through a symbolic link.',
    todo: 'Use a relative path with forward slashes inside the served directory, without `..`, NUL or a leading `/`.',
  },
  ERR_FILE_NOT_FOUND: {
    what: 'The named file does not exist under the served root, or is not a regular file (`details.path`).',
    todo: 'Check the name with `colloquy call URL files.list`.',
  },
  ERR_FILE_TOO_LARGE: {
    what: 'A file is larger than a limit allows (`details.limit` names it, e.g. maxFileBytes; `details.size`, `details.max`).',
    todo: 'Raise the limit on the server (e.g. `maxFileBytes`), or transfer a smaller file.',
  },
  ERR_CHECKSUM_MISMATCH: {
    what: "A transferred file's SHA-256 differs from the sender's (`details.expected`, `details.actual`); the partial copy was deleted and nothing was renamed into place.",
    todo: 'Run the transfer again (it starts over); if it keeps failing, the file changes while it is sent or something corrupts data at rest.',
  },
  ERR_QUOTA_EXCEEDED: {
    what: 'A file upload was refused before it started because it would pass a bound of the files service (`details.limit`: maxTotalBytes, maxBytesPerPrincipal, maxConcurrentUploads or maxUploadsPerPrincipal); nothing was written.',
    todo: 'Upload less, delete files on the server, wait for other uploads to finish, or raise the limit (`colloquy serve --limit filesMaxTotalBytes=…`, or the filesService() option).',
  },
  ERR_FILE_BUSY: {
    what: 'Another live process (`details.pid`) is downloading into the same local file; its lock is `details.lock`.',
    todo: 'Wait for it to finish, or stop it; a lock left by a process that no longer runs is taken over by itself.',
  },
  // -- chat (chat.ts) ------------------------------------------------------------------------
  ERR_CHAT_BAD_MESSAGE: {
    what: 'A chat peer sent a data unit that is not a chat message: not UTF-8 JSON, an unknown `type`, or a field of the wrong kind (`details.reason`). The receiving side aborts the session.',
    todo: 'Use the ChatClient (src/apps/chat-client.ts) or follow the message formats in docs/apps.md (Chat).',
  },
  ERR_CHAT_MESSAGE_TOO_LARGE: {
    what: "A chat message text is longer than the server allows (`details.bytes`, `details.limit`: the service's maxMessageBytes); it was not sent to the room.",
    todo: 'Send shorter messages, or raise `maxMessageBytes` in chatService() on the server.',
  },
  ERR_CHAT_LOG_TRIMMED: {
    what: 'Chat across nodes: messages of the room left its log in the shared store (its logLimit or logTtlMs) before they could reach this member, whose session was on a node that went away; the `error` says how many. The member goes on from the oldest message kept.',
    todo: 'Nothing to do for this session; to keep more, raise `logLimit` or `logTtlMs` in chatService({ shared }) on the servers.',
  },
  ERR_CHAT_RESEND_INCOMPLETE: {
    what: "Chat across nodes: after a member's session moved to another node, that node held the member's new lines until its client had sent again the lines the dead node may have lost (the client's `resending` list), so as to log them all in the order said; the wait ended before they were all in (RESEND_WAIT_MS, 15 s, or RESEND_HELD_LINES, 1000 lines held), and the held lines were logged without the missing ones. The `error` says which case and how many.",
    todo: 'Nothing to do for this session: a line that arrives later is logged after those, or, if a later line of the member is already logged, not at all; check the client (an older ChatClient sends no `resending`) and the load of the servers.',
  },
  ERR_CHAT_TURN_QUEUE_FULL: {
    what: 'In a half-duplex (walkie-talkie) room, more messages waited for the turn than the client holds (`details.limit`: maxPendingMessages).',
    todo: 'Wait for the turn (the `turn` event) before sending more, or raise `maxPendingMessages`.',
  },
} as const satisfies ErrorTable;

declare module '../engine/errors.js' {
  interface SessionErrorTables {
    apps: typeof APPS_ERROR_CODES;
  }
}
