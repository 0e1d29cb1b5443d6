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
// The machine keeps the link's state, the control messages (CI, CC, DI) and the framing; a running
// link's traffic is a part it owns (link-traffic.ts: the two subchannels, data-subchannel.ts and
// other-subchannel.ts, and the acknowledgements each frame carries for both). Its options, states
// and events are declared in machine-types.ts.
//
// Rules: handleFrame never throws (a malformed frame is discarded, as Ethernet drops it: event
// `discarded`); handleBytes reads a byte stream of frames, where a bad frame loses the framing and
// aborts the link. Every queue is bounded: maxQueuedBytes (sending), maxMessageSize
// (reassembly), 16 octets (interrupts), 16 other-data messages waiting.

import { SessionError } from '../engine/errors.js';
import { DecnetDecoder } from './decoder.js';
import { DecnetError, DecnetProtocolError } from './errors.js';
import { dataFrame, decodeFrame, encodeFrame } from './frame.js';
import { LinkTraffic } from './link-traffic.js';
import {
  MAX_SEGMENT_SIZE,
  type ConnectRequest,
  type DecnetEvent,
  type DecnetMachineOptions,
  type DecnetState,
} from './machine-types.js';
import { FcMod, FlowControl, MAX_OTHER_DATA, NspVersion, type NspMessage } from './nsp.js';
import type { OtherItem } from './other-subchannel.js';
import { decodeConnectData, encodeConnectData, reasonName, type ConnectData } from './session-control.js';
import { LinkViolation } from './subchannel.js';

export {
  MAX_SEGMENT_SIZE,
  type ConnectRequest,
  type DecnetEvent,
  type DecnetMachineOptions,
  type DecnetState,
} from './machine-types.js';

interface Control {
  readonly message: NspMessage;
  readonly what: string;
  deadline: number;
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
  private segSize = 0;
  private control: Control | undefined;
  /** Disconnect reason and data once asked for (closing, di-sent). */
  private ending: { reason: number; data: Uint8Array } | undefined;
  private readonly traffic: LinkTraffic;

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
    this.traffic = new LinkTraffic(this.o, {
      link: () => ({ dst: this.remoteLink, src: this.o.linkAddress }),
      emit: (m) => this.emit(m),
      event: (e) => this.events.push(e),
      unexpected: (message) => this.unexpected(message),
    });
  }

  get state(): DecnetState {
    return this.current;
  }

  /** Octets handed to send() and not yet acknowledged. */
  get queuedBytes(): number {
    return this.traffic.data.queuedBytes;
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
    const lost = this.traffic.retransmit(now);
    if (lost !== undefined) return this.timeout(lost);
    this.flushAcks();
  }

  nextDeadline(): number | undefined {
    const all = [this.control?.deadline, ...this.traffic.deadlines].filter((d): d is number => d !== undefined);
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
    const id = this.traffic.data.queue(data);
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
          this.traffic.data.peerFlow = m.flowControl;
          this.segSize = Math.min(m.segSize, this.o.segmentSize);
          this.control = undefined;
          this.traffic.oweDataAck(); // ACKNUM 0 acknowledges the Connect Confirm
          this.running(now, m.data);
        } else if (fromPeer && this.current !== 'cc-sent') this.traffic.oweDataAck();
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
    this.traffic.data.peerFlow = m.flowControl;
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
    try {
      this.traffic.receive(m, now);
    } catch (error) {
      if (!(error instanceof LinkViolation)) throw error;
      this.abortWith(error.error, error.reason);
    }
  }

  // -- outbound -----------------------------------------------------------------------------------

  /** Sends what flow control allows, then the acknowledgements nothing carried. */
  private pump(now: number): void {
    if (this.current === 'run' || this.current === 'closing') {
      this.traffic.pump(now, this.segSize);
      if (this.current === 'closing' && this.traffic.drained) {
        this.flushAcks();
        return this.sendDisconnect(now, this.ending!.reason, this.ending!.data);
      }
    }
    this.flushAcks();
  }

  private flushAcks(): void {
    if (this.current === 'closed' || this.remoteLink === 0) return;
    this.traffic.flushAcks();
  }

  private queueOther(now: number, item: OtherItem, internal = false): void {
    this.traffic.queueOther(item, internal);
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
    this.traffic.clear();
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
