// The RPC and files apps: what a call and a transfer cost, side by side with the plain thing.
//
//   1. Files: a FILE_MB file of random bytes, getFile and putFile over TCP on loopback (server
//      and client in this process, fsync at every major sync point, SHA-256 on both ends),
//      against a raw baseline: the same file piped through one TCP connection into a file
//      (no session, no sync points, no hashing). MB/s and the ratio.
//   2. RPC: `echo` calls over one session: one call at a time (round trip p50/p95) and calls/s
//      with CONCURRENT calls in flight.
//   3. The cost of continuity (./apps-continuity.ts): files, RPC and chat with serve's Redis
//      store vs one node on the memory store, and kill -9 to a transfer moving again.
//
// Run: npx tsx bench/apps.ts   (or import { run } and await it; BENCH_QUICK=1 for seconds). About 3 min.

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
import { filesService, getFile, putFile } from '../src/apps/files.js';
import { continuity } from './apps-continuity.js';

const FILE_MB = Number(process.env.BENCH_FILE_MB ?? 50);
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
    const raw = await rawTcpCopy(join(base, 'src.bin'), join(base, 'raw.bin'));
    const got = await getFile(url, 'src.bin', join(base, 'got.bin'));
    const put = await putFile(url, join(base, 'got.bin'), 'put.bin');
    console.log(`  files, ${FILE_MB} MB over TCP loopback`);
    console.log(`    raw TCP copy (no session, no hash)   ${mbps(raw).padStart(7)} MB/s`);
    console.log(
      `    getFile (sync points, fsync, SHA-256) ${mbps(got.elapsedMs).padStart(7)} MB/s  (${(raw / got.elapsedMs).toFixed(2)} x raw)`,
    );
    console.log(
      `    putFile (sync points, fsync, SHA-256) ${mbps(put.elapsedMs).padStart(7)} MB/s  (${(raw / put.elapsedMs).toFixed(2)} x raw)`,
    );

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
  await continuity();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
