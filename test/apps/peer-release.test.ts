// The client says why when the server released the session: a server that stops releases its
// sessions in order and says so in its FINISH (STOP_REASON_TEXT); an RPC call and a get cut short
// by that release fail with the server's reason in their message, not a bare "the session was
// released" (before: both said only that). listen() + ServiceHost + rpc and files services, real
// TCP on loopback.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient } from '../../src/apps/rpc.js';
import { getFile } from '../../src/apps/files.js';
import { STOP_REASON_TEXT } from '../../src/server/server.js';
import { startAppsServer } from './fixtures/apps-server.js';
import type { AppsServer } from './fixtures/apps-server.js';

let server: AppsServer | undefined;
let root: string | undefined;
afterEach(async () => {
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the server released the session: the client says why', () => {
  it('an RPC call in flight and a get in progress fail naming the stopping server', async () => {
    root = await mkdtemp(join(tmpdir(), 'colloquy-peer-release-'));
    await writeFile(join(root, 'big.bin'), randomBytes(64 * 1024 * 1024));
    let running!: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    server = await startAppsServer({
      files: { root },
      rpc: {
        methods: {
          hang: (_p, { signal }) => {
            running();
            return new Promise((resolve) => signal.addEventListener('abort', () => resolve('late'), { once: true }));
          },
        },
      },
    });
    const rpc = await RpcClient.connect(server.tcp);
    const call = rpc.call('hang', []);
    call.catch(() => {});
    await started;
    let moving!: () => void;
    const progressed = new Promise<void>((resolve) => (moving = resolve));
    const get = getFile(server.tcp, 'big.bin', join(root, 'got.bin'), {
      checkpoint: false,
      newSessions: 0,
      onProgress: (p) => {
        if (p.transferred > 0) moving();
      },
    });
    get.catch(() => {});
    await progressed;
    const report = await server.server.close({ timeoutMs: 10_000 });
    expect(report.released + report.aborted).toBe(2);
    // Released in order (its FINISH says why), or, when the release could not complete in time,
    // aborted at the deadline with the server's own reason: either way the server's words.
    const why = new RegExp(`${STOP_REASON_TEXT}|server shutting down`);
    await expect(call).rejects.toMatchObject({ message: expect.stringMatching(why) });
    await expect(get).rejects.toMatchObject({ message: expect.stringMatching(why) });
  }, 60_000);
});
