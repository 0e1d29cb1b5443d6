// The cost of continuity (issue 12): the apps as `colloquy serve` runs them, with the shared
// store (durable sessions in Redis, the Redis bus, the apps' shared mode) against one node on
// the memory store, and how long a transfer stands still when its node is killed.
//
//   1. Side by side, in this process: startServe (src/serve/app.ts, what `colloquy serve` runs)
//      once with --store memory and once with --store redis://… on a Redis of its own. Measured
//      on each: getFile and putFile MB/s of a CONT_FILE_MB file over TCP, `echo` RPC calls/s
//      with RPC_CONCURRENT calls in flight for RPC_MEASURE_MS, and chat deliveries/s (CHAT_MEMBERS
//      members, one says CHAT_MESSAGES in bursts of CHAT_BURST, every member gets every message).
//      ROUNDS rounds, taking turns at which store goes first; the best of each is shown, and
//      the ratio column is redis / memory (below 1: what continuity costs). On the Redis node the
//      store calls each phase made are counted (the colloquy:store:call diagnostics channel),
//      per MiB moved and per RPC call, leaving out the store's own periodic expiry sweep. Counts,
//      not times; but a session's persists coalesce while one is in flight (src/driver/driver.ts),
//      so a slower store or a busier machine makes fewer head writes for the same work.
//   2. kill -9: two real `colloquy serve --store redis://…` processes on one files directory
//      behind a forwarder (test/support, as test/nodes/files-kill.test.ts). A getFile, then a
//      putFile, of KILL_FILE_MB runs through the forwarder; at a third of the file the node
//      holding it is killed (SIGKILL) and new connections go to the other node. Measured: from
//      the kill to the transfer moving again. get: the first file bytes written after the other
//      node told the client to go on (the progress reports the re-asked position, not above the
//      last, then bytes again). put: the other node's put-ok naming where to go on (the progress
//      reports that position, not above the last; the client sends the next chunk at once; put
//      progress is reported per sync point, so the first bytes after it are not seen one by one).
//      KILL_TRIALS trials of each at most, within KILL_BUDGET_MS each; a killed node is replaced
//      before the next trial.
//
// BENCH_QUICK=1 shrinks every count (seconds, for a check that it runs); without redis-server
// the part prints why it is skipped.

import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe as startServeApp } from '../src/serve/app.js';
import type { ServeApp } from '../src/serve/app.js';
import { RpcClient } from '../src/apps/rpc.js';
import { getFile, putFile } from '../src/apps/files.js';
import { ChatClient } from '../src/apps/chat-client.js';
import { skipWithout, startRedis } from '../test/support/redis.js';
import type { RedisServer } from '../test/support/redis.js';
import { ANONYMOUS, startServe } from '../test/support/serve.js';
import type { ServeNode } from '../test/support/serve.js';
import { forwarder } from '../test/support/forwarder.js';
import { STORE_CALL_CHANNEL } from '../src/store/diagnostics.js';
import type { StoreCallMessage } from '../src/store/diagnostics.js';
import { callsPerSecond, fmt, percentile, ratioText, table } from './support.js';

const QUICK = !['', '0', 'false'].includes(process.env.BENCH_QUICK ?? '');
const MiB = 1024 * 1024;
/** Rounds of the side-by-side part, alternating which store goes first; the best of each is shown. */
const ROUNDS = QUICK ? 1 : 3;
const CONT_FILE_MB = QUICK ? 4 : 32;
const RPC_CONCURRENT = 32;
const RPC_WARM_MS = QUICK ? 200 : 1000;
const RPC_MEASURE_MS = QUICK ? 500 : 3000;
const CHAT_MEMBERS = QUICK ? 3 : 10;
const CHAT_MESSAGES = QUICK ? 100 : 1000;
const CHAT_BURST = 50;
/** The longest one chat run may take before it is reported as not finished. */
const CHAT_LIMIT_MS = 60_000;
const KILL_TRIALS = QUICK ? 2 : 10;
const KILL_FILE_MB = QUICK ? 6 : 24;
const KILL_BUDGET_MS = QUICK ? 90_000 : 240_000;

interface Rates {
  get: number;
  put: number;
  rpc: number;
  chat: number;
}

/** Store calls per unit of work, by operation (get, set, compareAndSet, ...). */
interface StoreCalls {
  /** per MiB of getFile */
  get: Map<string, number>;
  /** per MiB of putFile */
  put: Map<string, number>;
  /** per RPC call */
  rpc: Map<string, number>;
}

/** Counts the store calls `work` makes (every store in this process: the node's, here the only one). */
async function counted<T>(work: () => Promise<T>): Promise<{ result: T; calls: Map<string, number> }> {
  const calls = new Map<string, number>();
  const listener = (m: unknown): void => {
    const { op } = m as StoreCallMessage;
    if (op === 'sweep') return; // the store's timer, not the work's
    calls.set(op, (calls.get(op) ?? 0) + 1);
  };
  subscribe(STORE_CALL_CHANNEL, listener);
  try {
    return { result: await work(), calls };
  } finally {
    unsubscribe(STORE_CALL_CHANNEL, listener);
  }
}

