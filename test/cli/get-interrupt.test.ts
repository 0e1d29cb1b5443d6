// Ctrl-C during `colloquy get` of a large file stops it promptly even with data buffered (the
// server sends far ahead of the disk), keeps the part file and the checkpoint, and the next get
// resumes from that checkpoint and verifies. Spawned processes, as a user runs them.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';
import { colloquy, spawnColloquy } from './apps-cli.js';

/** Large enough that the get cannot finish between the checkpoint we wait for and the SIGINT. */
const SIZE = 256 * 1024 * 1024;
/** The bound the issue sets: from SIGINT to the process's exit. */
const STOP_WITHIN_MS = 1000;

let base: string;
let files: string;
let serve: ServeNode;

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'colloquy-get-interrupt-'));
  files = join(base, 'served');
  await mkdir(files);
  // A sparse file: large on the wire, cheap to make. A few non-zero bytes give it a shape.
  const fh = await open(join(files, 'large.bin'), 'w');
  await fh.truncate(SIZE);
  for (let i = 0; i < 16; i++) await fh.write(Buffer.from(`block ${i}`), 0, undefined, i * (SIZE / 16));
  await fh.close();
  serve = await startServe(['--files', files]);
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await rm(base, { recursive: true, force: true });
});

describe('Ctrl-C during colloquy get', () => {
  it(`stops within ${STOP_WITHIN_MS} ms mid-transfer, keeps the checkpoint, and the next get resumes from it`, async () => {
    const out = join(base, 'copy.bin');
    const checkpoint = `${out}.colloquy-checkpoint`;
    const run = spawnColloquy(['get', serve.tcp, 'large.bin', '-o', out]);
    const end = Date.now() + 90_000;
    let offset = 0;
    while (offset < 8 * 1024 * 1024) {
      if (Date.now() > end) throw new Error('the get never reached a checkpoint past 8 MiB');
      offset = await readFile(checkpoint, 'utf8').then(
        (t) => (JSON.parse(t) as { offset: number }).offset,
        () => 0,
      );
      await new Promise((r) => setTimeout(r, 20));
    }
    const exited = new Promise<number>((resolve) => run.child.once('exit', () => resolve(performance.now())));
    const sent = performance.now();
    run.child.kill('SIGINT');
    const stoppedAfter = (await exited) - sent;
    const r = await run.done;
    console.log(
      `colloquy get stopped ${Math.round(stoppedAfter)} ms after SIGINT (checkpoint was at ${offset} of ${SIZE} bytes)`,
    );
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted; the checkpoint is kept/);
    expect(stoppedAfter).toBeLessThan(STOP_WITHIN_MS);
    const kept = JSON.parse(await readFile(checkpoint, 'utf8')) as { offset: number };
    expect(kept.offset).toBeGreaterThanOrEqual(offset);
    expect(kept.offset).toBeLessThan(SIZE);
    expect((await stat(`${out}.colloquy-part`)).size).toBeGreaterThanOrEqual(kept.offset);
    await expect(stat(out)).rejects.toThrow();

    const again = await colloquy(['get', serve.tcp, 'large.bin', '-o', out, '--json'], { timeoutMs: 180_000 });
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(again.stdout) as { resumedFrom: number; sha256: string };
    expect(summary.resumedFrom).toBe(kept.offset);
    expect(await sha256(out)).toBe(summary.sha256);
    expect(await sha256(out)).toBe(await sha256(join(files, 'large.bin')));
    await expect(stat(checkpoint)).rejects.toThrow();
  }, 300_000);
});
