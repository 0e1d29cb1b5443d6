// A bounded exhaustive search of two session machines, beside the random property test: from a
// small configuration (dialogue mode, functional units, who holds the tokens, inside an activity
// or not) it tries every event in every order, breadth first, up to a depth, and checks every
// state it reaches against the invariants in ./invariants.ts.
//
// Events (one step each):
//   - a command by A or by B (data, sync points and their confirmations, resynchronize and its
//     answer, activity start/resume/interrupt/discard/end and their confirmations, tokens,
//     give-control, capability, typed and expedited data, exception reports, release and its
//     answers; abort is left to the property test, every state after it being an end); a
//     command its machine refuses is no event, and must send nothing;
//   - the delivery of the oldest frame in flight from A to B, or from B to A (each frame is its
//     own step, so requests cross answers in every possible way);
//   - a transport cut (what is in flight is lost) and, while cut, a reconnect (resume);
//   - the timers due next (lazy ACKs), while connected.
//
// Bounds besides the depth keep the space finite where only counters grow: at most `sends` data
// units (normal, typed, expedited) and `cuts` transport cuts on one path (DEFAULT_BOUNDS).
//
// States are hashed (both machines' whole state, the link, and the ledger of data sent and
// delivered), so an interleaving that reaches a state already seen is not explored again; the
// search is breadth first, so every state is expanded from the shallowest path to it. Machines
// cannot be copied, so a state is rebuilt by replaying its path from the root.
//
// Checked in every state reached: I1 to I4 after each step, and I5 to I9 after settling a copy
// of the state (reconnect, answer everything, let the link empty) -- see ./invariants.ts.

import { createHash } from 'node:crypto';
import type { DialogueModeName, TokenName, UnitName } from '../../../src/engine/frames.js';
import type { SessionMachine } from '../../../src/engine/machine/index.js';
import { Ledger, payload, settleAndCheck, tryDo } from './invariants.js';
import type { Who } from './invariants.js';
import { Pair } from './pair.js';

export interface ExploreConfig {
  name: string;
  mode: DialogueModeName;
  units: UnitName[];
  /** The side that holds every token at connect. */
  holder: Who;
  /** Start inside an activity (begun by the holder). */
  inActivity?: boolean;
}

export interface Violation { config: string; path: string[]; error: string }

export interface ExploreResult {
  config: string;
  depth: number;
  bounds: Bounds;
  /** Distinct states reached (the root included). */
  states: number;
  /** Steps taken that changed the state (to a new state or to one already seen). */
  transitions: number;
  /** New states per depth, root first. */
  perDepth: number[];
  /** New states by the step that first reached them. */
  byStep: Record<string, number>;
  violations: Violation[];
  ms: number;
}

interface World {
  p: Pair;
  ledger: Ledger;
  interrupted: { id: Uint8Array; serial: number } | null;
  activities: number;
  /** Data units (normal, typed, expedited) and transport cuts still allowed on this path. */
  sends: number;
  cuts: number;
}

/** Bounds on a path besides its depth: what makes the state space grow without new rules. */
export interface Bounds {
  /** Data units (normal, typed or expedited) sent on one path, both sides together (default 2). */
  sends: number;
  /** Transport cuts on one path (default 1). */
  cuts: number;
}

export const DEFAULT_BOUNDS: Bounds = { sends: 2, cuts: 1 };

/** What a step did: not possible now, refused by the machine, or done. */
type Outcome = 'disabled' | 'refused' | 'done';

interface Step { name: string; run(w: World): Outcome }

const TOKENS: TokenName[] = ['data', 'minorSync', 'majorActivity', 'release'];

function machine(w: World, who: Who): SessionMachine {
  return (who === 'A' ? w.p.A : w.p.B).machine;
}

function command(who: Who, name: string, fn: (m: SessionMachine, w: World) => void): Step {
  return { name: `${who}.${name}`, run: (w) => (tryDo(() => fn(machine(w, who), w)) ? 'done' : 'refused') };
}

/** A command that sends a data unit, within the path's bound. */
function send(who: Who, name: string, fn: (m: SessionMachine, w: World) => void): Step {
  const c = command(who, name, fn);
  return {
    name: c.name,
    run: (w) => {
      if (w.sends === 0) return 'disabled';
      const r = c.run(w);
      if (r === 'done') w.sends--;
      return r;
    },
  };
}

