// AppletalkNodes on a virtual Ethernet: every frame a node sends reaches every other node (they
// filter on their DDP address, as real ones do), unless `link` drops it (loss, a cut). Time
// moves only when nothing is in flight, to the next deadline a node asked for. No sockets, no
// sleeps.

import {
  AppletalkNode,
  decodeAtp,
  decodeEtherTalk,
  type AppletalkEvent,
  type AppletalkNodeOptions,
  type AtpPacket,
  type EtherTalkFrame,
} from '../../../src/appletalk/index.js';

export interface Sent {
  readonly at: number;
  readonly from: string;
  readonly frame: Uint8Array;
  readonly decoded: EtherTalkFrame;
  /** The ATP packet, when the datagram is ATP. */
  readonly atp?: AtpPacket;
  readonly delivered: boolean;
}

export class Lan {
  now = 0;
  readonly nodes = new Map<string, AppletalkNode>();
  readonly events = new Map<string, AppletalkEvent[]>();
  /** Every frame put on the wire, delivered or not. */
  readonly wire: Sent[] = [];
  /** Decides whether a frame gets through (default: all do). */
  link: (s: Omit<Sent, 'delivered'>) => boolean = () => true;

  add(name: string, options: AppletalkNodeOptions): AppletalkNode {
    const node = new AppletalkNode(options);
    this.nodes.set(name, node);
    this.events.set(name, []);
    return node;
  }

  node(name: string): AppletalkNode {
    return this.nodes.get(name)!;
  }

  /** Moves frames and events until nothing is in flight (time does not move). */
  settle(): void {
    for (let i = 0; i < 10_000; i++) {
      let moved = false;
      for (const [name, node] of this.nodes) {
        for (let e = node.pollEvent(); e; e = node.pollEvent()) this.events.get(name)!.push(e);
        for (let f = node.pollBytes(); f; f = node.pollBytes()) {
          moved = true;
          const decoded = decodeEtherTalk(f);
          const s = {
            at: this.now,
            from: name,
            frame: f,
            decoded,
            ...(decoded.ddp.type === 3 ? { atp: decodeAtp(decoded.ddp.data) } : {}),
          };
          const delivered = this.link(s);
          this.wire.push({ ...s, delivered });
          if (delivered) for (const [other, n] of this.nodes) if (other !== name) n.handleFrame(f, this.now);
        }
      }
      if (!moved) {
        for (const [name, node] of this.nodes)
          for (let e = node.pollEvent(); e; e = node.pollEvent()) this.events.get(name)!.push(e);
        return;
      }
    }
    throw new Error('the LAN did not settle in 10,000 rounds');
  }

  /** Settles, then runs timers until `until` holds, time passes `limit`, or no node has a deadline (bounded). */
  run(until: () => boolean = () => false, limit = Infinity, maxSteps = 1_000): void {
    this.settle();
    for (let i = 0; i < maxSteps && !until(); i++) {
      const next = [...this.nodes.values()].map((n) => n.nextDeadline()).filter((d): d is number => d !== undefined);
      if (next.length === 0) return;
      const t = Math.max(this.now, Math.min(...next));
      if (t > limit) {
        this.now = limit;
        return;
      }
      this.now = t;
      for (const n of this.nodes.values()) if ((n.nextDeadline() ?? Infinity) <= this.now) n.handleTimeout(this.now);
      this.settle();
    }
  }

  /** Runs `fn` at the current time, then settles. */
  do(fn: (now: number) => void): void {
    fn(this.now);
    this.settle();
  }

  of<T extends AppletalkEvent['type']>(name: string, type: T): Extract<AppletalkEvent, { type: T }>[] {
    return this.events.get(name)!.filter((e): e is Extract<AppletalkEvent, { type: T }> => e.type === type);
  }

  /** What went on the wire, as "ws:TReq ASP" lines. */
  trace(): string[] {
    return this.wire.map(
      (s) => `${s.from}:${s.atp ? s.atp.fn : `ZIP ${s.decoded.ddp.data[0]}`}${s.delivered ? '' : ' (lost)'}`,
    );
  }
}

export const WS = { mac: '08:00:07:12:34:0a', network: 1000, node: 10 } as const;
export const SERVER = { mac: '08:00:07:12:34:14', network: 1000, node: 20 } as const;
export const ZONES = [
  { rangeStart: 1000, rangeEnd: 1009, extended: true, zones: ['Colloquy', 'Annex'] },
  { rangeStart: 2000, rangeEnd: 2000, extended: false, zones: ['LocalTalk'] },
] as const;
export const SLS = { network: 1000, node: 20, socket: 0x80 } as const;

/** A workstation (WSS 0xc8) and a server (SLS 0x80, SSS 0x81) answering ZIP for ZONES. */
export function pair(tweak: { ws?: Partial<AppletalkNodeOptions>; server?: Partial<AppletalkNodeOptions> } = {}): Lan {
  const lan = new Lan();
  lan.add('ws', { ...WS, asp: { role: 'workstation', socket: 0xc8 }, ...tweak.ws });
  lan.add('server', {
    ...SERVER,
    zip: { zones: ZONES },
    asp: { role: 'server', socket: 0x81, sls: 0x80, status: Uint8Array.of(1, 2, 3) },
    firstTid: 0x8000,
    ...tweak.server,
  });
  return lan;
}
