// The DECnet exchange `colloquy capture decnet FILE.pcap` writes: two DecnetMachines, node 1.10
// calling node 1.20, over an in-memory Ethernet on a virtual clock. Every frame either sends is
// recorded with its time. Pure: the CLI writes the pcap (src/util/pcap.ts).
//
// What it shows: a Connect Initiate with access control and user data (destination by name,
// source in format 2), Connect Ack, Connect Confirm, the link service grants of both sides, data
// both ways (one message in three segments: BOM, middle, EOM), an interrupt each way answered by
// link services, a stop and a go, data and other-data acknowledgements, Disconnect Initiate with
// data, Disconnect Confirm. Node 1.20 puts a 1-octet routing pad before its headers, as VMS does.

import type { CapturedFrame } from '../util/pcap.js';
import { parseAddress } from './address.js';
import { DecnetMachine, type DecnetEvent } from './machine.js';
import type { ConnectData } from './session-control.js';

export interface DecnetExchange {
  readonly frames: CapturedFrame[];
  /** Every event each side saw, in order. */
  readonly events: { readonly caller: DecnetEvent[]; readonly listener: DecnetEvent[] };
}

const text = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

export const CAPTURE_CONNECT_DATA: ConnectData = {
  destination: { format: 1, objectType: 0, name: 'COLLOQUY' },
  source: { format: 2, objectType: 0, group: 1, user: 4, name: 'ADA' },
  access: { user: 'ADA', password: 'SECRET', account: 'OSI' },
  userData: text('session layer'),
};

/** Runs the exchange; `start` is the capture's first timestamp (ms since the epoch). */
export function decnetExchange(start = 0): DecnetExchange {
  const caller = new DecnetMachine({ address: parseAddress('1.10'), linkAddress: 0x4a01, segmentSize: 32 });
  const listener = new DecnetMachine({ address: parseAddress('1.20'), linkAddress: 0x7c02, routingPad: 1, window: 4 });
  const frames: CapturedFrame[] = [];
  const events = { caller: [] as DecnetEvent[], listener: [] as DecnetEvent[] };
  let now = 0;
  // Frames leave in order, 1 ms apart on the wire; each is delivered at once.
  const settle = (): void => {
    for (let round = 0; round < 1_000; round++) {
      let moved = false;
      for (const [from, to, log] of [
        [caller, listener, events.caller],
        [listener, caller, events.listener],
      ] as const) {
        for (let e = from.pollEvent(); e; e = from.pollEvent()) log.push(e);
        for (let f = from.pollBytes(); f; f = from.pollBytes()) {
          moved = true;
          now += 1;
          frames.push({ at: start + now, data: f });
          to.handleFrame(f, now);
        }
      }
      if (!moved) return;
    }
    throw new Error('the DECnet exchange did not settle');
  };
  const step = (fn: (at: number) => void): void => {
    now += 10;
    fn(now);
    settle();
  };
  step((at) => caller.connect(at, { remote: parseAddress('1.20'), data: CAPTURE_CONNECT_DATA }));
  step((at) => listener.accept(at));
  step((at) =>
    caller.send(at, text('Hello from 1.10: one message in three data segments (BOM, middle, EOM) of 32 octets.')),
  );
  step((at) => listener.send(at, text('Welcome to 1.20, over NSP')));
  step((at) => caller.interrupt(at, text('interrupt!')));
  step((at) => listener.pauseData(at, true));
  step((at) => listener.pauseData(at, false));
  step((at) => listener.interrupt(at, text('attention')));
  step((at) => caller.disconnect(at, 0, text('goodbye')));
  for (const m of [caller, listener])
    if (m.state !== 'closed') throw new Error(`the DECnet exchange ended with a link ${m.state}`);
  return { frames, events };
}
