// Real load balancers and Colloquy nodes as child processes, for test/deploy and bench/stores.ts.
//
//   - startNode: test/deploy/node.ts in its own process (kill -9 able), ready when it says so.
//   - haproxyConfig: deploy/haproxy.cfg as shipped, with only the addresses changed (the bind
//     line and each server line); it throws if the shipped file no longer has that shape, so the
//     test always runs the file users get.
//   - startHaproxy: `haproxy -db -f <generated>` on a free port, ready once a request through it
//     is answered by a node. Stopped by PID.
//   - nginxConfig / startNginx: the same for deploy/nginx.conf (an http-context file, wrapped in
//     a minimal main configuration with a private prefix, pid and logs).

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CI, freePort, probe, spawnLogged } from '../support/redis.js';
import type { Spawned } from '../support/redis.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The first of `candidates` that runs with `args`, or null. */
function findBinary(candidates: string[], args: string[]): string | null {
  for (const c of candidates) {
    const r = spawnSync(c, args, { stdio: 'ignore', timeout: 10_000 });
    if (!r.error && r.status === 0) return c;
  }
  return null;
}

export const HAPROXY = findBinary(['haproxy', '/usr/sbin/haproxy'], ['-v']);
export const NGINX = findBinary(['nginx', '/usr/sbin/nginx'], ['-v']);

/**
 * True when a suite needing `what` must be skipped: only when it is missing outside CI, with a
 * loud notice. Under CI=true it is never skipped (the suite runs and fails; .ci/run installs it).
 */
export function skipWithoutBinary(found: string | null, what: string, suite: string, install: string): boolean {
  if (found) return false;
  if (CI) {
    console.error(
      `\n!!! ${suite}: ${what} is missing under CI=true; the suite runs and will FAIL (.ci/run installs it).\n`,
    );
    return false;
  }
  console.warn(
    `\n${'!'.repeat(100)}\n!!! ${suite} SKIPPED: ${what} is not installed, so the shipped deploy/ configuration is NOT being checked.\n` +
      `!!! Install it with: ${install}   (under CI=true this suite runs instead, and .ci/run installs it)\n${'!'.repeat(100)}\n`,
  );
  return true;
}

// -- nodes ------------------------------------------------------------------------------------

export interface Node {
  readonly name: string;
  readonly child: ChildProcess;
  /** The HTTP + WebSocket port. */
  readonly port: number;
  /** The native TCP port (0 unless started with tcp). */
  readonly tcpPort: number;
  /** SIGKILL: the kernel closes its sockets, none of its code runs again. Resolves once it exited. */
  kill(): Promise<void>;
}

const nodes = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of nodes) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts test/deploy/node.ts as `name` with `store` ('memory' or a redis:// URL). */
export function startNode(name: string, store: string, options: { tcp?: boolean; port?: number } = {}): Promise<Node> {
  const args = [
    '--import',
    'tsx',
    join(ROOT, 'test/deploy/node.ts'),
    name,
    store,
    ...(options.tcp ? ['--tcp'] : []),
    ...(options.port ? ['--port', String(options.port)] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  nodes.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      nodes.delete(child);
      resolve();
    });
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${name} did not start within 30 s`));
    }, 30_000);
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /ready (\d+) (\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      resolve({
        name,
        child,
        port: Number(m[1]),
        tcpPort: Number(m[2]),
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`node ${name} exited (${String(code ?? signal)}) before it was ready`));
    });
  });
}

// -- HAProxy ----------------------------------------------------------------------------------

/** deploy/haproxy.cfg with the frontend bound to 127.0.0.1:`port` and server i at `backends[i]`. */
export function haproxyConfig(port: number, backends: { name: string; port: number }[]): string {
  const shipped = readFileSync(join(ROOT, 'deploy/haproxy.cfg'), 'utf8');
  let binds = 0;
  let servers = 0;
  const lines = shipped.split('\n').map((line) => {
    if (/^\s*bind\s+/.test(line)) {
      binds++;
      return line.replace(/^(\s*bind\s+)\S+/, `$1127.0.0.1:${port}`);
    }
    const server = /^(\s*server\s+)(\S+)\s+\S+(.*)$/.exec(line);
    if (server) {
      const backend = backends[servers++];
      if (!backend) return `# (not used in this test) ${line.trim()}`;
      return `${server[1]}${backend.name} 127.0.0.1:${backend.port}${server[3]}`.replace(
        /cookie \S+/,
        `cookie ${backend.name}`,
      );
    }
    return line;
  });
  if (binds !== 1 || servers < backends.length) {
    throw new Error(
      `deploy/haproxy.cfg changed shape: expected 1 bind line and >= ${backends.length} server lines, found ${binds} and ${servers}; update test/deploy/lb.ts`,
    );
  }
  return lines.join('\n');
}

