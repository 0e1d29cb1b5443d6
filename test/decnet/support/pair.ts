// Two DecnetMachines on a virtual Ethernet: frames go from one to the other through `link`,
// which may drop any of them (loss, a cut); time moves only when nothing is in flight, to the
// next deadline either machine asked for. No sockets, no sleeps.

import {
  decodeFrame,
  DecnetMachine,
  type DecnetEvent,
  type DecnetMachineOptions,
  type NspMessage,
} from '../../../src/decnet/index.js';

export interface Sent {
  readonly at: number;
  readonly from: 'a' | 'b';
  readonly frame: Uint8Array;
  readonly nsp: NspMessage;
  readonly delivered: boolean;
}

export class Pair {
  now = 0;
  readonly a: DecnetMachine;
  readonly b: DecnetMachine;
  readonly events: { a: DecnetEvent[]; b: DecnetEvent[] } = { a: [], b: [] };
  /** Every frame put on the link, delivered or not. */
  readonly wire: Sent[] = [];
  /** Decides whether a frame gets through (default: all do). */
  link: (s: Omit<Sent, 'delivered'>) => boolean = () => true;

  constructor(a: DecnetMachineOptions, b: DecnetMachineOptions) {
    this.a = new DecnetMachine(a);
    this.b = new DecnetMachine(b);
  }

  /** Moves frames and events until nothing is in flight (time does not move). */
  settle(): void {
    for (let i = 0; i < 10_000; i++) {
      let moved = false;
      for (const [from, m, other] of [
        ['a', this.a, this.b],
        ['b', this.b, this.a],
      ] as const) {
        for (let e = m.pollEvent(); e; e = m.pollEvent()) this.events[from].push(e);
        for (let f = m.pollBytes(); f; f = m.pollBytes()) {
          moved = true;
          const s = { at: this.now, from, frame: f, nsp: decodeFrame(f).nsp };
          const delivered = this.link(s);
          this.wire.push({ ...s, delivered });
          if (delivered) other.handleFrame(f, this.now);
        }
      }
      if (!moved) return;
    }
    throw new Error('the pair did not settle in 10,000 rounds');
  }

  /** Settles, then runs timers until `until` holds or neither machine has a deadline (bounded). */
  run(until: () => boolean = () => false, maxSteps = 1_000): void {
    this.settle();
    for (let i = 0; i < maxSteps && !until(); i++) {
      const next = [this.a.nextDeadline(), this.b.nextDeadline()].filter((d): d is number => d !== undefined);
      if (next.length === 0) return;
      this.now = Math.max(this.now, Math.min(...next));
      for (const m of [this.a, this.b]) {
        const d = m.nextDeadline();
        if (d !== undefined && d <= this.now) m.handleTimeout(this.now);
      }
      this.settle();
    }
  }

  /** Runs `fn` on a machine at the current time, then settles. */
  do(fn: (now: number) => void): void {
    fn(this.now);
    this.settle();
  }

  of(side: 'a' | 'b', type: DecnetEvent['type']): DecnetEvent[] {
    return this.events[side].filter((e) => e.type === type);
  }

  /** The NSP message types put on the link, in order, as "a:CONNECT_INITIATE". */
  trace(): string[] {
    return this.wire.map((s) => `${s.from}:${s.nsp.type}${s.delivered ? '' : ' (lost)'}`);
  }
}
