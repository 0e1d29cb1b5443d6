// PptpMachine: the PNS side of a PPTP control connection (RFC 2637 §3.1) without I/O. No
// socket, no timer, no clock: bytes and time come in (handle*), messages to send and events go
// out (pollBytes, pollEvent), nextDeadline() says when to call handleTimeout. The driver
// (src/driver/byte-driver.ts) runs it; PptpControlConnection (client.ts) turns its events into
// promises.
//
//   starting    --SCCRQ-->          <--SCCRP (result 1)--     established
//   established --OCRQ/CCRQ/Echo--> <--OCRP/CDN/Echo-Reply--  established
//   established --StopCCRQ-->       <--StopCCRP--             closed (TCP closed after the reply)
//
// Each request (start, echo, outgoingCall, clearCall, stop) gets an id; its answer is an event
// `reply` or `failed` with that id, due within timeoutMs (a missing reply fails every request
// and ends the connection: the control connection's order is lost).
//
// Answered without being asked, in any state: Echo-Request (Echo-Reply, result 1),
// Stop-Control-Connection-Request (reply result 1, then close; waiting requests fail with
// ERR_PPTP_STOPPED), Incoming-Call-Request (Incoming-Call-Reply "do not accept": incoming calls
// are not supported). Call-Disconnect-Notify for a call nobody is clearing, Set-Link-Info and
// WAN-Error-Notify are events `message`. Any other message nobody waits for is a protocol
// violation: ERR_PPTP_UNEXPECTED_MESSAGE, and the connection is destroyed.
//
// The requests' messages and the replies that refuse them are requests.ts; this file keeps the
// pending requests, the connection's state and what arrives unasked.
//
// Rules: bad bytes never throw out of handleBytes (the decoder's PptpProtocolError fails the
// requests and destroys the connection); `close` events ask the driver to close (graceful: FIN,
// cut after timeoutMs if the peer does not finish) or destroy the transport.

import { SessionError } from '../engine/errors.js';
import { encodeMessage } from './codec.js';
import { PptpDecoder } from './decoder.js';
import { PptpError } from './errors.js';
import {
  stopReasonName,
  type PptpMessage,
  type PptpMessageType,
  type StartControlConnectionReply,
} from './messages.js';
import {
  callRefused,
  outgoingCallRequest,
  startRefused,
  startRequest,
  type OutgoingCallFields,
  type StartFields,
} from './requests.js';

export type { OutgoingCallFields } from './requests.js';

/** What start() announces (requests.ts: each field's default), and the time allowed. */
export interface PptpMachineOptions extends StartFields {
  /** Time allowed for each reply, ms; also how long a graceful close may take. */
  readonly timeoutMs: number;
}

export type PptpState = 'starting' | 'established' | 'stopping' | 'closed';

export type PptpEvent =
  | { readonly type: 'reply'; readonly id: number; readonly message: PptpMessage }
  | { readonly type: 'failed'; readonly id: number; readonly error: Error }
  /** A message the peer sent on its own (Call-Disconnect-Notify, Set-Link-Info, WAN-Error-Notify, Echo-Reply nobody awaits). */
  | { readonly type: 'message'; readonly message: PptpMessage }
  | { readonly type: 'close'; readonly graceful: boolean; readonly error?: Error }
  /** The transport is gone. */
  | { readonly type: 'ended' };

interface Pending {
  readonly id: number;
  readonly what: PptpMessageType;
  readonly deadline: number;
  match(message: PptpMessage): boolean;
  /** Checks the reply: an error fails the request instead. */
  check?(message: PptpMessage, now: number): Error | undefined;
}

export class PptpMachine {
  private readonly decoder = new PptpDecoder();
  private current: PptpState = 'starting';
  private remote = '';
  private peerReply: StartControlConnectionReply | undefined;
  private pending: Pending[] = [];
  private nextId = 1;
  private nextCallId = 1;
  private nextSerial = 1;
  private nextEcho = 1;
  /** A graceful close under way: destroyed at this time if the peer has not finished it. */
  private lingerUntil: number | undefined;
  private transportClosed = false;
  private readonly out: Uint8Array[] = [];
  private readonly events: PptpEvent[] = [];
  /** Our Call ID -> the peer's Call ID (from its Outgoing-Call-Reply). */
  private readonly calls = new Map<number, number>();

  constructor(private readonly options: PptpMachineOptions) {}

  get state(): PptpState {
    return this.current;
  }

  /** The peer's Start-Control-Connection-Reply, once established. */
  get peer(): StartControlConnectionReply | undefined {
    return this.peerReply;
  }

  handleTransportUp(_now: number, remoteAddress: string): void {
    this.remote = remoteAddress;
  }

