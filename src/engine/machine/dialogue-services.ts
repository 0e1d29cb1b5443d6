// Sending, for the services outside sync points and activities: capability data, tokens,
// give-control, exception reports and release (see dialogue.ts for the rules and the collision
// table). Each command first runs its row of the precondition table (./preconditions.ts), then
// changes the dialogue and hands its frame to the host. Data itself needs only its row
// (`check(d, 'sendData')`): the machine queues it.

import { Token } from '../frames.js';
import type { TokenSet } from '../frames.js';
import type { Dialogue } from './dialogue.js';
import { check, checkReason } from './dialogue-guards.js';

export function sendCapability(d: Dialogue, payload: Uint8Array): void {
  check(d, 'sendCapability');
  d.pendingLocal = { kind: 'capability' };
  d.host.queueSessionFrame({ type: 'CAPABILITY', payload });
}

export function confirmCapability(d: Dialogue, payload: Uint8Array): void {
  check(d, 'confirmCapability');
  d.pendingRemote = null;
  d.host.queueSessionFrame({ type: 'CAPABILITY_ACK', payload });
}

export function giveTokens(d: Dialogue, tokens: TokenSet): void {
  check(d, 'giveTokens', { tokens });
  d.held &= ~tokens;
  if (tokens & Token.data) d.exceptionPending = false;
  d.host.queueSessionFrame({ type: 'GIVE_TOKENS', tokens });
}

export function requestTokens(d: Dialogue, tokens: TokenSet, userData: Uint8Array): void {
  check(d, 'requestTokens', { tokens });
  d.host.queueSessionFrame({ type: 'PLEASE_TOKENS', tokens, userData });
}

export function giveControl(d: Dialogue): void {
  // Holding the major/activity token is what keeps the peer from starting an activity meanwhile.
  check(d, 'giveControl');
  d.held = 0;
  d.exceptionPending = false;
  d.pendingLocal = { kind: 'give-control' };
  d.host.queueSessionFrame({ type: 'GIVE_CONTROL' });
}

export function reportException(d: Dialogue, reason: number, userData: Uint8Array): void {
  check(d, 'reportException', { args: () => checkReason(reason) });
  d.host.queueSessionFrame({ type: 'EXCEPTION_DATA', reason, userData });
}

export function release(d: Dialogue, userData: Uint8Array): void {
  check(d, 'release');
  d.pendingLocal = { kind: 'release' };
  d.host.queueSessionFrame({ type: 'FINISH', userData });
}

export function respondRelease(d: Dialogue, accept: boolean, userData: Uint8Array): void {
  check(d, 'respondRelease', { accept });
  d.pendingRemote = null;
  if (accept) {
    d.finished = true;
    d.host.queueSessionFrame({ type: 'DISCONNECT', userData });
  } else {
    d.host.queueSessionFrame({ type: 'NOT_FINISHED', userData });
  }
}
