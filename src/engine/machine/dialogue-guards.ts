// Guards: the preconditions of the dialogue's local commands, as listed for each command in the
// table of ./preconditions.ts (see dialogue.ts for the rules). `check` runs a command's row in
// order; each precondition throws a local SessionError naming what is missing and changes
// nothing, so a command that passes its row may change state. The errors that several
// preconditions share (a pending confirmation, an unanswered request, a token whose unit was not
// negotiated) are built in one place each, so every command words them alike.

import { SessionError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { MAX_ACTIVITY_ID, MAX_SERIAL, Token, Unit } from '../frames.js';
import type { TokenName, TokenSet, UnitName } from '../frames.js';
import type { Dialogue } from './dialogue.js';
import { PRECONDITIONS } from './preconditions.js';
import type { Awaited, DialogueCommand, Precondition } from './preconditions.js';
import { TOKEN_UNIT, tokenNames } from './tokens.js';

export function err(code: ErrorCode, message: string, details: Record<string, unknown> = {}): SessionError {
  return new SessionError(code, message, 'local', details);
}

/** Our request of this kind awaits the peer's answer. */
function confirmPending(kind: string): SessionError {
  return err('ERR_CONFIRM_PENDING', `waiting for the peer to confirm ${kind}`, { pending: kind });
}

/** The peer's request of this kind awaits our answer. */
function responseRequired(kind: string): SessionError {
  return err('ERR_RESPONSE_REQUIRED', `answer the peer's ${kind} first`, { pending: kind });
}

/** A token that does not exist under the negotiated units. */
export function noSuchToken(name: TokenName): SessionError {
  return err(
    'ERR_UNIT_NOT_SELECTED',
    `the ${name} token does not exist: the ${TOKEN_UNIT[name]} unit was not negotiated`,
    { unit: TOKEN_UNIT[name], token: name },
  );
}

function need(d: Dialogue, unit: UnitName): void {
  if (!(d.units & Unit[unit]))
    throw err('ERR_UNIT_NOT_SELECTED', `the ${unit} functional unit was not negotiated`, { unit });
}

function needTokens(d: Dialogue, tokens: TokenSet): void {
  for (const name of tokenNames(tokens & d.available)) {
    if (!(d.held & Token[name]))
      throw err('ERR_TOKEN_NOT_HELD', `this needs the ${name} token, which the peer holds`, { token: name });
  }
}

function noPending(d: Dialogue): void {
  if (d.pendingLocal) throw confirmPending(d.pendingLocal.kind);
  if (d.pendingRemote) throw responseRequired(d.pendingRemote.kind);
}

function needActivity(d: Dialogue, inside: boolean): void {
  if (!d.activities) return;
  if (inside && !d.activity)
    throw err('ERR_ACTIVITY_REQUIRED', 'with the activities unit, this needs an activity in progress');
  if (!inside && d.activity) throw err('ERR_ACTIVITY_IN_PROGRESS', 'this is only allowed outside an activity');
}

/** We answered FINISH with DISCONNECT: nothing more may be sent. */
function notReleasing(d: Dialogue): void {
  if (d.finished) throw err('ERR_INVALID_STATE', 'the session is being released', { state: 'releasing' });
}

/** Normal flow (data, typed data, sync points) is open. */
function flowOpen(d: Dialogue): void {
  notReleasing(d);
  const l = d.pendingLocal?.kind;
  if (l === 'sync-major' || l === 'activity-end')
    throw err('ERR_SYNC_PENDING', `no new data until the peer confirms ${l}`, { pending: l });
  if (l) throw confirmPending(l);
  const r = d.pendingRemote?.kind;
  if (r && r !== 'release' && r !== 'capability') throw responseRequired(r);
  if (d.exceptionPending)
    throw err(
      'ERR_EXCEPTION_PENDING',
      'the peer reported an exception; give the data token, resynchronize, or interrupt or discard the activity',
    );
}

/**
 * Takes V(M) for a new sync point (minor, major, activity end). Issuing one also gives up the
 * right to confirm the peer's earlier minor points (X.225's Vsc := false): the peer may confirm
 * ours, which moves its V(A) past them, so a late MINOR_SYNC_ACK for one would be out of range.
 */
export function nextSerial(d: Dialogue): number {
  if (d.vm > MAX_SERIAL)
    throw err('ERR_INVALID_ARGUMENT', `serial numbers are exhausted (max ${MAX_SERIAL}); resynchronize with set`, {
      serial: d.vm,
    });
  d.minorToConfirm = null;
  return d.vm++;
}

/** A token set given by the application: at least one token, each existing. */
function checkTokenArg(d: Dialogue, tokens: TokenSet): void {
  if (tokens === 0 || (tokens & ~(Token.data | Token.minorSync | Token.majorActivity | Token.release)) !== 0) {
    throw err('ERR_INVALID_ARGUMENT', 'name at least one token', { tokens });
  }
  for (const name of tokenNames(tokens)) {
    if (!(d.available & Token[name])) throw noSuchToken(name);
  }
}

export function checkActivityId(id: Uint8Array, what: string): void {
  if (id.length < 1 || id.length > MAX_ACTIVITY_ID)
    throw err('ERR_INVALID_ARGUMENT', `${what} must be 1 to ${MAX_ACTIVITY_ID} bytes`, { length: id.length });
}

/** An exception or interrupt reason travels as one byte. */
export function checkReason(reason: number): void {
  if (!Number.isInteger(reason) || reason < 0 || reason > 255)
    throw err('ERR_INVALID_ARGUMENT', 'the reason is a byte', { reason });
}

/** What some preconditions look at besides the dialogue: the command's tokens, answer, arguments. */
export interface CheckContext {
  /** The tokens a command names (give, please). */
  tokens?: TokenSet;
  /** A release answer: accepted or refused. */
  accept?: boolean;
  /** The command's own argument checks, run where the row says `args`. */
  args?: () => void;
}

/** Runs `command`'s row of the precondition table; throws at the first that does not hold. */
export function check(d: Dialogue, command: DialogueCommand, ctx: CheckContext = NO_CONTEXT): void {
  const needs = PRECONDITIONS[command].needs;
  for (let i = 0; i < needs.length; i++) holds(d, needs[i] as Precondition, ctx);
}

/** The context of a command that has none (most: every send): shared, never written. */
const NO_CONTEXT: CheckContext = Object.freeze({});

const NOTHING_AWAITS: Record<Awaited, string> = {
  capability: 'no capability data awaits confirmation',
  release: 'no release request awaits an answer',
  'sync-minor': 'no minor sync point awaits confirmation',
  'sync-major': 'no major sync point awaits confirmation',
  resync: 'no resynchronize awaits an answer',
  'activity-interrupt': 'no activity-interrupt awaits confirmation',
  'activity-discard': 'no activity-discard awaits confirmation',
  'activity-end': 'no activity end awaits confirmation',
};

// The named rows first (a send checks three of them per message); the prefixed ones last.
function holds(d: Dialogue, p: Precondition, ctx: CheckContext): void {
  switch (p) {
    case 'sender':
      if (d.halfDuplex) return needTokens(d, Token.data);
      if (d.cfg.mode === 'simplex' && !d.cfg.simplexSenderIsMe)
        throw err('ERR_NOT_SENDER', 'in simplex mode only the peer sends normal data');
      return;
    case 'in-activity':
      return needActivity(d, true);
    case 'outside-activity':
      return needActivity(d, false);
    case 'tokens:dialogue':
      return needTokens(d, d.dialogueTokens);
    case 'tokens:all':
      return needTokens(d, d.available);
    case 'tokens:majorActivity':
      return needTokens(d, Token.majorActivity);
    case 'tokens:minorSync+data':
      return needTokens(d, Token.minorSync | (d.available & Token.data));
    case 'tokens:named':
      return needTokens(d, ctx.tokens ?? 0);
    case 'named-tokens-exist':
      return checkTokenArg(d, ctx.tokens ?? 0);
    case 'named-tokens-not-held':
      for (const name of tokenNames(ctx.tokens ?? 0)) {
        if (d.held & Token[name])
          throw err('ERR_TOKEN_HELD', `this side already holds the ${name} token`, { token: name });
      }
      return;
    case 'no-pending':
      return noPending(d);
    case 'flow-open':
      return flowOpen(d);
    case 'not-releasing':
      return notReleasing(d);
    case 'no-exception':
      if (d.exceptionPending)
        throw err(
          'ERR_EXCEPTION_PENDING',
          'the peer reported an exception; give the data token, resynchronize, or abort',
        );
      return;
    case 'without-data-token':
      if (d.held & Token.data)
        throw err('ERR_TOKEN_HELD', 'only the side without the data token reports exceptions', { token: 'data' });
      return;
    case 'not-resyncing':
      if (d.pendingLocal?.kind === 'resync')
        throw err('ERR_CONFIRM_PENDING', 'token positions are being reassigned by our resynchronize', {
          pending: 'resync',
        });
      return;
    case 'resync-may-cancel': {
      const l = d.pendingLocal?.kind;
      if (l && l !== 'sync-major') throw confirmPending(l);
      const r = d.pendingRemote?.kind;
      if (r === 'resync' || r === 'activity-interrupt' || r === 'activity-discard' || r === 'release')
        throw responseRequired(r);
      return;
    }
    case 'interrupt-may-cancel': {
      const l = d.pendingLocal?.kind;
      if (l && l !== 'sync-major') throw confirmPending(l);
      if (d.pendingRemote) throw responseRequired(d.pendingRemote.kind);
      return;
    }
    case 'refusal-negotiated':
      if (ctx.accept === false) need(d, 'negotiatedRelease');
      return;
    case 'args':
      return ctx.args?.();
    default:
      if (p.startsWith('unit:')) return need(d, p.slice(5) as UnitName);
      if (p.startsWith('awaits:')) {
        const kind = p.slice(7) as Awaited;
        const waiting = kind === 'sync-minor' ? d.minorToConfirm !== null : d.pendingRemote?.kind === kind;
        if (!waiting) throw err('ERR_NOTHING_TO_CONFIRM', NOTHING_AWAITS[kind]);
      }
  }
}
