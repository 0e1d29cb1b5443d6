// NetbiosMachine: the NetBIOS session service (RFC 1002 §4.3) of one side, without I/O. No
// socket, no timer, no clock: bytes and time come in (handle*), packets to send and events go
// out (pollBytes, pollEvent), and nextDeadline() says when to call handleTimeout. The driver
// (src/driver/byte-driver.ts) is the only place where it meets a transport and a timer.
//
// Theory of operation
//   calling side (one machine across every retarget hop):
//     handleTransportUp --> SESSION REQUEST, answer due by timeoutMs
//       POSITIVE  -> established
//       NEGATIVE  -> ERR_NETBIOS_REFUSED                     (transport destroyed)
//       RETARGET  -> event retarget(address, port), transport destroyed; the driver dials it and
//                    calls handleTransportUp again (ERR_NETBIOS_TOO_MANY_RETARGETS past maxRetargets)
//   called side:
//     a SESSION REQUEST due by requestTimeoutMs --> event request --> answer(decision), also
//     due by requestTimeoutMs:
//       accept    -> POSITIVE, established
//       refuse    -> NEGATIVE(code), then a graceful close (destroyed if the peer has not closed
//       retarget  -> RETARGET(address, port), then the same close   within requestTimeoutMs)
//     a malformed SESSION REQUEST gets NEGATIVE 0x82 and the same close (as smbd answers it).
//   both, established: SESSION MESSAGE -> event message; keep-alives are skipped (they are only
//   there to be ignored); any other packet is ERR_NETBIOS_UNEXPECTED_PACKET (destroyed, as Samba
//   drops such a connection).
//
// Rules
//   - Keep-alives before the request or the answer are skipped, but do not move the deadline.
//   - Bad bytes never throw out of handleBytes: the decoder's NetbiosProtocolError ends the
//     machine (event ended with it) and the transport.
//   - Events: `close` asks the driver to close the transport (graceful: FIN after what is
//     queued; else destroy), `ended` is the last event, with the error that ended it (none for a
//     clean end).

import { encodePacket } from './codec.js';
import { NetbiosDecoder } from './decoder.js';
import { NetbiosError, NetbiosProtocolError } from './errors.js';
import { formatNetbiosName, type NetbiosName } from './names.js';
import { NegativeResponseCode, negativeReason, type NetbiosPacket } from './packets.js';

/** Octets a caller may send while its request is being decided (they are read after an accept). */
const MAX_EARLY_OCTETS = 1 << 20;

export type NetbiosDecision =
  | { readonly kind: 'accept' }
  | { readonly kind: 'refuse'; readonly errorCode: number }
  | { readonly kind: 'retarget'; readonly address: string; readonly port: number };

export interface RetargetHop {
  readonly address: string;
  readonly port: number;
}

export type NetbiosEvent =
  /** Called side: a session request to decide (answer()). */
  | { readonly type: 'request'; readonly called: NetbiosName; readonly calling: NetbiosName }
  | { readonly type: 'established' }
  /** Calling side: dial this address, then handleTransportUp. */
  | { readonly type: 'retarget'; readonly address: string; readonly port: number }
  | { readonly type: 'message'; readonly data: Uint8Array }
  | { readonly type: 'close'; readonly graceful: boolean; readonly error?: Error }
  | { readonly type: 'ended'; readonly error?: Error };

export type NetbiosState =
  'idle' | 'requesting' | 'awaiting-request' | 'deciding' | 'established' | 'closing' | 'closed';

export interface CallingOptions {
  readonly role: 'calling';
  readonly called: NetbiosName;
  readonly calling: NetbiosName;
  /** Retarget responses followed before giving up. */
  readonly maxRetargets: number;
  /** Time allowed for each answer to a session request (per hop), ms. */
  readonly timeoutMs: number;
  readonly maxMessageSize?: number;
}

export interface CalledOptions {
  readonly role: 'called';
  /** Time a caller has to send its request and the owner to answer it; also the close linger. */
  readonly requestTimeoutMs: number;
  readonly maxMessageSize?: number;
}

export class NetbiosMachine {
  private decoder: NetbiosDecoder;
  private current: NetbiosState = 'idle';
  private deadline: number | undefined;
  private remote = '';
  private readonly out: Uint8Array[] = [];
  private readonly events: NetbiosEvent[] = [];
  private ended = false;
  /** Calling side: the retarget responses followed so far. */
  readonly hops: RetargetHop[] = [];
  /** Called side: the request being decided or accepted. */
  request: { readonly called: NetbiosName; readonly calling: NetbiosName } | undefined;

