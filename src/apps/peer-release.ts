// Why the server released a session: a server that ends a session in order (a node that stops
// releases its sessions, src/server/server.ts) says why in its FINISH's user data (UTF-8 text).
// The clients of the apps keep it, so a command cut short by that release prints the server's
// reason instead of a bare "the session was released".

import type { SessionEvent } from '../engine/machine/index.js';

/** What the apps' clients need of a session: its machine events. */
interface EventSource {
  on(type: 'event', listener: (e: SessionEvent) => void): () => void;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Watches `session` for the peer's release request: `reason()` is its text once the peer asked
 * to release ('' when it gave none), undefined while it has not.
 */
export function watchPeerRelease(session: EventSource): { reason(): string | undefined } {
  let reason: string | undefined;
  session.on('event', (e) => {
    if (e.type === 'release-request') reason = decoder.decode(e.userData);
  });
  return { reason: () => reason };
}

/** "the server released the session (REASON)" or "… (it gave no reason)". */
export function releasedByServer(reason: string): string {
  return `the server released the session (${reason === '' ? 'it gave no reason' : reason})`;
}
