// Real Redis processes for the store tests: a standalone redis-server, a 3-master Cluster and a
// Sentinel setup, each on free loopback ports in its own temporary directory, started by the
// test and stopped by PID. Readiness is probed (PING, CLUSTER INFO, SENTINEL
// get-master-addr-by-name) with bounded retries; nothing sleeps for a fixed time.
//
// Without redis-server the suites are skipped with a loud notice, except under CI=true, where
// they run and fail (.ci/run installs the Debian package).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export const CI = !['', '0', 'false'].includes((process.env.CI ?? '').toLowerCase());
const HOST = '127.0.0.1';

/** True when `binary` runs (`binary --version`). */
export function have(binary: string): boolean {
  const r = spawnSync(binary, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  return !r.error && r.status === 0;
}

/**
 * Whether a suite needing `binary` must be skipped: only when it is missing outside CI, with a
 * loud notice. Under CI=true a missing binary is not skipped (the suite runs and fails).
 */
export function skipWithout(binary: string, suite: string, install: string): boolean {
  if (have(binary)) return false;
  if (CI) {
    console.error(
      `\n!!! ${suite}: ${binary} is missing under CI=true; the suite runs and will FAIL (.ci/run installs it).\n`,
    );
    return false;
  }
  console.warn(
    `\n${'!'.repeat(100)}\n!!! ${suite} SKIPPED: ${binary} is not installed, so this store is NOT being checked against a real server.\n` +
      `!!! Install it with: ${install}   (under CI=true this suite runs instead, and .ci/run installs it)\n${'!'.repeat(100)}\n`,
  );
  return true;
}

// -- processes ------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
process.once('exit', () => {
  // Last resort if a test run dies before its afterAll: kill what this process started, by PID.
  for (const child of children)
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
});

export interface Spawned {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly log: string;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s; resolves when it has exited. */
  stop(): Promise<void>;
}

export function spawnLogged(command: string, args: string[], log: string): Spawned {
  const fd = openSync(log, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.once('error', () => undefined); // e.g. ENOENT: reported below, never as an uncaught 'error'
  if (!child.pid) throw new Error(`could not start ${command} (is it installed?)`);
  children.add(child);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => {
      children.delete(child);
      resolve();
    });
  });
  const pid = child.pid;
  return {
    pid,
    child,
    log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      if (await within(exited, 5000)) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        return;
      }
      await within(exited, 5000);
    },
  };
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    p.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return r;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A free loopback port (and, with `bus`, port + 10000 free too, for a Cluster bus). */
export async function freePort(bus = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(0);
    if (!bus) return port;
    if (
      port + 10000 < 65536 &&
      (await listenOnce(port + 10000).then(
        () => true,
        () => false,
      ))
    )
      return port;
  }
  throw new Error('no free port found in 50 attempts');
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, HOST, () => {
      const address = server.address();
      const got = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(got));
    });
  });
}

// -- a minimal RESP client for probes --------------------------------------------------------

export type Resp = string | number | null | Error | Resp[];

/** Sends one command to host:port and resolves with its reply (rejects on timeout or socket error). */
export function redisCommand(port: number, args: (string | number)[], timeoutMs = 1000): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: HOST, port });
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${args[0]} on ${port}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseResp(buffer, 0);
      if (parsed) {
        clearTimeout(timer);
        socket.destroy();
        resolve(parsed.value);
      }
    });
    socket.write(
      `*${args.length}\r\n${args
        .map((a) => {
          const s = String(a);
          return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
        })
        .join('')}`,
    );
  });
}

function parseResp(buf: Buffer, at: number): { value: Resp; end: number } | null {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[at] as number);
  const line = buf.toString('utf8', at + 1, eol);
  switch (type) {
    case '+':
      return { value: line, end: eol + 2 };
    case '-':
      return { value: new Error(line), end: eol + 2 };
    case ':':
      return { value: Number(line), end: eol + 2 };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return null;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + n), end: eol + 2 + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const out: Resp[] = [];
      let pos = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseResp(buf, pos);
        if (!item) return null;
        out.push(item.value);
        pos = item.end;
      }
      return { value: out, end: pos };
    }
    default:
      throw new Error(`unexpected RESP type ${type}`);
  }
}

