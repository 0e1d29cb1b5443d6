// DecnetMachine: one DECnet Phase IV logical link, NSP 4.0.1 and Session Control's connect
// exchange, without I/O. No socket, no timer, no clock: frames and time come in (handle*),
// frames to send and events go out (pollBytes: one Ethernet frame each; pollEvent), and
// nextDeadline() says when to call handleTimeout. The same handle/poll shape as the NetBIOS and
// PPTP machines, so src/driver/byte-driver.ts can run it over a byte stream (handleBytes).
//
//   initiator                                    listener
//   idle --connect()--> ci-sent  --CI-->          idle
//                       ci-acked <--CA--          cr       (event connect-request)
//                                                 accept(): cc-sent
//   run (connected) <------------------CC--
//                   --Data Ack 0 (or data)-->     run      (event connected)
//   run: Data segments (BOM..EOM), Interrupts and Link Services each way, acknowledged
//   disconnect(): closing (until all sent is acknowledged) --DI--> di-sent
//                            <--DC (42)--          closed   (event disconnected, both sides)
//   reject(): --DI (reason)--> the initiator fails with ERR_DECNET_REJECTED and answers DC.
//
// Reliability (NSP §5): a data subchannel (segments numbered 1, 2, ... mod 4096, acknowledged
// cumulatively, go-back-N retransmission after retransmitMs) and an other-data subchannel
// (interrupts and link services, one in flight). CI, CC and DI are retransmitted on the same
// timer until answered. After maxRetransmits the link fails with ERR_DECNET_TIMEOUT.
// Acknowledgements ride on every data segment, interrupt and link service, and go alone (Data
// Ack, Other-Data Ack) when nothing is sent in the same input that could carry them.
//
// Flow control: each side says in its CI/CC how the other must pace data sent to it (FCOPT):
// none (only stop/go), segment or message request counts, granted by Link Service. This side
// grants `window` at once and tops it up when half is used; a peer sending past its grant is a
// protocol violation (ERR_DECNET_FLOW_CONTROL). One interrupt may be outstanding; each
// delivered interrupt is answered with a Link Service granting one more.
//
// Rules: handleFrame never throws (a malformed frame is discarded, as Ethernet drops it: event
// `discarded`); handleBytes reads a byte stream of frames, where a bad frame loses the framing and
// aborts the link. Every queue is bounded: maxQueuedBytes (sending), maxMessageSize
// (reassembly), 16 octets (interrupts), 16 other-data messages waiting.

import { SessionError } from '../engine/errors.js';
import { DecnetDecoder } from './decoder.js';
import { DecnetError, DecnetProtocolError } from './errors.js';
import { dataFrame, decodeFrame, encodeFrame, LONG_HEADER_LENGTH, MAX_ROUTING_LENGTH } from './frame.js';
import {
  FcMod,
  FlowControl,
  MAX_OTHER_DATA,
  NspVersion,
  type Ack,
  type FlowControlOption,
  type NspMessage,
} from './nsp.js';
import { decodeConnectData, encodeConnectData, reasonName, type ConnectData } from './session-control.js';
import { ReceiveWindow, SendWindow } from './subchannel.js';

/** The largest data segment that fits a frame: LENGTH 1498 less the long header and 11 NSP octets. */
export const MAX_SEGMENT_SIZE = MAX_ROUTING_LENGTH - LONG_HEADER_LENGTH - 11;
const MAX_OTHER_QUEUE = 16;

export interface DecnetMachineOptions {
  /** This node's address (address.ts). */
  readonly address: number;
  /** This end's logical link address, 1..65535. */
  readonly linkAddress: number;
  /** The largest data segment this side receives (SEGSIZE), default 1024. */
  readonly segmentSize?: number;
  /** How the peer must pace data it sends here, default segment request counts. */
  readonly flowControl?: FlowControlOption;
  /** Data request count granted at a time, 1..127, default 8. */
  readonly window?: number;
  /** Data segments in flight at most, whatever the grant, default 16. */
  readonly maxOutstanding?: number;
  readonly retransmitMs?: number;
  readonly maxRetransmits?: number;
  /** After the peer's Connect Ack: how long its Connect Confirm may take, default 30 s. */
  readonly connectTimeoutMs?: number;
  /** Octets handed to send() and not yet acknowledged, default 64 KiB. */
  readonly maxQueuedBytes?: number;
  /** The longest message reassembled from segments, default 64 KiB. */
  readonly maxMessageSize?: number;
  /** Routing pad octets before FLAGS (the padding flag), 0..127, default 0. */
  readonly routingPad?: number;
}

