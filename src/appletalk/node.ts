// AppletalkNode: one AppleTalk node on an Ethernet (EtherTalk Phase 2), without I/O: the frames,
// its sockets and the services on them. Frames and time come in (handleFrame, handleBytes,
// handleTimeout), frames to send and events go out (pollBytes: one Ethernet frame each;
// pollEvent), and nextDeadline() says when to call handleTimeout: the same handle/poll shape as
// the DECnet, NetBIOS and PPTP machines.
//
//   frame in --decode--> DDP for this node (its network or 0; its node or 255) --by socket-->
//     6 (ZIS):      ZIP datagrams and ZIP over ATP  -> zip (ZipAgent)
//     session:      ATP                              -> asp (AspSession: the WSS or the SSS)
//     SLS (server): ATP                              -> asp
//   parts' packets --DDP long header, EtherTalk--> frames out
//
// Commands go to the parts: node.zip.getNetInfo(now), node.asp.open(now, server), ...; the frames
// they cause are read with pollBytes() after the call. Without AARP a node learns a peer's MAC
// from the frames it receives (AARP's "gleaning") or from `macs`; a datagram for a node whose MAC
// it does not know goes to the AppleTalk broadcast, which every node filters on its DDP address.
//
// Rules: handleFrame never throws (a malformed frame is dropped with a `discarded` event, as
// Ethernet drops it); handleBytes reads a byte stream of frames, where a bad frame loses the
// framing: `failed` with the error, and the stream reads nothing more. Every queue is bounded by
// the parts (ATP transactions, ASP commands in flight).

import { SessionError } from '../engine/errors.js';
import { AspSession } from './asp-session.js';
import type { AspEvent, AspSessionOptions } from './asp-types.js';
import { decodeAtp, encodeAtp } from './atp.js';
import { AtpEndpoint } from './atp-endpoint.js';
import { DdpType, ZIS_SOCKET, type DdpAddress } from './ddp.js';
import { AppletalkDecoder } from './decoder.js';
import { AppletalkProtocolError } from './errors.js';
import { APPLETALK_BROADCAST, decodeEtherTalk, encodeEtherTalk, macFromString, type EtherTalkFrame } from './frame.js';
import { ZipAgent, type ZipAgentOptions, type ZipEvent } from './zip-agent.js';

export type AppletalkEvent = ZipEvent | AspEvent;

export interface AppletalkNodeOptions {
  /** This node's MAC. */
  readonly mac: string;
  readonly network: number;
  /** 1..254. */
  readonly node: number;
  /** MACs known ahead, by "network.node" (others are learned from received frames). */
  readonly macs?: Readonly<Record<string, string>>;
  readonly zip?: ZipAgentOptions;
  /** The ASP end this node runs, if any: its session socket (WSS or SSS) and, for a server, its SLS. */
  readonly asp?: AspSessionOptions & { readonly socket: number; readonly sls?: number };
  /** ATP retry timer and retries for requests (ZIP over ATP, ASP), default 2 s and 8. */
  readonly atpRetryMs?: number;
  readonly atpMaxRetries?: number;
  /** Compute DDP checksums on what this node sends (default true). */
  readonly checksum?: boolean;
  /** The first ATP TID each socket uses (default 1). */
  readonly firstTid?: number;
}

export class AppletalkNode {
  readonly zip: ZipAgent;
  readonly asp: AspSession | undefined;
  private readonly o: AppletalkNodeOptions;
  private readonly macs = new Map<string, string>();
  private readonly sockets = new Map<number, AtpEndpoint>();
  private readonly out: Uint8Array[] = [];
  private readonly events: AppletalkEvent[] = [];
  private readonly decoder = new AppletalkDecoder();

  constructor(options: AppletalkNodeOptions) {
    this.o = options;
    macFromString(options.mac);
    if (!(Number.isInteger(options.node) && options.node >= 1 && options.node <= 254))
      throw new SessionError('ERR_INVALID_ARGUMENT', `AppletalkNode: node ${options.node} is not 1..254`, 'local', {
        node: options.node,
      });
    for (const [k, v] of Object.entries(options.macs ?? {})) this.macs.set(k, v);
    const endpoint = (socket: number): AtpEndpoint => {
      const e = new AtpEndpoint({
        socket,
        retryMs: options.atpRetryMs ?? 2_000,
        maxRetries: options.atpMaxRetries ?? 8,
        firstTid: options.firstTid ?? 1,
      });
      this.sockets.set(socket, e);
      return e;
    };
    const emit = (e: AppletalkEvent): void => void this.events.push(e);
    this.zip = new ZipAgent(
      options.zip ?? {},
      endpoint(ZIS_SOCKET),
      (to, data) => this.datagram(ZIS_SOCKET, to, DdpType.ZIP, data),
      emit,
    );
    if (options.asp !== undefined) {
      // The SLS first: its OpenSession reply leaves before the session socket's first tickle.
      const sls = options.asp.role === 'server' ? endpoint(options.asp.sls ?? 0x80) : undefined;
      const session = endpoint(options.asp.socket);
      this.asp = new AspSession(options.asp, session, sls, emit);
    }
  }

