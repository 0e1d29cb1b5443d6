// The RPC and files apps: what a call and a transfer cost, side by side with the plain thing.
//
//   1. Files: a FILE_MB file of random bytes, getFile and putFile over TCP on loopback (server
//      and client in this process, fsync at every major sync point, SHA-256 on both ends),
//      against a raw baseline: the same file piped through one TCP connection into a file
//      (no session, no sync points, no hashing). MB/s and the ratio.
//   2. RPC: `echo` calls over one session: one call at a time (round trip p50/p95) and calls/s
//      with CONCURRENT calls in flight.
//   3. `colloquy get` of a 200 MB file vs curl from python3 -m http.server into sha256sum
//      (./apps-get-cli.ts; needs npm run build).
//   4. The cost of continuity (./apps-continuity.ts): files, RPC and chat with serve's Redis
//      store vs one node on the memory store, and kill -9 to a transfer moving again.
//
// Each files round prints MB/s, the ratio to raw in that round, and CPU ms per MB (this process:
// both ends), which load does not skew the way it skews wall time.
//
// Run: npx tsx bench/apps.ts   (or import { run } and await it; BENCH_QUICK=1 for seconds;
// BENCH_ONLY=files for section 1 alone, BENCH_FILE_ROUNDS=N). About 4 min.

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { listen } from '../src/server/server.js';
import { ServiceHost } from '../src/apps/host.js';
import { RpcClient, rpcService } from '../src/apps/rpc.js';
import { filesService, getFile, hashFile, putFile } from '../src/apps/files.js';
import { continuity } from './apps-continuity.js';
import { run as getCli } from './apps-get-cli.js';
import { recordTarget } from './targets.js';

const FILE_MB = Number(process.env.BENCH_FILE_MB ?? 50);
const FILE_ROUNDS = Number(process.env.BENCH_FILE_ROUNDS ?? 2);
const RPC_CALLS = 2000;
const CONCURRENT = 64;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function rawTcpCopy(src: string, dst: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const started = performance.now();
  const received = new Promise<void>((resolve, reject) => {
    server.once('connection', (socket) => {
      pipeline(socket, createWriteStream(dst)).then(resolve, reject);
    });
  });
  const client = net.connect(port, '127.0.0.1');
  await pipeline(createReadStream(src), client);
  await received;
  const ms = performance.now() - started;
  server.close();
  return ms;
}

export async function run(): Promise<void> {
  console.log(
    `apps: RPC and files (load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
  const base = await mkdtemp(join(tmpdir(), 'colloquy-bench-apps-'));
  const files = filesService({ root: base });
  const rpc = rpcService({ methods: files.rpcMethods() });
  const host = new ServiceHost([rpc, files]);
  const server = await listen({ tcp: { port: 0 }, authenticate: host.authenticate });
  host.attach(server);
  const url = `tcp://127.0.0.1:${server.addresses.tcp}`;
  try {
    const bytes = FILE_MB * 1024 * 1024;
    await writeFile(join(base, 'src.bin'), randomBytes(bytes));
    const mbps = (ms: number): string => (bytes / 1024 / 1024 / (ms / 1000)).toFixed(1);
    // CPU ms per MB of this process (both ends of each transfer run here): what the machine's
    // load does not skew the way it skews wall time.
    const cpu = async <T>(f: () => Promise<T>): Promise<[T, string]> => {
      const before = process.cpuUsage();
      const r = await f();
      const used = process.cpuUsage(before);
      return [r, ((used.user + used.system) / 1000 / FILE_MB).toFixed(2)];
    };
    await hashFile(join(base, 'src.bin')); // the page cache warm for every contender
    console.log(`  files, ${FILE_MB} MB over TCP loopback (target: getFile and putFile >= 0.8 x raw)`);
    for (let round = 1; round <= FILE_ROUNDS; round++) {
      const [raw, rawCpu] = await cpu(() => rawTcpCopy(join(base, 'src.bin'), join(base, 'raw.bin')));
      const [got, gotCpu] = await cpu(() => getFile(url, 'src.bin', join(base, 'got.bin')));
      const [put, putCpu] = await cpu(() => putFile(url, join(base, 'got.bin'), `put-${round}.bin`));
      await rm(join(base, 'got.bin'));
      console.log(`    round ${round}`);
      console.log(`      raw TCP copy (no session, no hash)   ${mbps(raw).padStart(7)} MB/s  CPU ${rawCpu} ms/MB`);
      console.log(
        `      getFile (sync points, fsync, SHA-256) ${mbps(got.elapsedMs).padStart(7)} MB/s  CPU ${gotCpu} ms/MB  (${(raw / got.elapsedMs).toFixed(2)} x raw)`,
      );
      console.log(
        `      putFile (sync points, fsync, SHA-256) ${mbps(put.elapsedMs).padStart(7)} MB/s  CPU ${putCpu} ms/MB  (${(raw / put.elapsedMs).toFixed(2)} x raw)`,
      );
      for (const [name, ms] of [
        ['getFile', got.elapsedMs],
        ['putFile', put.elapsedMs],
      ] as const)
        recordTarget({
          measure: `${name} / raw TCP file copy, ${FILE_MB} MB`,
          ours: `${mbps(ms)} MB/s`,
          peer: `${mbps(raw)} MB/s`,
          ratio: raw / ms,
          target: '>= 0.8x',
          explained: 'docs/apps.md#Files at the limit',
        });
    }
    if (process.env.BENCH_ONLY === 'files') return;

    const client = await RpcClient.connect(url);
    for (let i = 0; i < 2000; i++) await client.call('echo', [i]); // warm-up (JIT)
    const rtts: number[] = [];
    const sequentialStarted = performance.now();
    for (let i = 0; i < RPC_CALLS; i++) {
      const t = performance.now();
      await client.call('echo', [i]);
      rtts.push(performance.now() - t);
    }
    const sequential = RPC_CALLS / ((performance.now() - sequentialStarted) / 1000);
    rtts.sort((a, b) => a - b);
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENT }, async () => {
        while (next < RPC_CALLS * 5) {
          next++;
          await client.call('echo', [next]);
        }
      }),
    );
    const perSecond = (RPC_CALLS * 5) / ((performance.now() - started) / 1000);
    console.log('  rpc echo over one TCP session');
    console.log(
      `    one at a time: ${Math.round(sequential)} calls/s, round trip p50 ${percentile(rtts, 50).toFixed(3)} ms, p95 ${percentile(rtts, 95).toFixed(3)} ms`,
    );
    console.log(`    ${CONCURRENT} in flight: ${Math.round(perSecond)} calls/s`);
    await client.close();
  } finally {
    await server.destroy();
    await host.close();
    await rm(base, { recursive: true, force: true });
  }
  if (process.env.BENCH_ONLY === 'files') return;
  await getCli();
  await continuity();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