export type DecnetState = 'idle' | 'ci-sent' | 'ci-acked' | 'cr' | 'cc-sent' | 'run' | 'closing' | 'di-sent' | 'closed';

export type DecnetEvent =
  | { readonly type: 'connect-request'; readonly remote: number; readonly data: ConnectData }
  | { readonly type: 'connected'; readonly data: Uint8Array; readonly segmentSize: number }
  | { readonly type: 'data'; readonly data: Uint8Array }
  | { readonly type: 'interrupt'; readonly data: Uint8Array }
  /** Every segment of message `id` (send()'s return value) is acknowledged. */
  | { readonly type: 'sent'; readonly id: number }
  /** The peer asked this side to stop (true) or resume (false) sending data. */
  | { readonly type: 'flow'; readonly stopped: boolean }
  | {
      readonly type: 'disconnected';
      readonly origin: 'local' | 'remote';
      readonly reason: number;
      readonly reasonName: string;
      readonly data: Uint8Array;
      /** ERR_DECNET_DISCONNECTED when the peer ended the link with a reason other than 0. */
      readonly error?: DecnetError;
    }
  | { readonly type: 'failed'; readonly error: Error }
  /** A malformed frame handleFrame dropped. */
  | { readonly type: 'discarded'; readonly error: DecnetProtocolError };

export interface ConnectRequest {
  /** The node to call. */
  readonly remote: number;
  readonly data: ConnectData;
}

interface Segment {
  readonly id: number;
  readonly bom: boolean;
  readonly eom: boolean;
  readonly data: Uint8Array;
}
type OtherItem =
  | { readonly kind: 'interrupt'; readonly data: Uint8Array }
  /** FC MOD stop or go, asked by the user. */
  | { readonly kind: 'flow'; readonly fcMod: 1 | 2 }
  /** A data request count top-up: FCVAL is worked out when it is sent (window less allowance). */
  | { readonly kind: 'grant' }
  /** One more interrupt allowed. */
  | { readonly kind: 'grant-interrupt' };
/** An other-data message as sent, kept as is for retransmission. */
type OtherSent =
  | { readonly kind: 'interrupt'; readonly data: Uint8Array }
  | { readonly kind: 'link'; readonly fcMod: 0 | 1 | 2; readonly interrupt: boolean; readonly fcVal: number };
interface Control {
  readonly message: NspMessage;
  readonly what: string;
  deadline: number;
  tries: number;
}
interface Timer {
  deadline: number | undefined;
  tries: number;
}
const EMPTY = new Uint8Array(0);

export class DecnetMachine {
  private current: DecnetState = 'idle';
  private readonly o: Required<DecnetMachineOptions>;
  private readonly decoder = new DecnetDecoder();
  private readonly out: Uint8Array[] = [];
  private readonly events: DecnetEvent[] = [];
  private remoteNode = 0;
  private remoteLink = 0;
  private peerFlow: FlowControlOption = FlowControl.NONE;
  private segSize = 0;
  private control: Control | undefined;
  /** Disconnect reason and data once asked for (closing, di-sent). */
  private ending: { reason: number; data: Uint8Array } | undefined;
  // data subchannel, sending
  private readonly unsent: { id: number; data: Uint8Array; at: number }[] = [];
  private readonly dataWindow = new SendWindow<Segment>();
  private readonly dataTimer: Timer = { deadline: undefined, tries: 0 };
  private queued = 0;
  private nextId = 1;
  private credit = 0;
  private stopped = false;
  // other-data subchannel, sending
  private readonly otherQueue: OtherItem[] = [];
  private readonly otherWindow = new SendWindow<OtherSent>();
  private readonly otherTimer: Timer = { deadline: undefined, tries: 0 };
  private interruptCredit = 1;
  // receiving
  private readonly dataIn = new ReceiveWindow();
  private readonly otherIn = new ReceiveWindow();
  private ackData = false;
  private ackOther = false;
  private allowance = 0;
  private interruptAllowance = 1;
  private parts: Uint8Array[] = [];
  private partBytes = 0;

