// Runtime benchmark (bench/runtime/: config, peers, senders, throughput, round-trips, idle, report,
// compile; this module runs them): Colloquy over real sockets, side by side with what people would use instead,
// in one run, with the ratios the issue asks for.
//
// What runs: under tsx (`npm run bench`, `npx tsx bench/runtime/index.ts`) run() compiles this file, its
// peers and the src/ they import with tsc into a temp directory and runs that on plain node:
// tsx's esbuild keepNames would otherwise tax Colloquy's closures (not the node_modules
// baselines). See compile.ts. Every measuring process is plain node.
//
//   1. one-way messages/s at 64 B, 1 KiB, 64 KiB. The sender is this process; every receiver
//      lives in one child process (bench/peers/sink.ts), so each side has a core. A case sends
//      for MEASURE_MS (after a WARM_MS warm-up on the same connection, message counts capped),
//      then waits until it is complete; the matrix runs ROUNDS times and the best run counts:
//        Colloquy tcp/ws   `await session.send()` per message (it resolves once queued), heartbeats
//                          off. Complete when the receiver has read every message through the
//                          session's async iterator AND the sender's stats.acknowledged covers
//                          them (acks are cumulative and lazy: the last may come ackDelayMs =
//                          20 ms late, and that is counted)
//        Colloquy (diag.)  64 send() calls, then one await for all: what the per-send flush costs
//                          (no target; 64 B only)
//        raw ws            ws.send() per message, waits on a send callback above 1 MiB unsent;
//                          complete when the receiver has every message (no acks: the ceiling)
//        raw TCP           4-byte length + payload, one socket.write() per message, noDelay,
//                          waits for 'drain'; complete when the receiver has every message
//        raw TCP corked    the same messages, CORK_BYTES (64 KiB) of them between cork() and
//                          uncork(): one writev per batch, the loopback limit (no acks)
//        Socket.IO 4       websocket transport, connection state recovery on (server),
//                          emitWithAck() per message, at most SOCKET_IO_WINDOW unanswered;
//                          complete when every ack came back
//        MQTT QoS 1        a local broker at 127.0.0.1:1883 (skipped with a notice when none
//                          answers): publish QoS 1, subscriber QoS 1 in the child; at most
//                          MQTT_WINDOW published but not both PUBACKed and received (the
//                          broker's default queue is 1000 per client and drops past it);
//                          complete when every PUBACK came back and the subscriber has all
//   2. round trip of 64 B (ping, echo in the child, pong; one at a time): Colloquy over ws vs raw
//      ws, in alternating blocks of RTT_BLOCK round trips, samples pooled per system; then the CPU
//      one round trip costs, client and echo server in this one process (./rtt-cpu.ts: what the
//      load on a shared machine blurs least)
//   3. idle sessions: a server alone in a child process (bench/peers/idle.ts), RSS after a full
//      GC before and after IDLE_SESSIONS (BENCH_IDLE_SESSIONS) more ws sessions (clients here),
//      divided; the child lifts its open-files soft limit to the hard one. BENCH_IDLE_SNAPSHOTS=<dir>
//      also writes heap snapshots before and after (bench/runtime/heap-diff.ts compares them)
//   4. scale (./scale.ts; BENCH_ONLY=scale or scale-mux): idle sessions on one server process,
//      clients in opener processes (bench/peers/opener.ts) from several 127.0.0.x: raw ws and
//      Colloquy at SCALE_SESSIONS connections (BENCH_SCALE_SESSIONS, 20,000, capped by the
//      open-files limit), Colloquy SCALE_MUX_SESSIONS (100,000) sessions 100 to a connection:
//      time and rate to open, RSS and heap per session, idle CPU. Several minutes
//
// Targets (the issue): >= 1.0x raw ws msgs/s, >= 2x raw one-write-per-message TCP at 64 B and
// >= 0.9x at 64 KiB, >= 0.5x corked raw TCP at 64 B, >= 3x Socket.IO acked, >= 2x MQTT QoS 1,
// RTT p50 <= 1.1x raw ws, idle memory <= 1.25x raw ws.
// On a machine shared with other work, rates swing by tens of percent between runs: the header
// prints the load average.
// Run: npx tsx bench/runtime/index.ts   (or import { run } and await it). About 2 minutes.
// BENCH_ONLY=colloquy-tcp/65536,rtt,idle runs only the cases whose "<system>/<size>" or section
// (throughput, rtt, idle, scale, scale-mux) contains one of the comma-separated words (for profiling one case);
// BENCH_NODE_ARGS / BENCH_PEER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" add node options
// to the measuring process / to the peers.

