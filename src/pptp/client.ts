// The PNS side of a PPTP control connection (RFC 2637 §3.1): start it, echo, place and clear
// outgoing calls, stop it. Only the control connection: no GRE, no PPP. The protocol is in
// PptpMachine (machine.ts), run by a ByteDriver; this file turns its events into promises.
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
import { ByteDriver } from '../driver/byte-driver.js';
import { connectTcp } from '../transport/tcp.js';
import type { Transport } from '../transport/transport.js';
import { PptpError } from './errors.js';
import { PptpMachine, type OutgoingCallFields, type PptpEvent, type PptpState } from './machine.js';
import {
  PPTP_PORT,
  type CallDisconnectNotify,
  type EchoReply,
  type OutgoingCallReply,
  type PptpMessage,
  type StartControlConnectionReply,
  type StopControlConnectionReply,
} from './messages.js';

export type { PptpState } from './machine.js';

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

export type OutgoingCallOptions = OutgoingCallFields & { signal?: AbortSignal };

interface Waiter {
  resolve(message: PptpMessage): void;
  reject(error: unknown): void;
}

export class PptpControlConnection {
  readonly remoteAddress: string;
  readonly #machine: PptpMachine;
  readonly #driver: ByteDriver<PptpEvent>;
  readonly #waiters = new Map<number, Waiter>();
  readonly #options: PptpConnectOptions;

  constructor(transport: Transport, options: PptpConnectOptions) {
    this.#options = options;
    this.remoteAddress = transport.remoteAddress;
    const { host: _h, port: _p, signal: _s, onMessage: _m, ...fields } = options;
    this.#machine = new PptpMachine({ ...fields, timeoutMs: options.timeoutMs ?? 10_000 });
    this.#driver = new ByteDriver<PptpEvent>(this.#machine);
    this.#driver.onEvent = (e) => this.#onEvent(e);
    this.#driver.attach(transport, (now) => this.#machine.handleTransportUp(now, transport.remoteAddress));
  }

  get state(): PptpState {
    return this.#machine.state;
  }

  /** The peer's Start-Control-Connection-Reply. */
  get peer(): StartControlConnectionReply {
    const peer = this.#machine.peer;
    if (peer === undefined)
      throw new SessionError('ERR_INVALID_STATE', 'the PPTP control connection is not established', 'local', {
        state: this.state,
      });
    return peer;
  }

  get closed(): boolean {
    return this.#driver.attached === null;
  }

  #onEvent(e: PptpEvent): void {
    if (e.type === 'message') return this.#options.onMessage?.(e.message);
    if (e.type !== 'reply' && e.type !== 'failed') return;
    const waiter = this.#waiters.get(e.id);
    if (waiter === undefined) return;
    this.#waiters.delete(e.id);
    if (e.type === 'reply') waiter.resolve(e.message);
    else waiter.reject(e.error);
  }

  /** Runs the command (it sends the request) and waits for its reply event. */
  #request<T extends PptpMessage>(command: (now: number) => number, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    let id = 0;
    this.#driver.input((now) => {
      id = command(now);
    });
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(id);
        this.#driver.input(() => this.#machine.cancel(id));
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.set(id, {
        resolve: (m) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(m as T);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e as Error);
        },
      });
    });
  }

  /** Sends the Start-Control-Connection-Request and waits for the reply (connectPptp calls it). */
  start(signal?: AbortSignal): Promise<StartControlConnectionReply> {
    return this.#request<StartControlConnectionReply>((now) => this.#machine.start(now), signal);
  }

  /** Echo-Request, resolved with the Echo-Reply carrying the same identifier. */
  echo(options: { identifier?: number; signal?: AbortSignal } = {}): Promise<EchoReply> {
    return this.#request<EchoReply>((now) => this.#machine.echo(now, options.identifier), options.signal);
  }

  /** Outgoing-Call-Request; resolves with a "connected" reply, rejects ERR_PPTP_CALL_REFUSED otherwise. */
  outgoingCall(options: OutgoingCallOptions = {}): Promise<OutgoingCallReply> {
    const { signal, ...fields } = options;
    return this.#request<OutgoingCallReply>((now) => this.#machine.outgoingCall(now, fields), signal);
  }

  /** Call-Clear-Request for our Call ID; resolves with the peer's Call-Disconnect-Notify. */
  clearCall(callId: number, options: { signal?: AbortSignal } = {}): Promise<CallDisconnectNotify> {
    return this.#request<CallDisconnectNotify>((now) => this.#machine.clearCall(now, callId), options.signal);
  }

  /** Stop-Control-Connection-Request, then the reply, then the TCP connection is closed. */
  async stop(options: { reason?: number; signal?: AbortSignal } = {}): Promise<StopControlConnectionReply> {
    const reply = await this.#request<StopControlConnectionReply>(
      (now) => this.#machine.stop(now, options.reason ?? 1),
      options.signal,
    );
    await this.whenClosed();
    return reply;
  }

  /** Ends the TCP connection gracefully (no Stop message: use stop() for that); cut after timeoutMs. */
  async close(): Promise<void> {
    const closed = this.whenClosed();
    this.#driver.input((now) => this.#machine.close(now));
    await closed;
  }

  destroy(error?: Error): void {
    this.#driver.input((now) => this.#machine.close(now));
    this.#driver.destroy(error);
  }

  whenClosed(): Promise<void> {
    return this.#driver.whenClosed();
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
