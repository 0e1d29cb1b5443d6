// ZipAgent: ZIP (Inside AppleTalk, 2nd ed., chapter 8) on the zone information socket 6 of one
// node, without I/O: it asks (GetNetInfo, Query over DDP; GetZoneList, GetMyZone, GetLocalZones
// over ATP) and, given a zone table, answers as a router's ZIP would. DDP requests are datagrams,
// so the agent retries them itself (retryMs, maxRetries, then ERR_ZIP_TIMEOUT); the ATP ones ride
// the socket's AtpEndpoint and its retries.
//
//   asker                                              answerer (zones given)
//   getNetInfo() --GetNetInfo request, broadcast-->    --GetNetInfo reply (range, zone, multicast)-->
//   query([n..]) --Query-->                            --Extended Reply per extended network,
//                                                        one Reply for the non-extended ones-->
//   getZoneList() --TReq GetZoneList(start)-->         --TResp (last, count, zone names)-->

import type { AtpEndpoint, AtpEvent } from './atp-endpoint.js';
import { ATP_MAX_DATA } from './atp.js';
import { ZIS_SOCKET, type DdpAddress } from './ddp.js';
import { AppletalkError, AppletalkProtocolError } from './errors.js';
import { macFromString } from './frame.js';
import {
  decodeZip,
  decodeZipAtpReply,
  decodeZipAtpRequest,
  encodeZip,
  encodeZipAtpReply,
  encodeZipAtpRequest,
  type ZipAtpFunction,
  type ZipMessage,
  type ZoneTuple,
} from './zip.js';

/** One network's entry in the zone table: an extended network is a range, a non-extended one has start = end. */
export interface ZoneEntry {
  readonly rangeStart: number;
  readonly rangeEnd: number;
  readonly extended: boolean;
  /** Its zones; the first is the default zone. */
  readonly zones: readonly string[];
}

export type ZipEvent =
  | {
      readonly type: 'zip-netinfo';
      readonly from: DdpAddress;
      readonly reply: Extract<ZipMessage, { fn: 'getnetinfo-reply' }>;
    }
  | {
      readonly type: 'zip-zones';
      readonly from: DdpAddress;
      readonly extended: boolean;
      readonly zones: readonly ZoneTuple[];
    }
  | {
      readonly type: 'zip-zone-list';
      readonly fn: ZipAtpFunction;
      readonly last: boolean;
      readonly zones: readonly string[];
    }
  /** A ZIP request got no answer (ERR_ZIP_TIMEOUT, ERR_ATP_TIMEOUT). */
  | { readonly type: 'zip-failed'; readonly error: AppletalkError }
  | { readonly type: 'discarded'; readonly error: AppletalkProtocolError };

export interface ZipAgentOptions {
  /** Answer ZIP requests from this table (its first entry is this node's own network). */
  readonly zones?: readonly ZoneEntry[];
  /** The zone multicast address given in GetNetInfo replies (default the AppleTalk broadcast). */
  readonly multicast?: string;
  readonly retryMs?: number;
  readonly maxRetries?: number;
}

interface Waiting {
  readonly message: ZipMessage;
  readonly to: DdpAddress;
  deadline: number;
  tries: number;
}

export class ZipAgent {
  private readonly o: Required<Omit<ZipAgentOptions, 'zones'>> & Pick<ZipAgentOptions, 'zones'>;
  private readonly waiting = new Map<'getnetinfo-request' | 'query', Waiting>();
  private readonly askedAtp = new Map<number, ZipAtpFunction>();

  constructor(
    options: ZipAgentOptions,
    private readonly atp: AtpEndpoint,
    private readonly send: (to: DdpAddress, data: Uint8Array) => void,
    private readonly emit: (e: ZipEvent) => void,
  ) {
    this.o = { multicast: '09:00:07:ff:ff:ff', retryMs: 1_000, maxRetries: 4, ...options };
  }

  /** GetNetInfo, broadcast on the local network (`zone`: the zone this node would like). */
  getNetInfo(now: number, zone = ''): void {
    this.start(now, { network: 0, node: 255, socket: ZIS_SOCKET }, { fn: 'getnetinfo-request', zone });
  }

  /** Query: the zones of `networks`, asked of `router`'s ZIS. */
  query(now: number, router: DdpAddress, networks: readonly number[]): void {
    this.start(now, router, { fn: 'query', networks });
  }

  /** GetZoneList, GetMyZone or GetLocalZones over ATP, from `router`'s ZIS. */
  zoneList(now: number, router: DdpAddress, fn: ZipAtpFunction, startIndex = fn === 'GetMyZone' ? 0 : 1): void {
    const tid = this.atp.request(
      now,
      router,
      { user: encodeZipAtpRequest({ fn, startIndex }), data: new Uint8Array(0) },
      { xo: false },
    );
    this.askedAtp.set(tid, fn);
  }

