// Shutdown: what Server.close() does with the live sessions, under one deadline.
//
// Theory of operation
//   Every session is counted exactly once, by whichever comes first:
//     - its own end (its 'closed' event): no error -> released, an error -> aborted;
//     - its handoff (handover mode): handed over;
//     - a cut (the pacer's, at its pace or at the deadline; or at once, for a session that cannot
//       be released or handed over): aborted (released if it had ended released and only its
//       'closed' event was still held back).
//   Counts are taken when the decision is made, not when the 'closed' event it causes arrives
//   (a durable session's events wait for a store write in flight): the stop is bounded by the
//   deadline, not by the store.
//   release   each established, connected session is asked for the tokens a release needs (the
//             client gives them by default) and released; one the peer refuses to release is cut.
//             One not connected (waiting for resume) or not yet accepted is cut at once.
//   handover  every durable session stops reading; one sweep (one timer for all of them) hands
//             off each whose inputs are persisted and whose service has taken everything it was
//             given: this copy ends without a word to the peer (ERR_HANDED_OVER), the record
//             stays in the store for the node the client resumes on. One not durable (not yet
//             accepted) is cut at once.
//   Sessions are started a batch at a time while the pacer (./abort-pacer.ts) runs: it cuts what
//   is still waiting early enough that the last cut is done by the deadline, the last started
//   (or not started yet) first. At the deadline whatever is left is cut at once, after
//   onDeadline has the final counts; a peer asked to release that has sent nothing since gets
//   no ABORT then (it does not read), its connection is closed.
//
// Cost, per session (10,000 silent sessions cut within a 2 s deadline on a loaded machine,
// bench/operations.ts): one 'closed' listener, no promise chain, no timer. A cut ends the
// session with one error object shared by every cut (an Error with its stack trace made per
// session was most of an abort's cost), writes its ABORT and destroys its transport at once
// (Driver.abortNow: no graceful close, no linger timer).

import { SessionError } from '../engine/errors.js';
import { AbortReason, EMPTY } from '../engine/frames.js';
import type { TokenName } from '../engine/frames.js';
import type { Session } from '../driver/session.js';
import { ABORT_BATCH, paceAborts } from './abort-pacer.js';
import type {} from './errors.js';

/**
 * What a server that stops says in the FINISH of each session it releases (UTF-8), so that its
 * clients can tell their users why the session ended (src/apps/peer-release.ts).
 */
export const STOP_REASON_TEXT = 'the server is stopping: it released its sessions in order';
const STOP_REASON = new TextEncoder().encode(STOP_REASON_TEXT);

/** How close() ends sessions: release them, or leave them in the shared store for another node. */
export type StopMode = 'release' | 'handover';

export interface SessionCounts {
  /** Ended by an orderly release. */
  released: number;
  /** Left in the store for another node, this copy ended without a word to the client. */
  handedOver: number;
  /** Ended by an abort: at the deadline, not connected (release mode), or refused to release. */
  aborted: number;
}

/** How often the handover sweep looks at the sessions still settling (ms). */
export const HANDOVER_SWEEP_MS = 1;

export interface EndOptions {
  mode: StopMode;
  /** When the last session must have ended (performance.now() time). */
  deadlineAt: number;
  /** With durable sessions: lets go of a session's hold in the store without a tombstone (DurableSessions.forget). */
  durable: { forget(session: Session): void } | null;
  /** Called once if the deadline passes with sessions left: the counts are final then (see CloseOptions.onDeadline). */
  onDeadline?: (counts: SessionCounts) => void;
}