function commands(who: Who): Step[] {
  return [
    send(who, 'data', (m, w) => {
      const id = w.ledger.nextId(who);
      m.sendData(payload(who, id, 2));
      w.ledger.sent(who, id, m);
    }),
    send(who, 'typed', (m) => m.sendTyped(new Uint8Array([7]))),
    send(who, 'expedited', (m) => m.sendExpedited(new Uint8Array([9]))),
    command(who, 'minor', (m) => m.syncMinor({ confirm: true })),
    command(who, 'confirmMinor', (m) => m.confirmMinorSync()),
    command(who, 'major', (m, w) => { m.syncMajor(); w.ledger.majorIssued(who); }),
    command(who, 'confirmMajor', (m) => m.confirmMajorSync()),
    command(who, 'restart', (m) => m.resynchronize('restart')),
    command(who, 'abandon', (m) => m.resynchronize('abandon')),
    command(who, 'respondResync', (m) => m.respondResync()),
    command(who, 'activityStart', (m, w) => { m.activityStart(new Uint8Array([w.activities + 1])); w.activities++; }),
    command(who, 'activityResume', (m, w) => {
      if (!w.interrupted) throw new Error('nothing to resume'); // never: guarded below
      m.activityResume(new Uint8Array([w.activities + 1]), w.interrupted.id, w.interrupted.serial);
      w.activities++;
    }),
    command(who, 'activityInterrupt', (m) => m.activityInterrupt(1)),
    command(who, 'activityDiscard', (m) => m.activityDiscard(2)),
    command(who, 'activityEnd', (m, w) => { m.activityEnd(); w.ledger.majorIssued(who); }),
    command(who, 'confirmInterrupt', (m) => m.confirmActivityInterrupt()),
    command(who, 'confirmDiscard', (m) => m.confirmActivityDiscard()),
    command(who, 'confirmEnd', (m) => m.confirmActivityEnd()),
    command(who, 'give', (m) => m.giveTokens(m.tokens)),
    command(who, 'giveControl', (m) => m.giveControl()),
    command(who, 'capability', (m) => m.sendCapability(new Uint8Array([1]))),
    command(who, 'confirmCapability', (m) => m.confirmCapability()),
    command(who, 'exception', (m) => m.exceptionReport(3)),
    command(who, 'release', (m) => m.release()),
    command(who, 'acceptRelease', (m) => m.respondRelease(true)),
    command(who, 'refuseRelease', (m) => m.respondRelease(false)),
  ].map((s) => (s.name.endsWith('.activityResume') ? { ...s, run: (w: World) => (w.interrupted ? s.run(w) : 'disabled') } : s));
}

const LINK: Step[] = [
  { name: 'deliver A>B', run: (w) => (w.p.connected && w.p.deliverNext('AtoB') ? 'done' : 'disabled') },
  { name: 'deliver B>A', run: (w) => (w.p.connected && w.p.deliverNext('BtoA') ? 'done' : 'disabled') },
  { name: 'cut', run: (w) => { if (!w.p.connected || w.cuts === 0) return 'disabled'; w.cuts--; w.p.cut(0); return 'done'; } },
  { name: 'reconnect', run: (w) => { if (w.p.connected || w.p.A.machine.state === 'closed') return 'disabled'; w.p.connectTransport(); return 'done'; } },
  {
    name: 'timers',
    run: (w) => {
      if (!w.p.connected) return 'disabled';
      const ds = [w.p.A.machine.nextDeadline(), w.p.B.machine.nextDeadline()].filter((d): d is number => d !== undefined);
      if (!ds.length) return 'disabled';
      w.p.fireTimersAt(Math.min(...ds));
      return 'done';
    },
  },
];

/** Every step, in a fixed order (a path is a list of indexes into this). */
export const STEPS: Step[] = [...commands('A'), ...commands('B'), ...LINK];

/** Event types seen on each side (`A:resync-complete`), over every search in this process. */
export const coverage = new Set<string>();

