// Debian's pptpd as a test peer, on 127.0.0.1 with a scratch configuration in a temp dir.
//
// pptpd has no option for its port: it always binds 1723. So it runs only when 127.0.0.1:1723
// is free, and callers say so when it is not. It is started with `-e /bin/false` as its pppd, so
// an outgoing call can never build a real PPP link on this machine; the control connection is
// untouched by that. Readiness: connect probes (bounded), since pptpd logs only to syslog.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PPTPD = '/usr/sbin/pptpd';
export const pptpdInstalled = (): boolean => existsSync(PPTPD) && existsSync('/usr/sbin/pptpctrl');

export interface Pptpd {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** True if nothing listens on 127.0.0.1:port. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startPptpd(): Promise<Pptpd> {
  const port = 1723;
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-pptpd-'));
  const conf = join(dir, 'pptpd.conf');
  const options = join(dir, 'options.pptpd');
  const pidFile = join(dir, 'pptpd.pid');
  writeFileSync(options, 'lock\nnoauth\n');
  writeFileSync(conf, `option ${options}\nlocalip 10.231.0.1\nremoteip 10.231.0.2-9\n`);
  // detached: its own process group, so nothing it signals can reach the test runner.
  const child: ChildProcess = spawn(
    PPTPD,
    ['-f', '-c', conf, '-o', options, '-l', '127.0.0.1', '-p', pidFile, '-e', '/bin/false'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
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
  // At most 250 probes, 20 ms apart: 5 s.
  for (let attempt = 0; attempt < 250; attempt++) {
    if (spawnError !== undefined || child.exitCode !== null) break;
    if (await tryConnect(port)) {
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : child.pid!;
      return { port, pid, stop };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await stop();
  throw new Error(
    `pptpd did not listen on 127.0.0.1:${port} (${spawnError?.message ?? `exit ${String(child.exitCode)}`}): ${output}`,
  );
}
