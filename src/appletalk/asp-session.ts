// AspSession: one ASP session (Inside AppleTalk, 2nd ed., chapter 11), either end, without I/O.
// It runs on ATP endpoints its node owns (node.ts routes their events here) and says what
// happened through `emit`. Time comes in as numbers; nextDeadline() is the session timer.
//
//   workstation (WSS)                               server (SLS, SSS)
//   open()  --OpenSession(WSS, 0x0100) XO--> SLS     `opened`; SSS and the session ID in the reply
//   `opened` <--(SSS, session, error 0)--
//   tickles: --Tickle ALO, retried every tickleMs--> SLS;   <--Tickle-- to the WSS, the same way
//   command() --Command(seq) XO--> SSS               `command`; reply() <--CmdResult + data--
//   write() --Write(seq) XO--> SSS                   asks for the data at once:
//           <--WriteContinue(seq, buffer size) XO--  to the WSS
//           --TResp: the write data (1..8 packets)-->  `write`; reply() <--CmdResult + data--
//   `attention` <--Attention(code) XO--              attention()
//           --TResp (empty)-->
//   close() --CloseSession XO--> (either way)        `closed` at both ends, origin local/remote
//
// A session is lost (ERR_ASP_SESSION_LOST) when nothing at all comes from the peer for
// sessionTimeoutMs (tickles keep a quiet session alive), or when a request of ours runs out of
// ATP retries. The server end goes back to listening after a session ends, with the next ID; it
// serves one session at a time and answers a second OpenSession with NoMoreSessions (-1068).

import type { AtpEndpoint, AtpEvent } from './atp-endpoint.js';
import { ATP_MAX_DATA, ATP_MAX_RESPONSE_PACKETS, type AtpPayload } from './atp.js';
import { ASP_QUANTUM, chunks, concat, type AspEvent, type AspSessionOptions, type AspState } from './asp-types.js';
import {
  ASP_VERSION,
  aspErrorName,
  aspFunctionOf,
  decodeAspReply,
  decodeAspRequest,
  encodeAspReply,
  encodeAspRequest,
  type AspRequest,
} from './asp.js';
import type { DdpAddress } from './ddp.js';
import { AppletalkError, AppletalkProtocolError } from './errors.js';

type Asked =
  | { fn: 'OpenSession' | 'GetStatus' | 'CloseSession' | 'Attention' | 'WriteContinue' | 'Tickle'; seq?: number }
  | { fn: 'Command' | 'Write'; seq: number };
interface Held {
  readonly fn: 'Command' | 'Write';
  readonly from: DdpAddress;
  readonly tid: number;
  readonly command: Uint8Array;
}

export class AspSession {
  private current: AspState;
  private readonly o: Required<Omit<AspSessionOptions, 'status'>> & { status: Uint8Array };
  private id = 0;
  private nextId: number;
  /** The peer's session socket: the SSS (workstation) or the WSS (server). */
  private peer: DdpAddress | undefined;
  /** Workstation: the server's SLS, where its tickles go. */
  private sls: DdpAddress | undefined;
  private seq = 0;
  private lastHeard = 0;
  private tickleTid: number | undefined;
  private readonly asked = new Map<number, Asked>();
  /** Workstation: write data waiting for the server's WriteContinue, by sequence number. */
  private readonly writes = new Map<number, Uint8Array>();
  /** Server: commands and writes delivered and not yet answered, by sequence number. */
  private readonly held = new Map<number, Held>();

  constructor(
    options: AspSessionOptions,
    private readonly atp: AtpEndpoint,
    private readonly listener: AtpEndpoint | undefined,
    private readonly emit: (e: AspEvent) => void,
  ) {
    this.o = {
      tickleMs: 30_000,
      sessionTimeoutMs: 120_000,
      maxWriteSize: ASP_QUANTUM,
      firstSessionId: 1,
      maxPending: 8,
      status: new Uint8Array(0),
      ...options,
    };
    this.current = options.role === 'server' ? 'listening' : 'idle';
    this.nextId = this.o.firstSessionId;
  }