  constructor(options: DecnetMachineOptions) {
    this.o = {
      segmentSize: 1024,
      flowControl: FlowControl.SEGMENT,
      window: 8,
      maxOutstanding: 16,
      retransmitMs: 1000,
      maxRetransmits: 5,
      connectTimeoutMs: 30_000,
      maxQueuedBytes: 65_536,
      maxMessageSize: 65_536,
      routingPad: 0,
      ...options,
    };
    const bad = (what: string): never => {
      throw new SessionError('ERR_INVALID_ARGUMENT', `DecnetMachine: ${what}`, 'local', { options });
    };
    if (!(this.o.linkAddress >= 1 && this.o.linkAddress <= 0xffff)) bad('linkAddress is 1..65535');
    if (!(this.o.segmentSize >= 1 && this.o.segmentSize <= MAX_SEGMENT_SIZE))
      bad(`segmentSize is 1..${MAX_SEGMENT_SIZE}`);
    if (!(this.o.window >= 1 && this.o.window <= 127)) bad('window is 1..127');
  }

  get state(): DecnetState {
    return this.current;
  }

  /** Octets handed to send() and not yet acknowledged. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** The peer's node and link address once known. */
  get remote(): { node: number; link: number } {
    return { node: this.remoteNode, link: this.remoteLink };
  }

  // -- inputs -------------------------------------------------------------------------------------

  /** One Ethernet frame. A malformed one is dropped with a `discarded` event, as a NIC would. */
  handleFrame(frame: Uint8Array, now: number): void {
    let decoded;
    try {
      decoded = decodeFrame(frame);
    } catch (error) {
      if (!(error instanceof DecnetProtocolError)) throw error;
      this.events.push({ type: 'discarded', error });
      return;
    }
    this.input(decoded.routing.destination, decoded.routing.source, decoded.nsp, now);
  }

  /** A byte stream of whole frames (decoder.ts); a bad frame loses the framing and aborts the link. */
  handleBytes(chunk: Uint8Array, now: number): void {
    this.decoder.push(chunk);
    try {
      for (let f = this.decoder.next(); f !== undefined; f = this.decoder.next())
        this.input(f.routing.destination, f.routing.source, f.nsp, now);
    } catch (error) {
      this.abortWith(error as Error, 7);
    }
  }

  handleTransportClosed(_now: number, error?: Error): void {
    if (this.current === 'closed') return;
    this.fail(
      new DecnetError('ERR_DECNET_CLOSED', 'the link under the logical link closed', 'remote', {
        state: this.current,
        cause: error?.message,
      }),
    );
  }

  handleTimeout(now: number): void {
    const c = this.control;
    if (c && now >= c.deadline) {
      if (c.tries >= this.o.maxRetransmits || this.current === 'ci-acked') return this.timeout(c.what);
      c.tries++;
      c.deadline = now + this.o.retransmitMs;
      const m = c.message;
      this.emit(m.type === 'CONNECT_INITIATE' ? { ...m, retransmitted: true } : m);
    }
    for (const [timer, what] of [
      [this.dataTimer, 'Data Acknowledgement'],
      [this.otherTimer, 'Other-Data Acknowledgement'],
    ] as const) {
      if (timer.deadline === undefined || now < timer.deadline) continue;
      if (timer.tries >= this.o.maxRetransmits) return this.timeout(what);
      timer.tries++;
      timer.deadline = now + this.o.retransmitMs;
      if (timer === this.dataTimer) for (const s of this.dataWindow.outstanding) this.sendSegment(s.number, s.item);
      else for (const s of this.otherWindow.outstanding) this.sendOther(s.number, s.item);
    }
    this.flushAcks();
  }

  nextDeadline(): number | undefined {
    const all = [this.control?.deadline, this.dataTimer.deadline, this.otherTimer.deadline].filter(
      (d): d is number => d !== undefined,
    );
    return all.length === 0 ? undefined : Math.min(...all);
  }

  /** The next Ethernet frame to send, or undefined. */
  pollBytes(): Uint8Array | undefined {
    return this.out.shift();
  }

  pollEvent(): DecnetEvent | undefined {
    return this.events.shift();
  }

  // -- commands -----------------------------------------------------------------------------------