/** Probes until `check` passes: at most `attempts` tries, 25 ms apart; fails fast if `alive` turns false. */
export async function probe(
  what: string,
  check: () => Promise<boolean>,
  options: { attempts?: number; alive?: () => boolean; log?: string } = {},
): Promise<void> {
  const attempts = options.attempts ?? 400;
  let last: unknown = null;
  for (let i = 0; i < attempts; i++) {
    if (options.alive && !options.alive())
      throw new Error(`${what}: the process exited\n${options.log ? tail(options.log) : ''}`);
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await delay(25);
  }
  throw new Error(
    `${what}: not ready after ${attempts} probes (${String(last)})\n${options.log ? tail(options.log) : ''}`,
  );
}

const pings = async (port: number): Promise<boolean> => (await redisCommand(port, ['PING'], 500)) === 'PONG';

// -- standalone -------------------------------------------------------------------------------

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** The running process's PID. */
  readonly pid: number;
  /** Stops the process (SIGTERM by PID), keeping its directory for restart(). */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>;
  /** Stops the process and removes its directory. */
  stop(): Promise<void>;
}

export async function startRedis(options: { extraArgs?: string[]; dir?: string } = {}): Promise<RedisServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'colloquy-redis-'));
  let port = 0;
  let proc: Spawned | null = null;
  const launch = async (): Promise<void> => {
    const args = [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      ...(options.extraArgs ?? []),
    ];
    const p = spawnLogged('redis-server', args, join(dir, 'redis.log'));
    proc = p;
    await probe(`redis-server on ${port}`, () => pings(port), {
      alive: () => p.child.exitCode === null && p.child.signalCode === null,
      log: p.log,
    });
  };
  // The free port may be taken between the probe and the bind: a few fresh ports, then give up.
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
    url: `redis://${HOST}:${port}`,
    dir,
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

// -- Cluster ----------------------------------------------------------------------------------

export interface RedisCluster {
  readonly nodes: { host: string; port: number }[];
  readonly pids: number[];
  /** The node on `port`, by PID (every node, primaries and replicas, in start order). */
  pidOf(port: number): number;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Replicas per primary (`redis-cli --cluster create --cluster-replicas`). Default 0. */
  replicas?: number;
  /** cluster-node-timeout: how long a primary may be silent before it is failed over. Default 5000 ms. */
  nodeTimeoutMs?: number;
}

/** One line of CLUSTER NODES: a node's ID, port, roles, the primary it replicates, its slot ranges. */
export interface ClusterNodeLine {
  id: string;
  port: number;
  flags: string[];
  primary: string | null;
  slots: [number, number][];
}

/** CLUSTER NODES asked of the node on `port`, parsed. */
export async function clusterNodes(port: number): Promise<ClusterNodeLine[]> {
  const text = await redisCommand(port, ['CLUSTER', 'NODES'], 1000);
  if (typeof text !== 'string') throw new Error(`CLUSTER NODES on ${port}: ${String(text)}`);
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.split(' ');
      const slots = f
        .slice(8)
        .filter((r) => /^\d/.test(r))
        .map((r): [number, number] => {
          const [a, b] = r.split('-').map(Number) as [number, number | undefined];
          return [a, b ?? a];
        });
      return {
        id: f[0] as string,
        port: Number((f[1] as string).split('@')[0]?.split(':')[1]),
        flags: (f[2] as string).split(','),
        primary: f[3] === '-' ? null : (f[3] as string),
        slots,
      };
    });
}

/**
 * Three primaries (and `replicas` replicas of each), slots assigned by `redis-cli --cluster
 * create`; resolves once every node says cluster_state ok with every node known and, with
 * replicas, every replica's link to its primary is up.
 */
export async function startRedisCluster(options: ClusterOptions = {}): Promise<RedisCluster> {
  const root = mkdtempSync(join(tmpdir(), 'colloquy-redis-cluster-'));
  const procs: Spawned[] = [];
  const ports: number[] = [];
  const replicas = options.replicas ?? 0;
  const count = 3 * (1 + replicas);
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      let port = await freePort(true);
      while (ports.includes(port)) port = await freePort(true);
      ports.push(port);
      const args = [
        '--port',
        String(port),
        '--bind',
        HOST,
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        root,
        '--daemonize',
        'no',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        String(options.nodeTimeoutMs ?? 5000),
      ];
      procs.push(spawnLogged('redis-server', args, join(root, `redis-${port}.log`)));
    }
    await Promise.all(
      ports.map((port, i) => {
        const p = procs[i] as Spawned;
        return probe(`cluster node ${port}`, () => pings(port), { alive: () => p.child.exitCode === null, log: p.log });
      }),
    );
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `${HOST}:${p}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed (${create.status}): ${create.stdout}\n${create.stderr}`);
    await Promise.all(
      ports.map((port) =>
        probe(
          `cluster state on ${port}`,
          async () => {
            const info = await redisCommand(port, ['CLUSTER', 'INFO'], 500);
            const ok =
              typeof info === 'string' &&
              info.includes('cluster_state:ok') &&
              info.includes('cluster_slots_ok:16384') &&
              info.includes(`cluster_known_nodes:${count}`);
            if (!ok || replicas === 0) return ok;
            const role = await redisCommand(port, ['INFO', 'replication'], 500);
            return typeof role === 'string' && (role.includes('role:master') || role.includes('master_link_status:up'));
          },
          { attempts: 800 },
        ),
      ),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const pids = procs.map((p) => p.pid);
  return {
    nodes: ports.map((port) => ({ host: HOST, port })),
    pids,
    pidOf: (port) => pids[ports.indexOf(port)] as number,
    stop,
  };
}

