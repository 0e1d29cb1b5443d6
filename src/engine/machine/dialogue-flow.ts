// Sending, for the flow services: normal, typed and expedited data, capability data, tokens,
// give-control, exception reports and release (see dialogue.ts for the rules and the collision
// table). Each command runs its guards (./dialogue-guards.ts) first, then changes the dialogue and
// hands its frame to the host; data itself is queued by the machine once `check*` passes.

import { Token } from '../frames.js';
import type { TokenSet } from '../frames.js';
import type { Dialogue } from './dialogue.js';
import {
  checkReason, checkTokenArg, err, flowOpen, need, needActivity, needTokens, noPending, notReleasing,
} from './dialogue-guards.js';
import { tokenNames } from './tokens.js';

// ---- data and capability data --------------------------------------------------------------

/** Checks that normal data may be sent now (the machine queues the frame). */
export function checkData(d: Dialogue): void {
  if (d.halfDuplex) needTokens(d, Token.data);
  else if (d.cfg.mode === 'simplex' && !d.cfg.simplexSenderIsMe) throw err('ERR_NOT_SENDER', 'in simplex mode only the peer sends normal data');
  needActivity(d, true);
  flowOpen(d);
}

export function checkTyped(d: Dialogue): void {
  need(d, 'typedData');
  flowOpen(d);
}

export function checkExpedited(d: Dialogue): void {
  need(d, 'expedited');
  notReleasing(d);
}

export function sendCapability(d: Dialogue, payload: Uint8Array): void {
  need(d, 'capabilityData');
  needActivity(d, false);
  needTokens(d, d.dialogueTokens);
  noPending(d);
  d.pendingLocal = { kind: 'capability' };
  d.host.send({ type: 'CAPABILITY', payload });
}

export function confirmCapability(d: Dialogue, payload: Uint8Array): void {
  if (d.pendingRemote?.kind !== 'capability') throw err('ERR_NOTHING_TO_CONFIRM', 'no capability data awaits confirmation');
  d.pendingRemote = null;
  d.host.send({ type: 'CAPABILITY_ACK', payload });
}

// ---- tokens --------------------------------------------------------------------------------

export function giveTokens(d: Dialogue, tokens: TokenSet): void {
  checkTokenArg(d, tokens);
  needTokens(d, tokens);
  noPending(d);
  d.held &= ~tokens;
  if (tokens & Token.data) d.exceptionPending = false;
  d.host.send({ type: 'GIVE_TOKENS', tokens });
}

export function pleaseTokens(d: Dialogue, tokens: TokenSet, userData: Uint8Array): void {
  checkTokenArg(d, tokens);
  if (d.pendingLocal?.kind === 'resync') throw err('ERR_CONFIRM_PENDING', 'token positions are being reassigned by our resynchronize', { pending: 'resync' });
  for (const name of tokenNames(tokens)) {
    if (d.held & Token[name]) throw err('ERR_TOKEN_HELD', `this side already holds the ${name} token`, { token: name });
  }
  notReleasing(d);
  d.host.send({ type: 'PLEASE_TOKENS', tokens, userData });
}

export function giveControl(d: Dialogue): void {
  need(d, 'activities');
  needActivity(d, false);
  // Holding the major/activity token is what keeps the peer from starting an activity meanwhile.
  needTokens(d, Token.majorActivity);
  noPending(d);
  d.held = 0;
  d.exceptionPending = false;
  d.pendingLocal = { kind: 'give-control' };
  d.host.send({ type: 'GIVE_CONTROL' });
}

// ---- exceptions and release ----------------------------------------------------------------

export function exceptionReport(d: Dialogue, reason: number, userData: Uint8Array): void {
  need(d, 'exceptions');
  if (d.held & Token.data) throw err('ERR_TOKEN_HELD', 'only the side without the data token reports exceptions', { token: 'data' });
  checkReason(reason);
  notReleasing(d);
  d.host.send({ type: 'EXCEPTION_DATA', reason, userData });
}

export function release(d: Dialogue, userData: Uint8Array): void {
  needActivity(d, false);
  needTokens(d, d.available);
  noPending(d);
  if (d.exceptionPending) throw err('ERR_EXCEPTION_PENDING', 'the peer reported an exception; give the data token, resynchronize, or abort');
  notReleasing(d);
  d.pendingLocal = { kind: 'release' };
  d.host.send({ type: 'FINISH', userData });
}

export function respondRelease(d: Dialogue, accept: boolean, userData: Uint8Array): void {
  if (d.pendingRemote?.kind !== 'release') throw err('ERR_NOTHING_TO_CONFIRM', 'no release request awaits an answer');
  if (!accept) need(d, 'negotiatedRelease');
  d.pendingRemote = null;
  if (accept) {
    d.finished = true;
    d.host.send({ type: 'DISCONNECT', userData });
  } else {
    d.host.send({ type: 'NOT_FINISHED', userData });
  }
}
