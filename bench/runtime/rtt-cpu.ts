// CPU time per 64 B round trip, Colloquy ws vs raw ws, client and echo server in this one
// process: the load-independent side of section 2 (on a busy machine the wall-clock round trip
// follows the scheduler; the CPU a round trip costs much less). Alternating blocks of BLOCK round
// trips, ROUNDS times each, and the least CPU per round trip of each system is kept.
//
//   npx tsx bench/runtime/rtt-cpu.ts     (BENCH_RTT_CPU_TRIPS sets the round trips per block)

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';
import { listen } from '../../src/server/server.js';
import { envCount } from './config.js';
import { ratioText } from '../support.js';
import { colloquyPinger, rawWsPinger, type Pinger } from './round-trips.js';

const BLOCK = envCount('BENCH_RTT_CPU_TRIPS', 2000);
const ROUNDS = 4;

async function cpuPerTrip(p: Pinger): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < BLOCK; i++) await p.ping();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / BLOCK;
}

export async function run(): Promise<{ colloquy: number; ws: number }> {
  const payload = new Uint8Array(64).fill(7);
  const server = await listen({ ws: { port: 0 }, heartbeatMs: 0 });
  server.on('session', async (s) => {
    try {
      for await (const m of s) await s.send(m);
    } catch {
      // ended by the bench
    }
  });
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (data: Buffer) => ws.send(data)));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const ours = await colloquyPinger(`ws://127.0.0.1:${server.addresses.ws}/session`, payload);
  const raw = await rawWsPinger(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`, payload);
  try {
    for (let i = 0; i < 500; i++) {
      await ours.ping();
      await raw.ping();
    }
    let colloquy = Infinity;
    let ws = Infinity;
    for (let r = 0; r < ROUNDS; r++) {
      colloquy = Math.min(colloquy, await cpuPerTrip(ours));
      ws = Math.min(ws, await cpuPerTrip(raw));
    }
    return { colloquy, ws };
  } finally {
    await ours.close();
    await raw.close();
    await server.close();
    wss.close();
    http.close();
  }
}

function report(r: { colloquy: number; ws: number }): string {
  return `CPU per 64 B round trip (client and echo server in one process, least of ${ROUNDS} blocks of ${BLOCK}; load average ${loadavg()[0]?.toFixed(1)}): Colloquy ws ${r.colloquy.toFixed(1)} us, raw ws ${r.ws.toFixed(1)} us, ratio ${ratioText(r.colloquy / r.ws)}`;
}

/**
 * The runtime bench's part (section 2, after the wall-clock round trips). No target of its own:
 * it is what the RTT target is made of, measured where the load on a shared machine blurs least.
 */
export async function rttCpuSection(): Promise<void> {
  console.log('');
  try {
    console.log(report(await run()));
  } catch (error) {
    console.log(`CPU per 64 B round trip: failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(report(await run()));
