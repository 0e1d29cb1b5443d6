// Issue 11, finding 5 (the files side): "anonymous puts of up to 1 GiB each, no quota, any depth
// of directories created, abandoned uploads kept 24 h". Against a spawned serve with small
// limits: a disk-filling put is refused with ERR_QUOTA_EXCEEDED before a byte is written (total
// and per principal), a deep path with ERR_PATH_REJECTED (too-deep), and an abandoned upload is
// deleted by the sweeper's timer; the puts that fit go through in the same tests.

import { mkdtempSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { encodeHello } from '../../src/apps/service.js';
import { putFile } from '../../src/apps/files.js';
import { decodeUnit, encodeControl } from '../../src/apps/files-wire.js';
import { ANONYMOUS, startServe, type ServeNode } from '../support/serve.js';

const KB = 1000;
const local = mkdtempSync(join(tmpdir(), 'colloquy-quota-'));
const served = join(mkdtempSync(join(tmpdir(), 'colloquy-quota-served-')), 'files');

function file(name: string, bytes: number): string {
  const path = join(local, name);
  writeFileSync(path, randomBytes(bytes));
  return path;
}

/** Names of uploads in progress anywhere under the served root. */
function uploadsOnDisk(): string[] {
  return readdirSync(served, { recursive: true, encoding: 'utf8' }).filter(
    (n) => n.split('/').pop()?.startsWith('.colloquy-upload-') === true,
  );
}

describe('files quotas, depth and the sweeper (finding 5, files)', () => {
  let node: ServeNode;
  beforeAll(async () => {
    node = await startServe([
      ...ANONYMOUS,
      '--files',
      served,
      '--limit',
      `filesMaxTotalBytes=${1000 * KB}`,
      '--limit',
      `filesMaxBytesPerPrincipal=${600 * KB}`,
      '--limit',
      'filesMaxDepth=4',
      '--limit',
      'filesStaleUploadMs=1000',
      '--limit',
      'filesSweepIntervalMs=200',
    ]);
  }, 90_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('refuses a disk-filling put before any byte is written; puts that fit go through', async () => {
    // One announced size is enough to be refused: nothing is created.
    const s = await connect(node.tcp, { userData: encodeHello({ service: 'files' }), heartbeatMs: 0 });
    await s.send(encodeControl({ op: 'put', path: 'huge.bin', size: 900_000_000, sha256: '0'.repeat(64) }));
    const answer = await s[Symbol.asyncIterator]().next();
    const unit = decodeUnit(answer.value as Uint8Array);
    expect(unit.kind === 'control' && unit.message).toMatchObject({
      op: 'error',
      code: 'ERR_QUOTA_EXCEEDED',
      details: { limit: 'maxTotalBytes' },
    });
    await s.release();
    expect(uploadsOnDisk()).toEqual([]);

    // Per principal: the anonymous client at 127.0.0.1 may write 600 KB.
    await putFile(node.tcp, file('a.bin', 500 * KB), 'a.bin', { checkpoint: false, connect: { heartbeatMs: 0 } });
    await expect(
      putFile(node.tcp, file('b.bin', 500 * KB), 'b.bin', { checkpoint: false, connect: { heartbeatMs: 0 } }),
    ).rejects.toMatchObject({ code: 'ERR_QUOTA_EXCEEDED', details: { limit: 'maxBytesPerPrincipal' } });
    // Another principal (the admin) still may, within the total of 1000 KB.
    const admin = { checkpoint: false, connect: { heartbeatMs: 0, credentials: node.adminToken } };
    await expect(putFile(node.tcp, file('c.bin', 600 * KB), 'c.bin', admin)).rejects.toMatchObject({
      code: 'ERR_QUOTA_EXCEEDED',
      details: { limit: 'maxTotalBytes' },
    });
    await putFile(node.tcp, file('d.bin', 400 * KB), 'd.bin', admin);
    expect(existsSync(join(served, 'a.bin')) && existsSync(join(served, 'd.bin'))).toBe(true);
    expect(existsSync(join(served, 'b.bin')) || existsSync(join(served, 'c.bin'))).toBe(false);
  }, 60_000);

  it('refuses a path deeper than maxDepth; one within it works', async () => {
    const admin = { checkpoint: false, connect: { heartbeatMs: 0, credentials: node.adminToken } };
    const small = file('deep.txt', 10);
    await expect(putFile(node.tcp, small, 'a/b/c/d/e.txt', admin)).rejects.toMatchObject({
      code: 'ERR_PATH_REJECTED',
      details: { reason: 'too-deep' },
    });
    expect(existsSync(join(served, 'a'))).toBe(false);
    await putFile(node.tcp, small, 'a/b/c/d.txt', admin);
    expect(existsSync(join(served, 'a/b/c/d.txt'))).toBe(true);
  }, 60_000);

  it('an abandoned upload is deleted by the sweeper on its timer, with no put to trigger it', async () => {
    const s = await connect(node.tcp, {
      userData: encodeHello({ service: 'files' }),
      heartbeatMs: 0,
      credentials: node.adminToken,
    });
    await s.send(encodeControl({ op: 'put', path: 'left/behind.bin', size: 50 * KB, sha256: 'a'.repeat(64) }));
    const answer = await s[Symbol.asyncIterator]().next();
    expect(decodeUnit(answer.value as Uint8Array)).toMatchObject({ kind: 'control', message: { op: 'put-ok' } });
    expect(uploadsOnDisk().length).toBeGreaterThan(0);
    s.abort('walking away');
    const deadline = Date.now() + 20_000;
    while (uploadsOnDisk().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(uploadsOnDisk()).toEqual([]);
    // The service still takes uploads afterwards.
    await putFile(node.tcp, file('after.bin', 10), 'left/after.bin', {
      checkpoint: false,
      connect: { heartbeatMs: 0, credentials: node.adminToken },
    });
  }, 60_000);
});