  /** A ZIP datagram (DDP type 6) arrived on socket 6. */
  handleDatagram(now: number, from: DdpAddress, data: Uint8Array): void {
    let m: ZipMessage;
    try {
      m = decodeZip(data);
    } catch (error) {
      if (!(error instanceof AppletalkProtocolError)) throw error;
      return this.emit({ type: 'discarded', error });
    }
    switch (m.fn) {
      case 'getnetinfo-request':
        return this.answerNetInfo(from, m.zone);
      case 'query':
        return this.answerQuery(from, m.networks);
      case 'getnetinfo-reply':
        if (!this.waiting.delete('getnetinfo-request')) return;
        return this.emit({ type: 'zip-netinfo', from, reply: m });
      case 'reply':
      case 'extended-reply':
        if (!this.waiting.delete('query')) return;
        return this.emit({ type: 'zip-zones', from, extended: m.fn === 'extended-reply', zones: m.zones });
    }
    void now;
  }

  handleAtp(now: number, e: AtpEvent): void {
    try {
      if (e.type === 'request') return this.answerAtp(now, e);
      const fn = this.askedAtp.get(e.tid);
      if (fn === undefined) return;
      this.askedAtp.delete(e.tid);
      if (e.type === 'timeout') return this.emit({ type: 'zip-failed', error: e.error });
      const r = decodeZipAtpReply(e.packets[0]!.user, e.packets[0]!.data);
      this.emit({ type: 'zip-zone-list', fn, last: r.last, zones: r.zones });
    } catch (error) {
      if (!(error instanceof AppletalkProtocolError)) throw error;
      this.emit({ type: 'discarded', error });
    }
  }

  handleTimeout(now: number): void {
    for (const [kind, w] of this.waiting) {
      if (now < w.deadline) continue;
      if (w.tries > this.o.maxRetries) {
        this.waiting.delete(kind);
        this.emit({
          type: 'zip-failed',
          error: new AppletalkError('ERR_ZIP_TIMEOUT', `no answer to ZIP ${kind} after ${w.tries} tries`, 'remote', {
            request: kind,
          }),
        });
        continue;
      }
      this.transmit(now, w);
    }
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const w of this.waiting.values()) if (next === undefined || w.deadline < next) next = w.deadline;
    return next;
  }

  private start(now: number, to: DdpAddress, message: ZipMessage): void {
    const w: Waiting = { message, to, deadline: 0, tries: 0 };
    this.waiting.set(message.fn as 'query' | 'getnetinfo-request', w);
    this.transmit(now, w);
  }

  private transmit(now: number, w: Waiting): void {
    w.tries++;
    w.deadline = now + this.o.retryMs;
    this.send(w.to, encodeZip(w.message));
  }

  private answerNetInfo(from: DdpAddress, zone: string): void {
    const own = this.o.zones?.[0];
    if (own === undefined) return;
    const valid = own.zones.includes(zone);
    this.send(
      from,
      encodeZip({
        fn: 'getnetinfo-reply',
        zoneInvalid: !valid,
        useBroadcast: false,
        onlyOneZone: own.zones.length === 1,
        rangeStart: own.rangeStart,
        rangeEnd: own.rangeEnd,
        zone,
        multicast: macFromString(this.o.multicast),
        ...(valid ? {} : { defaultZone: own.zones[0]! }),
      }),
    );
  }

  private answerQuery(from: DdpAddress, networks: readonly number[]): void {
    const table = this.o.zones ?? [];
    const plain: ZoneTuple[] = [];
    for (const n of networks) {
      const entry = table.find((e) => n >= e.rangeStart && n <= e.rangeEnd);
      if (entry === undefined) continue;
      const tuples = entry.zones.map((zone) => ({ network: entry.rangeStart, zone }));
      if (entry.extended) this.send(from, encodeZip({ fn: 'extended-reply', count: tuples.length, zones: tuples }));
      else plain.push(...tuples);
    }
    if (plain.length > 0) this.send(from, encodeZip({ fn: 'reply', zones: plain }));
  }

  private answerAtp(now: number, e: Extract<AtpEvent, { type: 'request' }>): void {
    const table = this.o.zones;
    if (table === undefined) return;
    const m = decodeZipAtpRequest(e.user, e.data);
    const own = table.find((t) => e.from.network >= t.rangeStart && e.from.network <= t.rangeEnd) ?? table[0]!;
    const all =
      m.fn === 'GetMyZone'
        ? own.zones.slice(0, 1)
        : m.fn === 'GetLocalZones'
          ? own.zones
          : [...new Set(table.flatMap((t) => t.zones))];
    const from = m.fn === 'GetMyZone' ? 0 : Math.max(0, m.startIndex - 1);
    const zones: string[] = [];
    let size = 0;
    for (const z of all.slice(from)) {
      if (size + 1 + z.length > ATP_MAX_DATA) break;
      zones.push(z);
      size += 1 + z.length;
    }
    const last = m.fn !== 'GetMyZone' && from + zones.length >= all.length;
    this.atp.respond(now, e.from, e.tid, [encodeZipAtpReply({ last, zones })]);
  }
}
