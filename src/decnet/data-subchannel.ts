// The data subchannel of one logical link (NSP 4.0.1 §5, §6), both directions, as a part the
// machine owns. Sending: messages cut into segments of the negotiated size, sent as the peer's
// flow control allows (its request counts and its stop/go), acknowledged cumulatively and
// retransmitted go-back-N. Receiving: segments taken in order, paced by the request count this
// side grants, reassembled into messages under maxMessageSize. No frames and no clock: machine.ts
// frames what this hands out and passes `now` in.

import { DecnetError } from './errors.js';
import { FcMod, FlowControl, type Ack, type FlowControlOption } from './nsp.js';
import { LinkViolation, ReceiveWindow, SendWindow, type Outstanding, type RetransmitTimer } from './subchannel.js';

export interface Segment {
  /** The message it belongs to (send()'s return value). */
  readonly id: number;
  readonly bom: boolean;
  readonly eom: boolean;
  readonly data: Uint8Array;
}

export interface DataLimits {
  /** How the peer must pace what it sends here (our FCOPT). */
  readonly flowControl: FlowControlOption;
  /** The request count granted at a time. */
  readonly window: number;
  readonly maxOutstanding: number;
  readonly maxQueuedBytes: number;
  readonly maxMessageSize: number;
  readonly retransmitMs: number;
}

/** What one received data segment did. */
export interface DataReceived {
  /** The segment asks for an acknowledgement (in order or a duplicate; a gap is not acknowledged). */
  readonly ack: boolean;
  /** A whole message, when the segment was its last. */
  readonly message?: Uint8Array;
  /** This side's grant fell to half the window: a top-up should be sent. */
  readonly grant: boolean;
}

const IGNORED: DataReceived = { ack: false, grant: false };
const ACKED: DataReceived = { ack: true, grant: false };

export class DataSubchannel {
  readonly window = new SendWindow<Segment>();
  readonly timer: RetransmitTimer = { deadline: undefined, tries: 0 };
  readonly received = new ReceiveWindow();
  /** How the peer paces what this side sends (its FCOPT), set when the link is connected. */
  peerFlow: FlowControlOption = FlowControl.NONE;
  private readonly unsent: { id: number; data: Uint8Array; at: number }[] = [];
  private queued = 0;
  private nextId = 1;
  /** Segments or messages the peer allows this side to send. */
  private credit = 0;
  private stopped = false;
  /** Segments or messages this side allows the peer to send. */
  private allowance = 0;
  private parts: Uint8Array[] = [];
  private partBytes = 0;

  constructor(private readonly o: DataLimits) {}

  /** Octets handed to queue() and not yet acknowledged. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Nothing waits to be sent and nothing waits for an acknowledgement. */
  get drained(): boolean {
    return this.unsent.length === 0 && this.window.outstanding.length === 0;
  }

  /** Queues a message under maxQueuedBytes; returns the id its `sent` event will carry. */
  queue(data: Uint8Array): number {
    if (this.queued + data.length > this.o.maxQueuedBytes)
      throw new DecnetError(
        'ERR_DECNET_LIMIT',
        `${this.queued} + ${data.length} octets queued, at most ${this.o.maxQueuedBytes}`,
        'local',
        { limit: 'maxQueuedBytes' },
      );
    const id = this.nextId++;
    this.unsent.push({ id, data, at: 0 });
    this.queued += data.length;
    return id;
  }

  /** The segments flow control lets go now, numbered and counted as outstanding. */
  *sendable(now: number, segmentSize: number): Generator<Outstanding<Segment>> {
    while (!this.stopped && this.unsent.length > 0 && this.window.outstanding.length < this.o.maxOutstanding) {
      const head = this.unsent[0]!;
      const bom = head.at === 0;
      const paced = this.peerFlow === FlowControl.SEGMENT || (this.peerFlow === FlowControl.MESSAGE && bom);
      if (paced && this.credit <= 0) return;
      if (paced) this.credit--;
      const data = head.data.subarray(head.at, head.at + segmentSize);
      head.at += data.length;
      const eom = head.at >= head.data.length;
      if (eom) this.unsent.shift();
      const item = { id: head.id, bom, eom, data };
      const number = this.window.take(item);
      this.timer.deadline ??= now + this.o.retransmitMs;
      yield { number, item };
    }
  }