  constructor(private readonly options: CallingOptions | CalledOptions) {
    this.decoder = new NetbiosDecoder({ maxMessageSize: options.maxMessageSize });
  }

  get state(): NetbiosState {
    return this.current;
  }

  /** False once nothing more is read on this transport (closing, closed, or between retarget hops). */
  private get reading(): boolean {
    return this.current !== 'closed' && this.current !== 'closing' && this.current !== 'idle';
  }

  /** A fresh transport to `remoteAddress`: the calling side sends its request on it. */
  handleTransportUp(now: number, remoteAddress: string): void {
    this.remote = remoteAddress;
    this.decoder = new NetbiosDecoder({ maxMessageSize: this.options.maxMessageSize });
    if (this.options.role === 'called') {
      this.current = 'awaiting-request';
      this.deadline = now + this.options.requestTimeoutMs;
      return;
    }
    this.current = 'requesting';
    this.deadline = now + this.options.timeoutMs;
    this.queue({ type: 'SESSION_REQUEST', called: this.options.called, calling: this.options.calling });
  }

  handleBytes(chunk: Uint8Array, now: number): void {
    if (!this.reading) return;
    this.decoder.push(chunk);
    // Deciding: what the caller sent early waits in the decoder until the answer (bounded).
    if (this.current === 'deciding') {
      if (this.decoder.bufferedBytes > MAX_EARLY_OCTETS)
        this.fail(
          new NetbiosError(
            'ERR_NETBIOS_UNEXPECTED_PACKET',
            `more than ${MAX_EARLY_OCTETS} octets before the answer to the session request`,
            'remote',
            { state: 'deciding' },
          ),
        );
      return;
    }
    this.decodeAll(now);
  }

  private decodeAll(now: number): void {
    try {
      for (let p = this.decoder.next(); p !== undefined; p = this.decoder.next()) {
        this.handlePacket(p);
        // Deciding: the rest waits in the decoder until the answer.
        if (!this.reading || this.current === 'deciding') return;
      }
    } catch (error) {
      this.handleProtocolError(error as Error, now);
    }
  }

  handleTransportClosed(_now: number, error?: Error): void {
    if (this.current === 'closed' || this.current === 'idle') return;
    if (this.current === 'requesting' && error === undefined) {
      return this.end(
        new NetbiosError(
          'ERR_NETBIOS_CLOSED',
          `${this.remote} closed the connection without answering the session request`,
          'remote',
        ),
      );
    }
    // A caller that leaves before its request is no error (nothing was asked).
    this.end(error);
  }

  handleTimeout(now: number): void {
    if (this.deadline === undefined || now < this.deadline) return;
    this.deadline = undefined;
    if (this.current === 'closing') {
      this.events.push({ type: 'close', graceful: false });
      return;
    }
    if (this.options.role === 'calling') {
      const ms = this.options.timeoutMs;
      return this.fail(
        new NetbiosError(
          'ERR_NETBIOS_TIMEOUT',
          `no answer to the session request from ${this.remote} within ${ms} ms`,
          'remote',
          { timeoutMs: ms },
        ),
      );
    }
    const ms = this.options.requestTimeoutMs;
    this.fail(
      new NetbiosError('ERR_NETBIOS_TIMEOUT', `no session request from ${this.remote} within ${ms} ms`, 'remote', {
        timeoutMs: ms,
      }),
    );
  }

  nextDeadline(): number | undefined {
    return this.deadline;
  }

  /** Called side: the answer to the request event. Ignored unless a request is being decided. */
  answer(decision: NetbiosDecision, now: number): void {
    if (this.current !== 'deciding') return;
    if (decision.kind === 'accept') {
      this.queue({ type: 'POSITIVE_SESSION_RESPONSE' });
      this.establish();
      this.decodeAll(now);
      return;
    }
    this.queue(
      decision.kind === 'refuse'
        ? { type: 'NEGATIVE_SESSION_RESPONSE', errorCode: decision.errorCode }
        : { type: 'RETARGET_SESSION_RESPONSE', address: decision.address, port: decision.port },
    );
    this.closeSoon(now);
  }

  /** Ends the machine with `error` (the owner failed, e.g. its decision threw); the transport is destroyed. */
  abort(error: Error): void {
    if (this.current === 'closed') return;
    this.fail(error);
  }

  /** Established: one SESSION MESSAGE. Throws ERR_PAYLOAD_TOO_LARGE past 0x1FFFF octets. */
  send(data: Uint8Array): void {
    this.queue({ type: 'SESSION_MESSAGE', data });
  }