function root(config: ExploreConfig, bounds: Bounds): World {
  const initialTokens: Partial<Record<TokenName, 'initiator' | 'acceptor'>> = {};
  for (const t of TOKENS) initialTokens[t] = config.holder === 'A' ? 'initiator' : 'acceptor';
  const p = new Pair({ a: { modes: [config.mode], units: config.units, initialTokens }, latency: 1, closeOnRequest: true });
  const w: World = { p, ledger: new Ledger(config.mode), interrupted: null, activities: 0, sends: bounds.sends, cuts: bounds.cuts };
  for (const side of [p.A, p.B]) {
    side.onEvent = (e, s) => {
      coverage.add(`${s.name}:${e.type === 'closed' && !e.error ? 'released' : e.type}`);
      if (e.type === 'connect-request') p.B.machine.accept();
      if (e.type === 'activity-interrupted') w.interrupted = { id: e.activityId, serial: e.serial };
      w.ledger.observe(e, s.name);
    };
  }
  p.connectTransport();
  p.settle();
  p.advance(100);
  if (config.inActivity) {
    machine(w, config.holder).activityStart(new Uint8Array([++w.activities]));
    p.settle();
    p.advance(100);
  }
  return w;
}

export function build(config: ExploreConfig, path: readonly number[], bounds: Bounds = DEFAULT_BOUNDS): World {
  const w = root(config, bounds);
  for (const i of path) {
    (STEPS[i] as Step).run(w);
    w.p.pump();
  }
  return w;
}

// ---- state hashing ----------------------------------------------------------------------

/** Fields that never change after connect, or hold only functions. */
const SKIP = new Set(['opts', 'host', 'cfg', 'connect', 'offered']);

function serialize(v: unknown, out: string[], seen: Map<object, number>): void {
  switch (typeof v) {
    case 'number': out.push(String(v)); return;
    case 'string': out.push(JSON.stringify(v)); return;
    case 'boolean': out.push(v ? 't' : 'f'); return;
    case 'undefined': out.push('u'); return;
    case 'function': out.push('F'); return;
    case 'bigint': out.push(`${v}n`); return;
    case 'symbol': out.push('S'); return;
  }
  if (v === null) { out.push('n'); return; }
  const o = v as object;
  const ref = seen.get(o);
  if (ref !== undefined) { out.push(`@${ref}`); return; }
  seen.set(o, seen.size);
  if (o instanceof Uint8Array) { out.push(`b${Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString('hex')}`); return; }
  if (Array.isArray(o)) {
    out.push('[');
    for (const x of o) { serialize(x, out, seen); out.push(','); }
    out.push(']');
    return;
  }
  if (o instanceof Set || o instanceof Map) {
    out.push('<');
    for (const x of o instanceof Set ? [...o].sort() : [...o.entries()]) { serialize(x, out, seen); out.push(','); }
    out.push('>');
    return;
  }
  out.push('{');
  for (const k of Object.keys(o)) {
    if (SKIP.has(k)) continue;
    out.push(k, ':');
    serialize((o as Record<string, unknown>)[k], out, seen);
    out.push(',');
  }
  out.push('}');
}

export function stateText(w: World): string {
  const out: string[] = [];
  const seen = new Map<object, number>();
  serialize([w.p.A.machine, w.p.B.machine, w.p.connected, w.p.now, w.p.inFlight('AtoB'), w.p.inFlight('BtoA'),
    w.ledger.flows, w.ledger.majorPending, w.ledger.aborted, w.interrupted, w.activities, w.sends, w.cuts], out, seen);
  return out.join('');
}

/** Frames and events so far, on both sides. */
function outputs(w: World): string {
  const [a, b] = [w.p.A.machine.stats, w.p.B.machine.stats];
  return `${w.p.A.events.length} ${w.p.B.events.length} ${a.sent} ${b.sent} ${a.queuedBytes} ${b.queuedBytes}`;
}

function stateHash(w: World): string {
  return createHash('sha1').update(stateText(w)).digest('base64');
}

// ---- the search ---------------------------------------------------------------------------

