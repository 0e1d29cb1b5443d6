// Events the machine delivers to the application (poll with `pollEvent()`), and the queue
// that holds them until then.
//
// Indications marked "answer" leave the machine waiting for the named response command; until
// it is given, services that would conflict fail with ERR_RESPONSE_REQUIRED.

import type { SessionError } from '../errors.js';
import type { ResyncTypeName, TokenName } from '../frames.js';
import type { Negotiated } from './options.js';

export type ConfirmedService = 'sync-major' | 'activity-end' | 'capability' | 'release' | 'resync';

export type SessionEvent =
  /** Acceptor: a peer asks for a session. Answer: `accept()` or `refuse()`. */
  | { type: 'connect-request'; proposal: Negotiated; credentials: Uint8Array; userData: Uint8Array }
  | { type: 'established'; negotiated: Negotiated; sessionId: Uint8Array; userData: Uint8Array }
  | { type: 'interrupted'; error?: SessionError }
  | { type: 'resumed'; replayed: number }
  /** The machine wants the current transport closed (dead peer, refused resume, handshake timeout); the session may live on. */
  | { type: 'close-transport'; error: SessionError }
  /** The session ended: `error` says why, or none for a release (with the DISCONNECT's user data). */
  | { type: 'closed'; error?: SessionError; userData?: Uint8Array }
  /** Room again in the send queue after ERR_SEND_BUFFER_FULL. */
  | { type: 'writable' }
  | { type: 'data'; payload: Uint8Array }
  | { type: 'expedited'; payload: Uint8Array }
  | { type: 'typed'; payload: Uint8Array }
  /** Answer: `confirmCapability()`. */
  | { type: 'capability'; payload: Uint8Array }
  | { type: 'capability-confirmed'; payload: Uint8Array }
  | { type: 'tokens-given'; tokens: TokenName[] }
  | { type: 'tokens-requested'; tokens: TokenName[]; userData: Uint8Array }
  | { type: 'control-given' }
  | { type: 'control-give-confirmed' }
  | { type: 'sync-minor'; serial: number; confirm: boolean; userData: Uint8Array }
  | { type: 'sync-minor-confirmed'; serial: number; userData: Uint8Array }
  /** Answer: `confirmMajorSync()`. */
  | { type: 'sync-major'; serial: number; userData: Uint8Array }
  | { type: 'sync-major-confirmed'; serial: number; userData: Uint8Array }
  /** Answer: `respondResync()`. */
  | { type: 'resync'; resyncType: ResyncTypeName; serial: number; tokens: TokenName[]; userData: Uint8Array }
  | { type: 'resync-complete'; serial: number; tokens: TokenName[]; userData: Uint8Array }
  /** A confirmed service (ours: side 'local'; an indication we had: side 'remote') was superseded. */
  | {
      type: 'cancelled';
      service: ConfirmedService;
      side: 'local' | 'remote';
      by: 'resync' | 'activity-interrupt' | 'activity-discard';
    }
  | { type: 'activity-start'; activityId: Uint8Array; userData: Uint8Array }
  | { type: 'activity-resume'; activityId: Uint8Array; oldActivityId: Uint8Array; serial: number; userData: Uint8Array }
  /** Answer: `confirmActivityInterrupt()`. */
  | { type: 'activity-interrupt'; reason: number }
  | { type: 'activity-interrupted'; activityId: Uint8Array; serial: number }
  /** Answer: `confirmActivityDiscard()`. */
  | { type: 'activity-discard'; reason: number }
  | { type: 'activity-discarded' }
  /** Answer: `confirmActivityEnd()`. */
  | { type: 'activity-end'; serial: number; userData: Uint8Array }
  | { type: 'activity-ended'; serial: number; userData: Uint8Array }
  | { type: 'exception'; from: 'user' | 'provider'; reason: number; userData: Uint8Array; message: string }
  /** Answer: `respondRelease(accept)`. */
  | { type: 'release-request'; userData: Uint8Array }
  | { type: 'release-refused'; userData: Uint8Array }
  /** Acceptor: the initiator presents fresh credentials. Answer: `answerReauth()`. */
  | { type: 'reauth'; credentials: Uint8Array }
  | { type: 'reauth-result'; accepted: boolean; message: string }
  /** Normal data thrown away by a resynchronize or an activity interrupt/discard. */
  | { type: 'data-discarded'; direction: 'in' | 'out'; payloads: Uint8Array[] };

export type SessionEventType = SessionEvent['type'];

/** Events waiting for the application, in order; `poll` hands out one at a time. */
export class EventQueue {
  // Made on first push and let go when emptied: an idle session keeps no array (issue 14).
  private events: SessionEvent[] | null = null;
  private head = 0;

  push(e: SessionEvent): void {
    if (this.events === null) this.events = [e];
    else this.events.push(e);
  }

  get empty(): boolean {
    return this.events === null;
  }

  poll(): SessionEvent | undefined {
    const events = this.events;
    if (events === null) return undefined;
    const e = events[this.head++];
    if (this.head === events.length) {
      this.events = null;
      this.head = 0;
    }
    return e;
  }
}
