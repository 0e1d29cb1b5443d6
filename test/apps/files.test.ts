// Files service and client in one process: listen() + ServiceHost + filesService over real TCP
// on loopback. Cuts destroy the client's transport; a "restart" is a second getFile/putFile
// after the first was stopped mid-transfer (its session aborted, its checkpoint left behind).

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { encodeHello } from '../../src/apps/service.js';
import { getFile, putFile } from '../../src/apps/files.js';
import { splitPath } from '../../src/apps/files-path.js';
import { encodeControl } from '../../src/apps/files-wire.js';
import { SessionError } from '../../src/engine/errors.js';
import { startAppsServer } from './fixtures/apps-server.js';
import type { AppsServer } from './fixtures/apps-server.js';

let server: AppsServer;
let base: string;
let root: string;
let local: string;

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'colloquy-files-'));
  root = join(base, 'root');
  local = join(base, 'local');
  await mkdir(root);
  await mkdir(local);
  server = await startAppsServer({ files: { root, maxFileBytes: 8 * 1024 * 1024, syncEveryBytes: 256 * 1024 } });
});

afterEach(async () => {
  await server.close();
  await rm(base, { recursive: true, force: true });
});

describe('path confinement', () => {
  it('refuses every path that could leave the root, with a typed reason', () => {
    const reasonOf = (p: unknown): unknown => {
      try {
        splitPath(p, 64);
        return 'ok';
      } catch (e) {
        return (e as SessionError).details['reason'];
      }
    };
    expect(reasonOf('a/b.txt')).toBe('ok');
    expect(reasonOf('./a//b')).toBe('ok');
    expect(reasonOf('')).toBe('empty');
    expect(reasonOf(7)).toBe('empty');
    expect(reasonOf('a\0b')).toBe('nul');
    expect(reasonOf('/etc/passwd')).toBe('absolute');
    expect(reasonOf('\\share')).toBe('absolute');
    expect(reasonOf('C:x')).toBe('absolute');
    expect(reasonOf('a/../b')).toBe('dot-dot');
    expect(reasonOf('a\\..\\..\\b')).toBe('dot-dot');
    expect(reasonOf('.colloquy-upload-x')).toBe('reserved');
    expect(reasonOf('x'.repeat(65))).toBe('too-long');
  });

  it('refuses a symlink that leads outside the root, for get, put and files.list', async () => {
    await writeFile(join(base, 'secret'), 'top secret');
    await symlink(join(base, 'secret'), join(root, 'link'));
    await symlink(base, join(root, 'outdir'));
    await mkdir(join(root, 'in'));
    await writeFile(join(root, 'in', 'ok.txt'), 'fine');
    await symlink(join(root, 'in', 'ok.txt'), join(root, 'inner-link'));
    const code = (e: unknown): unknown => [(e as SessionError).code, (e as SessionError).details['reason']];
    expect(code(await getFile(server.tcp, 'link', join(local, 'x')).catch((e: unknown) => e))).toEqual([
      'ERR_PATH_REJECTED',
      'outside-root',
    ]);
    expect(code(await getFile(server.tcp, 'outdir/secret', join(local, 'x')).catch((e: unknown) => e))).toEqual([
      'ERR_PATH_REJECTED',
      'outside-root',
    ]);
    await writeFile(join(local, 'up'), 'data');
    expect(code(await putFile(server.tcp, join(local, 'up'), 'outdir/planted').catch((e: unknown) => e))).toEqual([
      'ERR_PATH_REJECTED',
      'outside-root',
    ]);
    await expect(stat(join(base, 'planted'))).rejects.toThrow();
    await expect(server.files.list({ path: 'outdir' })).rejects.toMatchObject({ code: 'ERR_PATH_REJECTED' });
    // A link that stays inside the root is followed.
    const r = await getFile(server.tcp, 'inner-link', join(local, 'inner'));
    expect(await readFile(join(local, 'inner'), 'utf8')).toBe('fine');
    expect(r.size).toBe(4);
  });

  it('names a missing file and a file over maxFileBytes with their codes, and the session stays usable', async () => {
    await writeFile(join(root, 'big'), Buffer.alloc(8 * 1024 * 1024 + 1));
    await expect(getFile(server.tcp, 'nothing-here', join(local, 'x'))).rejects.toMatchObject({
      code: 'ERR_FILE_NOT_FOUND',
    });
    await expect(getFile(server.tcp, 'big', join(local, 'x'))).rejects.toMatchObject({
      code: 'ERR_FILE_TOO_LARGE',
      details: { limit: 'maxFileBytes' },
    });
    const s = await connect(server.tcp, { userData: encodeHello({ service: 'files' }) });
    await s.send(encodeControl({ op: 'put', path: 'p', size: 9 * 1024 * 1024, sha256: '0'.repeat(64) }));
    const r = await s.read();
    expect(JSON.parse(new TextDecoder().decode(r.value?.subarray(1)))).toMatchObject({
      op: 'error',
      code: 'ERR_FILE_TOO_LARGE',
    });
    await s.send(encodeControl({ op: 'put', path: '../p', size: 1, sha256: '0'.repeat(64) }));
    const r2 = await s.read();
    expect(JSON.parse(new TextDecoder().decode(r2.value?.subarray(1)))).toMatchObject({
      op: 'error',
      code: 'ERR_PATH_REJECTED',
      details: { reason: 'dot-dot' },
    });
    expect(await s.release()).toBe(true);
  });

  it('aborts a session that breaks the files protocol', async () => {
    const s = await connect(server.tcp, { userData: encodeHello({ service: 'files' }), reconnect: false });
    const closed = new Promise<SessionError | undefined>((resolve) => s.on('closed', ({ error }) => resolve(error)));
    await s.send(new Uint8Array([0x02, 1, 2, 3])); // file bytes outside an upload
    const error = await closed;
    expect(error?.code).toBe('ERR_ABORTED');
    expect(error?.message).toMatch(/outside an upload/);
  });
});

