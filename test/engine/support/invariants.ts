// The invariants of two correct session machines talking to each other, shared by the random
// property test (../machine/property.test.ts, `npm run sweep`) and the bounded exhaustive
// explorer (./explorer.ts, `npm run explore`), and listed in docs/state-machine.md.
//
// A Ledger follows one run: the data units each side sent (numbered payloads, see `payload`),
// what each side delivered or reported discarded, and which major sync points wait for their
// confirmation. It is fed every event both machines emit (`observe`) and every accepted send
// (`sent`), and checks:
//
//   always (after every step)
//     I1  no protocol violation, failed negotiation or handshake timeout ends either side, and
//         no side aborts itself unless the run asked it to (`observe`);
//     I2  data is delivered at most once and in order, never both delivered and discarded, and
//         only data that was sent (`checkStep`);
//     I3  no token is held by both sides (`checkStep`);
//     I4  no data leaves a side while its major sync point or activity end is unconfirmed, and in
//         half duplex only the data token's holder sends (`sent`);
//   once settled (transport up, every indication answered, the link empty: `checkSettled`)
//     I5  nothing lost: every unit sent was delivered or reported discarded (when both sides are
//         established, or both closed by an orderly release);
//     I6  both sides agree on the serial numbers V(M), V(A) and V(R), on whether an activity is
//         in progress, and every token that exists is held by exactly one side;
//     I7  nothing is stuck: a side may be refused data only for want of the token, direction,
//         activity or because of a reported exception, never for a service left pending;
//     I8  an abort ends both sides;
//     I9  a release is never left half done: when one side closed by an orderly release (no
//         error), so did the other, whatever the cuts (no side waits out the resume window).

import { SessionError } from '../../../src/engine/errors.js';
import type { DialogueModeName } from '../../../src/engine/frames.js';
import type { SessionEvent, SessionMachine } from '../../../src/engine/machine/index.js';
import type { Pair } from './pair.js';

export type Who = 'A' | 'B';

/** Per-direction bookkeeping of data units (id = position in the sender's sequence). */
export class Flow {
  sent: number[] = [];
  delivered: number[] = [];
  discarded = new Set<number>();
}

/** Data unit `id` from `from`: a marker byte, the id, and `size` filler bytes. */
export function payload(from: Who, id: number, size: number): Uint8Array {
  const p = new Uint8Array(5 + size);
  p[0] = from === 'A' ? 0x41 : 0x42;
  new DataView(p.buffer).setUint32(1, id);
  for (let i = 5; i < p.length; i++) p[i] = (id + i) & 0xff;
  return p;
}

export function idOf(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(1);
}

/** Rethrows anything but a local SessionError (a refused command is fine, a crash is not). */
export function localOnly(e: unknown): void {
  if (!(e instanceof SessionError) || e.origin !== 'local') throw e;
}

/** Runs a command; false when it was refused with a local SessionError. */
export function tryDo(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    localOnly(e);
    return false;
  }
}

const BAD_CODES = new Set(['ERR_PROTOCOL_VIOLATION', 'ERR_NEGOTIATION_FAILED', 'ERR_HANDSHAKE_TIMEOUT']);
const AT_REST_REFUSALS = new Set([
  'ERR_TOKEN_NOT_HELD',
  'ERR_NOT_SENDER',
  'ERR_ACTIVITY_REQUIRED',
  'ERR_EXCEPTION_PENDING',
]);

export class Ledger {
  readonly flows: Record<Who, Flow> = { A: new Flow(), B: new Flow() }; // flows.A = data sent by A
  readonly majorPending: Record<Who, boolean> = { A: false, B: false };
  /** The run aborted a side on purpose (I1 and I8). */
  aborted = false;
  /** Each side closed by an orderly release (a `closed` without error), for I9. */
  readonly released: Record<Who, boolean> = { A: false, B: false };

  constructor(readonly mode: DialogueModeName) {}

  /** I1, and the bookkeeping for I2, I4 and I5: feed every event `me` emits. */
  observe(e: SessionEvent, me: Who): void {
    const peer: Who = me === 'A' ? 'B' : 'A';
    switch (e.type) {
      case 'data':
        this.flows[peer].delivered.push(idOf(e.payload));
        break;
      case 'data-discarded':
        for (const pl of e.payloads) {
          if (pl[0] !== 0x41 && pl[0] !== 0x42) continue; // typed data
          this.flows[e.direction === 'out' ? me : peer].discarded.add(idOf(pl));
        }
        break;
      case 'sync-major-confirmed':
      case 'activity-ended':
        this.majorPending[me] = false;
        break;
      case 'cancelled':
        if (e.side === 'local' && (e.service === 'sync-major' || e.service === 'activity-end'))
          this.majorPending[me] = false;
        break;
      case 'closed':
        if (e.error && BAD_CODES.has(e.error.code))
          throw new Error(`${me} closed with ${e.error.code}: ${e.error.message}`);
        if (e.error?.code === 'ERR_ABORTED' && e.error.origin === 'local' && !this.aborted)
          throw new Error(`${me} aborted itself: ${e.error.message}`);
        if (!e.error) this.released[me] = true;
        break;
    }
  }

  /** A major sync point or activity end of `who` was accepted. */
  majorIssued(who: Who): void {
    this.majorPending[who] = true;
  }

