// FilesQuota (src/apps/files-limits.ts) on its own: upload slots in total and per principal,
// byte quotas across reservations and commits, and that a slot frees when its session ends
// while the bytes stay reserved until the upload is committed or gone.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FilesQuota } from '../../src/apps/files-limits.js';

const limits = {
  maxTotalBytes: 1000,
  maxBytesPerPrincipal: 600,
  maxConcurrentUploads: 3,
  maxUploadsPerPrincipal: 2,
  maxDepth: 4,
  staleUploadMs: 1000,
  sweepIntervalMs: 60_000,
};

async function quota(existing = 0): Promise<FilesQuota> {
  const root = mkdtempSync(join(tmpdir(), 'colloquy-files-quota-'));
  if (existing > 0) writeFileSync(join(root, 'old.bin'), Buffer.alloc(existing));
  const q = new FilesQuota(
    async () => root,
    limits,
    () => false,
  );
  await q.ready();
  return q;
}

describe('FilesQuota', () => {
  it('caps uploads at once in total and per principal; an ended session frees its slot', async () => {
    const q = await quota();
    q.reserve('ada', 1).bind('t1', '/x');
    q.reserve('ada', 1).bind('t2', '/x');
    expect(() => q.reserve('ada', 1)).toThrow(
      expect.objectContaining({ code: 'ERR_QUOTA_EXCEEDED', details: { limit: 'maxUploadsPerPrincipal' } }),
    );
    q.reserve('bob', 1).bind('t3', '/x');
    expect(() => q.reserve('eve', 1)).toThrow(expect.objectContaining({ details: { limit: 'maxConcurrentUploads' } }));
    q.detach('t1');
    q.reserve('eve', 1).bind('t4', '/x');
    // Resuming a transfer does not count its own slot against itself.
    expect(() => q.reserve('ada', 1, 't2')).not.toThrow();
  });

  it('counts existing files, reservations and commits against the byte quotas', async () => {
    const q = await quota(300);
    const held = q.reserve('ada', 500);
    held.bind('a', '/x');
    expect(() => q.reserve('ada', 200)).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ limit: 'maxBytesPerPrincipal' }) }),
    );
    expect(() => q.reserve('bob', 300)).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ limit: 'maxTotalBytes' }) }),
    );
    q.reserve('bob', 200).cancel();
    // A commit over the old 300-byte file: used is now 500, and ada has written 500.
    q.committed('a', 300);
    expect(() => q.reserve('ada', 200)).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ limit: 'maxBytesPerPrincipal' }) }),
    );
    q.reserve('bob', 500).bind('b', '/x');
    q.dropped('b');
    expect(() => q.reserve('bob', 500)).not.toThrow();
  });

  it('refuses paths deeper than maxDepth', async () => {
    const q = await quota();
    expect(() => q.checkDepth(['a', 'b', 'c', 'd'], 'a/b/c/d')).not.toThrow();
    expect(() => q.checkDepth(['a', 'b', 'c', 'd', 'e'], 'a/b/c/d/e')).toThrow(
      expect.objectContaining({ code: 'ERR_PATH_REJECTED', details: expect.objectContaining({ reason: 'too-deep' }) }),
    );
  });
});
