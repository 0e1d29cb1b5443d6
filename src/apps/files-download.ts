// Files, the download side (get) of the server: one file sent to the client in its session. The
// service and its session loop are in ./files.ts; the client's side of a get is ./files-get.ts.
//
//   client gives the sync tokens (minor sync, major/activity), then {"op":"get","path","offset",
//          "expect"?}
//   server {"op":"get-ok","path","size","sha256","offset"}: `offset` is the one asked for, or 0
//          when `expect` no longer matches (the file changed: start over)
//   server chunks from there, read ahead, a minor sync point every syncEveryBytes with at most
//          syncWindow unconfirmed, the major point at the end (./files-stream.ts); then the
//          sync tokens go back to the client so it can release.
//
// Refusals before get-ok (no such file, too large, a rejected path) are {"op":"error"} replies and
// the session stays usable; a broken request is an ERR_APP_PROTOCOL thrown to the session loop.
// A get cut short by the client (it took its tokens back, went away) or by this server's release
// ends quietly.

import { open } from 'node:fs/promises';
import { SessionError } from '../engine/errors.js';
import type { Session } from '../driver/session.js';
import type { FilesCatalog } from './files-catalog.js';
import { SYNC_TOKENS, errorMessage, protocolError } from './files-wire.js';
import type { ControlMessage } from './files-wire.js';
import { ChunkReader, SyncWindow, chunkBytesFor } from './files-stream.js';
import type {} from './errors.js';

export interface DownloadLimits {
  readonly chunkBytes: number;
  readonly syncEveryBytes: number;
  readonly syncWindow: number;
}

/** Serves one get request `m`; `reply` sends a control message in the session. */
export async function sendFile(
  session: Session,
  m: ControlMessage,
  reply: (m: ControlMessage) => Promise<void>,
  catalog: FilesCatalog,
  o: DownloadLimits,
): Promise<void> {
  let file;
  try {
    file = await catalog.existingFile(m['path']);
  } catch (e) {
    if (e instanceof SessionError) {
      await reply(errorMessage(e));
      return;
    }
    throw e;
  }
  const { real, segments, size, key } = file;
  const sha256 = await catalog.hashOf(real, key);
  const expect = (m['expect'] ?? {}) as { size?: unknown; sha256?: unknown };
  const asked = m['offset'] ?? 0;
  if (!Number.isSafeInteger(asked) || (asked as number) < 0)
    throw protocolError('offset', 'get: offset must be an integer >= 0');
  const same = expect.sha256 === undefined || (expect.sha256 === sha256 && expect.size === size);
  let pos = same && (asked as number) <= size ? (asked as number) : 0;
  const missing = SYNC_TOKENS.filter((t) => !session.tokens.includes(t));
  if (missing.length > 0)
    throw protocolError(
      'tokens',
      `get: give the ${missing.join(' and ')} token(s) first (the server puts major sync points in the stream)`,
    );
  await reply({ op: 'get-ok', path: segments.join('/'), size, sha256, offset: pos });
  const fd = await open(real, 'r');
  try {
    // Read ahead and sent without copies; a minor point every syncEveryBytes with at most
    // syncWindow unconfirmed, the major point at the end (./files-stream.ts).
    const shown = segments.join('/');
    const reader = new ChunkReader(
      fd,
      chunkBytesFor(session, o.chunkBytes),
      size,
      pos,
      () =>
        new SessionError('ERR_APP_PROTOCOL', `'${shown}' shrank while it was being sent`, 'local', {
          reason: 'file-changed',
        }),
    );
    const window = new SyncWindow(session, o.syncEveryBytes, o.syncWindow);
    for (let c = await reader.chunk(); c; c = await reader.chunk()) {
      await session.send(c);
      pos += c.length - 1;
      if (pos < size) await window.sent(c.length - 1, pos);
    }
    await window.end(pos);
    // Back to the client (unless its request for them took them already).
    const held = SYNC_TOKENS.filter((t) => session.tokens.includes(t));
    if (held.length > 0) session.giveTokens(held);
  } catch (e) {
    // The client took its tokens back or went away, or this server is releasing the session (it
    // stops; its FINISH tells the client why): this get is over, quietly.
    if (
      e instanceof SessionError &&
      e.code !== 'ERR_APP_PROTOCOL' &&
      e.origin === 'local' &&
      (e.code === 'ERR_TOKEN_NOT_HELD' || session.closed || session.machine.releasing)
    )
      return;
    if (session.closed) return;
    throw e;
  } finally {
    await fd.close();
  }
}