export interface ExploreOptions {
  depth: number;
  bounds?: Bounds;
  /** Stop expanding after this many violations (default 5). */
  maxViolations?: number;
  /** Called after each depth is done. */
  onDepth?: (depth: number, states: number) => void;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function explore(config: ExploreConfig, options: ExploreOptions): ExploreResult {
  const t0 = performance.now();
  const maxViolations = options.maxViolations ?? 5;
  const violations: Violation[] = [];
  const names = (path: readonly number[]): string[] => path.map((i) => (STEPS[i] as Step).name);
  const fail = (path: readonly number[], e: unknown): void => {
    violations.push({ config: config.name, path: names(path), error: message(e) });
  };

  const bounds = options.bounds ?? DEFAULT_BOUNDS;
  const first = root(config, bounds);
  const visited = new Set<string>([stateHash(first)]);
  settleAndCheck(first.p, first.ledger);
  let frontier: { path: number[]; hash: string }[] = [{ path: [], hash: [...visited][0] as string }];
  const perDepth = [1];
  let transitions = 0;
  const byStep: Record<string, number> = {};

  for (let depth = 1; depth <= options.depth && frontier.length && violations.length < maxViolations; depth++) {
    const next: { path: number[]; hash: string }[] = [];
    for (const { path, hash } of frontier) {
      if (violations.length >= maxViolations) break;
      let w = build(config, path, bounds);
      for (let i = 0; i < STEPS.length; i++) {
        const childPath = [...path, i];
        let outcome: Outcome;
        const trace = outputs(w);
        try {
          outcome = (STEPS[i] as Step).run(w);
          w.p.pump();
          w.ledger.checkStep(w.p.A.machine, w.p.B.machine);
        } catch (e) {
          fail(childPath, e);
          w = build(config, path, bounds);
          continue;
        }
        if (outcome === 'disabled') continue;
        if (outcome === 'refused') {
          // (A full hash here would cost most of the search; a refused command that changed
          // anything the peer could see would have sent a frame or an event.)
          if (outputs(w) === trace) continue;
          fail(childPath, new Error('a refused command sent a frame or an event'));
          w = build(config, path, bounds);
          continue;
        }
        const h = stateHash(w);
        if (h === hash) continue; // a step that changed nothing
        transitions++;
        if (!visited.has(h)) {
          visited.add(h);
          const name = (STEPS[i] as Step).name;
          byStep[name] = (byStep[name] ?? 0) + 1;
          next.push({ path: childPath, hash: h });
          try {
            settleAndCheck(w.p, w.ledger);
          } catch (e) {
            fail(childPath, e);
          }
        }
        w = build(config, path, bounds);
      }
    }
    perDepth.push(next.length);
    options.onDepth?.(depth, visited.size);
    frontier = next;
  }
  return { config: config.name, depth: options.depth, bounds, states: visited.size, transitions, perDepth, byStep, violations, ms: performance.now() - t0 };
}

// ---- configurations -----------------------------------------------------------------------

/**
 * Small configurations, one per set of rules: every dialogue mode, and each unit that changes
 * what may happen (sync points with and without major sync and resynchronize, activities,
 * exceptions, negotiated release, capability data), with the tokens on either side.
 */
export const CONFIGS: ExploreConfig[] = (() => {
  const base: Omit<ExploreConfig, 'holder' | 'name'>[] = [
    { mode: 'fullDuplex', units: ['minorSync', 'majorSync', 'resynchronize'] },
    { mode: 'halfDuplex', units: ['minorSync', 'majorSync', 'resynchronize', 'exceptions', 'typedData'] },
    { mode: 'simplex', units: ['minorSync', 'resynchronize', 'expedited'] },
    { mode: 'halfDuplex', units: ['minorSync', 'resynchronize', 'negotiatedRelease'] },
    { mode: 'fullDuplex', units: ['activities', 'minorSync', 'majorSync', 'resynchronize', 'capabilityData'] },
    { mode: 'halfDuplex', units: ['activities', 'minorSync', 'resynchronize', 'negotiatedRelease'], inActivity: true },
  ];
  const out: ExploreConfig[] = [];
  for (const b of base) {
    for (const holder of ['A', 'B'] as const) {
      const name = `${b.mode} ${b.units.join('+')}${b.inActivity ? ' (in an activity)' : ''}, tokens on ${holder}`;
      out.push({ ...b, holder, name });
    }
  }
  return out;
})();
