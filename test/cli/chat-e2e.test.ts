// Two `colloquy chat` processes talk through `colloquy serve`, with the chaos fault proxy between
// the clients and the server cutting their connections every few hundred milliseconds. Each
// client pipes lines in and prints --json; every message must reach both exactly once, in the
// sender's order, with one room order for both, and both must leave by orderly release (exit 0).
// A third run checks that Ctrl-C (SIGINT) leaves by orderly release and exits 130.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';
import { chaosSeed, startFaultProxy } from '../chaos/fault-proxy.js';
import { skipWithout, startRedis } from '../support/redis.js';
import type { FaultProxy } from '../chaos/fault-proxy.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface ChatProc {
  child: ChildProcess;
  events: Record<string, unknown>[];
  stderr(): string;
  /** Resolves when `check(events)` holds, re-checked on every line. */
  until(check: (events: Record<string, unknown>[]) => boolean): Promise<void>;
  exit: Promise<number | null>;
}

const children = new Set<ChildProcess>();

function chat(url: string, ...args: string[]): ChatProc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'chat', url, '--json', ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  const events: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    events.push(JSON.parse(line) as Record<string, unknown>); // every stdout line must be JSON
    for (const w of [...waiters]) w();
  });
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      for (const w of [...waiters]) w();
      resolve(code);
    }),
  );
  return {
    child,
    events,
    exit,
    stderr: () => stderr,
    until: (check) =>
      new Promise((resolve, reject) => {
        const w = (): void => {
          if (check(events)) {
            waiters.splice(waiters.indexOf(w), 1);
            resolve();
          } else if (child.exitCode !== null) {
            waiters.splice(waiters.indexOf(w), 1);
            reject(new Error(`colloquy chat exited (${child.exitCode}) first; stderr:\n${stderr}`));
          }
        };
        waiters.push(w);
        w();
      }),
  };
}

const live = (events: Record<string, unknown>[]): Record<string, unknown>[] =>
  events.filter((e) => e.event === 'message' && e.history === false);

let node: ServeNode;
let proxy: FaultProxy;
const seed = chaosSeed();

beforeAll(async () => {
  node = await startServe(ANONYMOUS);
  const tcp = new URL(node.tcp);
  proxy = await startFaultProxy({
    target: { host: tcp.hostname, port: Number(tcp.port) },
    seed,
    cutEveryMs: [150, 450],
    maxChunk: 48,
  });
}, 90_000);

afterAll(async () => {
  for (const c of children) if (c.pid && c.exitCode === null) c.kill('SIGKILL');
  await proxy?.close();
  await node?.stop();
});

