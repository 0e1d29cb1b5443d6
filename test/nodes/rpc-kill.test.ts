// RPC exactly once across nodes, with real processes: `colloquy serve --store redis://…` nodes on
// one Redis behind a forwarder that sends new connections to a live node, and an RpcClient as a
// user runs it. A slow call (serve's `sleep`) is running on the node holding the session when
// that node is killed with SIGKILL, frozen with SIGSTOP instead, or killed and then the next one
// killed too. The same call (no rerun by the caller) finishes with one answer: the run that
// completed (`attempt` says which: a node that died mid-run could not finish it), stored once in
// the shared store, and asking again with the same id anywhere gets that answer without running
// the method (the stored record does not change). "The call is running on node N" is read from
// the store (the call's lease record), never guessed with a sleep.

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '../../src/apps/rpc-client.js';
import { skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { ANONYMOUS, startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';
import { forwarder } from '../support/forwarder.js';
import type { Forwarder } from '../support/forwarder.js';

const skip = skipWithout('redis-server', 'rpc across killed nodes', 'apt-get install redis-server');
/** Bounded waits: generous, for a machine at load average 20. */
const WAIT_MS = 90_000;
/** How long the slow call sleeps (on the node that completes it). */
const SLEEP_MS = 3000;

type Slept = { slept: number; attempt: number };
interface CallRecord {
  version: number;
  state: 'running' | 'done';
  attempt: number;
}

describe.skipIf(skip)('rpc: the node running a slow call dies (kill -9, SIGSTOP, twice)', () => {
  let redis: RedisServer;
  let r: Redis;
  const nodes: ServeNode[] = [];
  const clients: { abort(): void }[] = [];
  let lb: Forwarder | undefined;
  beforeAll(async () => {
    redis = await startRedis();
    r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  }, 30_000);
  afterEach(async () => {
    for (const c of clients.splice(0)) c.abort();
    await lb?.close();
    lb = undefined;
    for (const n of nodes.splice(0)) {
      if (n.process.exitCode !== null || n.process.signalCode !== null) continue;
      n.process.kill('SIGCONT');
      n.process.kill('SIGKILL');
    }
  });
  afterAll(async () => {
    r?.disconnect();
    await redis?.stop();
  });

  const start = async (): Promise<ServeNode> => {
    const n = await startServe(['--store', redis.url, ...ANONYMOUS]);
    nodes.push(n);
    return n;
  };
  const port = (n: ServeNode): number => Number(new URL(n.tcp).port);
  const connectOptions = { heartbeatMs: 1000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } };
  const client = async (url: string, clientId?: string): Promise<RpcClient> => {
    const c = await RpcClient.connect(url, {
      connect: connectOptions,
      timeoutMs: WAIT_MS,
      ...(clientId === undefined ? {} : { clientId }),
    });
    clients.push({ abort: () => c.session.abort() });
    return c;
  };

  /** The stored record of the call whose request id is `id` (the key ends with it), or null. */
  async function record(id: string): Promise<CallRecord | null> {
    const [, keys] = await r.scan('0', 'MATCH', `{colloquy:colloquy:rpc:*${id}}:session`, 'COUNT', 10_000);
    if (keys.length === 0) return null;
    expect(keys).toHaveLength(1);
    const [d, v] = (await r.hmget(keys[0] as string, 'd', 'v')) as [string | null, string | null];
    if (d === null || v === null) return null;
    const data = JSON.parse(d) as { state: 'running' | 'done'; attempt: number };
    return { version: Number(v), state: data.state, attempt: data.attempt };
  }
  /** Waits (reading the store, bounded) until the call's record says `state` with `attempt`. */
  async function until(id: string, state: CallRecord['state'], attempt: number): Promise<CallRecord> {
    const end = performance.now() + WAIT_MS;
    for (;;) {
      const rec = await record(id);
      if (rec?.state === state && rec.attempt === attempt) return rec;
      if (performance.now() > end)
        throw new Error(`the call never reached ${state} attempt ${attempt} (last: ${JSON.stringify(rec)})`);
      await new Promise((resolve) => setImmediate(resolve)); // a store read per turn, nothing slept
    }
  }
  const die = (victim: ServeNode, next: ServeNode, signal: NodeJS.Signals = 'SIGKILL'): void => {
    lb?.switchTo(port(next));
    victim.process.kill(signal);
  };
  /** Asks again with the same client id and request id on `url`: the stored answer, the method not run. */
  async function askAgain(url: string, clientId: string, id: string, answer: Slept): Promise<void> {
    const before = await record(id);
    const again = await client(url, clientId);
    expect(await again.call<Slept>('sleep', [SLEEP_MS], { id })).toEqual(answer);
    expect(await record(id)).toEqual(before); // no new run, no new write
    await again.close();
  }

  it('kill -9 of the node running the call: the same call finishes (run again once, on the next node)', async () => {
    const [n1, n2] = await Promise.all([start(), start()]);
    lb = await forwarder(port(n1));
    const rpc = await client(`tcp://127.0.0.1:${lb.port}`);
    const id = `${rpc.clientId}.slow`;
    const call = rpc.call<Slept>('sleep', [SLEEP_MS], { id });
    await until(id, 'running', 1); // n1 runs it
    die(n1, n2);
    const answer = await call;
    expect(answer).toEqual({ slept: SLEEP_MS, attempt: 2 });
    expect(await record(id)).toMatchObject({ state: 'done', attempt: 2 });
    await askAgain(n2.tcp, rpc.clientId, id, answer);
  }, 240_000);

  it('SIGSTOP instead: the next node takes the call over once its lease lapses; the thawed node changes nothing', async () => {
    const [n1, n2] = await Promise.all([start(), start()]);
    lb = await forwarder(port(n1));
    const rpc = await client(`tcp://127.0.0.1:${lb.port}`);
    const id = `${rpc.clientId}.frozen`;
    const call = rpc.call<Slept>('sleep', [SLEEP_MS], { id });
    await until(id, 'running', 1);
    die(n1, n2, 'SIGSTOP');
    const answer = await call;
    expect(answer).toEqual({ slept: SLEEP_MS, attempt: 2 });
    const stored = await record(id);
    expect(stored).toMatchObject({ state: 'done', attempt: 2 });
    // Thawed, n1's own run (its timer long due) ends at once; its answer is discarded (its lease
    // was taken over): the stored answer stays, and n1 itself answers a retry with it.
    n1.process.kill('SIGCONT');
    await askAgain(n1.tcp, rpc.clientId, id, answer);
    expect(await record(id)).toEqual(stored);
  }, 240_000);

  it('two kills in a row: the call finishes on a third node', async () => {
    const [n1, n2, n3] = await Promise.all([start(), start(), start()]);
    lb = await forwarder(port(n1));
    const rpc = await client(`tcp://127.0.0.1:${lb.port}`);
    const id = `${rpc.clientId}.twice`;
    const call = rpc.call<Slept>('sleep', [SLEEP_MS], { id });
    await until(id, 'running', 1);
    die(n1, n2);
    await until(id, 'running', 2); // n2 took it over
    die(n2, n3);
    const answer = await call;
    expect(answer).toEqual({ slept: SLEEP_MS, attempt: 3 });
    await askAgain(n3.tcp, rpc.clientId, id, answer);
  }, 240_000);
});