  get state(): AspState {
    return this.current;
  }

  get sessionId(): number {
    return this.id;
  }

  // -- commands -----------------------------------------------------------------------------------

  /** Workstation: OpenSession to the server's SLS. */
  open(now: number, server: DdpAddress): void {
    this.expect('open', 'idle', 'closed');
    this.sls = server;
    this.current = 'opening';
    this.ask(now, server, { fn: 'OpenSession', wss: this.atp.socket, version: ASP_VERSION });
  }

  /** Workstation: GetStatus from a server's SLS (no session needed). */
  getStatus(now: number, server: DdpAddress): void {
    this.ask(now, server, { fn: 'GetStatus' }, ATP_MAX_RESPONSE_PACKETS);
  }

  /** Workstation: sends a command block; returns its sequence number (the `reply` names it). */
  command(now: number, data: Uint8Array): number {
    return this.send(now, 'Command', data);
  }

  /** Workstation: a write: the command block now, `data` when the server asks for it. */
  write(now: number, command: Uint8Array, data: Uint8Array): number {
    if (data.length > ASP_QUANTUM)
      this.limit('maxWriteSize', `write data of ${data.length} octets, at most ${ASP_QUANTUM}`);
    const seq = this.send(now, 'Write', command);
    this.writes.set(seq, data);
    return seq;
  }

  /** Server: answers command or write `seq` with a result code and up to 4624 octets. */
  reply(now: number, seq: number, result: number, data: Uint8Array = new Uint8Array(0)): void {
    this.expect('reply', 'open', 'closing');
    const h = this.held.get(seq);
    if (h === undefined)
      throw new AppletalkError('ERR_ASP_CLOSED', `no command or write ${seq} waits for a reply`, 'local', {
        seq,
        state: this.current,
      });
    if (data.length > ASP_QUANTUM)
      this.limit('maxCommandSize', `a reply of ${data.length} octets, at most ${ASP_QUANTUM}`);
    this.held.delete(seq);
    const first = encodeAspReply({ fn: h.fn, result, data: new Uint8Array(0) });
    this.atp.respond(now, h.from, h.tid, chunks(data, first.user));
  }

  /** Server: an attention code (16 bits, not 0) to the workstation. */
  attention(now: number, code: number): void {
    this.expect('attention', 'open');
    this.ask(now, this.peer!, { fn: 'Attention', session: this.id, code });
  }

  /** Either end: CloseSession; `closed` follows the peer's reply. */
  close(now: number): void {
    this.expect('close', 'open');
    this.current = 'closing';
    this.ask(now, this.peer!, { fn: 'CloseSession', session: this.id });
  }

  // -- inputs (from the node) ---------------------------------------------------------------------

  /** Something came from the peer's node: the session is alive. */
  heard(now: number, from: DdpAddress): void {
    if (this.peer !== undefined && from.network === this.peer.network && from.node === this.peer.node)
      this.lastHeard = now;
  }

  handleAtp(now: number, endpoint: AtpEndpoint, e: AtpEvent): void {
    try {
      if (e.type === 'request') return this.onRequest(now, endpoint, e);
      const asked = this.asked.get(e.tid);
      if (asked === undefined) return;
      this.asked.delete(e.tid);
      if (e.type === 'timeout') return this.onTimeout(asked, e.error);
      this.onResponse(now, asked, e.packets);
    } catch (error) {
      if (!(error instanceof AppletalkProtocolError)) throw error;
      this.emit({ type: 'discarded', error });
    }
  }

  handleTimeout(now: number): void {
    if ((this.current === 'open' || this.current === 'closing') && now >= this.lastHeard + this.o.sessionTimeoutMs)
      this.fail(
        new AppletalkError('ERR_ASP_SESSION_LOST', `nothing from the peer for ${now - this.lastHeard} ms`, 'remote', {
          silentMs: now - this.lastHeard,
          session: this.id,
        }),
      );
  }