// -- Sentinel ---------------------------------------------------------------------------------

export interface RedisSentinel {
  readonly master: RedisServer;
  /** Replicas of the first master (options.replicas), in start order. */
  readonly replicas: RedisServer[];
  readonly sentinels: { host: string; port: number }[];
  readonly name: string;
  readonly pids: number[];
  /** PIDs of the Sentinel processes. */
  readonly sentinelPids: number[];
  stop(): Promise<void>;
}

export interface SentinelOptions {
  /** Replicas of the master (REPLICAOF), each in sync before this resolves. Default 0. */
  replicas?: number;
  /** Sentinel processes (quorum: a majority of them). Default 1. */
  sentinels?: number;
  /** How long a master must be silent before the Sentinels call it down. Default 5000 ms. */
  downAfterMs?: number;
  /** Sentinel's failover-timeout (how long before a stuck failover is tried again). Default 10000 ms. */
  failoverTimeoutMs?: number;
}

/**
 * One master, `replicas` replicas of it and `sentinels` `redis-server --sentinel` monitoring it
 * (quorum: a majority), from generated configs; resolves when every Sentinel names the master and
 * every replica reports its link up.
 */
export async function startRedisSentinel(name = 'colloquy', options: SentinelOptions = {}): Promise<RedisSentinel> {
  const master = await startRedis();
  const replicas: RedisServer[] = [];
  const procs: Spawned[] = [];
  const dirs: string[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all([master, ...replicas].map((r) => r.stop()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  const count = options.sentinels ?? 1;
  const quorum = Math.floor(count / 2) + 1;
  try {
    for (let i = 0; i < (options.replicas ?? 0); i++) {
      const replica = await startRedis({ extraArgs: ['--replicaof', HOST, String(master.port)] });
      replicas.push(replica);
      await probe(
        `replica on ${replica.port}`,
        async () => {
          const info = await redisCommand(replica.port, ['INFO', 'replication'], 500);
          return typeof info === 'string' && info.includes('master_link_status:up');
        },
        { attempts: 800 },
      );
    }
    const sentinels: { host: string; port: number }[] = [];
    for (let n = 0; n < count; n++) {
      const dir = mkdtempSync(join(tmpdir(), 'colloquy-redis-sentinel-'));
      dirs.push(dir);
      for (let attempt = 0; ; attempt++) {
        const port = await freePort();
        const conf = join(dir, 'sentinel.conf');
        writeFileSync(
          conf,
          [
            `port ${port}`,
            `bind ${HOST}`,
            `dir ${dir}`,
            `sentinel monitor ${name} ${HOST} ${master.port} ${quorum}`,
            `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 5000}`,
            `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 10000}`,
            '',
          ].join('\n'),
        );
        const s = spawnLogged('redis-server', [conf, '--sentinel'], join(dir, 'sentinel.log'));
        try {
          await probe(
            `sentinel on ${port}`,
            async () => {
              const addr = await redisCommand(port, ['SENTINEL', 'get-master-addr-by-name', name], 500);
              return Array.isArray(addr) && addr[0] === HOST && addr[1] === String(master.port);
            },
            { alive: () => s.child.exitCode === null, log: s.log },
          );
          procs.push(s);
          sentinels.push({ host: HOST, port });
          break;
        } catch (error) {
          await s.stop();
          if (attempt >= 2) throw error;
        }
      }
    }
    return {
      master,
      replicas,
      sentinels,
      name,
      pids: [master.pid, ...procs.map((p) => p.pid)],
      sentinelPids: procs.map((p) => p.pid),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
