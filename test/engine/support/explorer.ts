// A bounded exhaustive search of two session machines, beside the random property test: from a
// small configuration (dialogue mode, functional units, who holds the tokens, inside an activity
// or not) it tries every event in every order up to a depth, and checks every state it reaches
// against the invariants in ./invariants.ts.
//
// Events (one step each):
//   - a command by A or by B (data, sync points and their confirmations, resynchronize and its
//     answer, activity start/resume/interrupt/discard/end and their confirmations, tokens,
//     give-control, capability, typed and expedited data, exception reports, release and its
//     answers; abort is left to the property test, every state after it being an end); a
//     command its machine refuses is no event, and must send nothing; commands of a unit the
//     configuration did not negotiate, refused in every state, are not tried;
//   - the delivery of the oldest frame in flight from A to B, or from B to A (each frame is its
//     own step, so requests cross answers in every possible way);
//   - a transport cut (what is in flight is lost) and, while cut, a reconnect (resume);
//   - the timers due next (lazy ACKs), while connected.
//
// Bounds besides the depth keep the space finite where only counters grow: at most `sends` data
// units (normal, typed, expedited) and `cuts` transport cuts on one path (DEFAULT_BOUNDS).
//
// The search goes depth first from exact copies of each state (./clone.ts; the copies are checked
// against replays in ../machine/explorer-clone.test.ts), never replaying a path. States are
// hashed (both machines' whole state, the link, and the ledger of data sent and delivered; time
// relative to the clock), so an interleaving that reaches a state already seen is not explored
// again, unless it reached it by a shorter path: then the state is expanded again with the steps
// it has left. So every state within the depth is reached and expanded as far as the depth allows.
//
// Checked in every state reached: I1 to I4 after each step, and I5 to I9 after settling it
// (reconnect, answer everything, let the link empty) -- see ./invariants.ts. The search never
// throws: an engine exception, a failed invariant or a failure of the search itself is reported
// with its path, and a time or state bound stops it with the place it stopped at.

import { createHash } from 'node:crypto';
import type { DialogueModeName, TokenName, UnitName } from '../../../src/engine/frames.js';
import { SessionMachine } from '../../../src/engine/machine/index.js';
import { copyDeep } from './clone.js';
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

export interface Violation {
  config: string;
  path: string[];
  error: string;
}

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
  /** Set when a bound stopped the search before the depth was covered. */
  stopped?: Stopped;
}

export interface World {
  p: Pair;
  ledger: Ledger;
  interrupted: { id: Uint8Array; serial: number } | null;
  activities: number;
  /** Data units (normal, typed, expedited) and transport cuts still allowed on this path. */
  sends: number;
  cuts: number;
  /** Events seen so far on both sides (to tell that a refused command emitted none). */
  events: number;
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
export type Outcome = 'disabled' | 'refused' | 'done';

interface Step {
  name: string;
  run(w: World): Outcome;
  /** The functional unit without which the machine refuses this step in every state. */
  unit?: UnitName;
}

/** Commands that need a unit (the search leaves them out of configurations without it). */
const UNIT_OF: Record<string, UnitName> = {
  typed: 'typedData',
  expedited: 'expedited',
  minor: 'minorSync',
  confirmMinor: 'minorSync',
  major: 'majorSync',
  confirmMajor: 'majorSync',
  restart: 'resynchronize',
  abandon: 'resynchronize',
  respondResync: 'resynchronize',
  startActivity: 'activities',
  resumeActivity: 'activities',
  interruptActivity: 'activities',
  discardActivity: 'activities',
  endActivity: 'activities',
  confirmInterrupt: 'activities',
  confirmDiscard: 'activities',
  confirmEnd: 'activities',
  giveControl: 'activities',
  capability: 'capabilityData',
  confirmCapability: 'capabilityData',
  exception: 'exceptions',
  refuseRelease: 'negotiatedRelease',
};

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
    command(who, 'major', (m, w) => {
      m.syncMajor();
      w.ledger.majorIssued(who);
    }),
    command(who, 'confirmMajor', (m) => m.confirmMajorSync()),
    command(who, 'restart', (m) => m.resynchronize('restart')),
    command(who, 'abandon', (m) => m.resynchronize('abandon')),
    command(who, 'respondResync', (m) => m.respondResync()),
    command(who, 'startActivity', (m, w) => {
      m.startActivity(new Uint8Array([w.activities + 1]));
      w.activities++;
    }),
    command(who, 'resumeActivity', (m, w) => {
      if (!w.interrupted) throw new Error('nothing to resume'); // never: guarded below
      m.resumeActivity(new Uint8Array([w.activities + 1]), w.interrupted.id, w.interrupted.serial);
      w.activities++;
    }),
    command(who, 'interruptActivity', (m) => m.interruptActivity(1)),
    command(who, 'discardActivity', (m) => m.discardActivity(2)),
    command(who, 'endActivity', (m, w) => {
      m.endActivity();
      w.ledger.majorIssued(who);
    }),
    command(who, 'confirmInterrupt', (m) => m.confirmActivityInterrupt()),
    command(who, 'confirmDiscard', (m) => m.confirmActivityDiscard()),
    command(who, 'confirmEnd', (m) => m.confirmActivityEnd()),
    command(who, 'give', (m) => m.giveTokens(m.tokens)),
    command(who, 'giveControl', (m) => m.giveControl()),
    command(who, 'capability', (m) => m.sendCapability(new Uint8Array([1]))),
    command(who, 'confirmCapability', (m) => m.confirmCapability()),
    command(who, 'exception', (m) => m.reportException(3)),
    command(who, 'release', (m) => m.release()),
    command(who, 'acceptRelease', (m) => m.respondRelease(true)),
    command(who, 'refuseRelease', (m) => m.respondRelease(false)),
  ]
    .map((s) =>
      s.name.endsWith('.resumeActivity') ? { ...s, run: (w: World) => (w.interrupted ? s.run(w) : 'disabled') } : s,
    )
    .map((s) => {
      const unit = UNIT_OF[s.name.slice(2)];
      return unit ? { ...s, unit } : s;
    });
}

