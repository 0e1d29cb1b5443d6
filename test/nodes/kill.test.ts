// Resume on any node, with real processes: two nodes share a Redis store; the node holding a
// session is killed with SIGKILL (no code of its runs again), the client's next connection lands
// on the other node, and the session resumes there with nothing lost or duplicated.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { forwarder } from '../support/forwarder.js';

const skip = skipWithout('redis-server', 'multi-node kill test', 'apt-get install redis-server');

function startNode(redisUrl: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/nodes/node.ts', redisUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('node did not start within 30 s')), 30_000);
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${String(code)}`));
    });
  });
}

describe.skipIf(skip)('resume on another node after kill -9', () => {
  let redis: RedisServer;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await redis?.stop();
  });

  it('SIGKILL the node holding the session; the other node resumes it exactly once', async () => {
    const [node1, node2] = await Promise.all([startNode(redis.url), startNode(redis.url)]);
    children.push(node1.child, node2.child);
    const lb = await forwarder(node1.port);
    try {
      const client = await connect(`tcp://127.0.0.1:${lb.port}`, {
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
      });
      const n = 600;
      const echoed: number[] = [];
      const done = (async () => {
        for await (const m of client) {
          echoed.push(new DataView(m.buffer, m.byteOffset, m.byteLength).getUint32(0));
          if (echoed.length === n) break;
        }
      })();
      for (let i = 0; i < n; i++) {
        const b = new Uint8Array(32);
        new DataView(b.buffer).setUint32(0, i);
        await client.send(b);
        if (i === 300) {
          lb.switchTo(node2.port);
          node1.child.kill('SIGKILL'); // the kernel closes its sockets; nothing of it runs again
        }
      }
      await done;
      expect(echoed).toEqual(Array.from({ length: n }, (_, i) => i));
      await client.release();
    } finally {
      await lb.close();
    }
  }, 60_000);
});
