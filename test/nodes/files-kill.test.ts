// Files go on when their node is killed, with real processes: `colloquy serve --store redis://…`
// nodes on one Redis and one files directory, behind a forwarder that sends new connections to a
// live node. The node holding the session is killed with SIGKILL in the middle of a get, then of
// a put; the same transfer (no rerun) ends with equal SHA-256, having gone on on the next node.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFile, putFile } from '../../src/apps/files.js';
import type { TransferOptions } from '../../src/apps/files.js';
import { skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { ANONYMOUS, startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';
import { forwarder } from '../support/forwarder.js';
import type { Forwarder } from '../support/forwarder.js';

const skip = skipWithout('redis-server', 'files across killed nodes', 'apt-get install redis-server');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

describe.skipIf(skip)('files: kill -9 of the node serving a transfer', () => {
  let redis: RedisServer;
  let shared: string;
  let local: string;
  let lb: Forwarder | undefined;
  const nodes: ServeNode[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    shared = await mkdtemp(join(tmpdir(), 'colloquy-nodes-files-'));
    local = await mkdtemp(join(tmpdir(), 'colloquy-nodes-local-'));
  }, 30_000);
  afterAll(async () => {
    await lb?.close();
    for (const n of nodes) if (n.process.exitCode === null && n.process.signalCode === null) n.process.kill('SIGKILL');
    await redis?.stop();
    await rm(shared, { recursive: true, force: true });
    await rm(local, { recursive: true, force: true });
  });

  const start = async (): Promise<ServeNode> => {
    const n = await startServe(['--store', redis.url, '--files', shared, ...ANONYMOUS]);
    nodes.push(n);
    return n;
  };
  const port = (n: ServeNode): number => Number(new URL(n.tcp).port);
  /** Kills `victim` (SIGKILL) once more than `at` bytes moved, and sends new connections to `next`. */
  const killAt = (
    at: number,
    victim: ServeNode,
    next: ServeNode,
    signal: NodeJS.Signals = 'SIGKILL',
  ): TransferOptions['onProgress'] => {
    let done = false;
    return (p) => {
      if (done || p.transferred <= at) return;
      done = true;
      lb?.switchTo(port(next));
      victim.process.kill(signal);
    };
  };
  const clientOptions = (onProgress: TransferOptions['onProgress']): TransferOptions => ({
    connect: { heartbeatMs: 1000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } },
    onProgress,
  });

  it('get, then put: each goes on on the next node after its node is killed', async () => {
    const [node1, node2] = await Promise.all([start(), start()]);
    lb = await forwarder(port(node1));
    const url = `tcp://127.0.0.1:${lb.port}`;
    const data = randomBytes(24 * MiB + 11);
    await writeFile(join(shared, 'big.bin'), data);

    const got = await getFile(url, 'big.bin', join(local, 'big.bin'), clientOptions(killAt(8 * MiB, node1, node2)));
    expect(sha(await readFile(join(local, 'big.bin')))).toBe(sha(data));
    expect(got.takeovers).toBe(1);
    expect(got.newSessions).toBe(0);

    const node3 = await start();
    const put = await putFile(url, join(local, 'big.bin'), 'up/copy.bin', clientOptions(killAt(8 * MiB, node2, node3)));
    expect(sha(await readFile(join(shared, 'up', 'copy.bin')))).toBe(sha(data));
    expect(put.takeovers).toBe(1);
    expect(put.newSessions).toBe(0);
  }, 180_000);

  it('get: the node is frozen (SIGSTOP) instead; the client notices by heartbeat and goes on on the next node; the thawed node does not disturb it', async () => {
    const [node1, node2] = await Promise.all([start(), start()]);
    await lb?.close();
    lb = await forwarder(port(node1));
    const url = `tcp://127.0.0.1:${lb.port}`;
    const data = randomBytes(16 * MiB + 3);
    await writeFile(join(shared, 'frozen.bin'), data);
    try {
      const got = await getFile(
        url,
        'frozen.bin',
        join(local, 'frozen.bin'),
        clientOptions(killAt(4 * MiB, node1, node2, 'SIGSTOP')),
      );
      expect(sha(await readFile(join(local, 'frozen.bin')))).toBe(sha(data));
      expect(got.takeovers).toBe(1);
    } finally {
      node1.process.kill('SIGCONT');
    }
  }, 180_000);
});
