// Guards: the preconditions of the dialogue's local commands (see dialogue.ts for the rules).
// Each throws a local SessionError naming what is missing and changes nothing, so a command runs
// all of its guards first and only then changes state. The errors that several guards share
// (a pending confirmation, an unanswered request, a release under way, a token whose unit was not
// negotiated) are built in one place each, so every command words them alike.

import { SessionError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { MAX_ACTIVITY_ID, MAX_SERIAL, Token, Unit } from '../frames.js';
import type { TokenName, TokenSet, UnitName } from '../frames.js';
import type { Dialogue } from './dialogue.js';
import { TOKEN_UNIT, tokenNames } from './tokens.js';

export function err(code: ErrorCode, message: string, details: Record<string, unknown> = {}): SessionError {
  return new SessionError(code, message, 'local', details);
}

/** Our request of this kind awaits the peer's answer. */
export function confirmPending(kind: string): SessionError {
  return err('ERR_CONFIRM_PENDING', `waiting for the peer to confirm ${kind}`, { pending: kind });
}

/** The peer's request of this kind awaits our answer. */
export function responseRequired(kind: string): SessionError {
  return err('ERR_RESPONSE_REQUIRED', `answer the peer's ${kind} first`, { pending: kind });
}

/** A token that does not exist under the negotiated units. */
export function noSuchToken(name: TokenName): SessionError {
  return err('ERR_UNIT_NOT_SELECTED', `the ${name} token does not exist: the ${TOKEN_UNIT[name]} unit was not negotiated`, { unit: TOKEN_UNIT[name], token: name });
}

export function need(d: Dialogue, unit: UnitName): void {
  if (!(d.units & Unit[unit])) throw err('ERR_UNIT_NOT_SELECTED', `the ${unit} functional unit was not negotiated`, { unit });
}

export function needTokens(d: Dialogue, tokens: TokenSet): void {
  for (const name of tokenNames(tokens & d.available)) {
    if (!(d.held & Token[name])) throw err('ERR_TOKEN_NOT_HELD', `this needs the ${name} token, which the peer holds`, { token: name });
  }
}

export function noPending(d: Dialogue): void {
  if (d.pendingLocal) throw confirmPending(d.pendingLocal.kind);
  if (d.pendingRemote) throw responseRequired(d.pendingRemote.kind);
}

export function needActivity(d: Dialogue, inside: boolean): void {
  if (!d.activities) return;
  if (inside && !d.activity) throw err('ERR_ACTIVITY_REQUIRED', 'with the activities unit, this needs an activity in progress');
  if (!inside && d.activity) throw err('ERR_ACTIVITY_IN_PROGRESS', 'this is only allowed outside an activity');
}

/** We answered FINISH with DISCONNECT: nothing more may be sent. */
export function notReleasing(d: Dialogue): void {
  if (d.finished) throw err('ERR_INVALID_STATE', 'the session is being released', { state: 'releasing' });
}

/** Normal flow (data, typed data, sync points) is open. */
export function flowOpen(d: Dialogue): void {
  notReleasing(d);
  const l = d.pendingLocal?.kind;
  if (l === 'sync-major' || l === 'activity-end') throw err('ERR_SYNC_PENDING', `no new data until the peer confirms ${l}`, { pending: l });
  if (l) throw confirmPending(l);
  const r = d.pendingRemote?.kind;
  if (r && r !== 'release' && r !== 'capability') throw responseRequired(r);
  if (d.exceptionPending) throw err('ERR_EXCEPTION_PENDING', 'the peer reported an exception; give the data token, resynchronize, or interrupt or discard the activity');
}

/**
 * Takes V(M) for a new sync point (minor, major, activity end). Issuing one also gives up the
 * right to confirm the peer's earlier minor points (X.225's Vsc := false): the peer may confirm
 * ours, which moves its V(A) past them, so a late MINOR_SYNC_ACK for one would be out of range.
 */
export function nextSerial(d: Dialogue): number {
  if (d.vm > MAX_SERIAL) throw err('ERR_INVALID_ARGUMENT', `serial numbers are exhausted (max ${MAX_SERIAL}); resynchronize with set`, { serial: d.vm });
  d.minorToConfirm = null;
  return d.vm++;
}

/** A token set given by the application: at least one token, each existing. */
export function checkTokenArg(d: Dialogue, tokens: TokenSet): void {
  if (tokens === 0 || (tokens & ~(Token.data | Token.minorSync | Token.majorActivity | Token.release)) !== 0) {
    throw err('ERR_INVALID_ARGUMENT', 'name at least one token', { tokens });
  }
  for (const name of tokenNames(tokens)) {
    if (!(d.available & Token[name])) throw noSuchToken(name);
  }
}

export function checkActivityId(id: Uint8Array, what: string): void {
  if (id.length < 1 || id.length > MAX_ACTIVITY_ID) throw err('ERR_INVALID_ARGUMENT', `${what} must be 1 to ${MAX_ACTIVITY_ID} bytes`, { length: id.length });
}

/** An exception or interrupt reason travels as one byte. */
export function checkReason(reason: number): void {
  if (!Number.isInteger(reason) || reason < 0 || reason > 255) throw err('ERR_INVALID_ARGUMENT', 'the reason is a byte', { reason });
}
