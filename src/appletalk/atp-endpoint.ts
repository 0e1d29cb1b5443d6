// AtpEndpoint: ATP (Inside AppleTalk, 2nd ed., chapter 9) on one DDP socket, without I/O. It
// both asks (request → TReq, retried until the whole response is in, then TRel in XO mode) and
// answers (incoming TReq → a `request` event, respond() → TResp packets). Time comes in as
// numbers (ms), packets and events go out through pollPacket()/pollEvent(); nextDeadline() says
// when handleTimeout must run. Nothing here reads a clock or arms a timer.
//
//   requester                                 responder
//   request() --TReq(bitmap, TID)-->          new (source, TID): `request` event
//                                             respond() <--TResp seq 0..n (EOM on the last)--
//   missing packets after retryMs: TReq again with the bitmap of those still missing;
//   after maxRetries: `timeout` (ERR_ATP_TIMEOUT). STS in a TResp: TReq again at once.
//   all in: `response` event; XO: --TRel-->   XO: the TResps are kept for the duplicate TReqs
//                                             (sent again, the request not delivered twice)
//                                             until the TRel or the release timer (30 s x 2^trel)
//
// At-least-once (XO clear) keeps no state after respond(): a duplicate TReq is a new request, as
// ATP says (ASP's tickles rely on it). Bounded: at most maxTransactions requests in flight and as
// many responder entries; a TReq past the bound is dropped, as a busy responder would (the
// requester retries).

import type { DdpAddress } from './ddp.js';
import { AppletalkError } from './errors.js';
import { ATP_MAX_DATA, ATP_MAX_RESPONSE_PACKETS, TREL_TIMEOUTS_MS, type AtpPacket, type AtpPayload } from './atp.js';

export interface AtpOut {
  readonly to: DdpAddress;
  readonly packet: AtpPacket;
}

export type AtpEvent =
  | {
      readonly type: 'request';
      readonly from: DdpAddress;
      readonly tid: number;
      readonly xo: boolean;
      readonly user: number;
      readonly data: Uint8Array;
    }
  /** Every packet of the response to request `tid`, in sequence order. */
  | { readonly type: 'response'; readonly tid: number; readonly packets: readonly AtpPayload[] }
  | { readonly type: 'timeout'; readonly tid: number; readonly error: AppletalkError };

export interface AtpRequestOptions {
  /** Exactly once (default true). */
  readonly xo?: boolean;
  /** TRel timeout indicator 0..4 (default 0: 30 s). */
  readonly trel?: number;
  /** Response packets wanted, 1..8 (default 1). */
  readonly packets?: number;
  readonly retryMs?: number;
  /** Retries after the first TReq (default 8; Infinity: until cancelled). */
  readonly maxRetries?: number;
}

export interface AtpEndpointOptions {
  readonly socket: number;
  /** The first TID this endpoint uses (default 1). */
  readonly firstTid?: number;
  readonly retryMs?: number;
  readonly maxRetries?: number;
  readonly maxTransactions?: number;
}

interface Outgoing {
  readonly to: DdpAddress;
  readonly user: number;
  readonly data: Uint8Array;
  readonly xo: boolean;
  readonly trel: number;
  readonly bitmap: number;
  missing: number;
  readonly got: (AtpPayload | undefined)[];
  deadline: number;
  retries: number;
  readonly maxRetries: number;
  readonly retryMs: number;
}

interface Incoming {
  readonly from: DdpAddress;
  readonly xo: boolean;
  readonly trel: number;
  bitmap: number;
  /** The response as sent (XO only), until the TRel or the release time. */
  sent?: AtpPacket[];
  releaseAt?: number;
}

const same = (a: DdpAddress, b: DdpAddress): boolean =>
  a.network === b.network && a.node === b.node && a.socket === b.socket;
const key = (a: DdpAddress, tid: number): string => `${a.network}.${a.node}.${a.socket}/${tid}`;

