// The memory-store mode, with real processes: a `colloquy serve --store memory` node and four
// commands as a user runs them (get, put, chat; then call of a slow method on a second node),
// each its own process connected straight to the node. The node is killed with SIGKILL while
// they are mid-work:
// nothing can continue (the sessions were in that process's memory only), and every command
// says so plainly (NODE_GONE_MESSAGE, which the client knows to say because the server's ACCEPT
// told it the session was not durable) and exits non-zero, soon, not after the resume window.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE_GONE_MESSAGE } from '../../src/client/connect.js';
import { ANONYMOUS, startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1024 * 1024;
/** Big enough that both transfers are still moving when the node dies (sparse: no disk, no CPU to make). */
const SIZE = 512 * MiB;
/** Bounded waits: generous, for a machine at load average 20. */
const WAIT_MS = 90_000;

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function cli(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'], // stdin stays open: chat reads it until the end
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function until(check: () => Promise<boolean> | boolean, what: string, runs: Run[] = []): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}; the commands printed:\n${runs.map((r) => `${r.child.spawnargs.slice(3, 5).join(' ')} (exit ${String(r.child.exitCode)}): ${r.out()}${r.err()}`).join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('memory store: the node dies, and every command says that nothing could continue', () => {
  const runs: Run[] = [];
  let node: ServeNode | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    if (node && node.process.exitCode === null && node.process.signalCode === null) node.process.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('get, put, call and chat each print NODE_GONE_MESSAGE and exit 1 after kill -9 of the node', async () => {
    dir = await mkdtemp(join(tmpdir(), 'colloquy-memory-gone-'));
    const files = join(dir, 'files');
    const local = join(dir, 'local');
    await mkdir(files);
    await mkdir(local);
    await writeFile(join(files, 'big.bin'), '');
    await truncate(join(files, 'big.bin'), SIZE);
    await writeFile(join(local, 'up.bin'), '');
    await truncate(join(local, 'up.bin'), SIZE);
    const sessions = async (n: ServeNode): Promise<number> =>
      ((await (await fetch(new URL('/api/health', n.http))).json()) as { sessions: number }).sessions;
    const uploadBytes = async (): Promise<number> => {
      const names = (await readdir(files)).filter((n) => n.startsWith('.colloquy-upload-'));
      const sizes = await Promise.all(names.map((n) => sizeOf(join(files, n))));
      return Math.max(0, ...sizes);
    };

    // The transfers and a chat member: killed once both transfers are moving.
    const first = await startServe(['--store', 'memory', '--files', files, ...ANONYMOUS]);
    node = first;
    const get = cli(['get', first.tcp, 'big.bin', '-o', join(local, 'big.bin')]);
    const put = cli(['put', first.tcp, join(local, 'up.bin'), 'up.bin']);
    const chat = cli(['chat', first.tcp, '--nick', 'ada', '--room', 'gone']);
    const batch = [get, put, chat];
    runs.push(...batch);
    await until(() => chat.out().includes('* joined gone as ada'), 'chat to join', batch);
    await until(
      async () => (await sizeOf(join(local, 'big.bin.colloquy-part'))) > 4 * MiB && (await uploadBytes()) > 4 * MiB,
      'both transfers to be moving',
      batch,
    );
    first.process.kill('SIGKILL');
    const firstEnds = await Promise.all(batch.map((r) => r.exited));

    // A call to a slow method (it runs well within serve's 30 s callTimeoutMs): killed mid-call.
    const second = await startServe(['--store', 'memory', '--files', files, ...ANONYMOUS]);
    node = second;
    const call = cli(['call', second.tcp, 'sleep', '{"ms":20000}', '--timeout', '0']);
    runs.push(call);
    await until(async () => (await sessions(second)) >= 1, 'the call to be running', [call]);
    await new Promise((r) => setTimeout(r, 500)); // the request is on its way, or running
    second.process.kill('SIGKILL');
    const callEnd = await call.exited;

    const ended = [...firstEnds, callEnd];
    ['get', 'put', 'chat', 'call'].forEach((name, i) => {
      const run = [get, put, chat, call][i] as Run;
      expect({ command: name, code: ended[i] }).toEqual({ command: name, code: 1 });
      expect(run.err(), `${name}'s stderr`).toContain(NODE_GONE_MESSAGE);
    });
    // The download kept its checkpoint: the same command again goes on from there.
    expect(await sizeOf(join(local, 'big.bin.colloquy-part'))).toBeGreaterThan(4 * MiB);
  }, 300_000);
});
