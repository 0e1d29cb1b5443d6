// The random model behind the property test (../machine/property.test.ts) and the sweep
// (scripts/sweep.ts): two machines on a virtual clock (./pair.ts), random service calls from
// both sides, random transport cuts at any byte followed by resumes, checked after every step and
// once settled against the invariants in ./invariants.ts. Kept free of vitest so that the sweep's
// worker processes run it with fast-check alone.

import fc from 'fast-check';
import type { DialogueModeName, TokenName, UnitName } from '../../../src/engine/frames.js';
import type { SessionEvent, SessionMachine } from '../../../src/engine/machine/index.js';
import { answerAll, Ledger, payload, settleAndCheck, tryDo } from './invariants.js';
import type { Who } from './invariants.js';
import { Pair } from './pair.js';
import type { Side } from './pair.js';

export interface Profile {
  mode: DialogueModeName;
  units: UnitName[];
  initialTokens?: Partial<Record<TokenName, 'initiator' | 'acceptor'>>;
}

export const PROFILES: Profile[] = [
  { mode: 'fullDuplex', units: ['expedited', 'typedData', 'minorSync', 'majorSync', 'resynchronize'] },
  {
    mode: 'halfDuplex',
    units: ['expedited', 'typedData', 'minorSync', 'majorSync', 'resynchronize', 'exceptions', 'negotiatedRelease'],
    initialTokens: { data: 'acceptor' },
  },
  {
    mode: 'halfDuplex',
    units: ['minorSync', 'majorSync', 'resynchronize', 'activities', 'capabilityData', 'exceptions', 'typedData'],
  },
  {
    mode: 'fullDuplex',
    units: ['minorSync', 'majorSync', 'resynchronize', 'activities', 'negotiatedRelease', 'expedited'],
    initialTokens: { minorSync: 'acceptor' },
  },
  { mode: 'simplex', units: ['typedData', 'expedited', 'minorSync', 'resynchronize'] },
];

/** 'auto' picks the side holding the token the action needs (so that more calls succeed). */
type Actor = Who | 'auto';
export type Action =
  | { k: 'send'; who: Actor; size: number; n: number }
  | { k: 'typed'; who: Actor }
  | { k: 'expedited'; who: Actor }
  | { k: 'give'; who: Actor; tokens: TokenName[] }
  | { k: 'please'; who: Actor; tokens: TokenName[] }
  | { k: 'minor'; who: Actor; confirm: boolean }
  | { k: 'confirmMinor'; who: Actor }
  | { k: 'major'; who: Actor }
  | { k: 'resync'; who: Actor; type: 'restart' | 'abandon' | 'set'; serial: number; tokens: TokenName[] }
  | { k: 'startActivity'; who: Actor }
  | { k: 'activityCycle'; who: Actor; finish: 'interrupt' | 'discard' | 'end' }
  | { k: 'resumeActivity'; who: Actor }
  | { k: 'interruptActivity'; who: Actor; discard: boolean }
  | { k: 'endActivity'; who: Actor }
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
export const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      k: fc.constant('send' as const),
      who,
      size: fc.integer({ min: 0, max: 300 }),
      n: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('typed' as const), who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('expedited' as const), who }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('give' as const), who, tokens }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('please' as const), who, tokens }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('minor' as const), who, confirm: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('confirmMinor' as const), who }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('major' as const), who }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('resync' as const),
      who,
      type: fc.constantFrom('restart' as const, 'abandon' as const, 'set' as const),
      serial: fc.integer({ min: 0, max: 30 }),
      tokens: fc.subarray<TokenName>(['data', 'minorSync', 'majorActivity', 'release']),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('startActivity' as const), who }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('resumeActivity' as const), who }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('activityCycle' as const),
      who,
      finish: fc.constantFrom('interrupt' as const, 'discard' as const, 'end' as const),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('interruptActivity' as const), who, discard: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('endActivity' as const), who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('capability' as const), who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('giveControl' as const), who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exception' as const), who }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('respond' as const), who, acceptRelease: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('release' as const),
      who,
      refuse: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('minorConfirmed' as const), who }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('cut' as const), keep: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('reconnect' as const) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('settle' as const) }) },
);

