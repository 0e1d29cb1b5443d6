// The AppleTalk exchange `colloquy capture appletalk FILE.pcap` writes: two AppletalkNodes, a
// workstation (1000.10) and a server that also answers ZIP as a router would (1000.20), on an
// in-memory Ethernet on a virtual clock. Every frame either sends is recorded with its time.
// Pure: the CLI writes the pcap (src/util/pcap.ts).
//
// What it shows: ZIP GetNetInfo (broadcast) and its reply, a Query answered by an Extended Reply
// and a Reply, GetZoneList and GetMyZone over ATP; then an ASP session: OpenSession, tickles both
// ways (a minute passes, so each is retried with its TID), two Commands (one answered in two ATP
// packets), a Write with the server's WriteContinue, an Attention, and CloseSession; TRels close
// every exactly-once transaction. The command blocks are AFP's (FPGetSrvrParms, FPCloseVol,
// FPWrite), because Wireshark hands ASP command blocks and replies to its AFP dissector: other
// octets would be read as a malformed AFP packet.

import type { CapturedFrame } from '../util/pcap.js';
import type { AppletalkEvent } from './node.js';
import { AppletalkNode } from './node.js';

export interface AppletalkExchange {
  readonly frames: CapturedFrame[];
  /** Every event each side saw, in order. */
  readonly events: { readonly workstation: AppletalkEvent[]; readonly server: AppletalkEvent[] };
}

const text = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const ROUTER = { network: 1000, node: 20, socket: 6 };
const SLS = { network: 1000, node: 20, socket: 0x80 };

/** AFP FPGetSrvrParms reply: server time, then each volume's flags and name. */
function serverParms(volumes: readonly string[]): Uint8Array {
  const out = [0x2f, 0x0d, 0x5e, 0x00, volumes.length];
  for (const v of volumes) out.push(0x00, v.length, ...text(v));
  return Uint8Array.from(out);
}

/** Runs the exchange; `start` is the capture's first timestamp (ms since the epoch). */
export function appletalkExchange(start = 0): AppletalkExchange {
  const ws = new AppletalkNode({
    mac: '08:00:07:12:34:0a',
    network: 1000,
    node: 10,
    asp: { role: 'workstation', socket: 0xc8 },
  });
  const server = new AppletalkNode({
    mac: '08:00:07:12:34:14',
    network: 1000,
    node: 20,
    firstTid: 0x4000,
    zip: {
      zones: [
        { rangeStart: 1000, rangeEnd: 1009, extended: true, zones: ['Colloquy', 'Annex'] },
        { rangeStart: 2000, rangeEnd: 2000, extended: false, zones: ['LocalTalk'] },
      ],
    },
    asp: { role: 'server', socket: 0x81, sls: 0x80 },
  });
  const frames: CapturedFrame[] = [];
  const events = { workstation: [] as AppletalkEvent[], server: [] as AppletalkEvent[] };
  let now = 0;
  // Frames leave in order, 1 ms apart on the wire; each is delivered at once.
  const settle = (): void => {
    for (let round = 0; round < 1_000; round++) {
      let moved = false;
      for (const [from, to, log] of [
        [ws, server, events.workstation],
        [server, ws, events.server],
      ] as const) {
        for (let f = from.pollBytes(); f; f = from.pollBytes()) {
          moved = true;
          now += 1;
          frames.push({ at: start + now, data: f });
          to.handleFrame(f, now);
        }
        for (let e = from.pollEvent(); e; e = from.pollEvent()) log.push(e);
      }
      if (!moved) return;
    }
    throw new Error('the AppleTalk exchange did not settle');
  };
  const step = (fn: (at: number) => void, pause = 10): void => {
    now += pause;
    fn(now);
    settle();
  };
  /** Lets `ms` pass, running every timer that falls due (the tickles). */
  const wait = (ms: number): void => {
    const until = now + ms;
    for (let i = 0; i < 100; i++) {
      const next = Math.min(ws.nextDeadline() ?? Infinity, server.nextDeadline() ?? Infinity);
      if (next > until) break;
      now = Math.max(now, next);
      for (const n of [ws, server]) if ((n.nextDeadline() ?? Infinity) <= now) n.handleTimeout(now);
      settle();
    }
    now = until;
  };
  const aspWs = ws.asp!;
  const aspServer = server.asp!;
  const last = (type: AppletalkEvent['type']): AppletalkEvent | undefined =>
    events.server.findLast((e) => e.type === type);

  step((at) => ws.zip.getNetInfo(at, 'Colloquy'));
  step((at) => ws.zip.query(at, ROUTER, [1000, 2000]));
  step((at) => ws.zip.zoneList(at, ROUTER, 'GetZoneList'));
  step((at) => ws.zip.zoneList(at, ROUTER, 'GetMyZone'));
  step((at) => aspWs.open(at, SLS), 100);
  step((at) => aspWs.command(at, Uint8Array.of(0x10))); // FPGetSrvrParms
  step((at) =>
    aspServer.reply(
      at,
      (last('command') as { seq: number }).seq,
      0,
      serverParms(Array.from({ length: 60 }, (_, i) => `Volume ${String(i + 1).padStart(2, '0')}`)),
    ),
  );
  wait(31_000);
  step((at) => aspWs.command(at, Uint8Array.of(0x02, 0x00, 0x00, 0x01))); // FPCloseVol, volume 1
  step((at) => aspServer.reply(at, (last('command') as { seq: number }).seq, 0));
  // FPWrite: flag, fork 1, offset 0, request count 32.
  step((at) =>
    aspWs.write(
      at,
      Uint8Array.of(0x21, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 32),
      text('thirty-two octets of file data!!'),
    ),
  );
  step((at) => aspServer.reply(at, (last('write') as { seq: number }).seq, 0, Uint8Array.of(0, 0, 0, 32)));
  step((at) => aspServer.attention(at, 0x8002));
  wait(31_000);
  step((at) => aspWs.close(at));
  for (const [name, n] of [
    ['workstation', aspWs],
    ['server', aspServer],
  ] as const)
    if (n.state !== (name === 'server' ? 'listening' : 'closed'))
      throw new Error(`the AppleTalk exchange ended with the ${name} ${n.state}`);
  for (const list of [events.workstation, events.server]) {
    const bad = list.find((e) => e.type === 'failed' || e.type === 'discarded' || e.type === 'zip-failed');
    if (bad) throw new Error(`the AppleTalk exchange went wrong: ${JSON.stringify(bad)}`);
  }
  return { frames, events };
}
