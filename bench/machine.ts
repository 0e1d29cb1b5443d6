// Machine-pair benchmark: the cost of one data unit through two session machines, from
// sendData() on one side to the `data` event on the other and the cumulative ACK back that
// frees it from the replay buffer (send -> deliver -> acknowledge), on one core.
//
//   frames   machines joined by frame objects (the protocol machine alone)
//   bytes    the same through WireSession: native codec both ways, writes coalesced
//
// Target (issue 2): >= 1,000,000 64-byte data units per second through the pair.
// Run: npx tsx bench/machine.ts   (or import { run } and await it).

import { pathToFileURL } from 'node:url';
import { SessionMachine } from '../src/engine/machine/index.js';
import { WireSession } from '../src/engine/wire-session.js';

const ID = new Uint8Array(16).fill(1);
const SECRET = new Uint8Array(16).fill(2);
const BATCH = 256;
const MEASURE_MS = 1500;

function machines(): [SessionMachine, SessionMachine] {
  const a = new SessionMachine({ role: 'initiator', heartbeatMs: 0, modes: ['fullDuplex'] });
  const b = new SessionMachine({ role: 'acceptor', sessionId: ID, resumeSecret: SECRET, heartbeatMs: 0 });
  return [a, b];
}

/** Moves frames between machines until both are quiet; returns data events seen on b. */
function pumpFrames(a: SessionMachine, b: SessionMachine): number {
  let delivered = 0;
  for (let moved = true; moved;) {
    moved = false;
    for (let f = a.pollFrame(0); f; f = a.pollFrame(0)) {
      b.handleFrame(f, 0);
      moved = true;
    }
    for (let e = b.pollEvent(); e; e = b.pollEvent()) {
      if (e.type === 'data') delivered++;
      else if (e.type === 'connect-request') b.accept();
      moved = true;
    }
    for (let f = b.pollFrame(0); f; f = b.pollFrame(0)) {
      a.handleFrame(f, 0);
      moved = true;
    }
    while (a.pollEvent()) moved = true;
  }
  return delivered;
}

function pumpBytes(a: WireSession, b: WireSession): number {
  let delivered = 0;
  for (let moved = true; moved;) {
    moved = false;
    for (let w = a.pollBytes(0); w; w = a.pollBytes(0)) {
      b.handleBytes(w, 0);
      moved = true;
    }
    for (let e = b.machine.pollEvent(); e; e = b.machine.pollEvent()) {
      if (e.type === 'data') delivered++;
      else if (e.type === 'connect-request') b.machine.accept();
      moved = true;
    }
    for (let w = b.pollBytes(0); w; w = b.pollBytes(0)) {
      a.handleBytes(w, 0);
      moved = true;
    }
    while (a.machine.pollEvent()) moved = true;
  }
  return delivered;
}

interface Result {
  name: string;
  size: number;
  units: number;
  seconds: number;
  unacked: number;
}

function measure(name: string, size: number, viaBytes: boolean): Result {
  const [ma, mb] = machines();
  const wa = new WireSession(ma);
  const wb = new WireSession(mb);
  const pump = viaBytes ? () => pumpBytes(wa, wb) : () => pumpFrames(ma, mb);
  if (viaBytes) {
    wb.handleTransportUp(0);
    wa.handleTransportUp(0);
  } else {
    mb.handleTransportUp(0);
    ma.handleTransportUp(0);
  }
  pump();
  const payload = new Uint8Array(size).fill(7);
  const step = (): number => {
    for (let i = 0; i < BATCH; i++) ma.sendData(payload);
    const n = pump();
    // Acks are lazy (every 64 frames or 20 ms): flush the tail as the timer would.
    mb.handleTimeout(Number.MAX_SAFE_INTEGER / 2);
    pump();
    return n;
  };
  for (let t = performance.now() + 200; performance.now() < t;) step();
  const start = performance.now();
  let units = 0;
  let now = start;
  while (now - start < MEASURE_MS) {
    units += step();
    now = performance.now();
  }
  return { name, size, units, seconds: (now - start) / 1000, unacked: ma.stats.replayFrames };
}

export async function run(): Promise<void> {
  console.log(`machine pair: send -> deliver -> acknowledge, node ${process.version}, batches of ${BATCH}`);
  const rows = [
    measure('frames', 64, false),
    measure('frames', 1024, false),
    measure('bytes', 64, true),
    measure('bytes', 1024, true),
  ];
  console.log('path    payload   units/s       MB/s    vs 1M/s target   left unacked');
  for (const r of rows) {
    const rate = r.units / r.seconds;
    console.log(
      `${r.name.padEnd(7)} ${String(r.size).padStart(6)} B ${(rate / 1e6).toFixed(2).padStart(7)} M ${((rate * r.size) / 1e6).toFixed(0).padStart(9)} ${(rate / 1e6).toFixed(2).padStart(12)}x ${String(r.unacked).padStart(14)}`,
    );
  }
  await Promise.resolve();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