  /** Sends a Connect Initiate (retransmitted until answered). */
  connect(now: number, request: ConnectRequest): void {
    this.expect('connect', 'idle');
    this.remoteNode = request.remote;
    this.startControl(now, 'ci-sent', 'Connect Acknowledgement', {
      type: 'CONNECT_INITIATE',
      retransmitted: false,
      dst: 0,
      src: this.o.linkAddress,
      flowControl: this.o.flowControl,
      version: NspVersion.V4_0,
      segSize: this.o.segmentSize,
      data: encodeConnectData(request.data),
    });
  }

  /** Accepts the connect request with a Connect Confirm carrying up to 16 octets. */
  accept(now: number, data: Uint8Array = EMPTY): void {
    this.expect('accept', 'cr');
    this.limit(
      data.length <= MAX_OTHER_DATA,
      'segmentSize',
      `Connect Confirm data of ${data.length} octets, at most 16`,
    );
    this.startControl(now, 'cc-sent', 'a first message after the Connect Confirm', {
      type: 'CONNECT_CONFIRM',
      dst: this.remoteLink,
      src: this.o.linkAddress,
      flowControl: this.o.flowControl,
      version: NspVersion.V4_0,
      segSize: this.o.segmentSize,
      data,
    });
  }

  /** Rejects the connect request with a Disconnect Initiate (reason: DisconnectReason, default 0). */
  reject(now: number, reason = 0, data: Uint8Array = EMPTY): void {
    this.expect('reject', 'cr');
    this.sendDisconnect(now, reason, data);
  }

  /** Queues a message; returns the id its `sent` event will carry. */
  send(now: number, data: Uint8Array): number {
    this.expect('send', 'run');
    this.limit(
      this.queued + data.length <= this.o.maxQueuedBytes,
      'maxQueuedBytes',
      `${this.queued} + ${data.length} octets queued, at most ${this.o.maxQueuedBytes}`,
    );
    const id = this.nextId++;
    this.unsent.push({ id, data, at: 0 });
    this.queued += data.length;
    this.pump(now);
    return id;
  }

  /** Queues an interrupt message (at most 16 octets), sent when the peer allows one. */
  interrupt(now: number, data: Uint8Array): void {
    this.expect('interrupt', 'run');
    this.limit(data.length <= MAX_OTHER_DATA, 'segmentSize', `interrupt of ${data.length} octets, at most 16`);
    this.queueOther(now, { kind: 'interrupt', data });
  }

  /** Asks the peer to stop (true) or resume (false) sending data: a Link Service with FC MOD. */
  pauseData(now: number, stop: boolean): void {
    this.expect('pauseData', 'run');
    this.queueOther(now, { kind: 'flow', fcMod: stop ? FcMod.DO_NOT_SEND : FcMod.SEND });
  }

  /** Ends the link once everything sent is acknowledged: Disconnect Initiate, then Confirm. */
  disconnect(now: number, reason = 0, data: Uint8Array = EMPTY): void {
    this.expect('disconnect', 'run');
    this.limit(data.length <= MAX_OTHER_DATA, 'segmentSize', `disconnect data of ${data.length} octets, at most 16`);
    this.current = 'closing';
    this.ending = { reason, data };
    this.pump(now);
  }

  /** Ends the link at once, dropping what is queued: Disconnect Initiate with `reason` (9, user abort). */
  abort(now: number, reason = 9, data: Uint8Array = EMPTY): void {
    this.expect('abort', 'run', 'closing', 'cc-sent');
    this.dropQueues();
    this.sendDisconnect(now, reason, data);
  }

  // -- inbound ------------------------------------------------------------------------------------

