// 1. one-way messages/s per system and size, best of ROUNDS, with the ratios to the targets.

import { once } from 'node:events';
import net from 'node:net';
import { connectAsync } from 'mqtt';
import type { SinkPorts } from '../peers/protocol.js';
import { ratioText, table } from '../support.js';
import { SIZES, CAP, WARM_MS, MEASURE_MS, ROUNDS, SETTLE_MS, MQTT_URL, selected } from './config.js';
import type { Sink } from './peers.js';
import {
  type Sender,
  withTimeout,
  colloquySender,
  rawWsSender,
  rawTcpSender,
  rawTcpCorkedSender,
  socketIoSender,
  mqttSender,
} from './senders.js';
import { rateText, sizeName, target, type Target } from './report.js';

// ---- 1. throughput -------------------------------------------------------------------------

export interface Outcome {
  rate: number;
  messages: number;
  seconds: number;
  error?: string;
}

export async function throughput(sink: Sink, size: number, open: () => Promise<Sender>): Promise<Outcome> {
  await sink.request({ cmd: 'reset', echo: false }, 'reset');
  const cap = CAP[size] ?? 100_000;
  let sender: Sender | undefined;
  try {
    sender = await open();
    const s = sender;
    let sent = 0;
    const complete = async (): Promise<void> => {
      const deadline = performance.now() + SETTLE_MS;
      await Promise.all([
        sink.request({ cmd: 'await', target: sent }, 'reached', SETTLE_MS),
        s.acknowledged(sent, deadline),
      ]);
    };
    sent += await s.send(Math.ceil(cap / 10), performance.now() + WARM_MS);
    await complete();
    const start = performance.now();
    const n = await s.send(cap, start + MEASURE_MS);
    sent += n;
    await complete();
    const seconds = (performance.now() - start) / 1000;
    return { rate: n / seconds, messages: n, seconds };
  } catch (e) {
    return { rate: Number.NaN, messages: 0, seconds: 0, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await sender?.close().catch(() => {});
  }
}

export interface System {
  key: string;
  label: string;
  transport: 'tcp' | 'ws';
  open(size: number): () => Promise<Sender>;
  /** Measured at these sizes only (default: all). */
  sizes?: readonly number[];
}

/** Diagnostic rows (no target): Colloquy with 64 send() calls per await, at 64 B. */
export const DIAG_BATCH = 64;

export function systems(sink: Sink, ports: SinkPorts, mqtt: boolean): System[] {
  const payload = (size: number): Uint8Array => new Uint8Array(size).map((_, i) => i & 0xff);
  const list: System[] = [
    {
      key: 'colloquy-tcp',
      label: 'Colloquy',
      transport: 'tcp',
      open: (size) => () => colloquySender(`tcp://127.0.0.1:${ports.colloquyTcp}`, payload(size)),
    },
    {
      key: 'colloquy-ws',
      label: 'Colloquy',
      transport: 'ws',
      open: (size) => () => colloquySender(`ws://127.0.0.1:${ports.colloquyWs}/session`, payload(size)),
    },
    {
      key: 'colloquy-tcp-batch',
      label: `Colloquy, ${DIAG_BATCH} sends/await (diag.)`,
      transport: 'tcp',
      sizes: [64],
      open: (size) => () => colloquySender(`tcp://127.0.0.1:${ports.colloquyTcp}`, payload(size), DIAG_BATCH),
    },
    {
      key: 'colloquy-ws-batch',
      label: `Colloquy, ${DIAG_BATCH} sends/await (diag.)`,
      transport: 'ws',
      sizes: [64],
      open: (size) => () => colloquySender(`ws://127.0.0.1:${ports.colloquyWs}/session`, payload(size), DIAG_BATCH),
    },
    {
      key: 'raw-ws',
      label: 'raw ws (ceiling)',
      transport: 'ws',
      open: (size) => () => rawWsSender(`ws://127.0.0.1:${ports.rawWs}/`, payload(size)),
    },
    {
      key: 'raw-tcp',
      label: 'raw TCP, 1 write/msg',
      transport: 'tcp',
      open: (size) => () => rawTcpSender(ports.rawTcp, payload(size)),
    },
    {
      key: 'raw-tcp-corked',
      label: 'raw TCP, corked (limit)',
      transport: 'tcp',
      open: (size) => () => rawTcpCorkedSender(ports.rawTcp, payload(size)),
    },
    {
      key: 'socket-io',
      label: 'Socket.IO 4 acked',
      transport: 'ws',
      open: (size) => () => socketIoSender(ports.socketIo, payload(size)),
    },
  ];
  if (mqtt)
    list.push({
      key: 'mqtt',
      label: 'MQTT QoS 1 (broker)',
      transport: 'tcp',
      open: (size) => () => mqttSender(sink, payload(size)),
    });
  return list;
}

/** Whether an MQTT broker answers at 127.0.0.1:1883 (a TCP connect and an MQTT CONNECT). */
export async function mqttAvailable(): Promise<string | null> {
  const socket = net.connect({ host: '127.0.0.1', port: 1883 });
  const reachable =
    (await withTimeout(
      once(socket, 'connect').then(
        () => true,
        () => false,
      ),
      1000,
    )) ?? false;
  socket.destroy();
  if (!reachable) return 'nothing answers at 127.0.0.1:1883';
  try {
    const client = await connectAsync(MQTT_URL, {
      clientId: `colloquy-bench-probe-${process.pid}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 2000,
    });
    await client.endAsync();
    return null;
  } catch (e) {
    return `127.0.0.1:1883 did not accept an MQTT connect (${e instanceof Error ? e.message : String(e)})`;
  }
}

export async function throughputSection(sink: Sink, ports: SinkPorts, targets: Target[]): Promise<void> {
  const mqttProblem = await mqttAvailable();
  const list = systems(sink, ports, mqttProblem === null);
  console.log('');
  console.log(
    `1. one-way acknowledged messages/s: sender here, receivers in a child process; ${WARM_MS} ms warm-up, then ${MEASURE_MS} ms of sending,`,
  );
  console.log(
    "   timed until complete (Colloquy: receiver read all AND sender's stats.acknowledged covers them; Socket.IO, MQTT: all acks",
  );
  console.log(
    `   back and receiver has all; raw ws, raw TCP: receiver has all). Best of ${ROUNDS} rounds (the matrix runs ${ROUNDS} times over).`,
  );
  if (mqttProblem !== null) console.log(`   MQTT skipped: ${mqttProblem}`);
  const results = new Map<string, Outcome>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of SIZES) {
      for (const s of list) {
        if ((s.sizes && !s.sizes.includes(size)) || !selected('throughput', `${s.key}/${size}`)) continue;
        const key = `${s.key}/${size}`;
        const r = await throughput(sink, size, s.open(size));
        if (r.error)
          console.log(`   ${s.label} ${s.transport} ${sizeName(size)}, round ${round + 1}: failed: ${r.error}`);
        const best = results.get(key);
        if (!best || Number.isNaN(best.rate) || r.rate > best.rate) results.set(key, r);
      }
    }
  }
  const rows = [['system', 'transport', ...SIZES.flatMap((s) => [`${sizeName(s)} msgs/s`, 'MB/s'])]];
  for (const s of list) {
    rows.push([
      s.label,
      s.transport,
      ...SIZES.flatMap((size) => {
        const r = results.get(`${s.key}/${size}`);
        if (!r) return ['-', ''];
        return [rateText(r.rate), Number.isNaN(r.rate) ? '' : ((r.rate * size) / 1e6).toFixed(0)];
      }),
    ]);
  }
  table(rows, 2);
  const rate = (key: string, size: number): number => results.get(`${key}/${size}`)?.rate ?? Number.NaN;
  console.log('');
  const all = (goal: number): [number, number][] => SIZES.map((size) => [size, goal]);
  // goals: [size, at least this ratio]; a size left out has no target.
  const vs: { name: string; a: string; b: string; goals: [number, number][] }[] = [
    { name: 'Colloquy ws / raw ws', a: 'colloquy-ws', b: 'raw-ws', goals: all(1) },
    {
      name: 'Colloquy tcp / raw TCP 1 write/msg',
      a: 'colloquy-tcp',
      b: 'raw-tcp',
      goals: [
        [64, 2],
        [65536, 0.9],
      ],
    },
    { name: 'Colloquy tcp / raw TCP corked (limit)', a: 'colloquy-tcp', b: 'raw-tcp-corked', goals: [[64, 0.5]] },
    { name: 'Colloquy ws / Socket.IO acked', a: 'colloquy-ws', b: 'socket-io', goals: all(3) },
    ...(mqttProblem === null
      ? [{ name: 'Colloquy tcp / MQTT QoS 1', a: 'colloquy-tcp', b: 'mqtt', goals: all(2) }]
      : []),
  ];
  const goalText = (goals: [number, number][]): string =>
    goals.length === SIZES.length && goals.every(([, g]) => g === goals[0]![1])
      ? `>= ${goals[0]![1]}x`
      : goals.map(([size, g]) => `>= ${g}x at ${sizeName(size)}`).join(', ');
  table([
    ['ratio', ...SIZES.map(sizeName), 'target'],
    ...vs.map((v) => [v.name, ...SIZES.map((size) => ratioText(rate(v.a, size) / rate(v.b, size))), goalText(v.goals)]),
  ]);
  for (const v of vs) {
    for (const [size, goal] of v.goals) {
      if (results.has(`${v.a}/${size}`) || results.has(`${v.b}/${size}`))
        targets.push(
          target(
            `${v.name} at ${sizeName(size)}`,
            rate(v.a, size) / rate(v.b, size),
            goal,
            false,
            rateText(rate(v.a, size)),
            rateText(rate(v.b, size)),
          ),
        );
    }
  }
}