export interface Balancer {
  readonly port: number;
  readonly url: string;
  readonly config: string;
  stop(): Promise<void>;
}

async function answers(port: number, path: string): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
  await res.arrayBuffer();
  return res.status === 200;
}

async function startProxy(
  kind: string,
  write: (dir: string, port: number) => { command: string; args: string[]; config: string },
  probePath = '/whoami',
): Promise<Balancer> {
  for (let attempt = 0; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), `colloquy-${kind}-`));
    const port = await freePort();
    const { command, args, config } = write(dir, port);
    const proc: Spawned = spawnLogged(command, args, join(dir, `${kind}.log`));
    const stop = async (): Promise<void> => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      await probe(`${kind} on ${port}`, () => answers(port, probePath), {
        alive: () => proc.child.exitCode === null && proc.child.signalCode === null,
        log: proc.log,
      });
      return { port, url: `http://127.0.0.1:${port}`, config, stop };
    } catch (error) {
      await stop();
      if (attempt >= 2) throw error; // the free port may have been taken meanwhile: try a few
    }
  }
}

/** Ready once `probePath` (default /whoami, test/deploy/node.ts; /api/health for colloquy serve) answers 200 through it. */
export function startHaproxy(backends: { name: string; port: number }[], probePath?: string): Promise<Balancer> {
  return startProxy(
    'haproxy',
    (dir, port) => {
      const config = haproxyConfig(port, backends);
      const file = join(dir, 'haproxy.cfg');
      writeFileSync(file, config);
      return { command: HAPROXY as string, args: ['-db', '-f', file], config };
    },
    probePath,
  );
}

// -- nginx --------------------------------------------------------------------------------------

/** deploy/nginx.conf with the server listening on 127.0.0.1:`port` and node i at `backends[i]`. */
export function nginxConfig(port: number, backends: { name: string; port: number }[]): string {
  const shipped = readFileSync(join(ROOT, 'deploy/nginx.conf'), 'utf8');
  // Every address of node i (10.0.0.1i:7200 in the shipped file) becomes 127.0.0.1:<its port>.
  let replaced = 0;
  let text = shipped.replace(/10\.0\.0\.1(\d):7200/g, (all, digit: string) => {
    const backend = backends[Number(digit) - 1];
    if (!backend) return all;
    replaced++;
    return `127.0.0.1:${backend.port}`;
  });
  // The map from upstream address to node name matches the escaped form too.
  text = text.replace(/10\\\.0\\\.0\\\.1(\d):7200/g, (all, digit: string) => {
    const backend = backends[Number(digit) - 1];
    if (!backend) return all;
    replaced++;
    return `127\\.0\\.0\\.1:${backend.port}`;
  });
  let listens = 0;
  text = text.replace(/^(\s*listen\s+)\S+;/gm, (_all, head: string) => {
    listens++;
    return `${head}127.0.0.1:${port};`;
  });
  if (listens !== 1 || replaced < backends.length * 2) {
    throw new Error(
      `deploy/nginx.conf changed shape: expected 1 listen line and node addresses 10.0.0.1N:7200; found ${listens} and ${replaced}; update test/deploy/lb.ts`,
    );
  }
  return text;
}

/** Ready once `probePath` (default /whoami; /api/health for colloquy serve) answers 200 through it. */
export function startNginx(backends: { name: string; port: number }[], probePath?: string): Promise<Balancer> {
  return startProxy(
    'nginx',
    (dir, port) => {
      const config = nginxConfig(port, backends);
      writeFileSync(join(dir, 'colloquy.conf'), config);
      const main = join(dir, 'nginx.conf');
      writeFileSync(
        main,
        [
          'daemon off;',
          'worker_processes 1;',
          `pid ${join(dir, 'nginx.pid')};`,
          `error_log ${join(dir, 'error.log')} warn;`,
          'events { worker_connections 1024; }',
          'http {',
          `  access_log off;`,
          `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
          `  include ${join(dir, 'colloquy.conf')};`,
          '}',
          '',
        ].join('\n'),
      );
      return { command: NGINX as string, args: ['-p', dir, '-e', join(dir, 'error.log'), '-c', main], config };
    },
    probePath,
  );
}