  /**
   * Takes the peer's acknowledgement: returns the ids of the messages now wholly acknowledged and
   * what a NAK asks to be sent again, or undefined when it names a segment never sent.
   */
  acknowledge(ack: Ack, now: number): { sent: number[]; resend: readonly Outstanding<Segment>[] } | undefined {
    const done = this.window.acknowledge(ack.number);
    if (done === undefined) return undefined;
    const sent: number[] = [];
    if (done.length > 0) {
      this.timer.tries = 0;
      for (const s of done) {
        this.queued -= s.data.length;
        if (s.eom) sent.push(s.id);
      }
    }
    const left = this.window.outstanding;
    if (left.length === 0) this.timer.deadline = undefined;
    if (left.length > 0 && (done.length > 0 || ack.nak)) this.timer.deadline = now + this.o.retransmitMs;
    return { sent, resend: ack.nak ? left : [] };
  }

  /** One data segment from the peer. Throws LinkViolation past the grant or maxMessageSize. */
  receive(segNum: number, bom: boolean, eom: boolean, data: Uint8Array): DataReceived {
    const k = this.received.classify(segNum);
    if (k !== 'next') return k === 'ahead' ? IGNORED : ACKED;
    if (this.o.flowControl === FlowControl.SEGMENT || (this.o.flowControl === FlowControl.MESSAGE && bom)) {
      if (this.allowance <= 0) throw LinkViolation.flow('data', `segment ${segNum} past the request count granted`);
      this.allowance--;
    }
    this.received.last = segNum;
    if (bom) {
      this.parts = [];
      this.partBytes = 0;
    }
    if (this.partBytes + data.length > this.o.maxMessageSize)
      throw new LinkViolation(
        new DecnetError('ERR_DECNET_LIMIT', `a message past maxMessageSize (${this.o.maxMessageSize})`, 'remote', {
          limit: 'maxMessageSize',
        }),
        1,
      );
    this.parts.push(data);
    this.partBytes += data.length;
    let message: Uint8Array | undefined;
    if (eom) {
      message = new Uint8Array(this.partBytes);
      let at = 0;
      for (const p of this.parts) message.set(p, (at += p.length) - p.length);
      this.parts = [];
      this.partBytes = 0;
    }
    const grant = this.o.flowControl !== FlowControl.NONE && this.allowance <= this.o.window / 2;
    return message === undefined ? { ack: true, grant } : { ack: true, message, grant };
  }

  /**
   * A data Link Service from the peer: FC MOD (returns the new stop state when it changed) and a
   * request count added to what this side may send.
   */
  linkService(fcMod: number, fcVal: number): boolean | undefined {
    let changed: boolean | undefined;
    if (fcMod !== FcMod.NO_CHANGE) changed = this.stopped = fcMod === FcMod.DO_NOT_SEND;
    if (this.peerFlow !== FlowControl.NONE) {
      this.credit += fcVal;
      if (this.credit < 0 || this.credit > 127) throw LinkViolation.flow('data', `data request count ${this.credit}`);
    }
    return changed;
  }

  /** A grant's FCVAL as it is sent: the window less what is still allowed (undefined: none due). */
  takeGrant(): number | undefined {
    const fcVal = this.o.window - this.allowance;
    if (fcVal <= 0) return undefined;
    this.allowance = this.o.window;
    return fcVal;
  }

  /** Drops what waits to be sent or acknowledged (the link ended). */
  clear(): void {
    this.unsent.length = 0;
    this.window.clear();
    this.timer.deadline = undefined;
    this.queued = 0;
  }
}
