// Samba's smbd as a test peer: started on loopback with a scratch configuration in a temp dir,
// every path it writes under that dir, on a port chosen free. Readiness is the "waiting for
// connections" line smbd prints at debug level 3, then one connect probe; nothing sleeps.
// stop() sends SIGTERM to the smbd we started (its PID), SIGKILL after 5 s, and waits for its exit.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SMBD = '/usr/sbin/smbd';
export const smbdInstalled = (): boolean => existsSync(SMBD);

export interface Smbd {
  readonly port: number;
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

/** A TCP port nothing listens on right now (bound and released on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** True if nothing listens on 127.0.0.1:port (we could bind it). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function connectProbe(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

export interface SmbdOptions {
  /** Default: a free port. */
  port?: number;
  /** More [global] lines, e.g. 'netbios retarget:RETARGETME = 127.0.0.1:1139'. */
  extra?: readonly string[];
  /** SMB1 on ('NT1'): then smbd ignores a keep-alive before the request (facts §5.3 probe G). */
  minProtocol?: string;
  timeoutMs?: number;
}

export async function startSmbd(options: SmbdOptions = {}): Promise<Smbd> {
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-smbd-'));
  const port = options.port ?? (await freePort());
  const sub = (name: string): string => {
    const path = join(dir, name);
    mkdirSync(path, { recursive: true });
    return path;
  };
  const conf = join(dir, 'smb.conf');
  writeFileSync(
    conf,
    [
      '[global]',
      '  netbios name = TESTSRV',
      '  workgroup = COLLOQUY',
      '  server role = standalone server',
      '  interfaces = lo',
      '  bind interfaces only = yes',
      `  smb ports = ${port}`,
      '  disable netbios = no',
      `  private dir = ${sub('private')}`,
      `  lock directory = ${sub('lock')}`,
      `  state directory = ${sub('state')}`,
      `  cache directory = ${sub('cache')}`,
      `  pid directory = ${sub('pid')}`,
      `  ncalrpc dir = ${sub('ncalrpc')}`,
      `  log file = ${sub('log')}/log.%m`,
      `  passdb backend = tdbsam:${join(dir, 'private', 'passdb.tdb')}`,
      '  load printers = no',
      '  printing = bsd',
      '  printcap name = /dev/null',
      '  disable spoolss = yes',
      ...(options.minProtocol === undefined ? [] : [`  server min protocol = ${options.minProtocol}`]),
      ...(options.extra ?? []).map((line) => `  ${line}`),
      '',
    ].join('\n'),
  );

  // detached: smbd gets a process group of its own. With --no-process-group it would otherwise
  // share ours, and on SIGTERM it signals its whole group: that killed the test runner.
  const child: ChildProcess = spawn(
    SMBD,
    ['--foreground', '--no-process-group', '-s', conf, '--debug-stdout', '-d', '3'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`smbd did not get ready within ${options.timeoutMs ?? 15000} ms`)),
        options.timeoutMs ?? 15000,
      );
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('waiting for connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`smbd exited (${code ?? signal}) before it was ready`));
      });
    });
    await connectProbe(port);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- smbd output ---\n${output}${readLogs(dir)}`);
  }
  return { port, pid: child.pid!, output: () => output, stop };
}

function readLogs(dir: string): string {
  try {
    return readFileSync(join(dir, 'log', 'log.smbd'), 'utf8');
  } catch {
    return '';
  }
}
