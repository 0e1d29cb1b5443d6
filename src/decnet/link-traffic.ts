// The traffic of a running logical link (NSP 4.0.1 §5, §6), as a part DecnetMachine owns: the
// two subchannels (data-subchannel.ts, other-subchannel.ts) and what spans them, the
// acknowledgements each frame carries for both. The machine keeps the link's state and the
// control messages (CI, CC, DI); this part sends and takes Data, Interrupt, Link Service and the
// acknowledgement messages, and retransmits what its subchannels have outstanding.
//
//   machine.input ---> receive(m): acknowledgements first (both subchannels), then
//                        DATA                   -> data subchannel  -> event data, grant top-up
//                        INTERRUPT/LINK_SERVICE -> other subchannel -> event interrupt / flow
//   machine.pump  ---> pump(): one other-data message, then the data segments flow control allows
//                      flushAcks(): a Data Ack or Other-Data Ack for what nothing carried
//
// Rules: an acknowledgement is owed (ackData, ackOther) from the input that asks for it until a
// frame carries it; every frame sent clears both, since each carries both numbers (sendSegment
// carries ACKOTH only when owed, see there). A peer breaking flow control or a size limit is a
// LinkViolation thrown to the machine; an acknowledgement of what was never sent goes to
// host.unexpected, which ends the link.

import { DataSubchannel, type DataLimits, type Segment } from './data-subchannel.js';
import type { DecnetEvent } from './machine-types.js';
import type { Ack, NspMessage } from './nsp.js';
import { OtherSubchannel, type OtherItem, type OtherSent } from './other-subchannel.js';

/** What the part needs of the machine that owns it. */
export interface TrafficHost {
  /** The peer's logical link address (DSTADDR of what is sent) and this end's (SRCADDR). */
  link(): { readonly dst: number; readonly src: number };
  /** Frames and queues one NSP message to the peer. */
  emit(m: NspMessage): void;
  event(e: DecnetEvent): void;
  /** The peer acknowledged what was never sent: the machine aborts the link. */
  unexpected(message: string): void;
}

export interface TrafficLimits extends DataLimits {
  readonly maxRetransmits: number;
}

export class LinkTraffic {
  readonly data: DataSubchannel;
  readonly other: OtherSubchannel;
  /** An acknowledgement is owed on the data or the other-data subchannel. */
  private ackData = false;
  private ackOther = false;

  constructor(
    private readonly o: TrafficLimits,
    private readonly host: TrafficHost,
  ) {
    this.data = new DataSubchannel(o);
    this.other = new OtherSubchannel(o.retransmitMs);
  }

  /** Nothing waits to be sent or acknowledged on either subchannel. */
  get drained(): boolean {
    return this.data.drained && this.other.drained;
  }

  /** The next retransmission due on either subchannel. */
  get deadlines(): readonly (number | undefined)[] {
    return [this.data.timer.deadline, this.other.timer.deadline];
  }

  /** A Data Ack is owed: ACKNUM 0 acknowledges the peer's Connect Confirm. */
  oweDataAck(): void {
    this.ackData = true;
  }

  queueOther(item: OtherItem, internal: boolean): void {
    this.other.add(item, internal);
  }

  /** A Data, Interrupt, Link Service or acknowledgement message from the peer. */
  receive(m: NspMessage, now: number): void {
    if (m.type === 'DATA' || m.type === 'DATA_ACK') {
      if (m.ackNum && !this.acknowledgeData(m.ackNum, now)) return;
      if (m.ackOther && !this.acknowledgeOther(m.ackOther, now)) return;
    } else if (m.type === 'INTERRUPT' || m.type === 'LINK_SERVICE' || m.type === 'OTHER_DATA_ACK') {
      if (m.ackNum && !this.acknowledgeOther(m.ackNum, now)) return;
      if (m.ackData && !this.acknowledgeData(m.ackData, now)) return;
    }
    if (m.type === 'DATA') {
      const r = this.data.receive(m.segNum, m.bom, m.eom, m.data);
      if (r.ack) this.ackData = true;
      if (r.message) this.host.event({ type: 'data', data: r.message });
      if (r.grant) this.queueOther({ kind: 'grant' }, true);
      return;
    }
    if (m.type !== 'INTERRUPT' && m.type !== 'LINK_SERVICE') return;
    const r = this.other.receive(m.segNum);
    if (r.ack) this.ackOther = true;
    if (!r.fresh) return;
    if (m.type === 'INTERRUPT') {
      this.other.interruptReceived();
      this.host.event({ type: 'interrupt', data: m.data });
      this.queueOther({ kind: 'grant-interrupt' }, true);
    } else if (m.interrupt) this.other.interruptGranted(m.fcVal);
    else {
      const stopped = this.data.linkService(m.fcMod, m.fcVal);
      if (stopped !== undefined) this.host.event({ type: 'flow', stopped });
    }
  }