  nextDeadline(): number | undefined {
    return this.current === 'open' || this.current === 'closing' ? this.lastHeard + this.o.sessionTimeoutMs : undefined;
  }

  // -- internals ----------------------------------------------------------------------------------

  private send(now: number, fn: 'Command' | 'Write', data: Uint8Array): number {
    this.expect(fn === 'Command' ? 'command' : 'write', 'open');
    if (data.length > ATP_MAX_DATA)
      this.limit('maxCommandSize', `a command block of ${data.length} octets, at most ${ATP_MAX_DATA}`);
    const inFlight = [...this.asked.values()].filter((a) => a.fn === 'Command' || a.fn === 'Write').length;
    if (inFlight >= this.o.maxPending) this.limit('maxPending', `${inFlight} commands and writes in flight`);
    const seq = this.seq;
    this.seq = (this.seq + 1) & 0xffff;
    this.ask(now, this.peer!, { fn, session: this.id, seq, data }, ATP_MAX_RESPONSE_PACKETS);
    return seq;
  }

  private ask(now: number, to: DdpAddress, m: AspRequest, packets = 1): void {
    const tid = this.atp.request(now, to, encodeAspRequest(m), { xo: true, packets });
    this.asked.set(tid, { fn: m.fn, ...('seq' in m ? { seq: m.seq } : {}) } as Asked);
  }

  private onResponse(now: number, asked: Asked, packets: readonly AtpPayload[]): void {
    const data = concat(packets.map((p) => p.data));
    const r = decodeAspReply(asked.fn, packets[0]!.user, data);
    switch (r.fn) {
      case 'OpenSession':
        if (r.error !== 0) {
          this.current = 'closed';
          return this.emit({
            type: 'failed',
            error: new AppletalkError(
              'ERR_ASP_REFUSED',
              `the server refused the session: ${aspErrorName(r.error)}`,
              'remote',
              { error: r.error, errorName: aspErrorName(r.error) },
            ),
          });
        }
        this.id = r.session;
        this.peer = { network: this.sls!.network, node: this.sls!.node, socket: r.sss };
        return this.opened(now);
      case 'GetStatus':
        return this.emit({ type: 'status', status: r.status });
      case 'Command':
      case 'Write':
        this.writes.delete(asked.seq!);
        return this.emit({ type: 'reply', seq: asked.seq!, fn: r.fn, result: r.result, data: r.data });
      case 'WriteContinue': {
        const h = this.held.get(asked.seq!);
        if (h !== undefined) this.emit({ type: 'write', seq: asked.seq!, command: h.command, data: r.data });
        return;
      }
      case 'CloseSession':
        return this.closed('local');
      case 'Attention':
        return;
    }
  }

