// `colloquy serve` as a real process for tests: spawned from source with tsx on free ports,
// ready when it prints its "listening" JSON line, stopped by PID (SIGTERM: serve releases its
// sessions and exits 0; SIGKILL if it has not STOP_KILL_MARGIN_MS after its stop deadline).
//
//   const node = await startServe(['--store', redisUrl]);
//   ... node.http, node.ws, node.tcp ...
//   await node.stop();

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CLOSE_TIMEOUT_MS } from '../../src/server/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** How long a node may take to print its listening line (tsx compiles on first start). */
export const SERVE_START_TIMEOUT_MS = 60_000;
/**
 * For tests whose clients use the services without a login or credentials: anonymous use is a
 * choice (docs/security.md, protected mode). It is the default on loopback anyway; passing it
 * says that the test relies on it.
 */
export const ANONYMOUS: readonly string[] = ['--access', 'anyone'];
/** Test admin token, passed to every node started here. */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface ServeNode {
  /** http://127.0.0.1:P/ */
  http: string;
  /** ws://127.0.0.1:P/session */
  ws: string;
  /** tcp://127.0.0.1:Q */
  tcp: string;
  adminToken: string;
  process: ChildProcess;
  /** Every JSON line after "listening", parsed, in order. */
  events: Record<string, unknown>[];
  /** The first event line named `event` (already printed or still to come); rejects if the node exits first. */
  event(event: string): Promise<Record<string, unknown>>;
  /** Everything the node wrote to stderr. */
  stderr(): string;
  /**
   * SIGTERM (or `signal`) and wait for the exit; resolves with the exit code (null if killed).
   * SIGKILL if it has not exited STOP_KILL_MARGIN_MS after its stop deadline (--stop-timeout,
   * default 10 s): serve itself ends by its deadline plus a second, so a kill means it did not.
   */
  stop(signal?: 'SIGTERM' | 'SIGINT'): Promise<number | null>;
}

/** How long past its stop deadline a node may take to exit before stop() kills it. */
export const STOP_KILL_MARGIN_MS = 5000;

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

/**
 * Spawns `node --import tsx src/cli/main.ts serve --port 0 --tcp-port 0 --json` with `args`
 * appended (a later option wins), a fresh --files directory unless given, and the test admin
 * token unless given; resolves once it is listening.
 */
export function startServe(
  args: readonly string[] = [],
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<ServeNode> {
  const files = args.includes('--files')
    ? []
    : ['--files', join(mkdtempSync(join(tmpdir(), 'colloquy-serve-')), 'files')];
  const token = args.includes('--admin-token') ? [] : ['--admin-token', TEST_ADMIN_TOKEN];
  const adminToken = args.includes('--admin-token')
    ? (args[args.indexOf('--admin-token') + 1] as string)
    : TEST_ADMIN_TOKEN;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'serve',
      '--port',
      '0',
      '--tcp-port',
      '0',
      '--json',
      ...files,
      ...token,
      ...args,
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    },
  );
  running.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  const events: Record<string, unknown>[] = [];
  const waiters = new Set<(e: Record<string, unknown>) => void>();
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );

  return new Promise<ServeNode>((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      if (ready) return;
      child.kill('SIGKILL');
      reject(
        new Error(
          `colloquy serve did not print its listening line within ${SERVE_START_TIMEOUT_MS} ms; stderr:\n${stderr}`,
        ),
      );
    }, SERVE_START_TIMEOUT_MS);
    void exited.then((code) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new Error(`colloquy serve exited with ${String(code)} before listening; stderr:\n${stderr}`));
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (text) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return; // not ours to judge here; the serve tests check every line is JSON
      }
      if (ready) {
        events.push(parsed);
        for (const w of [...waiters]) w(parsed);
        return;
      }
      if (parsed.event !== 'listening') return;
      ready = true;
      clearTimeout(timer);
      const stop = async (signal: 'SIGTERM' | 'SIGINT' = 'SIGTERM'): Promise<number | null> => {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        child.kill(signal);
        const at = args.lastIndexOf('--stop-timeout');
        const deadline = at >= 0 ? Number(args[at + 1]) : DEFAULT_CLOSE_TIMEOUT_MS;
        const kill = setTimeout(() => {
          if (child.pid && child.exitCode === null) child.kill('SIGKILL');
        }, deadline + STOP_KILL_MARGIN_MS);
        const code = await exited;
        clearTimeout(kill);
        return code;
      };
      const event = (name: string): Promise<Record<string, unknown>> => {
        const seen = events.find((e) => e.event === name);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolveEvent, rejectEvent) => {
          const w = (e: Record<string, unknown>): void => {
            if (e.event === name) {
              waiters.delete(w);
              resolveEvent(e);
            }
          };
          waiters.add(w);
          void exited.then((code) => {
            if (waiters.delete(w))
              rejectEvent(new Error(`colloquy serve exited (${String(code)}) before printing a '${name}' event`));
          });
        });
      };
      resolve({
        http: parsed.http as string,
        ws: parsed.ws as string,
        tcp: parsed.tcp as string,
        adminToken,
        process: child,
        events,
        event,
        stderr: () => stderr,
        stop,
      });
    });
  });
}