describe('colloquy chat (two processes through cuts)', () => {
  it('delivers every line of both clients to both, once and in order, and both leave cleanly', async () => {
    const url = `tcp://127.0.0.1:${proxy.port}`;
    const room = `e2e-${seed}`;
    const ada = chat(url, '--nick', 'ada', '--room', room);
    const bob = chat(url, '--nick', 'bob', '--room', room);
    await ada.until((ev) => ev.some((e) => e.event === 'welcome'));
    await bob.until((ev) => ev.some((e) => e.event === 'welcome'));
    const N = 40;
    // Spread the lines over a few seconds so the proxy cuts connections while they flow.
    for (let i = 0; i < N; i++) {
      ada.child.stdin?.write(`ada line ${i}\n`);
      bob.child.stdin?.write(`bob line ${i}\n`);
      await new Promise((r) => setTimeout(r, 40));
    }
    await ada.until((ev) => live(ev).length >= 2 * N);
    await bob.until((ev) => live(ev).length >= 2 * N);
    ada.child.stdin?.end();
    bob.child.stdin?.end();
    expect(await ada.exit, ada.stderr()).toBe(0);
    expect(await bob.exit, bob.stderr()).toBe(0);
    const cuts = proxy.stats.cuts;
    for (const p of [ada, bob]) {
      const got = live(p.events);
      expect(got.length, `seed ${seed}: ${p.stderr()}`).toBe(2 * N);
      expect(new Set(got.map((m) => m.id)).size).toBe(2 * N);
      for (const who of ['ada', 'bob']) {
        expect(got.filter((m) => m.from === who).map((m) => m.text)).toEqual(
          Array.from({ length: N }, (_, i) => `${who} line ${i}`),
        );
      }
      expect(got.every((m) => m.room === room && typeof m.ts === 'number')).toBe(true);
      expect(p.events.at(-1)).toMatchObject({ event: 'left', room });
    }
    expect(live(ada.events).map((m) => m.id)).toEqual(live(bob.events).map((m) => m.id));
    expect(cuts, `seed ${seed}: the proxy should have cut connections`).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('--half-duplex: the floor passes between two processes by please/give, through cuts, and every line gets out', async () => {
    const url = `tcp://127.0.0.1:${proxy.port}`;
    const room = `radio-${seed}`;
    const ada = chat(url, '--nick', 'ada', '--room', room, '--half-duplex');
    await ada.until((ev) => ev.some((e) => e.event === 'welcome'));
    const bob = chat(url, '--nick', 'bob', '--room', room, '--half-duplex');
    await bob.until((ev) => ev.some((e) => e.event === 'welcome'));
    expect(bob.events[0]).toMatchObject({ event: 'welcome', halfDuplex: true });
    const N = 10;
    for (let i = 0; i < N; i++) {
      ada.child.stdin?.write(`ada over ${i}\n`);
      bob.child.stdin?.write(`bob over ${i}\n`);
      await new Promise((r) => setTimeout(r, 60));
    }
    ada.child.stdin?.end();
    await ada.until((ev) => live(ev).length >= 2 * N);
    bob.child.stdin?.end();
    expect(await ada.exit, ada.stderr()).toBe(0);
    expect(await bob.exit, bob.stderr()).toBe(0);
    for (const p of [ada, bob]) {
      const got = live(p.events);
      for (const who of ['ada', 'bob']) {
        expect(
          got.filter((m) => m.from === who).map((m) => m.text),
          `seed ${seed}`,
        ).toEqual(Array.from({ length: N }, (_, i) => `${who} over ${i}`));
      }
    }
    // Both held the floor at some point, and the room said so.
    const holders = new Set(ada.events.filter((e) => e.event === 'turn').map((e) => e.holder));
    expect(holders.has('ada') && holders.has('bob')).toBe(true);
  }, 120_000);

  it('leaves by orderly release on Ctrl-C and exits 130; the room hears a normal leave', async () => {
    const room = `sigint-${seed}`;
    const ada = chat(node.tcp, '--nick', 'ada', '--room', room);
    await ada.until((ev) => ev.some((e) => e.event === 'welcome'));
    const bob = chat(node.tcp, '--nick', 'bob', '--room', room);
    await bob.until((ev) => ev.some((e) => e.event === 'welcome'));
    await ada.until((ev) => ev.some((e) => e.event === 'join' && e.nick === 'bob'));
    bob.child.kill('SIGINT');
    expect(await bob.exit, bob.stderr()).toBe(130);
    expect(bob.stderr()).not.toMatch(/session ended/);
    await ada.until((ev) => ev.some((e) => e.event === 'leave' && e.nick === 'bob'));
    expect(ada.events.find((e) => e.event === 'leave')).toMatchObject({ nick: 'bob', reason: 'left' });
    ada.child.stdin?.end();
    expect(await ada.exit).toBe(0);
  }, 90_000);
});

const NO_REDIS = skipWithout(
  'redis-server',
  'test/cli/chat-e2e.test.ts (two serve nodes)',
  'apt-get install -y redis-server',
);

describe.skipIf(NO_REDIS)('colloquy chat across two colloquy serve nodes sharing Redis', () => {
  it('is one chat: a client on each node, every line on both, presence across nodes', async () => {
    const redis = await startRedis();
    const nodes: ServeNode[] = [];
    try {
      nodes.push(
        await startServe([...ANONYMOUS, '--store', redis.url]),
        await startServe([...ANONYMOUS, '--store', redis.url]),
      );
      const [n1, n2] = nodes as [ServeNode, ServeNode];
      const room = `nodes-${seed}`;
      const ada = chat(n1.ws, '--nick', 'ada', '--room', room);
      await ada.until((ev) => ev.some((e) => e.event === 'welcome'));
      const bob = chat(n2.tcp, '--nick', 'bob', '--room', room);
      await bob.until((ev) => ev.some((e) => e.event === 'welcome'));
      // bob's node learns ada from her node (presence), ada hears bob join through the bus.
      await ada.until((ev) => ev.some((e) => e.event === 'join' && e.nick === 'bob'));
      const N = 10;
      for (let i = 0; i < N; i++) {
        ada.child.stdin?.write(`from node 1: ${i}\n`);
        bob.child.stdin?.write(`from node 2: ${i}\n`);
      }
      await ada.until((ev) => live(ev).length >= 2 * N);
      await bob.until((ev) => live(ev).length >= 2 * N);
      ada.child.stdin?.end();
      bob.child.stdin?.end();
      expect(await ada.exit, ada.stderr()).toBe(0);
      expect(await bob.exit, bob.stderr()).toBe(0);
      for (const p of [ada, bob]) {
        const got = live(p.events);
        expect(got).toHaveLength(2 * N);
        expect(got.filter((m) => m.from === 'ada').map((m) => m.text)).toEqual(
          Array.from({ length: N }, (_, i) => `from node 1: ${i}`),
        );
        expect(got.filter((m) => m.from === 'bob').map((m) => m.text)).toEqual(
          Array.from({ length: N }, (_, i) => `from node 2: ${i}`),
        );
      }
    } finally {
      for (const n of nodes) await n.stop();
      await redis.stop();
    }
  }, 120_000);
});