  private input(destination: number, source: number, m: NspMessage, now: number): void {
    if (destination !== this.o.address || (this.current === 'closed' && m.type !== 'DISCONNECT_INITIATE')) return;
    if (m.type === 'NOP') return;
    if (m.type === 'CONNECT_INITIATE') return this.onConnectInitiate(source, m, now);
    if (m.dst !== this.o.linkAddress || source !== this.remoteNode) return;
    if (m.type === 'CONNECT_ACK') {
      if (this.current === 'ci-sent' && this.control) {
        this.current = 'ci-acked';
        this.control.deadline = now + this.o.connectTimeoutMs;
        this.control = { ...this.control, what: 'Connect Confirm' };
      }
      return;
    }
    const fromPeer = this.remoteLink === 0 || m.src === this.remoteLink;
    switch (m.type) {
      case 'CONNECT_CONFIRM':
        if (this.current === 'ci-sent' || this.current === 'ci-acked') {
          this.remoteLink = m.src;
          this.peerFlow = m.flowControl;
          this.segSize = Math.min(m.segSize, this.o.segmentSize);
          this.control = undefined;
          this.ackData = true; // ACKNUM 0 acknowledges the Connect Confirm
          this.running(now, m.data);
        } else if (fromPeer && this.current !== 'cc-sent') this.ackData = true;
        break;
      case 'DISCONNECT_INITIATE':
        return this.onDisconnectInitiate(m.src, m.reason, m.data, now);
      case 'DISCONNECT_CONFIRM':
        if (!fromPeer) return;
        if (this.current === 'di-sent')
          return this.closed({ type: 'disconnected', origin: 'local', ...this.reason(this.ending!) });
        if (this.current === 'ci-sent' || this.current === 'ci-acked') return this.rejected(m.reason, EMPTY);
        return;
      default:
        if (!fromPeer) return;
        if (this.current === 'cc-sent') {
          this.control = undefined;
          this.running(now, EMPTY);
        }
        if (this.current === 'di-sent') return; // disconnecting: what the peer still sends is dropped
        if (this.current !== 'run' && this.current !== 'closing') return this.unexpected(m.type);
        this.onLinkMessage(m, now);
    }
    this.pump(now);
  }

  private onConnectInitiate(source: number, m: Extract<NspMessage, { type: 'CONNECT_INITIATE' }>, now: number): void {
    const same = source === this.remoteNode && m.src === this.remoteLink;
    if (this.current === 'cr' && same) return this.emit({ type: 'CONNECT_ACK', dst: m.src });
    if (this.current === 'cc-sent' && same) return this.emit(this.control!.message);
    if (this.current !== 'idle') return; // one logical link per machine
    this.remoteNode = source;
    this.remoteLink = m.src;
    this.peerFlow = m.flowControl;
    this.segSize = Math.min(m.segSize, this.o.segmentSize);
    this.emit({ type: 'CONNECT_ACK', dst: m.src });
    let data: ConnectData;
    try {
      data = decodeConnectData(m.data);
    } catch (error) {
      const reason = (error as DecnetProtocolError).reason === 'field-too-long' ? 43 : 5;
      this.events.push({ type: 'discarded', error: error as DecnetProtocolError });
      this.current = 'cr';
      return this.sendDisconnect(now, reason, EMPTY);
    }
    this.current = 'cr';
    this.events.push({ type: 'connect-request', remote: source, data });
  }

  private onDisconnectInitiate(src: number, reason: number, data: Uint8Array, now: number): void {
    if (this.remoteLink !== 0 && src !== this.remoteLink) return;
    this.emit({ type: 'DISCONNECT_CONFIRM', dst: src, src: this.o.linkAddress, reason: 42 });
    if (this.current === 'closed') return; // our Confirm was lost: answered again
    if (this.current === 'ci-sent' || this.current === 'ci-acked') return this.rejected(reason, data);
    if (this.current === 'di-sent')
      return this.closed({ type: 'disconnected', origin: 'local', ...this.reason(this.ending!) });
    void now;
    const error =
      reason === 0
        ? undefined
        : new DecnetError('ERR_DECNET_DISCONNECTED', `the peer disconnected: ${reasonName(reason)}`, 'remote', {
            reason,
            reasonName: reasonName(reason),
          });
    this.closed({
      type: 'disconnected',
      origin: 'remote',
      ...this.reason({ reason, data }),
      ...(error ? { error } : {}),
    });
  }