  keepAlive(): void {
    this.queue({ type: 'SESSION_KEEP_ALIVE' });
  }

  pollBytes(): Uint8Array | undefined {
    return this.out.shift();
  }

  pollEvent(): NetbiosEvent | undefined {
    return this.events.shift();
  }

  private queue(packet: NetbiosPacket): void {
    this.out.push(encodePacket(packet));
  }

  private handlePacket(p: NetbiosPacket): void {
    if (p.type === 'SESSION_KEEP_ALIVE') return;
    switch (this.current) {
      case 'established':
        if (p.type === 'SESSION_MESSAGE') {
          this.events.push({ type: 'message', data: p.data });
          return;
        }
        return this.fail(unexpected(`${p.type} on an established NetBIOS session`, p, 'established'));
      case 'awaiting-request':
        if (p.type !== 'SESSION_REQUEST')
          return this.fail(unexpected(`${p.type} before a session request`, p, 'awaiting-request'));
        this.current = 'deciding';
        this.request = { called: p.called, calling: p.calling };
        this.events.push({ type: 'request', called: p.called, calling: p.calling });
        return;
      case 'requesting':
        return this.handleAnswer(p);
      default:
        return; // deciding: not reached (decoding stops at the request)
    }
  }

  private handleAnswer(p: NetbiosPacket): void {
    const o = this.options as CallingOptions;
    switch (p.type) {
      case 'POSITIVE_SESSION_RESPONSE':
        return this.establish();
      case 'NEGATIVE_SESSION_RESPONSE': {
        const reason = negativeReason(p.errorCode);
        return this.fail(
          new NetbiosError(
            'ERR_NETBIOS_REFUSED',
            `${this.remote} refused ${formatNetbiosName(o.called)}: 0x${p.errorCode.toString(16)} ${reason}`,
            'remote',
            { errorCode: p.errorCode, reason, hops: this.hops, remote: this.remote },
          ),
        );
      }
      case 'RETARGET_SESSION_RESPONSE':
        this.hops.push({ address: p.address, port: p.port });
        if (this.hops.length > o.maxRetargets) {
          return this.fail(
            new NetbiosError(
              'ERR_NETBIOS_TOO_MANY_RETARGETS',
              `more than ${o.maxRetargets} retarget responses`,
              'remote',
              { hops: this.hops, maxRetargets: o.maxRetargets },
            ),
          );
        }
        this.current = 'idle';
        this.deadline = undefined;
        this.events.push({ type: 'close', graceful: false }, { type: 'retarget', address: p.address, port: p.port });
        return;
      default:
        return this.fail(unexpected(`${p.type} in answer to a session request`, p, 'requesting'));
    }
  }

  private handleProtocolError(error: Error, now: number): void {
    // smbd answers a malformed request with NEGATIVE 0x82 and closes; so do we.
    if (
      this.current === 'awaiting-request' &&
      error instanceof NetbiosProtocolError &&
      error.packet === 'SESSION_REQUEST'
    ) {
      this.queue({ type: 'NEGATIVE_SESSION_RESPONSE', errorCode: NegativeResponseCode.CALLED_NAME_NOT_PRESENT });
      this.closeSoon(now);
      this.end(error, 'closing');
      return;
    }
    this.fail(error);
  }

  private establish(): void {
    this.current = 'established';
    this.deadline = undefined;
    this.events.push({ type: 'established' });
  }

  /** A graceful close after an answer, destroyed if the peer has not closed by requestTimeoutMs. */
  private closeSoon(now: number): void {
    this.current = 'closing';
    this.deadline = now + (this.options.role === 'called' ? this.options.requestTimeoutMs : 0);
    this.events.push({ type: 'close', graceful: true });
  }

  private fail(error: Error): void {
    this.events.push({ type: 'close', graceful: false, error });
    this.end(error);
  }

  /** The last event, once; `state` is where the machine stays (closing: until the transport is closed). */
  private end(error?: Error, state: NetbiosState = 'closed'): void {
    this.current = state;
    if (state === 'closed') this.deadline = undefined;
    if (this.ended) return;
    this.ended = true;
    this.events.push(error === undefined ? { type: 'ended' } : { type: 'ended', error });
  }
}

function unexpected(message: string, p: NetbiosPacket, state: string): NetbiosError {
  return new NetbiosError('ERR_NETBIOS_UNEXPECTED_PACKET', message, 'remote', { packet: p.type, state });
}