describe('transfers', () => {
  it('gets and puts files of 0, 1 and 1.5 MiB + 7 bytes with equal SHA-256, also over ws', async () => {
    for (const size of [0, 1, 1536 * 1024 + 7]) {
      const data = randomBytes(size);
      await writeFile(join(root, `f${size}`), data);
      const r = await getFile(size % 2 ? server.ws : server.tcp, `f${size}`, join(local, `g${size}`));
      expect(r.sha256).toBe(sha(data));
      expect(sha(await readFile(join(local, `g${size}`)))).toBe(sha(data));
      const u = await putFile(size % 2 ? server.tcp : server.ws, join(local, `g${size}`), `sub/dir/p${size}`);
      expect(u.sha256).toBe(sha(data));
      expect(sha(await readFile(join(root, 'sub', 'dir', `p${size}`)))).toBe(sha(data));
    }
    // Nothing left behind: no part files, no checkpoints, no uploads in progress.
    expect((await readdir(local)).sort()).toEqual(['g0', 'g1', `g${1536 * 1024 + 7}`]);
    expect((await readdir(join(root, 'sub', 'dir'))).sort()).toEqual(['p0', 'p1', `p${1536 * 1024 + 7}`]);
    const listing = await server.files.list({ path: 'sub/dir' });
    expect(listing.entries.map((e) => [e.name, e.size])).toEqual([
      ['p0', 0],
      ['p1', 1],
      [`p${1536 * 1024 + 7}`, 1536 * 1024 + 7],
    ]);
  });

  it('survives repeated cuts in both directions with equal checksums', async () => {
    // Two sync points in flight at most, both ways: the default window holds most of this file,
    // and the cuts are to fall while bytes are still to be sent.
    await server.close();
    server = await startAppsServer({ files: { root, syncEveryBytes: 256 * 1024, syncWindow: 2 } });
    const data = randomBytes(6 * 1024 * 1024 + 123);
    await writeFile(join(root, 'cut.bin'), data);
    // Cut every served session's transport each time the transfer passes another half MiB (the
    // client redials and both sides resume): at least five cuts per transfer, whatever the speed.
    const cutter = (): { onProgress(p: { transferred: number }): void; cuts(): number } => {
      let next = 512 * 1024;
      let cuts = 0;
      return {
        onProgress: ({ transferred }) => {
          if (transferred < next) return;
          // The next cut half a MiB on from one that happened (progress may run on from what was
          // buffered while the session is between transports: no cut then).
          for (const s of server.server.sessions.values())
            if (s.driver.attached) {
              s.driver.attached.destroy();
              cuts++;
              next = transferred + 512 * 1024;
            }
        },
        cuts: () => cuts,
      };
    };
    const fast = { reconnect: { initialDelayMs: 5, maxDelayMs: 50 } };
    const down = cutter();
    const r = await getFile(server.tcp, 'cut.bin', join(local, 'cut.bin'), {
      connect: fast,
      onProgress: down.onProgress,
    });
    expect(r.sha256).toBe(sha(data));
    expect(down.cuts()).toBeGreaterThanOrEqual(5);
    expect(r.interruptions).toBeGreaterThanOrEqual(5);
    const up = cutter();
    const u = await putFile(server.tcp, join(local, 'cut.bin'), 'back.bin', {
      connect: fast,
      syncEveryBytes: 256 * 1024,
      syncWindow: 2,
      onProgress: up.onProgress,
    });
    expect(u.sha256).toBe(sha(data));
    expect(up.cuts()).toBeGreaterThanOrEqual(5);
    expect(u.interruptions).toBeGreaterThanOrEqual(5);
    expect(sha(await readFile(join(root, 'back.bin')))).toBe(sha(data));
  });

  it('a get stopped mid-transfer resumes from its checkpoint in a new session and verifies', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5);
    await writeFile(join(root, 'r.bin'), data);
    const dest = join(local, 'r.bin');
    const ac = new AbortController();
    const endings: (string | undefined)[] = [];
    server.server.on('session', (s) => s.on('closed', ({ error }) => endings.push(error?.code)));
    const first = getFile(server.tcp, 'r.bin', dest, {
      signal: ac.signal,
      onProgress: (p) => {
        if (p.transferred > 1024 * 1024) ac.abort();
      },
    });
    await expect(first).rejects.toThrow();
    await vi.waitFor(() => expect(endings).toEqual([undefined]), { timeout: 10_000 }); // ended by orderly release, not aborted
    const cp = JSON.parse(await readFile(`${dest}.colloquy-checkpoint`, 'utf8')) as { offset: number };
    expect(cp.offset).toBeGreaterThan(0);
    const second = await getFile(server.tcp, 'r.bin', dest);
    expect(second.resumedFrom).toBe(cp.offset);
    expect(second.sha256).toBe(sha(data));
    expect(sha(await readFile(dest))).toBe(sha(data));
    await expect(stat(`${dest}.colloquy-checkpoint`)).rejects.toThrow();
  });

  it('two downloads into one local file: the second is refused with ERR_FILE_BUSY; a stale lock is taken over', async () => {
    await writeFile(join(root, 'l.bin'), randomBytes(1024));
    const dest = join(local, 'l.bin');
    await writeFile(`${dest}.colloquy-lock`, String(process.pid)); // a live process (this one) holds it
    await expect(getFile(server.tcp, 'l.bin', dest)).rejects.toMatchObject({
      code: 'ERR_FILE_BUSY',
      details: { pid: process.pid },
    });
    await writeFile(`${dest}.colloquy-lock`, '2147483646'); // no such process
    const r = await getFile(server.tcp, 'l.bin', dest);
    expect(r.size).toBe(1024);
    expect(await readdir(local)).toEqual(['l.bin']);
  });

  it('a get whose remote file changed since the checkpoint starts over', async () => {
    await writeFile(join(root, 'c.bin'), randomBytes(2 * 1024 * 1024));
    const dest = join(local, 'c.bin');
    const ac = new AbortController();
    await expect(
      getFile(server.tcp, 'c.bin', dest, {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.transferred > 600 * 1024) ac.abort();
        },
      }),
    ).rejects.toThrow();
    const changed = randomBytes(2 * 1024 * 1024);
    await writeFile(join(root, 'c.bin'), changed);
    const r = await getFile(server.tcp, 'c.bin', dest);
    expect(r.resumedFrom).toBe(0);
    expect(sha(await readFile(dest))).toBe(sha(changed));
  });

  it('a put stopped mid-transfer resumes the server transfer from a new session; the target appears only when complete', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 9);
    const src = join(local, 'up.bin');
    await writeFile(src, data);
    const ac = new AbortController();
    const endings: (string | undefined)[] = [];
    server.server.on('session', (s) => s.on('closed', ({ error }) => endings.push(error?.code)));
    await expect(
      putFile(server.tcp, src, 'up.bin', {
        signal: ac.signal,
        syncEveryBytes: 256 * 1024,
        onProgress: (p) => {
          if (p.transferred > 1024 * 1024) ac.abort();
        },
      }),
    ).rejects.toThrow();
    await vi.waitFor(() => expect(endings).toEqual([undefined]), { timeout: 10_000 }); // ended by orderly release, not aborted
    await expect(stat(join(root, 'up.bin'))).rejects.toThrow(); // not visible while partial
    expect((await server.files.list({})).entries.map((e) => e.name)).toEqual([]); // the upload in progress is hidden
    const r = await putFile(server.tcp, src, 'up.bin');
    expect(r.resumedFrom).toBeGreaterThan(0);
    expect(sha(await readFile(join(root, 'up.bin')))).toBe(sha(data));
    expect(await readdir(root)).toEqual(['up.bin']);
  });

  it('a put resumes after a restart of the server too (the upload record is on disk)', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 3);
    const src = join(local, 'srv.bin');
    await writeFile(src, data);
    const ac = new AbortController();
    await expect(
      putFile(server.tcp, src, 'srv.bin', {
        signal: ac.signal,
        syncEveryBytes: 256 * 1024,
        onProgress: (p) => {
          if (p.transferred > 700 * 1024) ac.abort();
        },
      }),
    ).rejects.toThrow();
    await server.close();
    server = await startAppsServer({ files: { root } }); // a new process would look the same: nothing in memory
    const r = await putFile(server.tcp, src, 'srv.bin');
    expect(r.resumedFrom).toBeGreaterThan(0);
    expect(sha(await readFile(join(root, 'srv.bin')))).toBe(sha(data));
  });

  it('a put deletes abandoned uploads in its directory (untouched for staleUploadMs), and only those', async () => {
    const old = join(root, `.colloquy-upload-${'a'.repeat(32)}`);
    const fresh = join(root, `.colloquy-upload-${'b'.repeat(32)}`);
    for (const f of [old, `${old}.json`, fresh, `${fresh}.json`]) await writeFile(f, 'x');
    const longAgo = new Date(Date.now() - 25 * 60 * 60 * 1000);
    for (const f of [old, `${old}.json`]) await utimes(f, longAgo, longAgo);
    await writeFile(join(local, 'n.txt'), 'new');
    await putFile(server.tcp, join(local, 'n.txt'), 'n.txt');
    expect((await readdir(root)).sort()).toEqual([
      `.colloquy-upload-${'b'.repeat(32)}`,
      `.colloquy-upload-${'b'.repeat(32)}.json`,
      'n.txt',
    ]);
  });

  it('a corrupted upload is refused with ERR_CHECKSUM_MISMATCH and never renamed into place', async () => {
    const s = await connect(server.tcp, { userData: encodeHello({ service: 'files' }) });
    await s.send(encodeControl({ op: 'put', path: 'bad.bin', size: 3, sha256: sha(Buffer.from('abc')) }));
    await s.read();
    await s.send(new Uint8Array([0x02, 0x61, 0x62, 0x64])); // "abd"
    await s.syncMajor(new TextEncoder().encode('{"offset":3}'));
    await s.send(encodeControl({ op: 'commit' }));
    const r = await s.read();
    expect(JSON.parse(new TextDecoder().decode(r.value?.subarray(1)))).toMatchObject({
      op: 'error',
      code: 'ERR_CHECKSUM_MISMATCH',
    });
    expect(await readdir(root)).toEqual([]);
    await s.release();
  });
});