/** Ends every session of `live` (a snapshot: the caller no longer adds any) by `deadlineAt`. */
export async function endSessions(live: ReadonlyMap<string, Session>, options: EndOptions): Promise<SessionCounts> {
  const { mode, durable } = options;
  const counts: SessionCounts = { released: 0, handedOver: 0, aborted: 0 };
  // One reason for every cut: its message reaches each peer in its ABORT, each session's
  // 'closed' event carries it.
  const shuttingDown = new SessionError('ERR_ABORTED', 'server shutting down', 'local', {
    reason: AbortReason.user,
    userData: EMPTY,
  });
  const handedOver = new SessionError(
    'ERR_HANDED_OVER',
    'this node stopped; the session continues on another node sharing the store',
    'local',
  );
  // The pacer cuts in this set's order: the last asked to release first (the most likely to
  // still be waiting, and those not asked yet cost no request).
  const entries = [...live].filter(([, session]) => {
    if (!session.closed) return true;
    counts.aborted++;
    return false;
  });
  const waiting = new Set<Session>();
  for (let i = entries.length - 1; i >= 0; i--) waiting.add((entries[i] as [string, Session])[1]);
  let allEnded: () => void = () => {};
  const ended = new Promise<void>((resolve) => (allEnded = resolve));
  const leave = (session: Session): boolean => {
    if (!waiting.delete(session)) return false;
    if (waiting.size === 0) allEnded();
    return true;
  };

  /** Set by each cut before the deadline: the pacer is short of time, no more releases are begun. */
  let pacerCut = false;
  const cut = (session: Session): void => {
    // Ended already, its 'closed' event held back by a store write in flight: count what it was.
    if (session.machine.state === 'closed') {
      if (session.machine.releasedEnd()) counts.released++;
      else counts.aborted++;
      return;
    }
    counts.aborted++;
    // At the deadline, a peer that has sent nothing since it was asked to release has not read
    // what it was sent: no ABORT for it either (a write saved for each silent peer), its
    // connection is just closed. The others are told.
    const silent = pastDeadline && asked.get(session) === session.machine.stats.received;
    session.driver.abortNow(shuttingDown, AbortReason.user, !silent);
  };
  let pastDeadline = false;
  /** Release mode: the frames received from each session's peer when it was asked to release. */
  const asked = new Map<Session, number>();
  // Counted when handed off: its 'closed' event may wait for a store write in flight.
  const handOff = (session: Session, _id: string): void => {
    if (!leave(session)) return;
    counts.handedOver++;
    durable?.forget(session); // no tombstone: the record stays for the node the client resumes on
    session.driver.handOff(handedOver);
  };
  const settling = new Map<Session, string>();
  for (const [, session] of entries)
    session.on('closed', ({ error }) => {
      if (!leave(session)) return; // cut or handed off: counted then
      if (error === undefined) counts.released++;
      else counts.aborted++;
    });

  // Each session is started (asked to release, or set to settle for a handover) a batch at a
  // time, the event loop turning between batches, while the pacer runs: it may cut a session
  // before its turn comes.
  const start = (async (): Promise<void> => {
    for (let i = 0; i < entries.length; i++) {
      const [id, session] = entries[i] as [string, Session];
      // The pacer cut to keep its deadline: a release begun now would only add work; this one
      // waits, as one the pacer cuts (those not asked first). A handover costs nothing to begin.
      if (pacerCut && mode === 'release') {
        pacerCut = false;
        await turn();
        i--;
        continue;
      }
      if (waiting.has(session)) {
        if (mode === 'handover') {
          if (!durable || !session.driver.durability) {
            if (leave(session)) cut(session); // not accepted yet: nothing to continue
          } else {
            session.driver.pauseReading();
            settling.set(session, id);
          }
        } else if (!session.machine.releasing && !startRelease(session)) {
          if (leave(session)) cut(session); // not connected, or no release possible now
        }
      }
      if ((i + 1) % ABORT_BATCH === 0) await turn();
    }
  })();
  const sweep = mode === 'handover' ? handOverSettled(settling, waiting, handOff, start) : null;

  let timer: ReturnType<typeof setTimeout> | undefined;
  await paceAborts(waiting, options.deadlineAt, {
    clock: () => performance.now(),
    sleep: (ms) =>
      Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() =>
        clearTimeout(timer),
      ),
    yieldTurn: turn,
    cut: (session) => {
      pacerCut = !pastDeadline;
      cut(session);
    },
    deadline: (left) => {
      pastDeadline = true;
      options.onDeadline?.({ ...counts, aborted: counts.aborted + left });
    },
  });
  await start;
  settling.clear(); // the sweep stops
  await sweep;
  return counts;

  /** Asks for the tokens a release needs, then releases; false when it cannot even start (cut it). */
  function startRelease(session: Session): boolean {
    if (session.state !== 'established' || !session.driver.attached) return false;
    const missing = missingTokens(session);
    asked.set(session, session.machine.stats.received);
    try {
      if (missing.length === 0) release(session);
      else {
        const off = session.on('tokens-given', () => {
          if (missingTokens(session).length > 0) return;
          off();
          release(session);
        });
        session.requestTokens(missing);
      }
      return true;
    } catch {
      return false;
    }
  }

  function release(session: Session): void {
    if (session.closed) return;
    const refused = (): void => {
      if (leave(session)) cut(session);
    };
    try {
      session.release(STOP_REASON).then((accepted) => {
        if (!accepted) refused();
      }, refused);
    } catch {
      refused();
    }
  }
}

function missingTokens(session: Session): TokenName[] {
  const held = session.tokens;
  return (session.negotiated?.tokens ?? []).filter((t) => !held.includes(t));
}

/** One turn of the event loop: what the last batch started (writes, closes) runs before it resolves. */
function turn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * The handover sweep: every HANDOVER_SWEEP_MS, hands off each session of `settling` whose driver
 * has nothing in flight or held and whose service has taken everything delivered. A session cut
 * meanwhile (no longer waiting) leaves the sweep; so does one that ended by itself. Ends once
 * every session was started and `settling` is empty (the caller clears it when the pacer is done).
 */
async function handOverSettled(
  settling: Map<Session, string>,
  waiting: Set<Session>,
  handOff: (session: Session, id: string) => void,
  started: Promise<void>,
): Promise<void> {
  let starting = true;
  void started.then(() => (starting = false));
  while (starting || settling.size > 0) {
    // A turn first: reactions to the last events delivered (a service's answer) are queued by then.
    await new Promise<void>((resolve) => setTimeout(resolve, HANDOVER_SWEEP_MS));
    for (const [session, id] of settling) {
      if (!waiting.has(session) || session.closed) {
        settling.delete(session);
        continue;
      }
      if (!session.driver.settled || session.receiveBufferBytes > 0) continue;
      settling.delete(session);
      handOff(session, id);
    }
  }
}