  private onLinkMessage(m: NspMessage, now: number): void {
    if (m.type === 'DATA' || m.type === 'DATA_ACK') {
      if (m.ackNum) this.acknowledgeData(m.ackNum, now);
      if (m.ackOther) this.acknowledgeOther(m.ackOther, now);
    } else if (m.type === 'INTERRUPT' || m.type === 'LINK_SERVICE' || m.type === 'OTHER_DATA_ACK') {
      if (m.ackNum) this.acknowledgeOther(m.ackNum, now);
      if (m.ackData) this.acknowledgeData(m.ackData, now);
    }
    if (this.current === 'closed') return;
    if (m.type === 'DATA') {
      const k = this.dataIn.classify(m.segNum);
      if (k !== 'ahead') this.ackData = true;
      if (k !== 'next') return;
      if (this.o.flowControl === FlowControl.SEGMENT || (this.o.flowControl === FlowControl.MESSAGE && m.bom)) {
        if (this.allowance <= 0) return this.violation('data', `segment ${m.segNum} past the request count granted`);
        this.allowance--;
      }
      this.dataIn.last = m.segNum;
      if (m.bom) {
        this.parts = [];
        this.partBytes = 0;
      }
      if (this.partBytes + m.data.length > this.o.maxMessageSize)
        return this.abortWith(
          new DecnetError('ERR_DECNET_LIMIT', `a message past maxMessageSize (${this.o.maxMessageSize})`, 'remote', {
            limit: 'maxMessageSize',
          }),
          1,
        );
      this.parts.push(m.data);
      this.partBytes += m.data.length;
      if (m.eom) {
        const whole = new Uint8Array(this.partBytes);
        let at = 0;
        for (const p of this.parts) whole.set(p, (at += p.length) - p.length);
        this.parts = [];
        this.partBytes = 0;
        this.events.push({ type: 'data', data: whole });
      }
      if (this.o.flowControl !== FlowControl.NONE && this.allowance <= this.o.window / 2)
        this.queueOther(now, { kind: 'grant' }, true);
      return;
    }
    if (m.type !== 'INTERRUPT' && m.type !== 'LINK_SERVICE') return;
    const k = this.otherIn.classify(m.segNum);
    if (k !== 'ahead') this.ackOther = true;
    if (k !== 'next') return;
    this.otherIn.last = m.segNum;
    if (m.type === 'INTERRUPT') {
      if (this.interruptAllowance <= 0) return this.violation('interrupt', 'an interrupt past the one allowed');
      this.interruptAllowance--;
      this.events.push({ type: 'interrupt', data: m.data });
      this.queueOther(now, { kind: 'grant-interrupt' }, true);
      return;
    }
    if (m.interrupt) {
      this.interruptCredit += m.fcVal;
      if (this.interruptCredit < 0 || this.interruptCredit > 127)
        return this.violation('interrupt', `interrupt request count ${this.interruptCredit}`);
    } else {
      if (m.fcMod !== FcMod.NO_CHANGE) {
        this.stopped = m.fcMod === FcMod.DO_NOT_SEND;
        this.events.push({ type: 'flow', stopped: this.stopped });
      }
      if (this.peerFlow !== FlowControl.NONE) {
        this.credit += m.fcVal;
        if (this.credit < 0 || this.credit > 127) return this.violation('data', `data request count ${this.credit}`);
      }
    }
  }

  private acknowledgeData(ack: Ack, now: number): void {
    const done = this.dataWindow.acknowledge(ack.number);
    if (done === undefined) return this.unexpected(`acknowledgement of data segment ${ack.number}, never sent`);
    if (done.length > 0) {
      this.dataTimer.tries = 0;
      for (const s of done) {
        this.queued -= s.data.length;
        if (s.eom) this.events.push({ type: 'sent', id: s.id });
      }
    }
    const left = this.dataWindow.outstanding;
    if (left.length === 0) this.dataTimer.deadline = undefined;
    else if (ack.nak) for (const s of left) this.sendSegment(s.number, s.item);
    if (left.length > 0 && (done.length > 0 || ack.nak)) this.dataTimer.deadline = now + this.o.retransmitMs;
  }

  private acknowledgeOther(ack: Ack, now: number): void {
    const done = this.otherWindow.acknowledge(ack.number);
    if (done === undefined) return this.unexpected(`acknowledgement of other-data message ${ack.number}, never sent`);
    const left = this.otherWindow.outstanding;
    if (done.length > 0) this.otherTimer.tries = 0;
    if (left.length === 0) this.otherTimer.deadline = undefined;
    else if (ack.nak) {
      for (const s of left) this.sendOther(s.number, s.item);
      this.otherTimer.deadline = now + this.o.retransmitMs;
    }
  }

  // -- outbound -----------------------------------------------------------------------------------