const LINK: Step[] = [
  { name: 'deliver A>B', run: (w) => (w.p.connected && w.p.deliverNext('AtoB') ? 'done' : 'disabled') },
  { name: 'deliver B>A', run: (w) => (w.p.connected && w.p.deliverNext('BtoA') ? 'done' : 'disabled') },
  {
    name: 'cut',
    run: (w) => {
      if (!w.p.connected || w.cuts === 0) return 'disabled';
      w.cuts--;
      w.p.cut(0);
      return 'done';
    },
  },
  {
    name: 'reconnect',
    run: (w) => {
      if (w.p.connected || w.p.A.machine.state === 'closed') return 'disabled';
      w.p.connectTransport();
      return 'done';
    },
  },
  {
    name: 'timers',
    run: (w) => {
      if (!w.p.connected) return 'disabled';
      const ds = [w.p.A.machine.nextDeadline(), w.p.B.machine.nextDeadline()].filter(
        (d): d is number => d !== undefined,
      );
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

/** The event handlers of a world's pair: they close over the world, so each copy gets its own. */
function listen(w: World): void {
  for (const side of [w.p.A, w.p.B]) {
    side.onEvent = (e, s) => {
      w.events++;
      coverage.add(`${s.name}:${e.type === 'closed' && !e.error ? 'released' : e.type}`);
      if (e.type === 'connect-request') w.p.B.machine.accept();
      if (e.type === 'activity-interrupted') w.interrupted = { id: e.activityId, serial: e.serial };
      w.ledger.observe(e, s.name);
    };
  }
}

/** The pair keeps every event for scenario tests; the search has the ledger and drops them. */
function dropEvents(w: World): void {
  w.p.A.events.length = 0;
  w.p.B.events.length = 0;
}

export function root(config: ExploreConfig, bounds: Bounds = DEFAULT_BOUNDS): World {
  const initialTokens: Partial<Record<TokenName, 'initiator' | 'acceptor'>> = {};
  for (const t of TOKENS) initialTokens[t] = config.holder === 'A' ? 'initiator' : 'acceptor';
  const p = new Pair({
    a: { modes: [config.mode], units: config.units, initialTokens },
    latency: 1,
    closeOnRequest: true,
  });
  const w: World = {
    p,
    ledger: new Ledger(config.mode),
    interrupted: null,
    activities: 0,
    sends: bounds.sends,
    cuts: bounds.cuts,
    events: 0,
  };
  listen(w);
  p.connectTransport();
  p.settle();
  p.advance(100);
  if (config.inActivity) {
    machine(w, config.holder).startActivity(new Uint8Array([++w.activities]));
    p.settle();
    p.advance(100);
  }
  dropEvents(w);
  return w;
}

/** An exact copy of a world (./clone.ts): both machines, the link, the clock and the ledger. */
export function copyWorld(w: World): World {
  const memo = new Map<unknown, unknown>();
  const noop = (): void => {};
  memo.set(w.p.A.onEvent, noop);
  memo.set(w.p.B.onEvent, noop);
  const c = copyDeep(w, memo);
  listen(c);
  return c;
}

/** Runs step `i` on `w` (and lets the pair move what it produced): what the step did. */
export function runStep(w: World, i: number): Outcome {
  const outcome = (STEPS[i] as Step).run(w);
  w.p.pump();
  dropEvents(w);
  return outcome;
}

export function build(config: ExploreConfig, path: readonly number[], bounds: Bounds = DEFAULT_BOUNDS): World {
  const w = root(config, bounds);
  for (const i of path) runStep(w, i);
  return w;
}

// ---- state hashing ----------------------------------------------------------------------

/** Fields that never change after connect, or hold only functions. */
const SKIP = new Set(['opts', 'host', 'cfg', 'connect', 'offered']);

/**
 * The state as text: every field, recursively (objects shared in the state are written at each
 * place; the machines hold no cycles but through SKIP, which the depth limit would catch).
 */
/**
 * Time is hashed relative to the pair's clock: the machines compare times only with each other
 * and with the time of the input at hand, so two states whose clocks differ by a shift behave
 * alike. Deadlines (REL_TIME) are written as their distance from now; the time of the last input
 * and of the last frame each way (IDLE_TIME) are read only by heartbeats, which the search's pair
 * turns off, and are left out. (Should these fields move, the hash only grows finer: still exact.)
 */
const REL_TIME = new Set(['ackAt', 'handshakeAt', 'interruptedAt']);
const IDLE_TIME = new Set(['now', 'lastSent', 'lastRecv']);

function serialize(v: unknown, depth: number, now = 0): string {
  switch (typeof v) {
    case 'number':
      return String(v);
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'function':
      return 'F';
    case 'bigint':
      return `${v}n`;
    case 'symbol':
      return 'S';
  }
  if (v === null) return 'n';
  if (depth > 40) throw new Error('the state is nested too deeply (a cycle?)');
  const o = v as object;
  if (o instanceof Uint8Array) return `b${Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString('hex')}`;
  let out: string;
  if (Array.isArray(o)) {
    out = '[';
    for (const x of o) out += `${serialize(x, depth + 1)},`;
    return `${out}]`;
  }
  if (o instanceof Set || o instanceof Map) {
    out = '<';
    for (const x of o instanceof Set ? [...o].sort() : [...o.entries()]) out += `${serialize(x, depth + 1)},`;
    return `${out}>`;
  }
  out = '{';
  const timed = o instanceof SessionMachine && !o.negotiated?.heartbeatMs;
  for (const k of Object.keys(o)) {
    if (SKIP.has(k) || (timed && IDLE_TIME.has(k))) continue;
    const x = (o as Record<string, unknown>)[k];
    out += `${k}:${timed && REL_TIME.has(k) ? String((x as number) - now) : serialize(x, depth + 1, now)},`;
  }
  return `${out}}`;
}

export function stateText(w: World): string {
  const flight = (w.p as unknown as { flight: Record<string, { at: number; bytes: Uint8Array }[]> }).flight;
  const link = Object.values(flight).map((q) => q.map((c) => [c.at - w.p.now, c.bytes]));
  return serialize(
    [
      w.p.A.machine,
      w.p.B.machine,
      w.p.connected,
      link,
      w.ledger.flows,
      w.ledger.majorPending,
      w.ledger.aborted,
      w.ledger.released,
      w.interrupted,
      w.activities,
      w.sends,
      w.cuts,
    ],
    0,
    w.p.now,
  );
}

/** Frames and events so far, on both sides. */
function outputs(w: World): string {
  const [a, b] = [w.p.A.machine.stats, w.p.B.machine.stats];
  return `${w.events} ${a.sent} ${b.sent} ${a.queuedBytes} ${b.queuedBytes}`;
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
  /** Stop at this time (performance.now() milliseconds), reporting where (default: none). */
  deadline?: number;
  /** Stop after this many distinct states, reporting where (default: none). */
  maxStates?: number;
}

/** Where a search stopped before its depth was covered, and why. */
export interface Stopped {
  reason: 'time' | 'states' | 'violations';
  states: number;
  path: string[];
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Every state reachable from the configuration's root in at most `depth` steps, depth first from
 * copies of each state (a state is expanded again only when reached by a shorter path than
 * before, so each is expanded with the most steps left it can have). Never throws: an engine
 * exception, a failed invariant or a failure of the search itself is a violation with the path
 * that led to it; a time or state bound stops the search and says where.
 */
export function explore(config: ExploreConfig, options: ExploreOptions): ExploreResult {
  const t0 = performance.now();
  const maxViolations = options.maxViolations ?? 5;
  const deadline = options.deadline ?? Infinity;
  const maxStates = options.maxStates ?? Infinity;
  const bounds = options.bounds ?? DEFAULT_BOUNDS;
  const depth = options.depth;
  const violations: Violation[] = [];
  const names = (path: readonly number[]): string[] => path.map((i) => (STEPS[i] as Step).name);
  const fail = (path: readonly number[], e: unknown): void => {
    violations.push({ config: config.name, path: names(path), error: message(e) });
  };
  /** Steps left when each state was last expanded: depth minus the shortest path found to it. */
  const visited = new Map<string, number>();
  let transitions = 0;
  const byStep: Record<string, number> = {};
  let stopped: Stopped | undefined;
  const result = (): ExploreResult => {
    const perDepth = Array.from({ length: depth + 1 }, () => 0);
    for (const left of visited.values()) perDepth[depth - left] = (perDepth[depth - left] ?? 0) + 1;
    while (perDepth.length > 1 && perDepth[perDepth.length - 1] === 0) perDepth.pop();
    return {
      config: config.name,
      depth,
      bounds,
      states: visited.size,
      transitions,
      perDepth,
      byStep,
      violations,
      ms: performance.now() - t0,
      ...(stopped ? { stopped } : {}),
    };
  };
  const stop = (path: readonly number[]): boolean => {
    if (stopped) return true;
    const reason =
      violations.length >= maxViolations
        ? 'violations'
        : visited.size >= maxStates
          ? 'states'
          : performance.now() >= deadline
            ? 'time'
            : null;
    if (reason) stopped = { reason, states: visited.size, path: names(path) };
    return reason !== null;
  };

  /** A new state, expanded already (settling changes it): check I5 to I9 once settled. */
  const check = (w: World, path: readonly number[]): void => {
    try {
      settleAndCheck(w.p, w.ledger);
    } catch (e) {
      fail(path, e);
    }
  };

  /** Steps the configuration allows (a step needing a unit not negotiated is refused in every state). */
  let steps: number[] = [];

  const expand = (w: World, hash: string, path: number[]): void => {
    const left = depth - path.length;
    if (left === 0) return;
    let cur: World | null = null;
    for (const [n, i] of steps.entries()) {
      if ((n & 7) === 0 && stop(path)) return;
      const childPath = [...path, i];
      cur ??= copyWorld(w);
      const trace = outputs(cur);
      let outcome: Outcome;
      try {
        outcome = runStep(cur, i);
        cur.ledger.checkStep(cur.p.A.machine, cur.p.B.machine);
      } catch (e) {
        fail(childPath, e);
        cur = null;
        continue;
      }
      if (outcome === 'disabled') continue;
      if (outcome === 'refused') {
        // (A full hash here would cost most of the search; a refused command that changed
        // anything the peer could see would have sent a frame or an event.)
        if (outputs(cur) === trace) continue;
        fail(childPath, new Error('a refused command sent a frame or an event'));
        cur = null;
        continue;
      }
      const h = stateHash(cur);
      if (h === hash) continue; // a step that changed nothing
      transitions++;
      const child = cur;
      cur = null;
      const before = visited.get(h);
      if (before !== undefined && before >= left - 1) continue;
      visited.set(h, left - 1);
      expand(child, h, childPath); // (copies `child`, leaving it as it is)
      if (before !== undefined) continue;
      const name = (STEPS[i] as Step).name;
      byStep[name] = (byStep[name] ?? 0) + 1;
      check(child, childPath);
    }
  };

  // Refused commands throw SessionErrors by the thousand; their stacks would cost most of the time.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const first = root(config, bounds);
    const units = first.p.A.machine.negotiated?.units;
    steps = STEPS.flatMap((step, i) => (!step.unit || units?.has(step.unit) ? [i] : []));
    const h = stateHash(first);
    visited.set(h, depth);
    expand(first, h, []);
    check(first, []);
  } catch (e) {
    // Only a failure of the search itself gets here (a copy that cannot be made, say).
    fail([], new Error(`the search failed: ${message(e)}`));
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  return result();
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
