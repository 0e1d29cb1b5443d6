// The PNS side of a PPTP control connection (RFC 2637 §3.1): start it, echo, place and clear
// outgoing calls, stop it. Only the control connection: no GRE, no PPP.
//
//   starting    --SCCRQ-->          <--SCCRP (result 1)--     established
//   established --OCRQ/CCRQ/Echo--> <--OCRP/CDN/Echo-Reply--  established
//   established --StopCCRQ-->       <--StopCCRP--             closed (TCP closed after the reply)
//
// Answered without being asked, in any state: Echo-Request (Echo-Reply, result 1),
// Stop-Control-Connection-Request (reply result 1, then close; waiting calls reject with
// ERR_PPTP_STOPPED), Incoming-Call-Request (Incoming-Call-Reply "do not accept": incoming calls
// are not supported). Call-Disconnect-Notify for a call nobody is clearing, Set-Link-Info and
// WAN-Error-Notify go to `onMessage`. Any other message nobody waits for is a protocol
// violation: ERR_PPTP_UNEXPECTED_MESSAGE, and the connection is destroyed.

import { SessionError } from '../engine/errors.js';
import { connectTcp } from '../transport/tcp.js';
import type { Transport } from '../transport/transport.js';
import { encodeMessage } from './codec.js';
import { PptpDecoder } from './decoder.js';
import { PptpError } from './errors.js';
import {
  FramingCapability, BearerCapability, generalErrorName, PPTP_PORT, PPTP_PROTOCOL_VERSION, resultName, stopReasonName,
  type CallDisconnectNotify, type EchoReply, type OutgoingCallReply, type OutgoingCallRequest, type PptpMessage,
  type PptpMessageType, type StartControlConnectionReply, type StopControlConnectionReply,
} from './messages.js';

export interface PptpConnectOptions {
  host: string;
  /** Default 1723. */
  port?: number;
  /** Our Host Name in the Start-Control-Connection-Request (at most 64 octets). Default 'colloquy'. */
  hostName?: string;
  /** Our Vendor String (at most 64 octets). Default 'colloquy'. */
  vendor?: string;
  /** Our Firmware Revision (for a PNS: its PPTP driver version). Default 1. */
  firmwareRevision?: number;
  /** Default asynchronous (1). */
  framingCapabilities?: number;
  /** Default analog (1). */
  bearerCapabilities?: number;
  /** RFC 2637: a PNS SHOULD send 0. Default 0. */
  maximumChannels?: number;
  /** Default 0x0100 (1.0), the only version RFC 2637 defines. */
  protocolVersion?: number;
  /** Time allowed for each reply, in ms. Default 10 000. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Messages the peer sends on its own: Call-Disconnect-Notify, Set-Link-Info, WAN-Error-Notify, Echo-Reply nobody awaits. */
  onMessage?: (message: PptpMessage) => void;
}

export type PptpState = 'starting' | 'established' | 'stopping' | 'closed';

interface Waiter {
  readonly what: PptpMessageType;
  match(message: PptpMessage): boolean;
  resolve(message: PptpMessage): void;
  reject(error: unknown): void;
}

export type OutgoingCallOptions = Partial<Omit<OutgoingCallRequest, 'type'>> & { signal?: AbortSignal };

export class PptpControlConnection {
  readonly remoteAddress: string;
  readonly #transport: Transport;
  readonly #decoder = new PptpDecoder();
  readonly #options: PptpConnectOptions;
  readonly #timeoutMs: number;
  #state: PptpState = 'starting';
  #waiters: Waiter[] = [];
  #peer: StartControlConnectionReply | undefined;
  #closed = false;
  readonly #closeWaiters: Array<() => void> = [];
  #nextCallId = 1;
  #nextSerial = 1;
  #nextEcho = 1;
  /** Our Call ID -> the peer's Call ID (from its Outgoing-Call-Reply). */
  readonly #calls = new Map<number, number>();

  constructor(transport: Transport, options: PptpConnectOptions) {
    this.#transport = transport;
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.remoteAddress = transport.remoteAddress;
    transport.setHandlers({
      data: (chunk) => this.#onData(chunk),
      drain: () => {},
      close: (error) => this.#onClose(error),
    });
  }