const per = (calls: Map<string, number>, units: number): Map<string, number> =>
  new Map([...calls].map(([op, n]) => [op, n / units]));

/** The store calls of the first measured run on Redis (counts do not depend on the load). */
let storeCalls: StoreCalls | undefined;

async function measure(store: string, dir: string, round: number): Promise<Rates> {
  const name = `${store === 'memory' ? 'memory' : 'redis'}-${round}`;
  const files = join(dir, name);
  const app: ServeApp = await startServeApp({
    host: '127.0.0.1',
    port: 0,
    tcpPort: 0,
    files,
    store,
    adminToken: randomBytes(16).toString('hex'),
    access: 'anyone',
  });
  try {
    const bytes = CONT_FILE_MB * MiB;
    await writeFile(join(files, 'src.bin'), randomBytes(bytes));
    const mbps = (ms: number): number => bytes / MiB / (ms / 1000);
    const got = await counted(() => getFile(app.urls.tcp, 'src.bin', join(dir, `got-${name}.bin`)));
    const put = await counted(() => putFile(app.urls.tcp, join(dir, `got-${name}.bin`), 'put.bin'));

    const client = await RpcClient.connect(app.urls.tcp);
    let calls = 0;
    const rpc = await counted(() =>
      callsPerSecond(RPC_CONCURRENT, RPC_WARM_MS, RPC_MEASURE_MS, (_, i) => {
        calls++;
        return client.call('echo', [i]);
      }),
    );
    await client.close();
    const mib = bytes / MiB;
    if (store !== 'memory')
      storeCalls ??= { get: per(got.calls, mib), put: per(put.calls, mib), rpc: per(rpc.calls, calls) };

    return {
      get: mbps(got.result.elapsedMs),
      put: mbps(put.result.elapsedMs),
      rpc: rpc.result,
      chat: await chatRate(app.urls.ws),
    };
  } finally {
    await app.close();
  }
}

/** The highest of each rate over the runs (NaN only when no run measured it). */
function best(runs: readonly Rates[]): Rates {
  const top = (k: keyof Rates): number => Math.max(...runs.map((r) => r[k]).filter((n) => Number.isFinite(n)));
  const fin = (n: number): number => (Number.isFinite(n) ? n : NaN);
  return { get: fin(top('get')), put: fin(top('put')), rpc: fin(top('rpc')), chat: fin(top('chat')) };
}

/** Deliveries per second: CHAT_MESSAGES x CHAT_MEMBERS over the time until the last one arrived; NaN past CHAT_LIMIT_MS. */
async function chatRate(url: string): Promise<number> {
  const clients: ChatClient[] = [];
  let got = 0;
  let own = 0;
  let wake: (() => void) | undefined;
  try {
    for (let i = 0; i < CHAT_MEMBERS; i++) {
      const c = await ChatClient.connect(url, { nick: `m${i}`, room: 'bench-continuity' });
      c.on('message', (m) => {
        if (m.history) return;
        got++;
        if (i === 0) own++;
        wake?.();
      });
      clients.push(c);
    }
    const sender = clients[0] as ChatClient;
    const started = performance.now();
    const deadline = started + CHAT_LIMIT_MS;
    const until = async (done: () => boolean): Promise<boolean> => {
      while (!done()) {
        if (performance.now() > deadline) return false;
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
      return true;
    };
    for (let sent = 0; sent < CHAT_MESSAGES;) {
      const end = Math.min(CHAT_MESSAGES, sent + CHAT_BURST);
      for (; sent < end; sent++) void sender.send(`m${sent}`);
      if (!(await until(() => own >= end))) return NaN;
    }
    if (!(await until(() => got >= CHAT_MESSAGES * CHAT_MEMBERS))) return NaN;
    return (CHAT_MESSAGES * CHAT_MEMBERS) / ((performance.now() - started) / 1000);
  } finally {
    for (const c of clients) c.abort();
  }
}

/** Milliseconds from each kill -9 to the transfer moving again on the other node (see the top). */
async function killTrials(redis: RedisServer, dir: string, kind: 'get' | 'put'): Promise<number[]> {
  const shared = join(dir, `shared-${kind}`);
  const start = (): Promise<ServeNode> => startServe(['--store', redis.url, '--files', shared, ...ANONYMOUS]);
  const port = (n: ServeNode): number => Number(new URL(n.tcp).port);
  let [current, other] = await Promise.all([start(), start()]);
  const lb = await forwarder(port(current));
  const url = `tcp://127.0.0.1:${lb.port}`;
  const size = KILL_FILE_MB * MiB;
  const killAt = Math.floor(size / 3);
  const gaps: number[] = [];
  const began = performance.now();
  const source = join(dir, `kill-source-${kind}.bin`);
  try {
    await writeFile(kind === 'get' ? join(shared, 'kill.bin') : source, randomBytes(size));
    for (let trial = 0; trial < KILL_TRIALS && performance.now() - began < KILL_BUDGET_MS; trial++) {
      const victim = current;
      const next = other;
      let killedAt = 0;
      let resumed = false;
      let last = -1;
      let gap = NaN;
      const options = {
        connect: { heartbeatMs: 1000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } },
        onProgress: (p: { transferred: number }) => {
          if (killedAt === 0 && p.transferred > killAt) {
            killedAt = performance.now();
            lb.switchTo(port(next));
            victim.process.kill('SIGKILL');
          } else if (killedAt !== 0 && Number.isNaN(gap)) {
            // bytes already on their way still arrive after the kill; the re-asked transfer reports
            // a position not above the last one: a put sends from there at once, a get's next
            // bytes come from the other node
            if (!resumed && p.transferred <= last) {
              resumed = true;
              if (kind === 'put') gap = performance.now() - killedAt;
            } else if (resumed && p.transferred > last) gap = performance.now() - killedAt;
          }
          last = p.transferred;
        },
      };
      const result =
        kind === 'get'
          ? await getFile(url, 'kill.bin', join(dir, `kill-${trial}.bin`), options)
          : await putFile(url, source, `kill-${trial}.bin`, options);
      if (result.takeovers !== 1)
        throw new Error(`kill trial ${trial} (${kind}): expected one takeover, it reported ${result.takeovers}`);
      gaps.push(gap);
      await rm(join(kind === 'get' ? dir : shared, `kill-${trial}.bin`), { force: true });
      current = next;
      other = await start();
    }
  } finally {
    await lb.close();
    for (const n of [current, other]) await n.stop();
  }
  return gaps;
}

