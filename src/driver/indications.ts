// Indications: answering the peer's requests that need an answer (major sync, resynchronize,
// activity end/interrupt/discard, capability data, token requests, release) through a Session's
// IndicationHandlers.
//
// Theory of operation
//   - Each handler may be async and may be left out: a missing handler (or one returning nothing)
//     accepts. The answer goes to the machine once the handler settles, unless the session ended
//     meanwhile, and the driver is kicked to write it.
//   - A handler that throws aborts the session, except when the request was superseded meanwhile
//     (the machine then says ERR_NOTHING_TO_CONFIRM, and there is nothing left to answer).
//   - While an answer is in flight, the machine refuses new data (X.225: the request must be
//     answered first); Session.send waits for the answer instead of throwing at the application,
//     so a handler must not itself await a send on the same session.
//   - Token requests are best effort: only tokens this side holds are given, and a give that is
//     not allowed right now (a confirmation pending) is skipped; the peer may ask again.

import { SessionError } from '../engine/errors.js';
import type { ResyncTypeName, TokenName } from '../engine/frames.js';
import type { SessionEvent, SessionMachine } from '../engine/machine/index.js';

type Bytes = Uint8Array;
type Answer<T> = T | Promise<T>;

/** Answers to the peer's requests. Each may be async; a throw refuses (release) or aborts. */
export interface IndicationHandlers {
  syncMajor?(serial: number, userData: Bytes): Answer<Bytes | void>;
  resync?(info: {
    resyncType: ResyncTypeName;
    serial: number;
    tokens: TokenName[];
    userData: Bytes;
  }): Answer<Bytes | void>;
  endActivity?(serial: number, userData: Bytes): Answer<Bytes | void>;
  interruptActivity?(reason: number, discard: boolean): Answer<void>;
  capability?(payload: Bytes): Answer<Bytes | void>;
  /** Return false to refuse (only when negotiated release was agreed). */
  release?(userData: Bytes): Answer<boolean | { accept: boolean; userData?: Bytes }>;
  /** The peer asks for tokens. Return true to give those this side holds. Default: give. */
  tokensRequested?(tokens: TokenName[], userData: Bytes): Answer<boolean>;
}

/** What answering needs from the session. */
export interface Answering {
  readonly machine: SessionMachine;
  readonly closed: boolean;
  /** Its driver, kicked to write what an answer queued. */
  readonly driver: { kick(): void };
  abort(message: string): void;
}

/**
 * Answers an indication through the handlers (default: accept); other events are ignored.
 * Returns the answer in flight (settles once it is given to the machine, or dropped), so that a
 * send the pending request blocks can wait for it instead of failing.
 */
export function answerIndication(e: SessionEvent, h: IndicationHandlers, s: Answering): Promise<void> | undefined {
  const run = <T>(produce: () => Answer<T>, respond: (v: T) => void): Promise<void> => {
    return Promise.resolve()
      .then(produce)
      .then((v) => {
        if (!s.closed) {
          respond(v);
          s.driver.kick();
        }
      })
      .catch((error: unknown) => {
        if (s.closed) return;
        if (error instanceof SessionError && error.origin === 'local' && error.code === 'ERR_NOTHING_TO_CONFIRM')
          return; // superseded
        s.abort(`indication handler failed: ${error instanceof Error ? error.message : String(error)}`);
      });
  };
  const m = s.machine;
  const data = (v: Bytes | void): Bytes | undefined => (v instanceof Uint8Array ? v : undefined);
  switch (e.type) {
    case 'sync-major':
      return run(
        () => h.syncMajor?.(e.serial, e.userData),
        (v) => m.confirmMajorSync(data(v)),
      );
    case 'resync':
      return run(
        () => h.resync?.(e),
        (v) => m.respondResync(data(v)),
      );
    case 'activity-end':
      return run(
        () => h.endActivity?.(e.serial, e.userData),
        (v) => m.confirmActivityEnd(data(v)),
      );
    case 'activity-interrupt':
      return run(
        () => h.interruptActivity?.(e.reason, false),
        () => m.confirmActivityInterrupt(),
      );
    case 'activity-discard':
      return run(
        () => h.interruptActivity?.(e.reason, true),
        () => m.confirmActivityDiscard(),
      );
    case 'capability':
      return run(
        () => h.capability?.(e.payload),
        (v) => m.confirmCapability(data(v)),
      );
    case 'tokens-requested':
      return run(
        () => h.tokensRequested?.(e.tokens, e.userData),
        (give) => {
          const held = e.tokens.filter((t) => m.tokens.includes(t));
          // Giving may be impossible right now (a confirmation pending); the peer can ask again.
          if (give !== false && held.length)
            try {
              m.giveTokens(held);
            } catch {
              /* not now */
            }
        },
      );
    case 'release-request':
      return run(
        () => h.release?.(e.userData),
        (v) => {
          const accept = v === undefined ? true : typeof v === 'boolean' ? v : v.accept;
          m.respondRelease(accept, typeof v === 'object' ? v.userData : undefined);
        },
      );
    default:
      return;
  }
}