  /** This node's address with `socket`. */
  address(socket: number): DdpAddress {
    return { network: this.o.network, node: this.o.node, socket };
  }

  // -- inputs -------------------------------------------------------------------------------------

  /** One Ethernet frame. A malformed one is dropped with a `discarded` event, as a NIC would. */
  handleFrame(frame: Uint8Array, now: number): void {
    let decoded: EtherTalkFrame;
    try {
      decoded = decodeEtherTalk(frame);
    } catch (error) {
      if (!(error instanceof AppletalkProtocolError)) throw error;
      this.events.push({ type: 'discarded', error });
      return;
    }
    this.input(decoded, now);
  }

  /** A byte stream of whole frames; a bad frame loses the framing (`failed`). */
  handleBytes(chunk: Uint8Array, now: number): void {
    this.decoder.push(chunk);
    try {
      for (let f = this.decoder.next(); f !== undefined; f = this.decoder.next()) this.input(f, now);
    } catch (error) {
      if (!(error instanceof AppletalkProtocolError)) throw error;
      this.events.push({ type: 'failed', error });
    }
  }

  handleTimeout(now: number): void {
    for (const e of this.sockets.values()) if ((e.nextDeadline() ?? Infinity) <= now) e.handleTimeout(now);
    this.zip.handleTimeout(now);
    this.asp?.handleTimeout(now);
    this.pump(now);
  }

  nextDeadline(): number | undefined {
    const all = [
      ...[...this.sockets.values()].map((e) => e.nextDeadline()),
      this.zip.nextDeadline(),
      this.asp?.nextDeadline(),
    ].filter((d): d is number => d !== undefined && Number.isFinite(d));
    return all.length === 0 ? undefined : Math.min(...all);
  }

  /** The next Ethernet frame to send, or undefined. */
  pollBytes(): Uint8Array | undefined {
    this.drain();
    return this.out.shift();
  }

  pollEvent(): AppletalkEvent | undefined {
    return this.events.shift();
  }

  // -- internals ----------------------------------------------------------------------------------

  private input(frame: EtherTalkFrame, now: number): void {
    const d = frame.ddp;
    const forUs =
      (d.destination.network === 0 || d.destination.network === this.o.network) &&
      (d.destination.node === this.o.node || d.destination.node === 255);
    if (!forUs) return;
    this.macs.set(`${d.source.network}.${d.source.node}`, frame.ethSource);
    this.asp?.heard(now, d.source);
    const socket = d.destination.socket;
    if (socket === ZIS_SOCKET && d.type === DdpType.ZIP) this.zip.handleDatagram(now, d.source, d.data);
    else if (d.type === DdpType.ATP) {
      const endpoint = this.sockets.get(socket);
      if (endpoint === undefined) return;
      try {
        endpoint.handlePacket(now, d.source, decodeAtp(d.data));
      } catch (error) {
        if (!(error instanceof AppletalkProtocolError)) throw error;
        this.events.push({ type: 'discarded', error });
      }
    }
    this.pump(now);
  }

  /** Hands every ATP event to its part (which may answer, making more packets), then frames them. */
  private pump(now: number): void {
    for (let round = 0, moved = true; moved && round < 100; round++) {
      moved = false;
      for (const [socket, endpoint] of this.sockets)
        for (let e = endpoint.pollEvent(); e !== undefined; e = endpoint.pollEvent()) {
          moved = true;
          if (socket === ZIS_SOCKET) this.zip.handleAtp(now, e);
          else this.asp?.handleAtp(now, endpoint, e);
        }
    }
    this.drain();
  }

  private drain(): void {
    for (const [socket, endpoint] of this.sockets)
      for (let p = endpoint.pollPacket(); p !== undefined; p = endpoint.pollPacket())
        this.datagram(socket, p.to, DdpType.ATP, encodeAtp(p.packet));
  }

  private datagram(socket: number, to: DdpAddress, type: number, data: Uint8Array): void {
    const mac =
      to.node === 255 ? APPLETALK_BROADCAST : (this.macs.get(`${to.network}.${to.node}`) ?? APPLETALK_BROADCAST);
    this.out.push(
      encodeEtherTalk({
        ethDestination: mac,
        ethSource: this.o.mac,
        ddp: { hops: 0, checksum: this.o.checksum ?? true, destination: to, source: this.address(socket), type, data },
      }),
    );
  }
}