export class AtpEndpoint {
  readonly socket: number;
  private readonly o: Required<Omit<AtpEndpointOptions, 'socket' | 'firstTid'>>;
  private nextTid: number;
  private readonly outgoing = new Map<number, Outgoing>();
  private readonly incoming = new Map<string, Incoming>();
  private readonly packets: AtpOut[] = [];
  private readonly events: AtpEvent[] = [];

  constructor(options: AtpEndpointOptions) {
    this.socket = options.socket;
    this.nextTid = options.firstTid ?? 1;
    this.o = { retryMs: 2_000, maxRetries: 8, maxTransactions: 64, ...options };
  }

  /** Sends a TReq; returns its TID (the `response` or `timeout` event names it). */
  request(now: number, to: DdpAddress, payload: AtpPayload, options: AtpRequestOptions = {}): number {
    const packets = options.packets ?? 1;
    if (!(Number.isInteger(packets) && packets >= 1 && packets <= ATP_MAX_RESPONSE_PACKETS))
      throw new AppletalkError(
        'ERR_ASP_LIMIT',
        `an ATP request asks for 1..8 response packets, not ${packets}`,
        'local',
        { limit: 'packets' },
      );
    if (payload.data.length > ATP_MAX_DATA)
      throw new AppletalkError(
        'ERR_ASP_LIMIT',
        `ATP request data of ${payload.data.length} octets, at most ${ATP_MAX_DATA}`,
        'local',
        { limit: 'data' },
      );
    if (this.outgoing.size >= this.o.maxTransactions)
      throw new AppletalkError('ERR_ASP_LIMIT', `${this.o.maxTransactions} ATP requests already in flight`, 'local', {
        limit: 'maxTransactions',
      });
    let tid = this.nextTid;
    while (this.outgoing.has(tid)) tid = (tid + 1) & 0xffff;
    this.nextTid = (tid + 1) & 0xffff;
    const bitmap = (1 << packets) - 1;
    const t: Outgoing = {
      to,
      user: payload.user,
      data: payload.data,
      xo: options.xo ?? true,
      trel: options.trel ?? 0,
      bitmap,
      missing: bitmap,
      got: [],
      deadline: 0,
      retries: 0,
      maxRetries: options.maxRetries ?? this.o.maxRetries,
      retryMs: options.retryMs ?? this.o.retryMs,
    };
    this.outgoing.set(tid, t);
    this.sendRequest(now, tid, t);
    return tid;
  }

  /** Answers request `tid` from `to` with 1..8 packets (the last gets EOM). */
  respond(now: number, to: DdpAddress, tid: number, response: readonly AtpPayload[]): void {
    if (response.length < 1 || response.length > ATP_MAX_RESPONSE_PACKETS)
      throw new AppletalkError('ERR_ASP_LIMIT', `an ATP response is 1..8 packets, not ${response.length}`, 'local', {
        limit: 'packets',
      });
    const k = key(to, tid);
    const entry = this.incoming.get(k);
    const bitmap = entry?.bitmap ?? 0xff;
    const sent = response.map((r, seq): AtpPacket => ({
      fn: 'TResp',
      xo: false,
      eom: seq === response.length - 1,
      sts: false,
      trel: 0,
      bitmap: seq,
      tid,
      user: r.user,
      data: r.data,
    }));
    for (const p of sent) if (bitmap & (1 << p.bitmap)) this.packets.push({ to, packet: p });
    if (entry?.xo) {
      entry.sent = sent;
      entry.releaseAt = now + TREL_TIMEOUTS_MS[entry.trel]!;
    } else this.incoming.delete(k);
  }

  /** Forgets request `tid` from `from` without answering it (a request that is never answered). */
  discard(from: DdpAddress, tid: number): void {
    this.incoming.delete(key(from, tid));
  }

  /** Stops retrying request `tid` (no event). */
  cancel(tid: number): void {
    this.outgoing.delete(tid);
  }

  /** Forgets every transaction, both ways. */
  clear(): void {
    this.outgoing.clear();
    this.incoming.clear();
  }