/** One line of store calls by operation, e.g. "compareAndSet 3.1, get 0.5" (none: "none"). */
function opsText(calls: Map<string, number>): string {
  const parts = [...calls]
    .sort((a, b) => b[1] - a[1])
    .map(([op, n]) => `${op} ${n < 10 ? n.toFixed(2) : n.toFixed(0)}`);
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  return parts.length === 0 ? 'none' : `${total < 10 ? total.toFixed(2) : total.toFixed(0)} (${parts.join(', ')})`;
}

export async function continuity(): Promise<void> {
  console.log(
    `  cost of continuity: serve's apps with --store redis:// (durable sessions, shared mode) vs one node on --store memory${QUICK ? ' (BENCH_QUICK)' : ''}`,
  );
  if (skipWithout('redis-server', 'bench: cost of continuity', 'apt-get install redis-server')) {
    console.log('    skipped: redis-server is not installed');
    return;
  }
  const redis = await startRedis();
  const dir = await mkdtemp(join(tmpdir(), 'colloquy-bench-continuity-'));
  try {
    // The load of a shared machine swings by the second: each store runs ROUNDS times, taking
    // turns at going first (so neither always gets the cold JIT), and the best run of each counts.
    const memoryRuns: Rates[] = [];
    const sharedRuns: Rates[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        memoryRuns.push(await measure('memory', dir, round));
        sharedRuns.push(await measure(redis.url, dir, round));
      } else {
        sharedRuns.push(await measure(redis.url, dir, round));
        memoryRuns.push(await measure('memory', dir, round));
      }
    }
    const memory = best(memoryRuns);
    const shared = best(sharedRuns);
    const row = (what: string, unit: string, m: number, r: number): string[] => [
      what,
      unit,
      unit === 'MB/s' ? m.toFixed(1) : fmt(m),
      unit === 'MB/s' ? r.toFixed(1) : fmt(r),
      ratioText(r / m),
    ];
    table(
      [
        ['    measure', 'unit', 'memory (one node)', 'redis (continuity)', 'redis/memory'],
        row(`    getFile ${CONT_FILE_MB} MB over TCP`, 'MB/s', memory.get, shared.get),
        row(`    putFile ${CONT_FILE_MB} MB over TCP`, 'MB/s', memory.put, shared.put),
        row(`    rpc echo, ${RPC_CONCURRENT} in flight`, 'calls/s', memory.rpc, shared.rpc),
        row(`    chat, ${CHAT_MEMBERS} members x ${CHAT_MESSAGES} messages`, 'deliveries/s', memory.chat, shared.chat),
      ],
      2,
    );
    if (storeCalls) {
      console.log('  store calls on the Redis node (counted on colloquy:store:call; persists coalesce under load)');
      console.log(`    per MiB of getFile: ${opsText(storeCalls.get)}`);
      console.log(`    per MiB of putFile: ${opsText(storeCalls.put)}`);
      console.log(`    per RPC echo call (${RPC_CONCURRENT} in flight): ${opsText(storeCalls.rpc)}`);
    }
    for (const kind of ['get', 'put'] as const) {
      const gaps = await killTrials(redis, dir, kind);
      const measured = gaps.filter((g) => Number.isFinite(g)).sort((a, b) => a - b);
      console.log(
        `  kill -9 of the node serving a ${KILL_FILE_MB} MB ${kind}File (real serve processes, forwarder to the other node)`,
      );
      console.log(
        `    ${gaps.length} trials, one kill each (${gaps.length - measured.length} without a measurable restart): kill to moving again p50 ${percentile(measured, 50).toFixed(0)} ms, p95 ${percentile(measured, 95).toFixed(0)} ms, max ${(measured.at(-1) ?? NaN).toFixed(0)} ms`,
      );
    }
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