  get state(): PptpState {
    return this.#state;
  }

  /** The peer's Start-Control-Connection-Reply. */
  get peer(): StartControlConnectionReply {
    if (this.#peer === undefined) throw new SessionError('ERR_INVALID_STATE', 'the PPTP control connection is not established', 'local', { state: this.#state });
    return this.#peer;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // -- inbound ----------------------------------------------------------------------------------

  #onData(chunk: Uint8Array): void {
    if (this.#state === 'closed' && this.#waiters.length === 0) return;
    this.#decoder.push(chunk);
    try {
      for (let m = this.#decoder.next(); m !== undefined; m = this.#decoder.next()) {
        this.#handle(m);
        if (this.#state === 'closed') return;
      }
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  #handle(message: PptpMessage): void {
    switch (message.type) {
      case 'ECHO_REQUEST':
        this.#send({ type: 'ECHO_REPLY', identifier: message.identifier, resultCode: 1, errorCode: 0 });
        return;
      case 'STOP_CONTROL_CONNECTION_REQUEST': {
        this.#send({ type: 'STOP_CONTROL_CONNECTION_REPLY', resultCode: 1, errorCode: 0 });
        const error = new PptpError('ERR_PPTP_STOPPED', `${this.remoteAddress} stopped the control connection: ${stopReasonName(message.reason)}`,
          'remote', { reason: message.reason, reasonName: stopReasonName(message.reason) });
        this.#state = 'closed';
        this.#rejectAll(error);
        this.#transport.close();
        return;
      }
      case 'INCOMING_CALL_REQUEST':
        if (this.#state === 'established') {
          this.#send({
            type: 'INCOMING_CALL_REPLY', callId: this.#allocateCallId(), peerCallId: message.callId, resultCode: 3, errorCode: 0,
            packetReceiveWindowSize: 0, packetTransmitDelay: 0,
          });
          return;
        }
        break;
      default:
        break;
    }
    if (message.type === 'START_CONTROL_CONNECTION_REPLY' && this.#state === 'starting' && message.resultCode === 1) {
      // Established at once, not when start() resumes: messages behind this one in the same
      // chunk (an Echo-Request, an Incoming-Call-Request) belong to the established state.
      this.#peer = message;
      this.#state = 'established';
    }
    const index = this.#waiters.findIndex((w) => w.match(message));
    if (index >= 0) {
      const [waiter] = this.#waiters.splice(index, 1);
      waiter!.resolve(message);
      return;
    }
    const unsolicited = message.type === 'CALL_DISCONNECT_NOTIFY' || message.type === 'SET_LINK_INFO'
      || message.type === 'WAN_ERROR_NOTIFY' || message.type === 'ECHO_REPLY';
    if (unsolicited && this.#state !== 'starting') {
      if (message.type === 'CALL_DISCONNECT_NOTIFY') {
        for (const [ours, theirs] of this.#calls) if (theirs === message.callId) this.#calls.delete(ours);
      }
      this.#options.onMessage?.(message);
      return;
    }
    this.#fail(new PptpError('ERR_PPTP_UNEXPECTED_MESSAGE', `unexpected ${message.type} (state ${this.#state}${this.#waiters.length > 0 ? `, waiting for ${this.#waiters[0]!.what}` : ''})`,
      'remote', { message: message.type, state: this.#state }));
  }

  #fail(error: Error): void {
    this.#state = 'closed';
    this.#rejectAll(error);
    this.#transport.destroy(error);
  }

  #rejectAll(error: unknown): void {
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  #onClose(error: Error | undefined): void {
    this.#closed = true;
    this.#state = 'closed';
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new PptpError('ERR_PPTP_CLOSED', `${this.remoteAddress} closed the connection while ${waiter.what} was awaited`, 'remote', { waitingFor: waiter.what }, error));
    }
    for (const wake of this.#closeWaiters.splice(0)) wake();
  }

  // -- outbound ---------------------------------------------------------------------------------

  #send(message: PptpMessage): void {
    this.#transport.write(encodeMessage(message));
  }

