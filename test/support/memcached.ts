// A real memcached for the store tests: `memcached -p N -U 0 -l 127.0.0.1` on a free port,
// probed with the text protocol's `version` (bounded retries) and stopped by PID.

import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, probe, spawnLogged, type Spawned } from './redis.js';

export { CI, have, skipWithout } from './redis.js';

const HOST = '127.0.0.1';

export interface MemcachedServer {
  readonly host: string;
  readonly port: number;
  /** memjs server string, host:port. */
  readonly servers: string;
  readonly pid: number;
  /** Stops the process (SIGTERM by PID). */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty). */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/** Sends one text-protocol line and resolves with the first reply line. */
export function memcachedLine(port: number, line: string, timeoutMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: HOST, port });
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`memcached on ${port}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      const eol = buffer.indexOf('\r\n');
      if (eol >= 0) {
        clearTimeout(timer);
        socket.destroy();
        resolve(buffer.slice(0, eol));
      }
    });
    socket.write(`${line}\r\n`);
  });
}

export async function startMemcached(): Promise<MemcachedServer> {
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-memcached-'));
  let port = 0;
  let proc: Spawned | null = null;
  const launch = async (): Promise<void> => {
    const args = ['-p', String(port), '-U', '0', '-l', HOST, '-m', '64'];
    if (process.getuid?.() === 0) args.push('-u', 'root'); // memcached refuses to run as root otherwise
    const p = spawnLogged('memcached', args, join(dir, 'memcached.log'));
    proc = p;
    await probe(`memcached on ${port}`, async () => (await memcachedLine(port, 'version')).startsWith('VERSION'), {
      alive: () => p.child.exitCode === null && p.child.signalCode === null,
      log: p.log,
    });
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      await (proc as Spawned | null)?.stop();
      if (attempt >= 2) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  return {
    host: HOST,
    port,
    servers: `${HOST}:${port}`,
    get pid() {
      return (proc as Spawned | null)?.pid ?? 0;
    },
    async kill() {
      await (proc as Spawned | null)?.stop();
    },
    async restart() {
      await (proc as Spawned | null)?.stop();
      await launch();
    },
    async stop() {
      await (proc as Spawned | null)?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
