// `colloquy get` / `colloquy put` as a user runs them: spawned CLI processes against a spawned
// `colloquy serve --files DIR`, a 50 MB file of random bytes, through the chaos proxy cutting
// the connection at random every 150-600 ms (several cuts per transfer), and a client process
// killed (SIGKILL) in mid-transfer and run again: it resumes from its checkpoint and verifies.
// Every run checks the SHA-256 of both ends. The chaos seed is in every failure message
// (COLLOQUY_CHAOS_SEED replays the cut schedule).

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosSeed, startFaultProxyWorker } from '../chaos/fault-proxy.js';
import type { FaultProxy } from '../chaos/fault-proxy.js';
import { ANONYMOUS, startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';
import { colloquy, spawnColloquy } from './apps-cli.js';

const SIZE = 50 * 1024 * 1024;
const seed = chaosSeed();

let base: string;
let files: string;
let local: string;
let serve: ServeNode;
let proxy: FaultProxy;
let bigSha: string;

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Polls `probe` every 50 ms until it returns true; fails after `ms`. */
async function until(what: string, probe: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (seed ${seed})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Besides the proxy's random cuts, cuts every connection each time the transfer's durable offset
 * (read by `offset`) passes another CUT_EVERY_BYTES, so that several cuts fall inside each
 * transfer however fast the machine is (a streaming put of 50 MB takes about a second here, and
 * its durable offset moves in bursts of 2 MiB points: a poll may see a step only every few MiB).
 * Returns the function that stops watching.
 */
const CUT_EVERY_BYTES = 4 * 1024 * 1024;

function cutAsItGoes(offset: () => Promise<number>): () => void {
  let next = CUT_EVERY_BYTES;
  let stopped = false;
  void (async () => {
    while (!stopped) {
      const at = await offset().catch(() => 0);
      if (at >= next) {
        proxy.cutAll();
        next = at + CUT_EVERY_BYTES;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return () => {
    stopped = true;
  };
}

const jsonOffset = (path: string) => async (): Promise<number> =>
  (JSON.parse(await readFile(path, 'utf8')) as { offset: number }).offset;

async function uploadOffset(dir: string): Promise<number> {
  const record = (await readdir(dir).catch(() => [] as string[])).find(
    (n) => n.startsWith('.colloquy-upload-') && n.endsWith('.json'),
  );
  return record ? jsonOffset(join(dir, record))() : 0;
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'colloquy-files-e2e-'));
  files = join(base, 'served');
  local = join(base, 'local');
  await mkdir(files);
  await mkdir(local);
  const data = randomBytes(SIZE);
  bigSha = createHash('sha256').update(data).digest('hex');
  await writeFile(join(files, 'big.bin'), data);
  serve = await startServe([...ANONYMOUS, '--files', files]);
  proxy = await startFaultProxyWorker({
    target: { host: '127.0.0.1', port: Number(new URL(serve.tcp).port) },
    seed,
    cutEveryMs: [150, 600],
    maxChunk: 65_536,
  });
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await serve?.stop();
  await rm(base, { recursive: true, force: true });
});

describe('colloquy get/put of 50 MB through the chaos proxy (spawned processes)', () => {
  it('serve offers echo, system.listMethods and files.list over rpc', async () => {
    const r = await colloquy(['call', serve.ws, 'system.listMethods', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(expect.arrayContaining(['echo', 'system.listMethods', 'files.list']));
    const l = await colloquy(['call', serve.tcp, 'files.list', '{}', '--json']);
    expect(JSON.parse(l.stdout)).toMatchObject({ entries: [{ name: 'big.bin', type: 'file', size: SIZE }] });
  });

  it('get with random cuts: exit 0, equal checksums, several cuts survived', async () => {
    const cutsBefore = proxy.stats.cuts;
    const out = join(local, 'got.bin');
    const stop = cutAsItGoes(jsonOffset(`${out}.colloquy-checkpoint`));
    const r = await colloquy(['get', `tcp://127.0.0.1:${proxy.port}`, 'big.bin', '-o', out, '--json']).finally(stop);
    expect(r.code, `seed ${seed}: ${r.stderr}`).toBe(0);
    const summary = JSON.parse(r.stdout) as { sha256: string; size: number; interruptions: number };
    expect(summary).toMatchObject({ event: 'downloaded', size: SIZE, sha256: bigSha });
    expect(await sha256(out)).toBe(bigSha);
    expect(proxy.stats.cuts - cutsBefore, `seed ${seed}`).toBeGreaterThanOrEqual(3);
    expect(summary.interruptions, `seed ${seed}`).toBeGreaterThanOrEqual(3);
    expect((await readdir(local)).sort()).toEqual(['got.bin']); // no part file, no checkpoint
  }, 120_000);

  it('put with random cuts: exit 0, equal checksums, the target appears complete', async () => {
    const cutsBefore = proxy.stats.cuts;
    const src = join(files, 'big.bin');
    const stop = cutAsItGoes(() => uploadOffset(join(files, 'uploads')));
    const r = await colloquy(['put', `tcp://127.0.0.1:${proxy.port}`, src, 'uploads/big.bin', '--json']).finally(stop);
    expect(r.code, `seed ${seed}: ${r.stderr}`).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ event: 'uploaded', size: SIZE, sha256: bigSha });
    expect((JSON.parse(r.stdout) as { interruptions: number }).interruptions, `seed ${seed}`).toBeGreaterThanOrEqual(3);
    expect(await sha256(join(files, 'uploads', 'big.bin'))).toBe(bigSha);
    expect(proxy.stats.cuts - cutsBefore, `seed ${seed}`).toBeGreaterThanOrEqual(3);
    expect(await readdir(join(files, 'uploads'))).toEqual(['big.bin']); // no upload left in progress
  }, 120_000);

  it('get survives a kill -9 of the client: the rerun resumes from the checkpoint and verifies', async () => {
    const out = join(local, 'restart.bin');
    const checkpoint = `${out}.colloquy-checkpoint`;
    const first = spawnColloquy(['get', `tcp://127.0.0.1:${proxy.port}`, 'big.bin', '-o', out, '--json']);
    await until('a checkpoint past 8 MiB', async () => {
      const cp = await readFile(checkpoint, 'utf8')
        .then((t) => JSON.parse(t) as { offset: number })
        .catch(() => undefined);
      return (cp?.offset ?? 0) > 8 * 1024 * 1024;
    });
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const saved = JSON.parse(await readFile(checkpoint, 'utf8')) as { offset: number };
    const r = await colloquy(['get', `tcp://127.0.0.1:${proxy.port}`, 'big.bin', '-o', out, '--json']);
    expect(r.code, `seed ${seed}: ${r.stderr}`).toBe(0);
    const summary = JSON.parse(r.stdout) as { resumedFrom: number };
    expect(summary.resumedFrom).toBeGreaterThanOrEqual(saved.offset);
    expect(summary.resumedFrom).toBeGreaterThan(0);
    expect(await sha256(out)).toBe(bigSha);
    await expect(stat(checkpoint)).rejects.toThrow();
  }, 120_000);

  it('put survives a kill -9 of the client: the rerun resumes the server transfer and verifies', async () => {
    const src = join(files, 'big.bin');
    const uploads = join(files, 'again');
    const first = spawnColloquy(['put', `tcp://127.0.0.1:${proxy.port}`, src, 'again/big.bin', '--json']);
    await until('an upload record past 8 MiB', async () => {
      const names = await readdir(uploads).catch(() => [] as string[]);
      const record = names.find((n) => n.endsWith('.json'));
      if (!record) return false;
      const r = await readFile(join(uploads, record), 'utf8')
        .then((t) => JSON.parse(t) as { offset: number })
        .catch(() => undefined);
      return (r?.offset ?? 0) > 8 * 1024 * 1024;
    });
    first.child.kill('SIGKILL');
    await first.done;
    await expect(stat(join(uploads, 'big.bin'))).rejects.toThrow(); // nothing visible while partial
    const r = await colloquy(['put', `tcp://127.0.0.1:${proxy.port}`, src, 'again/big.bin', '--json']);
    expect(r.code, `seed ${seed}: ${r.stderr}`).toBe(0);
    expect((JSON.parse(r.stdout) as { resumedFrom: number }).resumedFrom).toBeGreaterThan(8 * 1024 * 1024);
    expect(await sha256(join(uploads, 'big.bin'))).toBe(bigSha);
    expect(await readdir(uploads)).toEqual(['big.bin']);
    await expect(stat(`${src}.colloquy-put-checkpoint`)).rejects.toThrow();
  }, 120_000);

  it('Ctrl-C (SIGINT) releases the session, keeps the checkpoint and exits 130', async () => {
    const out = join(local, 'int.bin');
    const run = spawnColloquy(['get', serve.tcp, 'big.bin', '-o', out]);
    await until('a checkpoint', async () =>
      stat(`${out}.colloquy-checkpoint`).then(
        () => true,
        () => false,
      ),
    );
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted; the checkpoint is kept/);
    await expect(stat(`${out}.colloquy-checkpoint`)).resolves.toBeTruthy();
    await expect(stat(out)).rejects.toThrow();
  }, 60_000);

  it('a missing file exits 1 naming ERR_FILE_NOT_FOUND; a path out of the root names ERR_PATH_REJECTED', async () => {
    const missing = await colloquy(['get', serve.tcp, 'nope.bin', '-o', join(local, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ERR_FILE_NOT_FOUND/);
    const escape = await colloquy(['put', serve.tcp, join(files, 'big.bin'), '../escape.bin']);
    expect(escape.code).toBe(1);
    expect(escape.stderr).toMatch(/ERR_PATH_REJECTED/);
    await expect(stat(join(base, 'escape.bin'))).rejects.toThrow();
  });
});
