// `colloquy get` of a large file against the plain thing a user would type instead (issue 14):
// `curl` from `python3 -m http.server` piped into `sha256sum`, same file, page cache warm.
//
//   ours:  node dist/cli/main.js get tcp://127.0.0.1:P big.bin -o OUT   (against `colloquy serve
//          --files DIR`, both built: run `npm run build` first). It writes the file with a sync
//          point every 2 MiB (fdatasync and a checkpoint there) and checks SHA-256 at both ends.
//   peer:  sh -c 'curl -s http://127.0.0.1:P/big.bin | sha256sum'   (nothing written to disk)
//
// Each command runs under /usr/bin/time (wall, user and system CPU of the client and its
// children); the server's CPU is read from /proc/PID/stat before and after. Rounds alternate
// ours and the peer; printed per round with the ratio (peer wall / our wall: >= 1.0 means we are
// at least as fast), and CPU ms per MB, which the machine's load does not skew the way wall time
// is skewed.
//
// Run: npm run build && npx tsx bench/apps-get-cli.ts   (BENCH_GET_MB, default 200; BENCH_GET_ROUNDS, default 2)

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { recordTarget } from './targets.js';

const MB = Number(process.env.BENCH_GET_MB ?? 200);
const ROUNDS = Number(process.env.BENCH_GET_ROUNDS ?? 2);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
/** Longest a server may take to start, and a command to run. */
const START_MS = 30_000;
const RUN_MS = 300_000;
const GET_MEASURE = `colloquy get / curl | sha256sum, ${MB} MB (peer time / ours)`;
const TICK_MS = 10; // USER_HZ on Linux: /proc/PID/stat counts CPU in 1/100 s

interface Timed {
  wallMs: number;
  cpuMs: number;
  stdout: string;
}

/** Runs `cmd args` under /usr/bin/time; rejects on a non-zero exit or after RUN_MS. */
function timed(cmd: string, args: string[]): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'TIME %e %U %S', cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${cmd} ${args.join(' ')} exited ${String(code)}: ${err}`));
      resolve({
        wallMs: Number(m[1]) * 1000,
        cpuMs: (Number(m[2]) + Number(m[3])) * 1000,
        stdout: out,
      });
    });
  });
}

/** CPU ms a process has used so far (user + system). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Resolves when something accepts connections on `port`, or rejects after START_MS. */
async function reachable(port: number): Promise<void> {
  const until = Date.now() + START_MS;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${port} after ${START_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `colloquy serve --files DIR` from dist; resolves with its tcp URL once it prints `listening`. */
function startServe(files: string): Promise<{ child: ChildProcess; tcp: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--port', '0', '--tcp-port', '0', '--json', '--files', files],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let buf = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`colloquy serve did not listen within ${START_MS} ms: ${err}`));
    }, START_MS);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const e = JSON.parse(line) as { event?: string; tcp?: string };
          if (e.event === 'listening' && e.tcp) {
            clearTimeout(timer);
            resolve({ child, tcp: e.tcp });
          }
        } catch {
          // not a JSON line
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`colloquy serve exited ${String(code)}: ${err}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(kill);
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function run(): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(`apps: colloquy get vs curl | sha256sum, ${MB} MB (load average ${load})`);
  if (!existsSync(CLI)) {
    console.log(`  skipped: ${CLI} is missing (npm run build first)`);
    recordTarget({ measure: GET_MEASURE, ours: 'skipped: npm run build first', target: '>= 1.0x' });
    return;
  }
  const base = await mkdtemp(join(tmpdir(), 'colloquy-bench-get-'));
  const files = join(base, 'files');
  await mkdir(files);
  const big = join(files, 'big.bin');
  const fh = await open(big, 'w');
  for (let i = 0; i < MB; i++) await fh.write(randomBytes(1024 * 1024));
  await fh.close();
  const expected = await sha256(big); // and the page cache is warm
  const httpPort = await freePort();
  const http = spawn('python3', ['-m', 'http.server', String(httpPort), '--bind', '127.0.0.1', '--directory', files], {
    stdio: 'ignore',
  });
  let serve: { child: ChildProcess; tcp: string } | undefined;
  try {
    serve = await startServe(files);
    await reachable(httpPort);
    const perMb = (ms: number): string => (ms / MB).toFixed(2);
    for (let round = 1; round <= ROUNDS; round++) {
      const out = join(base, `got-${round}.bin`);
      const s0 = cpuOf(serve.child.pid as number);
      const ours = await timed(process.execPath, [CLI, 'get', serve.tcp, 'big.bin', '-o', out, '--json']);
      const oursServer = cpuOf(serve.child.pid as number) - s0;
      const got = JSON.parse(ours.stdout.trim().split('\n').pop() as string) as { sha256?: string };
      if (got.sha256 !== expected) throw new Error(`colloquy get: SHA-256 ${String(got.sha256)}, expected ${expected}`);
      await rm(out, { force: true });
      const h0 = cpuOf(http.pid as number);
      const peer = await timed('sh', ['-c', `curl -s http://127.0.0.1:${httpPort}/big.bin | sha256sum`]);
      const peerServer = cpuOf(http.pid as number) - h0;
      if (!peer.stdout.startsWith(expected)) throw new Error(`curl | sha256sum printed ${peer.stdout}`);
      console.log(`  round ${round}`);
      console.log(
        `    colloquy get             ${(ours.wallMs / 1000).toFixed(2).padStart(6)} s  ${(MB / (ours.wallMs / 1000)).toFixed(0).padStart(5)} MB/s  CPU ms/MB: client ${perMb(ours.cpuMs)}, server ${perMb(oursServer)}, both ${perMb(ours.cpuMs + oursServer)}`,
      );
      console.log(
        `    curl | sha256sum (peer)  ${(peer.wallMs / 1000).toFixed(2).padStart(6)} s  ${(MB / (peer.wallMs / 1000)).toFixed(0).padStart(5)} MB/s  CPU ms/MB: client ${perMb(peer.cpuMs)}, server ${perMb(peerServer)}, both ${perMb(peer.cpuMs + peerServer)}`,
      );
      console.log(
        `    ratio (peer time / ours) ${(peer.wallMs / ours.wallMs).toFixed(2)}x   CPU ours / peer ${((ours.cpuMs + oursServer) / (peer.cpuMs + peerServer)).toFixed(2)}x   (target: ratio >= 1.0)`,
      );
      recordTarget({
        measure: GET_MEASURE,
        ours: `${(ours.wallMs / 1000).toFixed(2)} s`,
        peer: `${(peer.wallMs / 1000).toFixed(2)} s`,
        ratio: peer.wallMs / ours.wallMs,
        target: '>= 1.0x',
        explained: 'docs/apps.md#Files at the limit',
      });
    }
  } finally {
    if (serve) await stop(serve.child);
    await stop(http);
    await rm(base, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