  handlePacket(now: number, from: DdpAddress, p: AtpPacket): void {
    if (p.fn === 'TReq') return this.onRequest(now, from, p);
    if (p.fn === 'TRel') {
      this.incoming.delete(key(from, p.tid));
      return;
    }
    const t = this.outgoing.get(p.tid);
    if (t === undefined || !same(t.to, from)) return; // late or foreign: ATP drops it
    const bit = 1 << p.bitmap;
    if (t.missing & bit) {
      t.got[p.bitmap] = { user: p.user, data: p.data };
      t.missing &= ~bit;
    }
    if (p.eom) t.missing &= bit - 1; // nothing past an EOM will come
    if (t.missing === 0) {
      this.outgoing.delete(p.tid);
      const packets = t.got.filter((g): g is AtpPayload => g !== undefined);
      if (t.xo)
        this.packets.push({
          to: t.to,
          packet: {
            fn: 'TRel',
            xo: false,
            eom: false,
            sts: false,
            trel: 0,
            bitmap: t.bitmap,
            tid: p.tid,
            user: 0,
            data: new Uint8Array(0),
          },
        });
      this.events.push({ type: 'response', tid: p.tid, packets });
    } else if (p.sts) this.sendRequest(now, p.tid, t);
  }

  handleTimeout(now: number): void {
    for (const [tid, t] of this.outgoing) {
      if (now < t.deadline) continue;
      if (t.retries >= t.maxRetries) {
        this.outgoing.delete(tid);
        this.events.push({
          type: 'timeout',
          tid,
          error: new AppletalkError(
            'ERR_ATP_TIMEOUT',
            `ATP transaction ${tid} unanswered after ${t.retries} retries`,
            'remote',
            {
              tid,
              retries: t.retries,
              retryMs: t.retryMs,
            },
          ),
        });
        continue;
      }
      t.retries++;
      this.sendRequest(now, tid, t);
    }
    for (const [k, e] of this.incoming) if (e.releaseAt !== undefined && now >= e.releaseAt) this.incoming.delete(k);
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const t of this.outgoing.values()) if (next === undefined || t.deadline < next) next = t.deadline;
    for (const e of this.incoming.values())
      if (e.releaseAt !== undefined && (next === undefined || e.releaseAt < next)) next = e.releaseAt;
    return next;
  }

  pollPacket(): AtpOut | undefined {
    return this.packets.shift();
  }

  pollEvent(): AtpEvent | undefined {
    return this.events.shift();
  }

  /** Requests in flight (for tests and bounds). */
  get pending(): number {
    return this.outgoing.size;
  }

  private onRequest(now: number, from: DdpAddress, p: AtpPacket): void {
    const k = key(from, p.tid);
    const entry = this.incoming.get(k);
    if (entry !== undefined && entry.xo) {
      // A duplicate of an exactly-once request: never delivered again. Answered from what was
      // sent, if anything was (the packets its bitmap still asks for); else it is being worked on.
      entry.bitmap = p.bitmap;
      if (entry.sent) {
        entry.releaseAt = now + TREL_TIMEOUTS_MS[entry.trel]!;
        for (const s of entry.sent) if (p.bitmap & (1 << s.bitmap)) this.packets.push({ to: from, packet: s });
      }
      return;
    }
    if (this.incoming.size >= this.o.maxTransactions) return;
    this.incoming.set(k, { from, xo: p.xo, trel: p.trel, bitmap: p.bitmap });
    this.events.push({ type: 'request', from, tid: p.tid, xo: p.xo, user: p.user, data: p.data });
  }

  private sendRequest(now: number, tid: number, t: Outgoing): void {
    t.deadline = now + t.retryMs;
    this.packets.push({
      to: t.to,
      packet: {
        fn: 'TReq',
        xo: t.xo,
        eom: false,
        sts: false,
        trel: t.xo ? t.trel : 0,
        bitmap: t.missing,
        tid,
        user: t.user,
        data: t.data,
      },
    });
  }
}
