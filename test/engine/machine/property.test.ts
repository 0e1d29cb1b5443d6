// Property: two machines on a virtual clock, random service calls from both sides, random
// transport cuts at any byte followed by resumes. Checked after every step and at the end:
//   - data: delivered exactly once and in order in both directions (minus what a resync or an
//     activity interrupt/discard reported as discarded, on either side);
//   - half duplex: the data token is never held by both sides; data is only ever accepted from
//     the token holder (the machine checks on receipt: a violation would abort the session);
//   - major sync / activity end: no data leaves a side until its sync point is confirmed;
//   - at rest, both sides agree on the serial number, the activity, and the token positions;
//   - a refused release leaves both sides usable; abort ends both sides;
//   - no protocol violation and no internal error, ever.
// Runs: COLLOQUY_PROPERTY_RUNS (default 2000 under CI, 500 otherwise). Seed: COLLOQUY_SEED (default: a
// fresh one, printed).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionError } from '../../../src/engine/errors.js';
import type { DialogueModeName, TokenName, UnitName } from '../../../src/engine/frames.js';
import type { SessionEvent } from '../../../src/engine/machine/index.js';
import { Pair } from '../support/pair.js';
import type { Side } from '../support/pair.js';

const RUNS = Number(process.env.COLLOQUY_PROPERTY_RUNS ?? (process.env.CI ? 2000 : 500));
// A fresh seed every run unless one is given, printed up front so that any failure can be replayed.
const SEED = process.env.COLLOQUY_SEED ? Number(process.env.COLLOQUY_SEED) : Math.floor(Math.random() * 0x7fffffff);
console.log(`property test seed ${SEED}, ${RUNS} runs (replay: COLLOQUY_SEED=${SEED} COLLOQUY_PROPERTY_RUNS=${RUNS} npx vitest run test/engine/machine/property.test.ts)`);

interface Profile { mode: DialogueModeName; units: UnitName[]; initialTokens?: Partial<Record<TokenName, 'initiator' | 'acceptor'>> }

const PROFILES: Profile[] = [
  { mode: 'fullDuplex', units: ['expedited', 'typedData', 'minorSync', 'majorSync', 'resynchronize'] },
  { mode: 'halfDuplex', units: ['expedited', 'typedData', 'minorSync', 'majorSync', 'resynchronize', 'exceptions', 'negotiatedRelease'], initialTokens: { data: 'acceptor' } },
  { mode: 'halfDuplex', units: ['minorSync', 'majorSync', 'resynchronize', 'activities', 'capabilityData', 'exceptions', 'typedData'] },
  { mode: 'fullDuplex', units: ['minorSync', 'majorSync', 'resynchronize', 'activities', 'negotiatedRelease', 'expedited'], initialTokens: { minorSync: 'acceptor' } },
  { mode: 'simplex', units: ['typedData', 'expedited', 'minorSync', 'resynchronize'] },
];

type Who = 'A' | 'B';
/** 'auto' picks the side holding the token the action needs (so that more calls succeed). */
type Actor = Who | 'auto';
type Action =
  | { k: 'send'; who: Actor; size: number; n: number }
  | { k: 'typed'; who: Actor }
  | { k: 'expedited'; who: Actor }
  | { k: 'give'; who: Actor; tokens: TokenName[] }
  | { k: 'please'; who: Actor; tokens: TokenName[] }
  | { k: 'minor'; who: Actor; confirm: boolean }
  | { k: 'confirmMinor'; who: Actor }
  | { k: 'major'; who: Actor }
  | { k: 'resync'; who: Actor; type: 'restart' | 'abandon' | 'set'; serial: number; tokens: TokenName[] }
  | { k: 'activityStart'; who: Actor }
  | { k: 'activityCycle'; who: Actor; finish: 'interrupt' | 'discard' | 'end' }
  | { k: 'activityResume'; who: Actor }
  | { k: 'activityInterrupt'; who: Actor; discard: boolean }
  | { k: 'activityEnd'; who: Actor }
  | { k: 'capability'; who: Actor }
  | { k: 'giveControl'; who: Actor }
  | { k: 'exception'; who: Actor }
  | { k: 'respond'; who: Actor; acceptRelease: boolean }
  | { k: 'release'; who: Actor; refuse: boolean }
  | { k: 'minorConfirmed'; who: Actor }
  | { k: 'abort'; who: Who }
  | { k: 'cut'; keep: number }
  | { k: 'reconnect' }
  | { k: 'advance'; ms: number }
  | { k: 'settle' };

