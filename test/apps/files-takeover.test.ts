// A get or put in progress goes on when the node serving it dies: with a shared store another
// node restores the session, says `interrupted`, and the client resumes the transfer in the same
// session from its last confirmed point; without one (memory store) the client goes on from its
// checkpoint in a new session by itself, and says so. The old node here stays alive but
// unreachable (as a frozen or partitioned node): it must not disturb the transfer either.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getFile, putFile } from '../../src/apps/files.js';
import type { TransferOptions } from '../../src/apps/files.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { forwarder } from '../support/forwarder.js';
import type { Forwarder } from '../support/forwarder.js';
import { startAppsServer } from './fixtures/apps-server.js';
import type { AppsServer } from './fixtures/apps-server.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

let root: string;
let local: string;
const nodes: AppsServer[] = [];
let lb: Forwarder | undefined;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'colloquy-takeover-root-'));
  local = await mkdtemp(join(tmpdir(), 'colloquy-takeover-local-'));
});
afterEach(async () => {
  await lb?.close();
  lb = undefined;
  for (const n of nodes.splice(0)) await n.close();
  await rm(root, { recursive: true, force: true });
  await rm(local, { recursive: true, force: true });
});

/** Two nodes on one files directory, with a shared store (durable) or each on its own (memory). */
async function twoNodes(
  durable: boolean,
): Promise<{ node1: AppsServer; node2: AppsServer; url: string; port(n: AppsServer): number }> {
  const store = new MemoryStore();
  const start = (): Promise<AppsServer> =>
    startAppsServer({
      // Two points in flight at most (the default window holds these whole files): the node
      // dies while it still has bytes to send.
      files: { root, syncEveryBytes: 256 * 1024, syncWindow: 2 },
      server: { heartbeatMs: 0, ...(durable ? { durability: { store } } : {}) },
    });
  const node1 = await start();
  const node2 = await start();
  nodes.push(node1, node2);
  const port = (n: AppsServer): number => n.server.addresses.tcp as number;
  lb = await forwarder(port(node1));
  return { node1, node2, url: `tcp://127.0.0.1:${lb.port}`, port };
}

const client = (onProgress: TransferOptions['onProgress'], notices: string[] = []): TransferOptions => ({
  connect: { heartbeatMs: 0, reconnect: { initialDelayMs: 5, maxDelayMs: 20 } },
  syncWindow: 2, // put: as the nodes' (above)
  onProgress,
  onNotice: (m) => notices.push(m),
});

/** Calls `move` once, the first time more than `at` bytes were transferred. */
function onceAfter(at: number, move: () => void): TransferOptions['onProgress'] {
  let moved = false;
  return (p) => {
    if (!moved && p.transferred > at) {
      moved = true;
      move();
    }
  };
}

describe('files: a transfer goes on when its node dies', () => {
  it('get: another node takes the session over and the download goes on in it; equal SHA-256', async () => {
    const { node2, url, port } = await twoNodes(true);
    const data = randomBytes(4 * MiB + 3);
    await writeFile(join(root, 'big.bin'), data);
    const dest = join(local, 'big.bin');
    const r = await getFile(
      url,
      'big.bin',
      dest,
      client(
        onceAfter(MiB, () => {
          lb?.switchTo(port(node2));
          lb?.cutAll();
        }),
      ),
    );
    expect(sha(await readFile(dest))).toBe(sha(data));
    expect(r.takeovers).toBe(1);
    expect(r.newSessions).toBe(0);
    expect(await readdir(local)).toEqual(['big.bin']);
  });

  it('put: another node takes the session over; the upload goes on from the record in the shared directory', async () => {
    const { node2, url, port } = await twoNodes(true);
    const data = randomBytes(4 * MiB + 5);
    const src = join(local, 'up.bin');
    await writeFile(src, data);
    const r = await putFile(url, src, 'up.bin', {
      ...client(
        onceAfter(MiB, () => {
          lb?.switchTo(port(node2));
          lb?.cutAll();
        }),
      ),
      syncEveryBytes: 256 * 1024,
    });
    expect(sha(await readFile(join(root, 'up.bin')))).toBe(sha(data));
    expect(r.takeovers).toBe(1);
    expect(r.newSessions).toBe(0);
    expect((await readdir(root)).filter((n) => n.startsWith('.colloquy'))).toEqual([]);
  });

  it('two takeovers in a row (node1 -> node2 -> node1), get and put', async () => {
    const { node1, node2, url, port } = await twoNodes(true);
    const data = randomBytes(6 * MiB);
    await writeFile(join(root, 'g.bin'), data);
    const hop = (): TransferOptions['onProgress'] => {
      let hops = 0;
      return (p) => {
        if ((hops === 0 && p.transferred > 1.5 * MiB) || (hops === 1 && p.transferred > 3.5 * MiB)) {
          lb?.switchTo(port(hops === 0 ? node2 : node1));
          lb?.cutAll();
          hops++;
        }
      };
    };
    const got = await getFile(url, 'g.bin', join(local, 'g.bin'), client(hop()));
    expect(sha(await readFile(join(local, 'g.bin')))).toBe(sha(data));
    expect(got.takeovers).toBe(2);
    lb?.switchTo(port(node1));
    const put = await putFile(url, join(local, 'g.bin'), 'g2.bin', { ...client(hop()), syncEveryBytes: 256 * 1024 });
    expect(sha(await readFile(join(root, 'g2.bin')))).toBe(sha(data));
    expect(put.takeovers).toBe(2);
  });

  it('memory store: no node can take the session over; the client goes on from its checkpoint in a new session and says so', async () => {
    const { node2, url, port } = await twoNodes(false);
    const data = randomBytes(3 * MiB);
    await writeFile(join(root, 'm.bin'), data);
    const notices: string[] = [];
    const r = await getFile(
      url,
      'm.bin',
      join(local, 'm.bin'),
      client(
        onceAfter(MiB, () => {
          lb?.switchTo(port(node2));
          lb?.cutAll();
        }),
        notices,
      ),
    );
    expect(sha(await readFile(join(local, 'm.bin')))).toBe(sha(data));
    expect(r.newSessions).toBe(1);
    expect(r.resumedFrom).toBeGreaterThan(0); // the new session started at the checkpoint
    expect(notices).toEqual([
      expect.stringMatching(
        /get m\.bin: the node that held the session is gone \(the server keeps sessions in memory only\); trying from the checkpoint in a new session/,
      ),
    ]);

    const src = join(local, 'm.bin');
    lb?.switchTo(port(nodes[0] as AppsServer));
    const p = await putFile(url, src, 'm2.bin', {
      ...client(
        onceAfter(MiB, () => {
          lb?.switchTo(port(node2));
          lb?.cutAll();
        }),
        notices,
      ),
      syncEveryBytes: 256 * 1024,
    });
    expect(sha(await readFile(join(root, 'm2.bin')))).toBe(sha(data));
    expect(p.newSessions).toBe(1);
  });

  it('memory store, every node gone: the command fails saying that nothing could continue', async () => {
    const { node1, url } = await twoNodes(false);
    await writeFile(join(root, 'x.bin'), randomBytes(2 * MiB));
    const gone = getFile(url, 'x.bin', join(local, 'x.bin'), {
      connect: { heartbeatMs: 0, reconnect: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 3 } },
      onProgress: onceAfter(256 * 1024, () => {
        void lb?.close();
        void node1.server.destroy();
      }),
    });
    await expect(gone).rejects.toMatchObject({
      code: 'ERR_CONNECT_FAILED',
      message: expect.stringMatching(/no node could continue it/),
    });
  });
});