  handleBytes(chunk: Uint8Array, now: number): void {
    if (this.current === 'closed' && this.pending.length === 0) return;
    this.decoder.push(chunk);
    try {
      for (let m = this.decoder.next(); m !== undefined; m = this.decoder.next()) {
        this.handleMessage(m, now);
        if (this.current === 'closed') return;
      }
    } catch (error) {
      this.fail(error as Error);
    }
  }

  handleTransportClosed(_now: number, error?: Error): void {
    if (this.transportClosed) return;
    this.transportClosed = true;
    this.current = 'closed';
    this.lingerUntil = undefined;
    for (const p of this.pending.splice(0)) {
      this.events.push({
        type: 'failed',
        id: p.id,
        error: new PptpError(
          'ERR_PPTP_CLOSED',
          `${this.remote} closed the connection while ${p.what} was awaited`,
          'remote',
          { waitingFor: p.what },
          error,
        ),
      });
    }
    this.events.push({ type: 'ended' });
  }

  handleTimeout(now: number): void {
    if (this.lingerUntil !== undefined && now >= this.lingerUntil) {
      this.lingerUntil = undefined;
      this.events.push({ type: 'close', graceful: false });
    }
    const late = this.pending.find((p) => p.deadline <= now);
    if (late === undefined) return;
    const error = new PptpError(
      'ERR_PPTP_TIMEOUT',
      `no ${late.what} from ${this.remote} within ${this.options.timeoutMs} ms`,
      'remote',
      { waitingFor: late.what, timeoutMs: this.options.timeoutMs },
    );
    this.fail(error);
  }

  nextDeadline(): number | undefined {
    let at = this.lingerUntil ?? Infinity;
    for (const p of this.pending) at = Math.min(at, p.deadline);
    return at === Infinity ? undefined : at;
  }

  pollBytes(): Uint8Array | undefined {
    return this.out.shift();
  }

  pollEvent(): PptpEvent | undefined {
    return this.events.shift();
  }

  // -- commands: each returns the id its reply or failure will carry ------------------------------

  start(now: number): number {
    if (this.current !== 'starting' || this.peerReply !== undefined || this.pending.length > 0)
      throw new SessionError('ERR_INVALID_STATE', 'start() runs once', 'local', { state: this.current });
    return this.request(
      now,
      startRequest(this.options),
      'START_CONTROL_CONNECTION_REPLY',
      (m) => m.type === 'START_CONTROL_CONNECTION_REPLY',
      (m, at) => {
        const reply = m as StartControlConnectionReply;
        if (reply.resultCode === 1) return undefined;
        this.close(at);
        return startRefused(this.remote, reply);
      },
    );
  }

  /** Echo-Request; the reply carries the same identifier. */
  echo(now: number, identifier?: number): number {
    this.established('echo');
    const id = identifier ?? this.nextEcho++;
    return this.request(
      now,
      { type: 'ECHO_REQUEST', identifier: id },
      'ECHO_REPLY',
      (m) => m.type === 'ECHO_REPLY' && m.identifier === id,
    );
  }

  /** Outgoing-Call-Request; a reply other than "connected" fails with ERR_PPTP_CALL_REFUSED. */
  outgoingCall(now: number, fields: OutgoingCallFields = {}): number {
    this.established('outgoingCall');
    const callId = fields.callId ?? this.allocateCallId();
    return this.request(
      now,
      outgoingCallRequest(fields, callId, () => this.nextSerial++ & 0xffff),
      'OUTGOING_CALL_REPLY',
      (m) => m.type === 'OUTGOING_CALL_REPLY' && m.peerCallId === callId,
      (m) => {
        if (m.type !== 'OUTGOING_CALL_REPLY') return undefined;
        if (m.resultCode === 1) {
          this.calls.set(callId, m.callId);
          return undefined;
        }
        return callRefused(this.remote, callId, m);
      },
    );
  }

  /** Call-Clear-Request for our Call ID; the reply is the peer's Call-Disconnect-Notify. */
  clearCall(now: number, callId: number): number {
    this.established('clearCall');
    const theirs = this.calls.get(callId);
    return this.request(
      now,
      { type: 'CALL_CLEAR_REQUEST', callId },
      'CALL_DISCONNECT_NOTIFY',
      (m) => m.type === 'CALL_DISCONNECT_NOTIFY' && (theirs === undefined || m.callId === theirs),
      () => {
        this.calls.delete(callId);
        return undefined;
      },
    );
  }

  /** Stop-Control-Connection-Request; after the reply the connection is closed. */
  stop(now: number, reason = 1): number {
    this.established('stop');
    this.current = 'stopping';
    return this.request(
      now,
      { type: 'STOP_CONTROL_CONNECTION_REQUEST', reason },
      'STOP_CONTROL_CONNECTION_REPLY',
      (m) => m.type === 'STOP_CONTROL_CONNECTION_REPLY',
      (_m, at) => {
        this.close(at);
        return undefined;
      },
    );
  }

