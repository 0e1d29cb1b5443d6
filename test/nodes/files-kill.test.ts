// Files go on when their node dies, with real processes: `colloquy serve --store redis://…`
// nodes on one Redis and one files directory, behind a forwarder that sends new connections to a
// live node. The node holding the session is killed with SIGKILL in the middle of a get, then of
// a put; frozen with SIGSTOP instead; killed twice in a row; and killed at the worst moment of a
// put: holding the client's major sync point, received and stored but not yet confirmed (the node
// that resumes the session must confirm it, or the put hangs). Each time the same transfer (no
// rerun) ends with equal SHA-256, having gone on on the next node in the same session.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
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
  /**
   * Kills each victim in turn (SIGKILL, or `signal`) once more than its `at` bytes moved, sending
   * new connections to its `next` first. Progress may go back after a takeover (a put resumes at
   * the record's offset): each kill waits for its own threshold.
   */
  const killsAt = (
    plan: { at: number; victim: ServeNode; next: ServeNode; signal?: NodeJS.Signals }[],
  ): TransferOptions['onProgress'] => {
    let i = 0;
    return (p) => {
      const k = plan[i];
      if (!k || p.transferred <= k.at) return;
      i++;
      lb?.switchTo(port(k.next));
      k.victim.process.kill(k.signal ?? 'SIGKILL');
    };
  };
  const killAt = (
    at: number,
    victim: ServeNode,
    next: ServeNode,
    signal: NodeJS.Signals = 'SIGKILL',
  ): TransferOptions['onProgress'] => killsAt([{ at, victim, next, signal }]);
  const clientOptions = (onProgress: TransferOptions['onProgress']): TransferOptions => ({
    connect: { heartbeatMs: 1000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } },
    onProgress,
  });

  it('get, then put: each goes on on the next node after its node is killed', async () => {
    const [node1, node2] = await Promise.all([start(), start()]);
    lb = await forwarder(port(node1));
    const url = `tcp://127.0.0.1:${lb.port}`;
    const data = randomBytes(48 * MiB + 11);
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
    const data = randomBytes(40 * MiB + 3);
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

  /** A fresh balancer in front of `first` (each case starts its own nodes). */
  const balance = async (first: ServeNode): Promise<string> => {
    await lb?.close();
    lb = await forwarder(port(first));
    return `tcp://127.0.0.1:${lb.port}`;
  };
  const thaw = (n: ServeNode): void => {
    if (n.process.exitCode === null && n.process.signalCode === null) n.process.kill('SIGCONT');
  };

  it('put: the node is frozen (SIGSTOP) instead; the upload goes on on the next node; the thawed node does not disturb it', async () => {
    const [node1, node2] = await Promise.all([start(), start()]);
    const url = await balance(node1);
    const data = randomBytes(40 * MiB + 5);
    await writeFile(join(local, 'frozen-up.bin'), data);
    try {
      const put = await putFile(
        url,
        join(local, 'frozen-up.bin'),
        'up/frozen.bin',
        clientOptions(killAt(4 * MiB, node1, node2, 'SIGSTOP')),
      );
      expect(put.takeovers).toBe(1);
      expect(put.newSessions).toBe(0);
    } finally {
      thaw(node1);
    }
    expect(sha(await readFile(join(shared, 'up', 'frozen.bin')))).toBe(sha(data));
  }, 180_000);

  it('get, then put: two kills in a row; each transfer goes on on a third node', async () => {
    const [node1, node2, node3] = await Promise.all([start(), start(), start()]);
    const url = await balance(node1);
    // Sized for the sender's window of unconfirmed sync points (8 x 2 MiB): the second kill waits
    // until confirmations from past the first node's window (at most 8 + 16 MiB) arrive, so the
    // second node has taken over; and the transfer is still under way then (30 + 16 < 64 MiB).
    const data = randomBytes(64 * MiB + 7);
    await writeFile(join(shared, 'twice.bin'), data);
    const got = await getFile(
      url,
      'twice.bin',
      join(local, 'twice.bin'),
      clientOptions(
        killsAt([
          { at: 6 * MiB, victim: node1, next: node2 },
          { at: 30 * MiB, victim: node2, next: node3 },
        ]),
      ),
    );
    expect(sha(await readFile(join(local, 'twice.bin')))).toBe(sha(data));
    expect(got.takeovers).toBe(2);
    expect(got.newSessions).toBe(0);

    const [node4, node5] = await Promise.all([start(), start()]);
    const put = await putFile(
      url,
      join(local, 'twice.bin'),
      'up/twice.bin',
      clientOptions(
        killsAt([
          { at: 6 * MiB, victim: node3, next: node4 },
          { at: 30 * MiB, victim: node4, next: node5 },
        ]),
      ),
    );
    expect(sha(await readFile(join(shared, 'up', 'twice.bin')))).toBe(sha(data));
    expect(put.takeovers).toBe(2);
    expect(put.newSessions).toBe(0);
  }, 240_000);

  it("put: the node dies holding the client's major sync point, stored but not confirmed; the next node confirms it", async () => {
    const [node1, node2] = await Promise.all([start(), start()]);
    const url = await balance(node1);
    const data = randomBytes(24 * MiB + 9);
    await writeFile(join(local, 'pending.bin'), data);
    // The store shows the moment: the node persists the sync point before its handler runs
    // (write-ahead) and its answer before the answer leaves. Freeze the node when a stored head
    // holds the point; if the head still holds it once the node is frozen, the confirmation
    // never left: kill it. Otherwise thaw it and wait for the next point (one per 256 KiB).
    const redisClient = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    let finished = false;
    const caught: { offset: number } = { offset: -1 };
    const pendingOffset = (d: string | null): number => {
      if (d === null) return -1;
      const head = JSON.parse(d) as {
        snapshot?: { dialogue?: { pendingRemote?: { kind?: string; userData?: string } | null } };
      };
      const p = head.snapshot?.dialogue?.pendingRemote;
      if (p?.kind !== 'sync-major' || typeof p.userData !== 'string') return -1;
      return (JSON.parse(Buffer.from(p.userData, 'base64').toString('utf8')) as { offset: number }).offset;
    };
    const sessionKeys = async (): Promise<string[]> =>
      (await redisClient.scan('0', 'MATCH', '{colloquy:colloquy:rt:*}:session', 'COUNT', 10_000))[1];
    const earlier = new Set(await sessionKeys()); // the sessions of the cases before: not this put's
    const watch = (async (): Promise<void> => {
      // Bounded: by the put (finished) and by a count of store reads.
      for (let reads = 0; !finished && reads < 2_000_000; reads++) {
        for (const key of await sessionKeys()) {
          if (earlier.has(key)) continue;
          if (pendingOffset(await redisClient.hget(key, 'd')) < 0) continue;
          node1.process.kill('SIGSTOP');
          const offset = pendingOffset(await redisClient.hget(key, 'd'));
          if (offset >= 0) {
            caught.offset = offset;
            lb?.switchTo(port(node2));
            node1.process.kill('SIGKILL');
            return;
          }
          node1.process.kill('SIGCONT');
        }
      }
    })();
    try {
      const put = await putFile(url, join(local, 'pending.bin'), 'up/pending.bin', {
        connect: { heartbeatMs: 1000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } },
        syncEveryBytes: 256 * 1024,
      });
      finished = true;
      await watch;
      expect(caught.offset).toBeGreaterThan(0); // the worst moment was hit, at this offset
      expect(put.takeovers).toBe(1);
      expect(put.newSessions).toBe(0);
      expect(sha(await readFile(join(shared, 'up', 'pending.bin')))).toBe(sha(data));
    } finally {
      finished = true;
      thaw(node1);
      redisClient.disconnect();
    }
  }, 240_000);
});
