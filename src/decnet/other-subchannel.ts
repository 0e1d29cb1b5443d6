// The other-data subchannel of one logical link (NSP 4.0.1 §5, §6), both directions, as a part
// the machine owns: interrupts and link services, one message in flight at a time. Sending: a
// bounded queue of what the user and the machine asked for (interrupts, stop/go, data and
// interrupt grants), each turned into its message only when it goes, so a grant carries the
// count due at that moment. Receiving: interrupts paced by the one-at-a-time allowance this side
// grants, and the peer's interrupt request counts. No frames and no clock, as data-subchannel.ts.

import { DecnetError } from './errors.js';
import { FcMod, type Ack } from './nsp.js';
import { LinkViolation, ReceiveWindow, SendWindow, type Outstanding, type RetransmitTimer } from './subchannel.js';

/** At most this many interrupts and link services the user asked for wait to be sent. */
export const MAX_OTHER_QUEUE = 16;

export type OtherItem =
  | { readonly kind: 'interrupt'; readonly data: Uint8Array }
  /** FC MOD stop or go, asked by the user. */
  | { readonly kind: 'flow'; readonly fcMod: 1 | 2 }
  /** A data request count top-up: FCVAL is worked out when it is sent (window less allowance). */
  | { readonly kind: 'grant' }
  /** One more interrupt allowed. */
  | { readonly kind: 'grant-interrupt' };

/** An other-data message as sent, kept as is for retransmission. */
export type OtherSent =
  | { readonly kind: 'interrupt'; readonly data: Uint8Array }
  | { readonly kind: 'link'; readonly fcMod: 0 | 1 | 2; readonly interrupt: boolean; readonly fcVal: number };

/** What one received interrupt or link service did; `fresh` is false for a duplicate or a gap. */
export interface OtherReceived {
  readonly ack: boolean;
  readonly fresh: boolean;
}

export class OtherSubchannel {
  readonly window = new SendWindow<OtherSent>();
  readonly timer: RetransmitTimer = { deadline: undefined, tries: 0 };
  readonly received = new ReceiveWindow();
  private readonly queue: OtherItem[] = [];
  /** Interrupts the peer allows this side to send. */
  private interruptCredit = 1;
  /** Interrupts this side allows the peer to send. */
  private interruptAllowance = 1;

  constructor(private readonly retransmitMs: number) {}

  /** Nothing waits to be sent and nothing waits for an acknowledgement. */
  get drained(): boolean {
    return this.queue.length === 0 && this.window.outstanding.length === 0;
  }

  /**
   * Queues an item. The user's items are bounded (MAX_OTHER_QUEUE, ERR_DECNET_LIMIT); the
   * machine's grants are not (one data grant waiting covers the next: its count is worked out
   * when it is sent).
   */
  add(item: OtherItem, internal: boolean): void {
    if (item.kind === 'grant' && this.queue.some((x) => x.kind === 'grant')) return;
    if (!internal && this.queue.length >= MAX_OTHER_QUEUE)
      throw new DecnetError(
        'ERR_DECNET_LIMIT',
        `${MAX_OTHER_QUEUE} interrupts and link services already wait`,
        'local',
        {
          limit: 'segmentSize',
        },
      );
    this.queue.push(item);
  }

  /**
   * The next message to send when none is in flight, numbered and counted as outstanding; an
   * interrupt waits for the peer's credit. `grant` works out a data grant's count (undefined when
   * none is due, and the item is dropped).
   */
  next(now: number, grant: () => number | undefined): Outstanding<OtherSent> | undefined {
    if (this.window.outstanding.length > 0) return undefined;
    const i = this.queue.findIndex((x) => x.kind !== 'interrupt' || this.interruptCredit > 0);
    if (i < 0) return undefined;
    const sent = this.concrete(this.queue.splice(i, 1)[0]!, grant);
    if (sent === undefined) return undefined;
    this.timer.deadline = now + this.retransmitMs;
    return { number: this.window.take(sent), item: sent };
  }

  /** The peer's acknowledgement: what a NAK asks to be sent again, or undefined for one never sent. */
  acknowledge(ack: Ack, now: number): readonly Outstanding<OtherSent>[] | undefined {
    const done = this.window.acknowledge(ack.number);
    if (done === undefined) return undefined;
    const left = this.window.outstanding;
    if (done.length > 0) this.timer.tries = 0;
    if (left.length === 0) this.timer.deadline = undefined;
    else if (ack.nak) {
      this.timer.deadline = now + this.retransmitMs;
      return left;
    }
    return [];
  }

  /** An interrupt or link service numbered `segNum` from the peer. */
  receive(segNum: number): OtherReceived {
    const k = this.received.classify(segNum);
    if (k !== 'next') return { ack: k !== 'ahead', fresh: false };
    this.received.last = segNum;
    return { ack: true, fresh: true };
  }

  /** A fresh interrupt from the peer: within the one allowed, or a LinkViolation. */
  interruptReceived(): void {
    if (this.interruptAllowance <= 0) throw LinkViolation.flow('interrupt', 'an interrupt past the one allowed');
    this.interruptAllowance--;
  }

  /** The peer's interrupt request count (a Link Service with the interrupt flag). */
  interruptGranted(fcVal: number): void {
    this.interruptCredit += fcVal;
    if (this.interruptCredit < 0 || this.interruptCredit > 127)
      throw LinkViolation.flow('interrupt', `interrupt request count ${this.interruptCredit}`);
  }

  /** Drops what waits to be sent or acknowledged (the link ended). */
  clear(): void {
    this.queue.length = 0;
    this.window.clear();
    this.timer.deadline = undefined;
  }

  /** What a queued item is sent as; a grant counts toward what the peer may send from now on. */
  private concrete(item: OtherItem, grant: () => number | undefined): OtherSent | undefined {
    switch (item.kind) {
      case 'interrupt':
        this.interruptCredit--;
        return item;
      case 'flow':
        return { kind: 'link', fcMod: item.fcMod, interrupt: false, fcVal: 0 };
      case 'grant-interrupt':
        this.interruptAllowance++;
        return { kind: 'link', fcMod: FcMod.NO_CHANGE, interrupt: true, fcVal: 1 };
      case 'grant': {
        const fcVal = grant();
        return fcVal === undefined ? undefined : { kind: 'link', fcMod: FcMod.NO_CHANGE, interrupt: false, fcVal };
      }
    }
  }
}