  /** Sends what flow control allows, then the acknowledgements nothing carried. */
  private pump(now: number): void {
    if (this.current === 'run' || this.current === 'closing') {
      if (this.otherWindow.outstanding.length === 0) {
        const i = this.otherQueue.findIndex((x) => x.kind !== 'interrupt' || this.interruptCredit > 0);
        const item = i >= 0 ? this.otherQueue.splice(i, 1)[0]! : undefined;
        const sent = item === undefined ? undefined : this.concrete(item);
        if (sent !== undefined) {
          this.sendOther(this.otherWindow.take(sent), sent);
          this.otherTimer.deadline = now + this.o.retransmitMs;
        }
      }
      while (!this.stopped && this.unsent.length > 0 && this.dataWindow.outstanding.length < this.o.maxOutstanding) {
        const head = this.unsent[0]!;
        const bom = head.at === 0;
        const paced = this.peerFlow === FlowControl.SEGMENT || (this.peerFlow === FlowControl.MESSAGE && bom);
        if (paced && this.credit <= 0) break;
        if (paced) this.credit--;
        const data = head.data.subarray(head.at, head.at + this.segSize);
        head.at += data.length;
        const eom = head.at >= head.data.length;
        if (eom) this.unsent.shift();
        const segment = { id: head.id, bom, eom, data };
        this.sendSegment(this.dataWindow.take(segment), segment);
        this.dataTimer.deadline ??= now + this.o.retransmitMs;
      }
      const drained = this.unsent.length === 0 && this.dataWindow.outstanding.length === 0;
      if (
        this.current === 'closing' &&
        drained &&
        this.otherQueue.length === 0 &&
        this.otherWindow.outstanding.length === 0
      ) {
        this.flushAcks();
        return this.sendDisconnect(now, this.ending!.reason, this.ending!.data);
      }
    }
    this.flushAcks();
  }

  private flushAcks(): void {
    if (this.current === 'closed' || this.remoteLink === 0) return;
    const link = { dst: this.remoteLink, src: this.o.linkAddress };
    if (this.ackData) {
      this.emit({
        type: 'DATA_ACK',
        ...link,
        ackNum: { number: this.dataIn.last, nak: false },
        ackOther: { number: this.otherIn.last, nak: false },
      });
    } else if (this.ackOther) {
      this.emit({
        type: 'OTHER_DATA_ACK',
        ...link,
        ackNum: { number: this.otherIn.last, nak: false },
        ackData: { number: this.dataIn.last, nak: false },
      });
    }
    this.ackData = this.ackOther = false;
  }

  // Every data segment carries ACKNUM (the data received so far), and ACKOTH when the other
  // subchannel owes an acknowledgement; every interrupt, link service and acknowledgement message
  // carries both its own subchannel's number and the other's. Acknowledgements are cumulative, so
  // repeating them costs 2 octets and makes a lost Data Ack harmless; and tcpdump takes a Link
  // Service or an acknowledgement without its cross field for a truncated one.
  private sendSegment(segNum: number, s: Segment): void {
    const ackNum = { ackNum: { number: this.dataIn.last, nak: false } };
    const ackOther = this.ackOther ? { ackOther: { number: this.otherIn.last, nak: false } } : {};
    this.ackData = this.ackOther = false;
    this.emit({
      type: 'DATA',
      dst: this.remoteLink,
      src: this.o.linkAddress,
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
    const ackNum = { ackNum: { number: this.otherIn.last, nak: false } };
    const ackData = { ackData: { number: this.dataIn.last, nak: false } };
    this.ackData = this.ackOther = false;
    const link = { dst: this.remoteLink, src: this.o.linkAddress, ...ackNum, ...ackData, segNum };
    this.emit(
      item.kind === 'interrupt'
        ? { type: 'INTERRUPT', ...link, data: item.data }
        : { type: 'LINK_SERVICE', ...link, fcMod: item.fcMod, interrupt: item.interrupt, fcVal: item.fcVal },
    );
  }

  /** What a queued item is sent as; a grant counts toward what the peer may send from now on. */
  private concrete(item: OtherItem): OtherSent | undefined {
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
        const fcVal = this.o.window - this.allowance;
        if (fcVal <= 0) return undefined;
        this.allowance = this.o.window;
        return { kind: 'link', fcMod: FcMod.NO_CHANGE, interrupt: false, fcVal };
      }
    }
  }

