// Shared helpers for the per-service scenario tests in this folder.
//
// A scenario is a traced Pair (A = initiator, B = acceptor, virtual clock). Each test takes a
// `mark()` before the service it shows and then asserts, from that mark on:
//   - the ladder of frames that crossed the link (`ladderSince`; ACKs are lazy cumulative
//     acknowledgements on a timer, so `ladderSince` leaves them out unless asked, and the tests
//     that include them say so and call `p.advance()` to let them fire at a fixed point);
//   - the events each side saw (`eventsSince`, with bytes shown as text and errors as code and
//     origin, so the expectations read like the protocol);
//   - the resulting state (`view`: lifecycle state, tokens, serial V(M), activity).
// `expectRejected` checks that a command not allowed now throws the right coded error at once,
// with `details` naming what is missing, and that it changed nothing on either side.

import { expect } from 'vitest';
import { SessionError } from '../../../../src/engine/errors.js';
import type { ErrorCode } from '../../../../src/engine/errors.js';
import type { Frame } from '../../../../src/engine/frames.js';
import type { SessionEvent } from '../../../../src/engine/machine/index.js';
import { Pair, text } from '../../support/pair.js';
import type { PairOptions, Side } from '../../support/pair.js';

export { bytes, chain, Pair, RESUME_SECRET, SESSION_ID, text } from '../../support/pair.js';
export type { PairOptions, Side } from '../../support/pair.js';

/** Where a scenario stood: frames on the wire and events seen so far by each side. */
export interface Mark {
  wire: number;
  A: number;
  B: number;
}

/** A traced pair, connected and established, with the handshake's lazy timers run out. */
export function established(options: PairOptions = {}): Pair {
  const p = new Pair({ trace: true, ...options });
  p.establish();
  p.advance(100);
  expect(p.A.machine.state).toBe('established');
  expect(p.B.machine.state).toBe('established');
  return p;
}

export function mark(p: Pair): Mark {
  p.pump();
  return { wire: p.wire.length, A: p.A.events.length, B: p.B.events.length };
}

/** Frames since the mark as `A>TYPE`; ACK frames are left out unless `acks` is set. */
export function ladderSince(p: Pair, m: Mark, options: { acks?: boolean } = {}): string[] {
  return p.wire
    .slice(m.wire)
    .filter((w) => options.acks || w.frame.type !== 'ACK')
    .map((w) => `${w.from}>${w.frame.type}`);
}

/** The frames themselves (ACKs left out), for checking fields such as serials and token settings. */
export function framesSince(p: Pair, m: Mark): Frame[] {
  return p.wire
    .slice(m.wire)
    .map((w) => w.frame)
    .filter((f) => f.type !== 'ACK');
}

export type Brief = Record<string, unknown>;

function briefValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return text(v);
  if (v instanceof SessionError) return { code: v.code, origin: v.origin };
  if (Array.isArray(v)) return v.map(briefValue);
  return v;
}

/** An event with bytes as text and errors as `{ code, origin }`. */
export function brief(e: SessionEvent): Brief {
  const out: Brief = {};
  for (const [k, v] of Object.entries(e)) out[k] = briefValue(v);
  return out;
}

export function eventsSince(side: Side, m: Mark): Brief[] {
  return side.events.slice(m[side.name]).map(brief);
}

export function typesSince(side: Side, m: Mark): string[] {
  return side.events.slice(m[side.name]).map((e) => e.type);
}

export interface View {
  state: string;
  tokens: string[];
  serial: number | undefined;
  activity: string | null;
}

/** What a side's machine shows: lifecycle state, tokens held, V(M), activity in progress. */
export function view(side: Side): View {
  const m = side.machine;
  return { state: m.state, tokens: m.tokens, serial: m.serial, activity: m.activity ? text(m.activity) : null };
}

function snapshot(p: Pair): unknown {
  const one = (s: Side): unknown => ({
    ...view(s),
    attached: s.machine.isAttached,
    stats: s.machine.stats,
    events: s.events.length,
    deadline: s.machine.nextDeadline(),
  });
  return { wire: p.wire.length, A: one(p.A), B: one(p.B) };
}

/**
 * The command throws a local SessionError with `code` (and `details` containing `details`) at
 * once, and neither side changes: no frame goes out, no event, same state, tokens, serial,
 * activity, counters and timers.
 */
export function expectRejected(
  p: Pair,
  command: () => unknown,
  code: ErrorCode,
  details?: Record<string, unknown>,
): SessionError {
  p.pump();
  const before = snapshot(p);
  let caught: unknown;
  try {
    command();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(SessionError);
  const error = caught as SessionError;
  expect({ code: error.code, origin: error.origin }).toEqual({ code, origin: 'local' });
  if (details) expect(error.details).toMatchObject(details);
  p.pump();
  expect(snapshot(p)).toEqual(before);
  return error;
}