  #allocateCallId(): number {
    const id = this.#nextCallId;
    this.#nextCallId = (this.#nextCallId % 0xffff) + 1;
    return id;
  }

  /** Sends `request` and waits for the message `match` accepts, within timeoutMs. */
  #request<T extends PptpMessage>(request: PptpMessage | null, what: T['type'], match: (m: PptpMessage) => boolean, signal?: AbortSignal): Promise<T> {
    if (this.#state === 'closed') {
      return Promise.reject(new PptpError('ERR_PPTP_CLOSED', 'the PPTP control connection is closed', 'local', { waitingFor: what }));
    }
    signal?.throwIfAborted();
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
      };
      const waiter: Waiter = {
        what,
        match,
        resolve: (m) => {
          done();
          resolve(m as T);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const error = new PptpError('ERR_PPTP_TIMEOUT', `no ${what} from ${this.remoteAddress} within ${this.#timeoutMs} ms`, 'remote', { waitingFor: what, timeoutMs: this.#timeoutMs });
        waiter.reject(error);
        // The control connection's order is lost once a reply is missing: end it.
        this.#fail(error);
      }, this.#timeoutMs);
      const onAbort = (): void => waiter.reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      if (request !== null) this.#send(request);
    });
  }

  /** Sends the Start-Control-Connection-Request and waits for the reply (connectPptp calls it). */
  async start(signal?: AbortSignal): Promise<StartControlConnectionReply> {
    if (this.#state !== 'starting' || this.#peer !== undefined) throw new SessionError('ERR_INVALID_STATE', 'start() runs once', 'local', { state: this.#state });
    const o = this.#options;
    const reply = await this.#request<StartControlConnectionReply>({
      type: 'START_CONTROL_CONNECTION_REQUEST',
      protocolVersion: o.protocolVersion ?? PPTP_PROTOCOL_VERSION,
      framingCapabilities: o.framingCapabilities ?? FramingCapability.ASYNCHRONOUS,
      bearerCapabilities: o.bearerCapabilities ?? BearerCapability.ANALOG,
      maximumChannels: o.maximumChannels ?? 0,
      firmwareRevision: o.firmwareRevision ?? 1,
      hostName: o.hostName ?? 'colloquy',
      vendor: o.vendor ?? 'colloquy',
    }, 'START_CONTROL_CONNECTION_REPLY', (m) => m.type === 'START_CONTROL_CONNECTION_REPLY', signal);
    if (reply.resultCode !== 1) {
      void this.close();
      const result = resultName(reply.type, reply.resultCode);
      throw new PptpError('ERR_PPTP_START_REFUSED', `${this.remoteAddress} refused the control connection: ${result}${reply.resultCode === 2 ? ` (${generalErrorName(reply.errorCode)})` : ''}`,
        'remote', { resultCode: reply.resultCode, errorCode: reply.errorCode, result, error: generalErrorName(reply.errorCode), reply, remote: this.remoteAddress });
    }
    return reply;
  }

  #established(what: string): void {
    if (this.#state !== 'established') throw new SessionError('ERR_INVALID_STATE', `${what} needs an established PPTP control connection (state ${this.#state})`, 'local', { state: this.#state });
  }

  /** Echo-Request, resolved with the Echo-Reply carrying the same identifier. */
  echo(options: { identifier?: number; signal?: AbortSignal } = {}): Promise<EchoReply> {
    this.#established('echo');
    const identifier = options.identifier ?? this.#nextEcho++;
    return this.#request<EchoReply>({ type: 'ECHO_REQUEST', identifier }, 'ECHO_REPLY',
      (m) => m.type === 'ECHO_REPLY' && m.identifier === identifier, options.signal);
  }

  /** Outgoing-Call-Request; resolves with a "connected" reply, rejects ERR_PPTP_CALL_REFUSED otherwise. */
  async outgoingCall(options: OutgoingCallOptions = {}): Promise<OutgoingCallReply> {
    this.#established('outgoingCall');
    const { signal, ...fields } = options;
    const callId = fields.callId ?? this.#allocateCallId();
    const phoneNumber = fields.phoneNumber ?? '';
    const reply = await this.#request<OutgoingCallReply>({
      type: 'OUTGOING_CALL_REQUEST',
      callId,
      callSerialNumber: fields.callSerialNumber ?? this.#nextSerial++ & 0xffff,
      minimumBps: fields.minimumBps ?? 2400,
      maximumBps: fields.maximumBps ?? 10_000_000,
      bearerType: fields.bearerType ?? 3, // any
      framingType: fields.framingType ?? 3, // either
      packetReceiveWindowSize: fields.packetReceiveWindowSize ?? 64,
      packetProcessingDelay: fields.packetProcessingDelay ?? 0,
      phoneNumberLength: fields.phoneNumberLength ?? phoneNumber.length,
      phoneNumber,
      subaddress: fields.subaddress ?? '',
    }, 'OUTGOING_CALL_REPLY', (m) => m.type === 'OUTGOING_CALL_REPLY' && m.peerCallId === callId, signal);
    if (reply.resultCode !== 1) {
      const result = resultName(reply.type, reply.resultCode);
      throw new PptpError('ERR_PPTP_CALL_REFUSED', `${this.remoteAddress} did not connect call ${callId}: ${result}`, 'remote',
        { resultCode: reply.resultCode, errorCode: reply.errorCode, causeCode: reply.causeCode, result, error: generalErrorName(reply.errorCode), reply });
    }
    this.#calls.set(callId, reply.callId);
    return reply;
  }

  /** Call-Clear-Request for our Call ID; resolves with the peer's Call-Disconnect-Notify. */
  async clearCall(callId: number, options: { signal?: AbortSignal } = {}): Promise<CallDisconnectNotify> {
    this.#established('clearCall');
    const theirs = this.#calls.get(callId);
    const notify = await this.#request<CallDisconnectNotify>({ type: 'CALL_CLEAR_REQUEST', callId }, 'CALL_DISCONNECT_NOTIFY',
      (m) => m.type === 'CALL_DISCONNECT_NOTIFY' && (theirs === undefined || m.callId === theirs), options.signal);
    this.#calls.delete(callId);
    return notify;
  }

  /** Stop-Control-Connection-Request, then the reply, then the TCP connection is closed. */
  async stop(options: { reason?: number; signal?: AbortSignal } = {}): Promise<StopControlConnectionReply> {
    this.#established('stop');
    this.#state = 'stopping';
    const reply = await this.#request<StopControlConnectionReply>({ type: 'STOP_CONTROL_CONNECTION_REQUEST', reason: options.reason ?? 1 },
      'STOP_CONTROL_CONNECTION_REPLY', (m) => m.type === 'STOP_CONTROL_CONNECTION_REPLY', options.signal);
    this.#state = 'closed';
    await this.close();
    return reply;
  }

  /** Ends the TCP connection gracefully (no Stop message: use stop() for that); cut after timeoutMs. */
  async close(): Promise<void> {
    this.#state = 'closed';
    this.#transport.close();
    if (this.#closed) return;
    const timer = setTimeout(() => this.#transport.destroy(), this.#timeoutMs);
    await this.whenClosed();
    clearTimeout(timer);
  }

  destroy(error?: Error): void {
    this.#state = 'closed';
    this.#transport.destroy(error);
  }

  whenClosed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#closeWaiters.push(resolve));
  }
}

/** Opens a control connection: TCP, then Start-Control-Connection-Request / -Reply. */
export async function connectPptp(options: PptpConnectOptions): Promise<PptpControlConnection> {
  const transport = await connectTcp({ host: options.host, port: options.port ?? PPTP_PORT, signal: options.signal });
  const conn = new PptpControlConnection(transport, options);
  try {
    await conn.start(options.signal);
  } catch (error) {
    if (!(error instanceof PptpError && error.code === 'ERR_PPTP_START_REFUSED')) conn.destroy();
    throw error;
  }
  return conn;
}