/** How often the interesting paths ran, so that a vacuous pass is caught. */
export const seen: Record<string, number> = {};
const count = (k: string): void => {
  seen[k] = (seen[k] ?? 0) + 1;
};

export function runScenario(profile: Profile, actions: Action[], abortAt: number | null): void {
  if (abortAt !== null) actions.splice(abortAt % (actions.length + 1), 0, { k: 'abort', who: abortAt % 2 ? 'A' : 'B' });
  const p = new Pair({
    a: { modes: [profile.mode], units: profile.units, initialTokens: profile.initialTokens },
    latency: 2,
  });
  const ledger = new Ledger(profile.mode);
  let nextActivity = 1;
  const interrupted: { id: Uint8Array; serial: number }[] = [];

  const observe = (e: SessionEvent, side: Side): void => {
    count(e.type);
    if (e.type === 'activity-interrupted') interrupted.push({ id: e.activityId, serial: e.serial });
    ledger.observe(e, side.name);
  };
  p.A.onEvent = observe;
  p.B.onEvent = observe;
  p.B.onEvent = (e, s) => {
    observe(e, s);
    if (e.type === 'connect-request') p.B.machine.accept();
  };
  p.connectTransport();
  p.settle();

  const NEEDS: Partial<Record<Action['k'], TokenName>> = {
    send: 'data',
    minor: 'minorSync',
    major: 'majorActivity',
    startActivity: 'majorActivity',
    resumeActivity: 'majorActivity',
    interruptActivity: 'majorActivity',
    activityCycle: 'majorActivity',
    endActivity: 'majorActivity',
    capability: 'majorActivity',
    giveControl: 'majorActivity',
    release: 'release',
    give: 'data',
    minorConfirmed: 'minorSync',
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

  const respondAll = (s: Side, acceptRelease: boolean): void => answerAll(s.machine, acceptRelease);

  for (const act of actions) {
    current = act;
    if (p.A.machine.state === 'closed' && p.B.machine.state === 'closed') break;
    switch (act.k) {
      case 'send': {
        const s = side(act.who);
        const w = s.name;
        for (let i = 0; i < act.n; i++) {
          const id = ledger.nextId(w);
          // Every other send as the runtime's first of a turn: written at once when nothing waits.
          if (tryDo(() => p.send(s, payload(w, id, act.size), id % 2 === 0))) ledger.sent(w, id, s.machine);
        }
        break;
      }
      case 'typed':
        tryDo(() => side(act.who).machine.sendTyped(new Uint8Array([7, 7])));
        break;
      case 'expedited':
        tryDo(() => side(act.who).machine.sendExpedited(new Uint8Array([9])));
        break;
      case 'give':
        tryDo(() => side(act.who).machine.giveTokens(act.tokens));
        break;
      case 'please':
        tryDo(() => side(act.who).machine.requestTokens(act.tokens));
        break;
      case 'minor':
        tryDo(() => side(act.who).machine.syncMinor({ confirm: act.confirm }));
        break;
      case 'confirmMinor':
        tryDo(() => side(act.who).machine.confirmMinorSync());
        break;
      case 'major':
        if (tryDo(() => side(act.who).machine.syncMajor())) ledger.majorIssued(name(act.who));
        break;
      case 'resync': {
        const m = side(act.who).machine;
        const base = m.serial ?? 0;
        const serial =
          act.type === 'set'
            ? act.serial
            : act.type === 'abandon'
              ? base + (act.serial % 3)
              : Math.max(0, base - (act.serial % 4));
        tryDo(() =>
          m.resynchronize(act.type, { serial, tokens: act.tokens.filter((t) => m.negotiated?.tokens.includes(t)) }),
        );
        break;
      }
      case 'startActivity': {
        const id = new Uint8Array([nextActivity++ & 0xff, 1]);
        tryDo(() => side(act.who).machine.startActivity(id));
        break;
      }
      case 'activityCycle': {
        // A whole activity in a row: give the holder every token it lacks, start, interrupt.
        const s = side(act.who);
        const peer = p.other(s);
        const lacking = peer.machine.tokens.filter((t) => t !== 'release');
        if (lacking.length) tryDo(() => peer.machine.giveTokens(lacking));
        p.settle();
        tryDo(() => s.machine.startActivity(new Uint8Array([nextActivity++ & 0xff, 3])));
        p.settle();
        const m = s.machine;
        if (act.finish === 'end') {
          if (tryDo(() => m.endActivity())) ledger.majorIssued(s.name);
        } else tryDo(() => (act.finish === 'discard' ? m.discardActivity(1) : m.interruptActivity(1)));
        p.settle();
        respondAll(peer, false);
        p.settle();
        const old = interrupted[interrupted.length - 1];
        if (act.finish === 'interrupt' && old) {
          if (tryDo(() => s.machine.resumeActivity(new Uint8Array([nextActivity++ & 0xff, 4]), old.id, old.serial)))
            expectResumedAt(s.machine, old.serial);
        }
        break;
      }
      case 'resumeActivity': {
        const old = interrupted[interrupted.length - 1];
        if (!old) break;
        const m = side(act.who).machine;
        if (tryDo(() => m.resumeActivity(new Uint8Array([nextActivity++ & 0xff, 2]), old.id, old.serial)))
          expectResumedAt(m, old.serial);
        break;
      }
      case 'interruptActivity': {
        const m = side(act.who).machine;
        tryDo(() => (act.discard ? m.discardActivity(3) : m.interruptActivity(2)));
        break;
      }
      case 'endActivity':
        if (tryDo(() => side(act.who).machine.endActivity())) ledger.majorIssued(name(act.who));
        break;
      case 'capability':
        tryDo(() => side(act.who).machine.sendCapability(new Uint8Array([1, 2, 3])));
        break;
      case 'giveControl':
        tryDo(() => side(act.who).machine.giveControl());
        break;
      case 'exception':
        tryDo(() => side(act.who).machine.reportException(5));
        break;
      case 'respond':
        respondAll(side(act.who), act.acceptRelease);
        break;
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
        if (
          act.refuse &&
          peer.machine.negotiated?.units.has('negotiatedRelease') &&
          tryDo(() => peer.machine.respondRelease(false))
        ) {
          p.settle();
          // A refused release leaves both sides usable: the requester may still sync or send.
          if (s.machine.state !== 'established' || peer.machine.state !== 'established')
            throw new Error(
              `a refused release closed a side (${s.name} ${s.machine.state}, ${peer.name} ${peer.machine.state})`,
            );
        }
        break;
      }
      case 'abort':
        ledger.aborted = true;
        side(act.who).machine.abort('property test abort');
        break;
      case 'cut':
        if (p.connected && p.A.machine.stats.sent + p.B.machine.stats.sent > 0) count('cut-with-traffic');
        // A release under way, or one side closed by it with the end still in flight (I9).
        if (p.connected && [p.A.machine, p.B.machine].some((m) => m.releasing || m.state === 'closed'))
          count('cut-in-release');
        p.cut(act.keep);
        break;
      case 'reconnect':
        if (!p.connected) p.connectTransport();
        break;
      case 'advance':
        p.advance(act.ms);
        break;
      case 'settle':
        p.settle();
        break;
    }
    p.pump();
    ledger.checkStep(p.A.machine, p.B.machine);
  }

  settleAndCheck(p, ledger);
}

function expectResumedAt(m: SessionMachine, serial: number): void {
  if (m.serial !== serial + 1) throw new Error(`a resumed activity starts at serial ${serial + 1}, not ${m.serial}`);
}

/** One run: a profile, a list of actions, and where (if anywhere) one side aborts. */
export const property = fc.property(
  fc.constantFrom(...PROFILES),
  fc.array(action, { minLength: 5, maxLength: 80 }),
  fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
  (profile, actions, abortAt) => {
    runScenario(profile, actions, abortAt);
  },
);

/** The paths the invariants are about; a pass in which one never ran proves little. */
export const PATHS = [
  'data',
  'resumed',
  'cut-with-traffic',
  'data-discarded',
  'resync-complete',
  'cancelled',
  'sync-major-confirmed',
  'activity-interrupted',
  'activity-resume',
  'activity-ended',
  'activity-discarded',
  'release-refused',
  'cut-in-release',
  'tokens-given',
  'control-given',
  'capability-confirmed',
  'exception',
  'expedited',
  'typed',
  'sync-minor-confirmed',
];