  private queueOther(now: number, item: OtherItem, internal = false): void {
    // A data grant already waiting covers this one: its FCVAL is worked out when it is sent.
    if (item.kind === 'grant' && this.otherQueue.some((x) => x.kind === 'grant')) return;
    if (!internal)
      this.limit(
        this.otherQueue.length < MAX_OTHER_QUEUE,
        'segmentSize',
        `${MAX_OTHER_QUEUE} interrupts and link services already wait`,
      );
    this.otherQueue.push(item);
    if (!internal) this.pump(now);
  }

  private emit(m: NspMessage): void {
    this.out.push(encodeFrame(dataFrame(this.o.address, this.remoteNode, m, { pad: this.o.routingPad })));
  }

  // -- state changes ------------------------------------------------------------------------------

  private running(now: number, data: Uint8Array): void {
    this.current = 'run';
    this.events.push({ type: 'connected', data, segmentSize: this.segSize });
    if (this.o.flowControl !== FlowControl.NONE) this.queueOther(now, { kind: 'grant' }, true);
  }

  private startControl(now: number, state: DecnetState, what: string, message: NspMessage): void {
    this.current = state;
    this.control = { message, what, deadline: now + this.o.retransmitMs, tries: 0 };
    this.emit(message);
  }

  private sendDisconnect(now: number, reason: number, data: Uint8Array): void {
    this.ending = { reason, data };
    this.dropQueues();
    this.startControl(now, 'di-sent', 'Disconnect Confirm', {
      type: 'DISCONNECT_INITIATE',
      dst: this.remoteLink,
      src: this.o.linkAddress,
      reason,
      data,
    });
  }

  private reason(e: { reason: number; data: Uint8Array }): { reason: number; reasonName: string; data: Uint8Array } {
    return { reason: e.reason, reasonName: reasonName(e.reason), data: e.data };
  }

  private rejected(reason: number, data: Uint8Array): void {
    const error = new DecnetError(
      'ERR_DECNET_REJECTED',
      `the peer rejected the connect: ${reasonName(reason)}`,
      'remote',
      {
        reason,
        reasonName: reasonName(reason),
        data,
      },
    );
    this.closed({ type: 'failed', error });
  }

  private closed(event: DecnetEvent): void {
    this.current = 'closed';
    this.control = undefined;
    this.dropQueues();
    this.events.push(event);
  }

  private dropQueues(): void {
    this.unsent.length = 0;
    this.otherQueue.length = 0;
    this.dataWindow.clear();
    this.otherWindow.clear();
    this.dataTimer.deadline = this.otherTimer.deadline = undefined;
    this.queued = 0;
  }

  private timeout(what: string): void {
    this.fail(
      new DecnetError('ERR_DECNET_TIMEOUT', `no ${what} after ${this.o.maxRetransmits} retransmissions`, 'remote', {
        waitingFor: what,
        retransmitMs: this.o.retransmitMs,
      }),
    );
  }

  private unexpected(message: string): void {
    this.abortWith(
      new DecnetError('ERR_DECNET_UNEXPECTED_MESSAGE', `unexpected ${message} (state ${this.current})`, 'remote', {
        message,
        state: this.current,
      }),
      7,
    );
  }

  private violation(subchannel: string, why: string): void {
    this.abortWith(
      new DecnetError('ERR_DECNET_FLOW_CONTROL', `the peer broke flow control: ${why}`, 'remote', { subchannel }),
      7,
    );
  }

  /** A protocol violation: tell the peer (Disconnect Initiate, not retransmitted), fail, close. */
  private abortWith(error: Error, reason: number): void {
    if (this.current === 'closed') return;
    if (this.remoteLink !== 0)
      this.emit({ type: 'DISCONNECT_INITIATE', dst: this.remoteLink, src: this.o.linkAddress, reason, data: EMPTY });
    this.fail(error);
  }

  private fail(error: Error): void {
    this.closed({ type: 'failed', error });
  }

  private expect(what: string, ...states: DecnetState[]): void {
    if (states.includes(this.current)) return;
    throw new DecnetError(
      'ERR_DECNET_CLOSED',
      `${what}() needs the link ${states.join(' or ')} (state ${this.current})`,
      'local',
      { state: this.current },
    );
  }

  private limit(ok: boolean, limit: string, why: string): void {
    if (!ok) throw new DecnetError('ERR_DECNET_LIMIT', why, 'local', { limit });
  }
}