const who = fc.constantFrom<Actor>('A', 'B', 'auto', 'auto');
const tokens = fc.subarray<TokenName>(['data', 'minorSync', 'majorActivity', 'release'], { minLength: 1 });
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ k: fc.constant('send' as const), who, size: fc.integer({ min: 0, max: 300 }), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('typed' as const), who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('expedited' as const), who }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('give' as const), who, tokens }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('please' as const), who, tokens }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('minor' as const), who, confirm: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('confirmMinor' as const), who }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('major' as const), who }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('resync' as const), who, type: fc.constantFrom('restart' as const, 'abandon' as const, 'set' as const), serial: fc.integer({ min: 0, max: 30 }), tokens: fc.subarray<TokenName>(['data', 'minorSync', 'majorActivity', 'release']) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('activityStart' as const), who }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('activityResume' as const), who }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('activityCycle' as const), who, finish: fc.constantFrom('interrupt' as const, 'discard' as const, 'end' as const) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('activityInterrupt' as const), who, discard: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('activityEnd' as const), who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('capability' as const), who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('giveControl' as const), who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exception' as const), who }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('respond' as const), who, acceptRelease: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('release' as const), who, refuse: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('minorConfirmed' as const), who }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('cut' as const), keep: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('reconnect' as const) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('settle' as const) }) },
);

/** Per-direction bookkeeping of data units (id = position in the sender's sequence). */
class Flow {
  sent: number[] = [];
  delivered: number[] = [];
  discarded = new Set<number>();
}

function payload(from: Who, id: number, size: number): Uint8Array {
  const p = new Uint8Array(5 + size);
  p[0] = from === 'A' ? 0x41 : 0x42;
  new DataView(p.buffer).setUint32(1, id);
  for (let i = 5; i < p.length; i++) p[i] = (id + i) & 0xff;
  return p;
}

function idOf(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(1);
}

function localOnly(e: unknown): void {
  if (!(e instanceof SessionError) || e.origin !== 'local') throw e;
}

function tryDo(fn: () => void): boolean {
  try { fn(); return true; } catch (e) { localOnly(e); return false; }
}

/** How often the interesting paths ran, so that a vacuous pass is caught. */
const seen: Record<string, number> = {};
const count = (k: string): void => { seen[k] = (seen[k] ?? 0) + 1; };

const BAD_CODES = new Set(['ERR_PROTOCOL_VIOLATION', 'ERR_NEGOTIATION_FAILED', 'ERR_HANDSHAKE_TIMEOUT']);