  /** Sends what flow control allows: one other-data message when none is in flight, then data. */
  pump(now: number, segmentSize: number): void {
    const other = this.other.next(now, () => this.data.takeGrant());
    if (other !== undefined) this.sendOther(other.number, other.item);
    for (const s of this.data.sendable(now, segmentSize)) this.sendSegment(s.number, s.item);
  }

  /**
   * Sends again what is outstanding on each subchannel whose timer is due; returns what the link
   * waited for in vain when a subchannel has used its maxRetransmits.
   */
  retransmit(now: number): string | undefined {
    for (const [sub, what] of [
      [this.data, 'Data Acknowledgement'],
      [this.other, 'Other-Data Acknowledgement'],
    ] as const) {
      const timer = sub.timer;
      if (timer.deadline === undefined || now < timer.deadline) continue;
      if (timer.tries >= this.o.maxRetransmits) return what;
      timer.tries++;
      timer.deadline = now + this.o.retransmitMs;
      if (sub === this.data) for (const s of this.data.window.outstanding) this.sendSegment(s.number, s.item);
      else for (const s of this.other.window.outstanding) this.sendOther(s.number, s.item);
    }
    return undefined;
  }

  /** The acknowledgements nothing sent carried: a Data Ack, or else an Other-Data Ack. */
  flushAcks(): void {
    const link = this.host.link();
    if (this.ackData) {
      this.host.emit({
        type: 'DATA_ACK',
        ...link,
        ackNum: { number: this.data.received.last, nak: false },
        ackOther: { number: this.other.received.last, nak: false },
      });
    } else if (this.ackOther) {
      this.host.emit({
        type: 'OTHER_DATA_ACK',
        ...link,
        ackNum: { number: this.other.received.last, nak: false },
        ackData: { number: this.data.received.last, nak: false },
      });
    }
    this.ackData = this.ackOther = false;
  }

  /** Drops what waits to be sent or acknowledged on both subchannels (the link ended). */
  clear(): void {
    this.data.clear();
    this.other.clear();
  }

  /** False when the acknowledgement names a segment never sent (the link is then aborted). */
  private acknowledgeData(ack: Ack, now: number): boolean {
    const r = this.data.acknowledge(ack, now);
    if (r === undefined) {
      this.host.unexpected(`acknowledgement of data segment ${ack.number}, never sent`);
      return false;
    }
    for (const id of r.sent) this.host.event({ type: 'sent', id });
    for (const s of r.resend) this.sendSegment(s.number, s.item);
    return true;
  }

  private acknowledgeOther(ack: Ack, now: number): boolean {
    const resend = this.other.acknowledge(ack, now);
    if (resend === undefined) {
      this.host.unexpected(`acknowledgement of other-data message ${ack.number}, never sent`);
      return false;
    }
    for (const s of resend) this.sendOther(s.number, s.item);
    return true;
  }

  // Every data segment carries ACKNUM (the data received so far), and ACKOTH when the other
  // subchannel owes an acknowledgement; every interrupt, link service and acknowledgement message
  // carries both its own subchannel's number and the other's. Acknowledgements are cumulative, so
  // repeating them costs 2 octets and makes a lost Data Ack harmless; and tcpdump takes a Link
  // Service or an acknowledgement without its cross field for a truncated one.
  private sendSegment(segNum: number, s: Segment): void {
    const ackNum = { ackNum: { number: this.data.received.last, nak: false } };
    const ackOther = this.ackOther ? { ackOther: { number: this.other.received.last, nak: false } } : {};
    this.ackData = this.ackOther = false;
    this.host.emit({
      type: 'DATA',
      ...this.host.link(),
      bom: s.bom,
      eom: s.eom,
      ...ackNum,
      ...ackOther,
      segNum,
      delay: false,
      data: s.data,
    });
  }

  private sendOther(segNum: number, item: OtherSent): void {
    const ackNum = { ackNum: { number: this.other.received.last, nak: false } };
    const ackData = { ackData: { number: this.data.received.last, nak: false } };
    this.ackData = this.ackOther = false;
    const link = { ...this.host.link(), ...ackNum, ...ackData, segNum };
    this.host.emit(
      item.kind === 'interrupt'
        ? { type: 'INTERRUPT', ...link, data: item.data }
        : { type: 'LINK_SERVICE', ...link, fcMod: item.fcMod, interrupt: item.interrupt, fcVal: item.fcVal },
    );
  }
}
