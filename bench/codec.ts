// Codec benchmark: DATA frames at 64 B and 1 KiB through the native codec, on one core.
//
//   encode       encodeFrames() over ~16 KiB batches of prebuilt frames: one coalesced write each,
//                as the runtime does (a fresh buffer per write, so allocation is part of the cost)
//   decode       FrameDecoder over a 256 KiB stream of frames cut into 16 KiB chunks, as a socket
//                delivers it (chunk edges fall mid-frame)
//   round trip   batch after batch: encodeFrames(), push the write, drain the decoder
//
// Each measurement runs for a fixed time after a warm-up (the median of 5 slices is reported), so
// a case takes ~2 s whatever the machine. Run: npx tsx bench/codec.ts   (or import { run } and await it).

import { pathToFileURL } from 'node:url';
import { encodeFrames, FrameDecoder } from '../src/engine/codec/index.js';
import type { Frame } from '../src/engine/frames.js';

const CHUNK = 16 * 1024;
const WRITE_BYTES = 16 * 1024;
const STREAM_BYTES = 256 * 1024;
const WARMUP_MS = 150;
const MEASURE_MS = 550;
const SLICES = 5;

interface Rate {
  frames: number;
  seconds: number;
}
interface Row {
  name: string;
  payload: number;
  encode: Rate;
  decode: Rate;
  roundTrip: Rate;
}

let sink = 0;

/** Calls `step` (which returns frames handled) for `ms` milliseconds. */
function timed(ms: number, step: () => number): Rate {
  const start = performance.now();
  const deadline = start + ms;
  let frames = 0;
  let now = start;
  while (now < deadline) {
    frames += step();
    now = performance.now();
  }
  return { frames, seconds: (now - start) / 1000 };
}

/** Median of several slices: a shared machine's hiccups (GC, other processes) skew one long run. */
function measure(step: () => number): Rate {
  timed(WARMUP_MS, step);
  const slices = Array.from({ length: SLICES }, () => timed(MEASURE_MS / SLICES, step));
  slices.sort((a, b) => a.frames / a.seconds - b.frames / b.seconds);
  return slices[SLICES >> 1]!;
}

function chunks(stream: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += CHUNK) out.push(stream.subarray(at, at + CHUNK));
  return out;
}

function decodeAll(decoder: FrameDecoder, parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const part of parts) {
    decoder.push(part);
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
      if (f.type === 'DATA') sink += f.payload.length;
      n++;
    }
  }
  return n;
}

function runCase(payloadSize: number): Row {
  const payload = new Uint8Array(payloadSize).map((_, i) => i);
  const frames = (bytes: number): Frame[] =>
    Array.from({ length: Math.max(1, Math.floor(bytes / (payloadSize + 3))) }, () => ({ type: 'DATA', payload }));
  const write = frames(WRITE_BYTES);
  const parts = chunks(encodeFrames(frames(STREAM_BYTES)));
  const decoder = new FrameDecoder();

  const encode = measure(() => {
    sink += encodeFrames(write).length;
    return write.length;
  });
  const decode = measure(() => decodeAll(decoder, parts));
  const roundTrip = measure(() => decodeAll(decoder, [encodeFrames(write)]));
  return {
    name: `DATA ${payloadSize < 1024 ? `${payloadSize} B` : `${payloadSize / 1024} KiB`}`,
    payload: payloadSize,
    encode,
    decode,
    roundTrip,
  };
}

const perSecond = (r: Rate): number => r.frames / r.seconds;
const mega = (n: number): string => `${(n / 1e6).toFixed(2)} M`;
const mbps = (r: Rate, payload: number): string => `${((perSecond(r) * payload) / 1e6).toFixed(0)} MB/s`;

function print(rows: readonly Row[]): void {
  const table = [
    ['case', 'encode frames/s', 'decode frames/s', 'round trip frames/s', 'round trip payload'],
    ...rows.map((r) => [
      r.name,
      mega(perSecond(r.encode)),
      mega(perSecond(r.decode)),
      mega(perSecond(r.roundTrip)),
      mbps(r.roundTrip, r.payload),
    ]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const line = (row: readonly string[]): string =>
    row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  console.log(line(table[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of table.slice(1)) console.log(line(row));
}

export async function run(): Promise<void> {
  console.log(`codec: DATA frames, 16 KiB read chunks, node ${process.version}`);
  const rows = [runCase(64), runCase(1024)];
  print(rows);
  if (sink === -1) console.log(sink); // keeps the results observable
  await Promise.resolve();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