  private onRequest(now: number, endpoint: AtpEndpoint, e: Extract<AtpEvent, { type: 'request' }>): void {
    const fn = aspFunctionOf(e.user);
    if (fn === 'Tickle') endpoint.discard(e.from, e.tid); // never answered: keep no state for it
    const m = decodeAspRequest(e.user, e.data);
    const answer = (payload: AtpPayload): void => endpoint.respond(now, e.from, e.tid, [payload]);
    if (endpoint === this.listener) {
      if (m.fn === 'GetStatus') return answer(encodeAspReply({ fn: 'GetStatus', status: this.o.status }));
      if (m.fn === 'Tickle') return;
      if (m.fn !== 'OpenSession') return this.unexpected(fn!);
      const error = m.version !== ASP_VERSION ? -1066 : this.current !== 'listening' ? -1068 : 0;
      if (error !== 0) return answer(encodeAspReply({ fn: 'OpenSession', sss: 0, session: 0, error }));
      this.id = this.nextId;
      this.nextId = (this.nextId % 255) + 1;
      this.peer = { network: e.from.network, node: e.from.node, socket: m.wss };
      answer(encodeAspReply({ fn: 'OpenSession', sss: this.atp.socket, session: this.id, error: 0 }));
      return this.opened(now);
    }
    if (this.current !== 'open' && this.current !== 'closing') return; // not ours (yet, or any more)
    if ('session' in m && m.session !== this.id) return this.unexpected(`${m.fn} for session ${m.session}`);
    switch (m.fn) {
      case 'Tickle':
        return;
      case 'CloseSession':
        answer(encodeAspReply({ fn: 'CloseSession' }));
        return this.closed('remote');
      case 'Attention':
        answer(encodeAspReply({ fn: 'Attention' }));
        return this.emit({ type: 'attention', code: m.code });
      case 'WriteContinue': {
        const data = this.writes.get(m.seq);
        if (data === undefined) return this.unexpected(`WriteContinue for write ${m.seq}`);
        if (data.length > m.bufferSize)
          this.limit('maxWriteSize', `write data of ${data.length} octets, the server takes ${m.bufferSize}`);
        this.writes.delete(m.seq);
        return endpoint.respond(now, e.from, e.tid, chunks(data, 0));
      }
      case 'Command':
      case 'Write':
        if (this.o.role !== 'server') return this.unexpected(m.fn);
        if (this.held.size >= this.o.maxPending) return; // busy: the workstation's ATP retries
        this.held.set(m.seq, { fn: m.fn, from: e.from, tid: e.tid, command: m.data });
        if (m.fn === 'Command') return this.emit({ type: 'command', seq: m.seq, data: m.data });
        return this.ask(
          now,
          this.peer!,
          { fn: 'WriteContinue', session: this.id, seq: m.seq, bufferSize: this.o.maxWriteSize },
          Math.ceil(this.o.maxWriteSize / ATP_MAX_DATA),
        );
      default:
        return this.unexpected(m.fn);
    }
  }

  private onTimeout(asked: Asked, error: AppletalkError): void {
    if (asked.fn === 'GetStatus') return this.emit({ type: 'failed', error });
    if (asked.fn === 'OpenSession') {
      this.current = 'closed';
      return this.emit({ type: 'failed', error });
    }
    this.fail(
      new AppletalkError('ERR_ASP_SESSION_LOST', `the peer stopped answering: ${asked.fn} unanswered`, 'remote', {
        cause: error.message,
        request: asked.fn,
      }),
    );
  }

  private opened(now: number): void {
    this.current = 'open';
    this.lastHeard = now;
    this.seq = 0;
    const to = this.o.role === 'workstation' ? this.sls! : this.peer!;
    this.tickleTid = this.atp.request(now, to, encodeAspRequest({ fn: 'Tickle', session: this.id }), {
      xo: false,
      retryMs: this.o.tickleMs,
      maxRetries: Infinity,
    });
    this.asked.set(this.tickleTid, { fn: 'Tickle' });
    this.emit({ type: 'opened', session: this.id, remote: this.peer! });
  }

  private closed(origin: 'local' | 'remote'): void {
    this.end();
    this.emit({ type: 'closed', origin });
  }

  private fail(error: Error): void {
    this.end();
    this.emit({ type: 'failed', error });
  }

  private end(): void {
    if (this.tickleTid !== undefined) this.atp.cancel(this.tickleTid);
    for (const tid of this.asked.keys()) this.atp.cancel(tid);
    this.tickleTid = undefined;
    this.asked.clear();
    this.writes.clear();
    this.held.clear();
    this.current = this.o.role === 'server' ? 'listening' : 'closed';
  }

  private unexpected(message: string): void {
    this.fail(
      new AppletalkError('ERR_ASP_UNEXPECTED', `unexpected ${message} (state ${this.current})`, 'remote', {
        message,
        state: this.current,
      }),
    );
  }

  private expect(what: string, ...states: AspState[]): void {
    if (!states.includes(this.current))
      throw new AppletalkError(
        'ERR_ASP_CLOSED',
        `${what}() needs the session ${states.join(' or ')} (state ${this.current})`,
        'local',
        { state: this.current },
      );
  }

  private limit(limit: string, why: string): never {
    throw new AppletalkError('ERR_ASP_LIMIT', why, 'local', { limit });
  }
}