function runScenario(profile: Profile, actions: Action[], abortAt: number | null): void {
  if (abortAt !== null) actions.splice(abortAt % (actions.length + 1), 0, { k: 'abort', who: abortAt % 2 ? 'A' : 'B' });
  const p = new Pair({ a: { modes: [profile.mode], units: profile.units, initialTokens: profile.initialTokens }, latency: 2 });
  const flows = { A: new Flow(), B: new Flow() }; // flows.A = data sent by A
  const majorPending = { A: false, B: false };
  let aborted = false;
  let nextActivity = 1;
  const interrupted: { id: Uint8Array; serial: number }[] = [];

  const observe = (e: SessionEvent, side: Side): void => {
    count(e.type);
    const me = side.name;
    const peer: Who = me === 'A' ? 'B' : 'A';
    switch (e.type) {
      case 'data':
        flows[peer].delivered.push(idOf(e.payload));
        break;
      case 'data-discarded':
        for (const pl of e.payloads) {
          if (pl[0] !== 0x41 && pl[0] !== 0x42) continue; // typed data
          flows[e.direction === 'out' ? me : peer].discarded.add(idOf(pl));
        }
        break;
      case 'sync-major-confirmed':
      case 'activity-ended':
        majorPending[me] = false;
        break;
      case 'cancelled':
        if (e.side === 'local' && (e.service === 'sync-major' || e.service === 'activity-end')) majorPending[me] = false;
        break;
      case 'activity-interrupted':
        interrupted.push({ id: e.activityId, serial: e.serial });
        break;
      case 'closed':
        if (e.error && BAD_CODES.has(e.error.code)) throw new Error(`${me} closed with ${e.error.code}: ${e.error.message}`);
        if (e.error?.code === 'ERR_ABORTED' && e.error.origin === 'local' && !aborted) throw new Error(`${me} aborted itself: ${e.error.message}`);
        break;
    }
  };
  p.A.onEvent = observe;
  p.B.onEvent = observe;
  p.B.onEvent = (e, s) => { observe(e, s); if (e.type === 'connect-request') p.B.machine.accept(); };
  p.connectTransport();
  p.settle();

  const NEEDS: Partial<Record<Action['k'], TokenName>> = {
    send: 'data', minor: 'minorSync', major: 'majorActivity', activityStart: 'majorActivity', activityResume: 'majorActivity',
    activityInterrupt: 'majorActivity', activityCycle: 'majorActivity', activityEnd: 'majorActivity', capability: 'majorActivity', giveControl: 'majorActivity',
    release: 'release', give: 'data', minorConfirmed: 'minorSync',
  };
  let current: Action = actions[0] as Action;
  const side = (w: Actor): Side => {
    if (w === 'A') return p.A;
    if (w === 'B') return p.B;
    const t = NEEDS[current.k];
    if (t && p.B.machine.tokens.includes(t)) return p.B;
    if (current.k === 'exception') return p.A.machine.tokens.includes('data') ? p.B : p.A;
    return t && p.A.machine.tokens.includes(t) ? p.A : current.k === 'send' && profile.mode === 'simplex' ? p.A : p.B;
  };
  const name = (w: Actor): Who => side(w).name;

  const respondAll = (s: Side, acceptRelease: boolean): void => {
    const m = s.machine;
    tryDo(() => m.confirmMajorSync());
    tryDo(() => m.respondResync());
    tryDo(() => m.confirmActivityInterrupt());
    tryDo(() => m.confirmActivityDiscard());
    tryDo(() => m.confirmActivityEnd());
    tryDo(() => m.confirmCapability());
    tryDo(() => m.respondRelease(acceptRelease));
  };

  const checkTokens = (): void => {
    const a = new Set(p.A.machine.tokens);
    for (const t of p.B.machine.tokens) if (a.has(t)) throw new Error(`both sides hold the ${t} token`);
  };

  for (const act of actions) {
    current = act;
    if (p.A.machine.state === 'closed' && p.B.machine.state === 'closed') break;
    switch (act.k) {
      case 'send': {
        const s = side(act.who);
        const w = s.name;
        for (let i = 0; i < act.n; i++) {
          const id = flows[w].sent.length;
          const ok = tryDo(() => s.machine.sendData(payload(w, id, act.size)));
          if (ok) {
            if (majorPending[w]) throw new Error(`${w} sent data while its major sync was unconfirmed`);
            if (profile.mode === 'halfDuplex' && !s.machine.tokens.includes('data')) throw new Error('data sent without the data token');
            flows[w].sent.push(id);
          }
        }
        break;
      }
      case 'typed': tryDo(() => side(act.who).machine.sendTyped(new Uint8Array([7, 7]))); break;
      case 'expedited': tryDo(() => side(act.who).machine.sendExpedited(new Uint8Array([9]))); break;
      case 'give': tryDo(() => side(act.who).machine.giveTokens(act.tokens)); break;
      case 'please': tryDo(() => side(act.who).machine.pleaseTokens(act.tokens)); break;
      case 'minor': tryDo(() => side(act.who).machine.syncMinor({ confirm: act.confirm })); break;
      case 'confirmMinor': tryDo(() => side(act.who).machine.confirmMinorSync()); break;
      case 'major':
        if (tryDo(() => side(act.who).machine.syncMajor())) majorPending[name(act.who)] = true;
        break;
      case 'resync': {
        const m = side(act.who).machine;
        const base = m.serial ?? 0;
        const serial = act.type === 'set' ? act.serial : act.type === 'abandon' ? base + (act.serial % 3) : Math.max(0, base - (act.serial % 4));
        tryDo(() => m.resynchronize(act.type, { serial, tokens: act.tokens.filter((t) => m.negotiated?.tokens.includes(t)) }));
        break;
      }
      case 'activityStart': {
        const id = new Uint8Array([nextActivity++ & 0xff, 1]);
        tryDo(() => side(act.who).machine.activityStart(id));
        break;
      }
      case 'activityCycle': {
        // A whole activity in a row: give the holder every token it lacks, start, interrupt.
        const s = side(act.who);
        const peer = p.other(s);
        const lacking = (peer.machine.tokens.filter((t) => t !== 'release'));
        if (lacking.length) tryDo(() => peer.machine.giveTokens(lacking));
        p.settle();
        tryDo(() => s.machine.activityStart(new Uint8Array([nextActivity++ & 0xff, 3])));
        p.settle();
        const m = s.machine;
        if (act.finish === 'end') {
          if (tryDo(() => m.activityEnd())) majorPending[s.name] = true;
        } else tryDo(() => (act.finish === 'discard' ? m.activityDiscard(1) : m.activityInterrupt(1)));
        p.settle();
        respondAll(peer, false);
        p.settle();
        const old = interrupted[interrupted.length - 1];
        if (act.finish === 'interrupt' && old) {
          if (tryDo(() => s.machine.activityResume(new Uint8Array([nextActivity++ & 0xff, 4]), old.id, old.serial))) expect(s.machine.serial).toBe(old.serial + 1);
        }
        break;
      }
      case 'activityResume': {
        const old = interrupted[interrupted.length - 1];
        if (!old) break;
        const m = side(act.who).machine;
        if (tryDo(() => m.activityResume(new Uint8Array([nextActivity++ & 0xff, 2]), old.id, old.serial))) {
          expect(m.serial).toBe(old.serial + 1);
        }
        break;
      }
      case 'activityInterrupt': {
        const m = side(act.who).machine;
        tryDo(() => (act.discard ? m.activityDiscard(3) : m.activityInterrupt(2)));
        break;
      }
      case 'activityEnd':
        if (tryDo(() => side(act.who).machine.activityEnd())) majorPending[name(act.who)] = true;
        break;
      case 'capability': tryDo(() => side(act.who).machine.sendCapability(new Uint8Array([1, 2, 3]))); break;
      case 'giveControl': tryDo(() => side(act.who).machine.giveControl()); break;
      case 'exception': tryDo(() => side(act.who).machine.exceptionReport(5)); break;
      case 'respond': respondAll(side(act.who), act.acceptRelease); break;
      case 'minorConfirmed': {
        const s = side(act.who);
        if (!tryDo(() => s.machine.syncMinor({ confirm: true }))) break;
        p.settle();
        tryDo(() => p.other(s).machine.confirmMinorSync());
        break;
      }
      case 'release': {
        // The requester needs every token: the peer hands over what it holds first.
        const s = side(act.who);
        const peer = p.other(s);
        const held = peer.machine.tokens;
        if (held.length) tryDo(() => peer.machine.giveTokens(held));
        p.settle();
        if (!tryDo(() => s.machine.release())) break;
        p.settle();
        // (The request may have been cancelled by a resynchronize crossing it.)
        if (act.refuse && peer.machine.negotiated?.units.has('negotiatedRelease') && tryDo(() => peer.machine.respondRelease(false))) {
          p.settle();
          // A refused release leaves both sides usable: the requester may still sync or send.
          expect(s.machine.state).toBe('established');
          expect(peer.machine.state).toBe('established');
        }
        break;
      }
      case 'abort':
        aborted = true;
        side(act.who).machine.abort('property test abort');
        break;
      case 'cut':
        if (p.connected && p.A.machine.stats.sent + p.B.machine.stats.sent > 0) count('cut-with-traffic');
        p.cut(act.keep);
        break;
      case 'reconnect': if (!p.connected) p.connectTransport(); break;
      case 'advance': p.advance(act.ms); break;
      case 'settle': p.settle(); break;
    }
    p.pump();
    checkTokens();
  }

  // Drain: reconnect, answer everything, let the link empty.
  for (let round = 0; round < 12; round++) {
    if (!p.connected && p.A.machine.state !== 'closed') p.connectTransport();
    respondAll(p.A, true);
    respondAll(p.B, true);
    p.settle();
    p.advance(50);
  }
  if (aborted) p.advance(300_000);

  const [A, B] = [p.A.machine, p.B.machine];
  // Data: in order, at most once, and nothing lost unless reported discarded.
  for (const w of ['A', 'B'] as const) {
    const f = flows[w];
    const sentSet = new Set(f.sent);
    for (let i = 0; i < f.delivered.length; i++) {
      const id = f.delivered[i] as number;
      if (!sentSet.has(id)) throw new Error(`${w}: delivered ${id} was never sent`);
      if (i > 0 && id <= (f.delivered[i - 1] as number)) throw new Error(`${w}: ${id} delivered after ${f.delivered[i - 1]} (order or duplicate)`);
      if (f.discarded.has(id)) throw new Error(`${w}: ${id} both delivered and discarded`);
    }
    const bothLive = A.state === 'established' && B.state === 'established';
    const released = A.state === 'closed' && B.state === 'closed' && !aborted;
    if (bothLive || released) {
      const delivered = new Set(f.delivered);
      const lost = f.sent.filter((id) => !delivered.has(id) && !f.discarded.has(id));
      if (lost.length) throw new Error(`${w}: ${lost.length} data units lost (first ${lost[0]}), ${f.delivered.length} delivered of ${f.sent.length}`);
    }
  }
  if (aborted) {
    expect(A.state).toBe('closed');
    expect(B.state).toBe('closed');
  }
  if (A.state === 'established' && B.state === 'established') {
    expect(A.serial).toBe(B.serial);
    expect(A.activity === null).toBe(B.activity === null);
    const all = new Set([...A.tokens, ...B.tokens]);
    expect(all.size).toBe(A.negotiated?.tokens.length);
    // Nothing is left stuck: after every indication was answered, data is refused only for
    // reasons of token, direction, activity or a reported exception, never a pending service.
    for (const m of [A, B]) {
      try { m.sendData(new Uint8Array(0)); } catch (e) {
        localOnly(e);
        const code = (e as SessionError).code;
        if (!['ERR_TOKEN_NOT_HELD', 'ERR_NOT_SENDER', 'ERR_ACTIVITY_REQUIRED', 'ERR_EXCEPTION_PENDING'].includes(code)) {
          throw new Error(`${m.role} cannot send data at rest: ${code} ${(e as SessionError).message}`);
        }
      }
    }
  }
}

describe('session machine pair, random services and cuts', () => {
  it(`keeps exactly-once, token, sync and activity invariants (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(fc.constantFrom(...PROFILES), fc.array(action, { minLength: 5, maxLength: 80 }), fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }), (profile, actions, abortAt) => {
        runScenario(profile, actions, abortAt);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // The paths the invariants are about must actually have run.
    console.log('property paths:', JSON.stringify(seen));
    for (const k of ['data', 'resumed', 'cut-with-traffic', 'data-discarded', 'resync-complete', 'cancelled', 'sync-major-confirmed',
      'activity-interrupted', 'activity-resume', 'activity-ended', 'activity-discarded', 'release-refused', 'tokens-given',
      'control-given', 'capability-confirmed', 'exception', 'expedited', 'typed', 'sync-minor-confirmed']) {
      expect(seen[k] ?? 0, `path '${k}' never ran`).toBeGreaterThan(0);
    }
  }, 60_000 + RUNS * 20);
});