import { pathToFileURL } from 'node:url';
import { compileBench, exitWithLauncher, runCompiled } from './compile.js';
import type { FromSink, ToSink } from '../peers/protocol.js';
import { ratioText, table } from '../support.js';
import { COMPILED, selected, SIZES } from './config.js';
import { spawnPeer } from './peers.js';
import { throughputSection } from './throughput.js';
import { rttSection } from './round-trips.js';
import { rttCpuSection } from './rtt-cpu.js';
import { idleSection } from './idle.js';
import { scaleSection } from './scale.js';
import { explanation, loadText, type Target } from './report.js';
import { recordTarget } from '../targets.js';

/**
 * Under tsx (`npm run bench`, `npx tsx bench/runtime/index.ts`) this compiles the bench with src/ and
 * runs the result on plain node (see compile.ts); compiled, it measures.
 */
export async function run(): Promise<void> {
  if (COMPILED) {
    exitWithLauncher();
    return sections('src/ compiled by tsc, plain node (no tsx) in every measuring process');
  }
  const compiled = await compileBench();
  try {
    if (compiled.entry) return await runCompiled(compiled.entry);
    return await sections(
      `src/ under tsx, because the tsc build failed (${compiled.problem ?? '?'}); tsx's keepNames makes closures larger and slower`,
    );
  } finally {
    await compiled.remove();
  }
}

export async function sections(under: string): Promise<void> {
  const began = performance.now();
  console.log(
    `runtime: Colloquy vs raw ws, raw TCP (one write per message, and corked), Socket.IO 4, MQTT QoS 1 over loopback, node ${process.version}, ${loadText()}`,
  );
  console.log(`   Colloquy under test: ${under}`);
  const targets: Target[] = [];
  const wantThroughput = selected(
    'throughput',
    ...SIZES.flatMap((size) =>
      [
        'colloquy-tcp',
        'colloquy-ws',
        'colloquy-tcp-batch',
        'colloquy-ws-batch',
        'raw-ws',
        'raw-tcp',
        'raw-tcp-corked',
        'socket-io',
        'mqtt',
      ].map((k) => `${k}/${size}`),
    ),
  );
  if (wantThroughput || selected('rtt')) {
    const { peer: sink, ready } = await spawnPeer<ToSink, FromSink>('sink.ts', []);
    try {
      if (wantThroughput) await throughputSection(sink, ready.ports, targets);
      if (selected('rtt')) await rttSection(sink, ready.ports, targets);
    } finally {
      await sink.stop({ cmd: 'exit' });
    }
  }
  if (selected('rtt')) await rttCpuSection();
  if (selected('idle')) await idleSection(targets);
  if (selected('scale', 'scale-mux')) await scaleSection(targets);
  console.log('');
  console.log('targets');
  table([
    ['target', 'ratio', 'goal', 'verdict'],
    ...targets.map((t) => [
      t.name,
      ratioText(t.ratio),
      t.words ?? t.goal,
      t.met === undefined ? 'not measured' : t.met ? 'met' : 'NOT MET',
    ]),
  ]);
  for (const t of targets)
    recordTarget({
      measure: t.name,
      ratio: t.ratio,
      target: t.words ?? t.goal,
      ...(t.ours ? { ours: t.ours } : {}),
      ...(t.peer ? { peer: t.peer } : {}),
      ...(t.words ? { met: t.met } : {}),
      explained: explanation(t.name),
    });
  console.log(`(${((performance.now() - began) / 1000).toFixed(0)} s, ${loadText()})`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
