// The client says why, with real processes: a `colloquy serve --store redis://…` node ends the
// sessions of four commands as a user runs them (get, put, call, chat): each command is frozen
// (SIGSTOP) until the node, hearing nothing, gave its session up (the resume window ran out:
// ERR_RESUME_WINDOW_EXPIRED, kept in the store's tombstone with the node's reason). Thawed, each
// redials and is refused. Every command prints the server's code and reason, not a bare resume
// refusal: get and put in the notice with which they go on in a new session, call and chat in
// the error they exit with. "The node gave it up" is read from the node's own event lines.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { ANONYMOUS, startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';

const skip = skipWithout('redis-server', 'the client says why', 'apt-get install redis-server');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1024 * 1024;
/** Big enough that both transfers are still moving when they are frozen (sparse: no disk). */
const SIZE = 512 * MiB;
/** Bounded waits: generous, for a machine at load average 20 (the node notices silence after 2 heartbeats of 15 s). */
const WAIT_MS = 120_000;

interface Run {
  name: string;
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function cli(name: string, args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'], // stdin stays open: chat reads it until the end
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, out: () => out, err: () => err, exited };
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, runs: Run[]): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}; the commands printed:\n${runs.map((r) => `${r.name} (exit ${String(r.child.exitCode)}): ${r.out()}${r.err()}`).join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 20)); // polls a condition; nothing is timed by it
  }
}

describe.skipIf(skip)('the client says why: the server ended the session', () => {
  let redis: RedisServer;
  let node: ServeNode | undefined;
  let dir: string | undefined;
  const runs: Run[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    for (const r of runs)
      if (r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill('SIGCONT');
        r.child.kill('SIGKILL');
      }
    if (node && node.process.exitCode === null && node.process.signalCode === null) node.process.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
    await redis?.stop();
  });

  it('get, put, call and chat each print the code and reason the server ended their session with', async () => {
    dir = await mkdtemp(join(tmpdir(), 'colloquy-why-'));
    const files = join(dir, 'files');
    const local = join(dir, 'local');
    await mkdir(files);
    await mkdir(local);
    await writeFile(join(files, 'big.bin'), '');
    await truncate(join(files, 'big.bin'), SIZE);
    await writeFile(join(local, 'up.bin'), '');
    await truncate(join(local, 'up.bin'), SIZE);
    node = await startServe(['--store', redis.url, '--files', files, '--resume-window-ms', '1000', ...ANONYMOUS]);
    const n = node;
    const opened = (): number => n.events.filter((e) => e['event'] === 'session').length;
    const ended = (): Record<string, unknown>[] =>
      n.events.filter((e) => e['event'] === 'closed' && typeof e['error'] === 'string');

    const batch = [
      cli('get', ['get', n.tcp, 'big.bin', '-o', join(local, 'big.bin')]),
      cli('put', ['put', n.tcp, join(local, 'up.bin'), 'up.bin']),
      cli('call', ['call', n.tcp, 'sleep', '{"ms":60000}', '--timeout', '0']),
      cli('chat', ['chat', n.tcp, '--nick', 'ada', '--room', 'why']),
    ];
    runs.push(...batch);
    const uploadBytes = async (): Promise<number> => {
      const names = (await readdir(files)).filter((f) => f.startsWith('.colloquy-upload-') && !f.endsWith('.json'));
      return Math.max(0, ...(await Promise.all(names.map((f) => sizeOf(join(files, f))))));
    };
    // Well into their work (frozen mid-handshake, a command's overdue handshake timer would fire
    // on the thaw before it read the answer waiting in its socket: another story).
    await until(
      async () =>
        opened() >= 4 &&
        batch[3]?.out().includes('* joined why as ada') === true &&
        (await sizeOf(join(local, 'big.bin.colloquy-part'))) > 4 * MiB &&
        (await uploadBytes()) > 4 * MiB,
      'four sessions, both transfers moving',
      batch,
    );
    for (const r of batch) r.child.kill('SIGSTOP');
    await until(() => ended().length >= 4, 'the node to end the four sessions', batch);
    const reasons = ended().map((e) => String(e['error']));
    for (const why of reasons) expect(why).toMatch(/^ERR_RESUME_WINDOW_EXPIRED: /);
    for (const r of batch) r.child.kill('SIGCONT');

    const said = (r: Run): boolean => /ERR_RESUME_WINDOW_EXPIRED/.test(r.err());
    await until(() => batch.every(said), 'every command to say why', batch);
    for (const r of batch) {
      // The server's reason, as the node gave it (its message, not only its code).
      const message = (reasons[0] as string).replace(/^ERR_RESUME_WINDOW_EXPIRED: /, '').slice(0, 30);
      expect(r.err(), `${r.name}'s stderr`).toContain(message);
    }
    const [, , call, chat] = batch as [Run, Run, Run, Run];
    expect(await call.exited).toBe(1);
    chat.child.stdin?.end();
    expect(await chat.exited).toBe(1);
  }, 300_000);
});