  /** Ends the TCP connection gracefully (no Stop message), destroyed after timeoutMs if unfinished. */
  close(now: number): void {
    this.current = 'closed';
    if (this.transportClosed) return;
    this.lingerUntil = now + this.options.timeoutMs;
    this.events.push({ type: 'close', graceful: true });
  }

  /** Forgets a request (its caller gave up, e.g. its signal aborted). */
  cancel(id: number): void {
    this.pending = this.pending.filter((p) => p.id !== id);
  }

  // -- inbound ------------------------------------------------------------------------------------

  private handleMessage(message: PptpMessage, now: number): void {
    switch (message.type) {
      case 'ECHO_REQUEST':
        this.send({ type: 'ECHO_REPLY', identifier: message.identifier, resultCode: 1, errorCode: 0 });
        return;
      case 'STOP_CONTROL_CONNECTION_REQUEST': {
        this.send({ type: 'STOP_CONTROL_CONNECTION_REPLY', resultCode: 1, errorCode: 0 });
        const error = new PptpError(
          'ERR_PPTP_STOPPED',
          `${this.remote} stopped the control connection: ${stopReasonName(message.reason)}`,
          'remote',
          { reason: message.reason, reasonName: stopReasonName(message.reason) },
        );
        this.failAll(error);
        this.close(now);
        return;
      }
      case 'INCOMING_CALL_REQUEST':
        if (this.current === 'established') {
          this.send({
            type: 'INCOMING_CALL_REPLY',
            callId: this.allocateCallId(),
            peerCallId: message.callId,
            resultCode: 3,
            errorCode: 0,
            packetReceiveWindowSize: 0,
            packetTransmitDelay: 0,
          });
          return;
        }
        break;
      default:
        break;
    }
    if (message.type === 'START_CONTROL_CONNECTION_REPLY' && this.current === 'starting' && message.resultCode === 1) {
      // Established at once: messages behind this one in the same chunk (an Echo-Request, an
      // Incoming-Call-Request) belong to the established state.
      this.peerReply = message;
      this.current = 'established';
    }
    const index = this.pending.findIndex((p) => p.match(message));
    if (index >= 0) {
      const [p] = this.pending.splice(index, 1) as [Pending];
      const error = p.check?.(message, now);
      this.events.push(
        error === undefined ? { type: 'reply', id: p.id, message } : { type: 'failed', id: p.id, error },
      );
      return;
    }
    const unsolicited =
      message.type === 'CALL_DISCONNECT_NOTIFY' ||
      message.type === 'SET_LINK_INFO' ||
      message.type === 'WAN_ERROR_NOTIFY' ||
      message.type === 'ECHO_REPLY';
    if (unsolicited && this.current !== 'starting') {
      if (message.type === 'CALL_DISCONNECT_NOTIFY') {
        for (const [ours, theirs] of this.calls) if (theirs === message.callId) this.calls.delete(ours);
      }
      this.events.push({ type: 'message', message });
      return;
    }
    this.fail(
      new PptpError(
        'ERR_PPTP_UNEXPECTED_MESSAGE',
        `unexpected ${message.type} (state ${this.current}${this.pending.length > 0 ? `, waiting for ${this.pending[0]!.what}` : ''})`,
        'remote',
        { message: message.type, state: this.current },
      ),
    );
  }

  // -- helpers ------------------------------------------------------------------------------------

  private request(
    now: number,
    message: PptpMessage,
    what: PptpMessageType,
    match: (m: PptpMessage) => boolean,
    check?: (m: PptpMessage, now: number) => Error | undefined,
  ): number {
    if (this.current === 'closed')
      throw new PptpError('ERR_PPTP_CLOSED', 'the PPTP control connection is closed', 'local', { waitingFor: what });
    const id = this.nextId++;
    this.pending.push({ id, what, match, deadline: now + this.options.timeoutMs, ...(check ? { check } : {}) });
    this.send(message);
    return id;
  }

  private established(what: string): void {
    if (this.current !== 'established')
      throw new SessionError(
        'ERR_INVALID_STATE',
        `${what} needs an established PPTP control connection (state ${this.current})`,
        'local',
        { state: this.current },
      );
  }

  private send(message: PptpMessage): void {
    this.out.push(encodeMessage(message));
  }

  private allocateCallId(): number {
    const id = this.nextCallId;
    this.nextCallId = (this.nextCallId % 0xffff) + 1;
    return id;
  }

  private failAll(error: Error): void {
    for (const p of this.pending.splice(0)) this.events.push({ type: 'failed', id: p.id, error });
  }

  /** The connection cannot go on: every request fails with `error`, the transport is destroyed. */
  private fail(error: Error): void {
    this.current = 'closed';
    this.lingerUntil = undefined;
    this.failAll(error);
    if (!this.transportClosed) this.events.push({ type: 'close', graceful: false, error });
  }
}
