// The runtime bench's peer processes (bench/peers/): spawned over IPC, compiled or under tsx.

import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { FromSink, ToSink } from '../peers/protocol.js';
import { HERE, COMPILED, ROOT } from './config.js';

// ---- peers ---------------------------------------------------------------------------------

export interface Waiter<M> {
  ev: string;
  resolve(m: M): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** A child process speaking ./peers/protocol.ts over IPC. */
export class Peer<To, From extends { ev: string }> {
  private waiters: Waiter<From>[] = [];
  private readonly listeners = new Set<(m: From) => void>();
  private readonly exited: Promise<void>;

  constructor(
    private readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.on('message', (m: From) => {
      if (m.ev === 'error') console.error(`  ${name}: ${(m as unknown as { message: string }).message}`);
      for (const l of this.listeners) l(m);
      const i = this.waiters.findIndex((w) => w.ev === m.ev);
      if (i < 0) return;
      const [w] = this.waiters.splice(i, 1) as [Waiter<From>];
      clearTimeout(w.timer);
      w.resolve(m);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`${name} exited (${signal ?? code})`));
        }
        resolve();
      });
    });
  }

  /** The next message of this kind (register before sending what causes it). */
  next<E extends From['ev']>(ev: E, timeoutMs = 10_000): Promise<Extract<From, { ev: E }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`${this.name}: no '${ev}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ ev, resolve: resolve as (m: From) => void, reject, timer });
    });
  }

  listen(listener: (m: From) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(message: To): void {
    if (this.child.connected) this.child.send(message as object);
  }

  request<E extends From['ev']>(message: To, ev: E, timeoutMs?: number): Promise<Extract<From, { ev: E }>> {
    const answer = this.next(ev, timeoutMs);
    this.send(message);
    return answer;
  }

  /** Asks the peer to exit; kills it (this child, by its PID) when it has not within 5 s. */
  async stop(exit: To): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.send(exit);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Forks bench/peers/<script> under tsx. With `raiseFdLimit` it goes through /bin/sh to lift the
 * soft open-files limit to the hard one first (exec keeps the PID and the IPC channel).
 */
export async function spawnPeer<To, From extends { ev: string }>(
  script: string,
  args: string[],
  o: { exposeGc?: boolean; raiseFdLimit?: boolean } = {},
): Promise<{ peer: Peer<To, From>; ready: Extract<From, { ev: 'ready' }> }> {
  const extra = (process.env.BENCH_PEER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const execArgv = [...(COMPILED ? [] : ['--import', 'tsx']), ...(o.exposeGc ? ['--expose-gc'] : []), ...extra];
  const path = join(HERE, '..', 'peers', COMPILED ? script.replace(/\.ts$/, '.js') : script);
  const shell = o.raiseFdLimit && process.platform !== 'win32';
  const child = shell
    ? fork(path, args, {
        cwd: ROOT,
        execPath: '/bin/sh',
        execArgv: ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, ...execArgv],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
    : fork(path, args, { cwd: ROOT, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const peer = new Peer<To, From>(child, script.replace(/\.ts$/, ''));
  const ready = await peer.next('ready' as From['ev'], 20_000);
  return { peer, ready: ready as Extract<From, { ev: 'ready' }> };
}

export type Sink = Peer<ToSink, FromSink>;