  /** I4: `who` had data unit `id` accepted by its machine `m`. */
  sent(who: Who, id: number, m: SessionMachine): void {
    if (this.majorPending[who]) throw new Error(`${who} sent data while its major sync was unconfirmed`);
    if (this.mode === 'halfDuplex' && !m.tokens.includes('data'))
      throw new Error(`${who} sent data without the data token`);
    this.flows[who].sent.push(id);
  }

  /** The next data unit id for `who`. */
  nextId(who: Who): number {
    return this.flows[who].sent.length;
  }

  /** I2 and I3, cheap enough for every step. */
  checkStep(A: SessionMachine, B: SessionMachine): void {
    const a = new Set(A.tokens);
    for (const t of B.tokens) if (a.has(t)) throw new Error(`both sides hold the ${t} token`);
    for (const w of ['A', 'B'] as const) {
      const f = this.flows[w];
      const n = f.delivered.length;
      for (let i = 0; i < n; i++) {
        const id = f.delivered[i] as number;
        if (id >= f.sent.length) throw new Error(`${w}: delivered ${id} was never sent`);
        if (i > 0 && id <= (f.delivered[i - 1] as number))
          throw new Error(`${w}: ${id} delivered after ${f.delivered[i - 1]} (order or duplicate)`);
        if (f.discarded.has(id)) throw new Error(`${w}: ${id} both delivered and discarded`);
      }
    }
  }

  /** I5 to I9, once the pair has settled (transport up, everything answered, the link empty). */
  checkSettled(A: SessionMachine, B: SessionMachine): void {
    this.checkStep(A, B);
    const bothLive = A.state === 'established' && B.state === 'established';
    const released = A.state === 'closed' && B.state === 'closed' && !this.aborted;
    for (const w of ['A', 'B'] as const) {
      const f = this.flows[w];
      if (!bothLive && !released) continue;
      const delivered = new Set(f.delivered);
      const lost = f.sent.filter((id) => !delivered.has(id) && !f.discarded.has(id));
      if (lost.length)
        throw new Error(
          `${w}: ${lost.length} data units lost (first ${lost[0]}), ${f.delivered.length} delivered of ${f.sent.length}`,
        );
    }
    if (this.aborted && (A.state !== 'closed' || B.state !== 'closed'))
      throw new Error(`an abort left a side open (A ${A.state}, B ${B.state})`);
    if (this.released.A !== this.released.B && !this.aborted) {
      const [done, other] = this.released.A ? (['A', B] as const) : (['B', A] as const);
      throw new Error(`a release left half done: ${done} closed by the release, the other ${other.state}`);
    }
    if (!bothLive) return;
    const [a, b] = [A.snapshot().dialogue, B.snapshot().dialogue];
    for (const v of ['vm', 'va', 'vr'] as const) {
      if (a[v] !== b[v]) throw new Error(`the sides disagree on ${v}: A ${a[v]}, B ${b[v]}`);
    }
    if ((a.activity === null) !== (b.activity === null))
      throw new Error(`only ${a.activity ? 'A' : 'B'} is in an activity`);
    const all = new Set([...A.tokens, ...B.tokens]);
    if (all.size !== A.negotiated?.tokens.length)
      throw new Error(`tokens lost: ${[...all].join(',')} of ${A.negotiated?.tokens.join(',')}`);
    for (const m of [A, B]) {
      try {
        m.sendData(new Uint8Array(0));
      } catch (e) {
        localOnly(e);
        const code = (e as SessionError).code;
        if (!AT_REST_REFUSALS.has(code))
          throw new Error(`${m.role} cannot send data at rest: ${code} ${(e as SessionError).message}`);
      }
    }
  }
}

/** Answers every indication `m` may be waiting on (release: accepted or refused as asked). */
export function answerAll(m: SessionMachine, acceptRelease: boolean): void {
  // (Nothing awaits an answer of a unit not negotiated: those are not even tried.)
  const units = m.negotiated?.units;
  if (units?.has('majorSync')) tryDo(() => m.confirmMajorSync());
  if (units?.has('resynchronize')) tryDo(() => m.respondResync());
  if (units?.has('activities')) {
    tryDo(() => m.confirmActivityInterrupt());
    tryDo(() => m.confirmActivityDiscard());
    tryDo(() => m.confirmActivityEnd());
  }
  if (units?.has('capabilityData')) tryDo(() => m.confirmCapability());
  tryDo(() => m.respondRelease(acceptRelease));
}

/**
 * Settles the pair and checks I5 to I9: reconnect when the transport is down, answer everything
 * on both sides (accepting a release), let the link empty; a few rounds, since an answer may
 * unblock a request that then needs its own (an abort also lets the resume window run out).
 * Ends the run: the nothing-stuck check (I7) sends an empty data unit.
 */
export function settleAndCheck(p: Pair, ledger: Ledger): void {
  const progress = (): string => {
    const [a, b] = [p.A.machine.stats, p.B.machine.stats];
    return `${p.A.events.length} ${p.B.events.length} ${a.sent} ${b.sent} ${a.acknowledged} ${b.acknowledged} ${p.connected}`;
  };
  for (let round = 0, before = ''; round < 12; round++) {
    if (!p.connected && p.A.machine.state !== 'closed') p.connectTransport();
    answerAll(p.A.machine, true);
    answerAll(p.B.machine, true);
    p.settle();
    p.advance(50);
    const now = progress();
    if (now === before) break; // a round that changed nothing: settled
    before = now;
  }
  if (ledger.aborted) p.advance(300_000);
  ledger.checkSettled(p.A.machine, p.B.machine);
}
