// The services a real `colloquy serve` process offers, end to end: chat (two people), RPC with
// files.list over it, and files put then get (the bytes and their SHA-256 round-trip), all
// under the --files directory, which serve created.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/apps/chat-client.js';
import { getFile, putFile } from '../../src/apps/files.js';
import { RpcClient } from '../../src/apps/rpc.js';
import { ANONYMOUS, startServe, type ServeNode } from '../support/serve.js';

describe('the services of colloquy serve', () => {
  let node: ServeNode;
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-serve-services-'));
  const files = join(dir, 'served');
  beforeAll(async () => {
    node = await startServe([...ANONYMOUS, '--files', files]);
  }, 90_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('creates the --files directory', () => {
    expect(existsSync(files)).toBe(true);
  });

  it('chat: what one person says reaches the other', async () => {
    const ada = await ChatClient.connect(node.ws, { nick: 'ada', room: 'serve-test', heartbeatMs: 0 });
    const bob = await ChatClient.connect(node.tcp, { nick: 'bob', room: 'serve-test', heartbeatMs: 0 });
    const heard = new Promise<{ from: string; text: string }>((resolve) =>
      bob.on('message', (m) => {
        if (!m.history) resolve(m);
      }),
    );
    await ada.send('hello bob');
    expect(await heard).toMatchObject({ from: 'ada', text: 'hello bob' });
    await ada.close();
    await bob.close();
  }, 30_000);

  it('files: put then get round-trips the bytes; rpc files.list shows the file', async () => {
    const local = join(dir, 'up.bin');
    const bytes = randomBytes(300_000);
    writeFileSync(local, bytes);
    const put = await putFile(node.tcp, local, 'data/up.bin', { checkpoint: false, connect: { heartbeatMs: 0 } });
    expect(put.size).toBe(bytes.length);
    expect(readFileSync(join(files, 'data', 'up.bin')).equals(bytes)).toBe(true);

    const rpc = await RpcClient.connect(node.ws, { connect: { heartbeatMs: 0 } });
    const listing = (await rpc.call('files.list', { path: 'data' })) as { entries: { name: string; size: number }[] };
    expect(listing.entries).toContainEqual(expect.objectContaining({ name: 'up.bin', size: bytes.length }));
    expect(await rpc.call('echo', ['ping'])).toEqual(['ping']);
    await rpc.close();

    const back = join(dir, 'down.bin');
    const got = await getFile(node.ws, 'data/up.bin', back, { checkpoint: false, connect: { heartbeatMs: 0 } });
    expect(got.sha256).toBe(put.sha256);
    expect(readFileSync(back).equals(bytes)).toBe(true);
  }, 60_000);
});
