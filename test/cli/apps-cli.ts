// Spawned processes for the get/put/call end-to-end tests: the `colloquy` CLI from source through
// tsx, and the apps fixture server (test/apps/fixtures/apps-server.ts). Every child is stopped
// by its PID (never by name) and killed when the test process exits.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running)
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
});

/** Starts `colloquy ARGS`; `done` resolves when it exits (killed with SIGKILL after timeoutMs). */
export function spawnColloquy(
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}src/cli/main.ts`, ...args], {
    cwd: options.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    stdout += d;
  });
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  const timer = setTimeout(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  }, options.timeoutMs ?? 120_000);
  const done = new Promise<Run>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

export function colloquy(args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return spawnColloquy(args, options).done;
}

export interface FixtureServer {
  tcp: string;
  ws: string;
  tcpPort: number;
  stop(): Promise<void>;
}

/** Spawns the apps fixture server on free ports, serving `files`; resolves once it is listening. */
export function startFixtureServer(files: string): Promise<FixtureServer> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', `${ROOT}test/apps/fixtures/apps-server.ts`, '--files', files],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the fixture server did not listen within 60 s: ${stderr}`));
    }, 60_000);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the fixture server exited before listening: ${stderr}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let m: { event?: string; tcp?: string; ws?: string };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return;
      }
      if (m.event !== 'listening' || !m.tcp || !m.ws) return;
      clearTimeout(timer);
      resolve({
        tcp: m.tcp,
        ws: m.ws,
        tcpPort: Number(new URL(m.tcp).port),
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(t);
        },
      });
    });
  });
}
