// The packed package as a user installs it: every subpath export resolves and loads from a fresh
// project that installed the tarball (test/support/packed-package.ts), and the bin is linked.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packedPackage, REPO_ROOT } from '../support/packed-package.js';

const run = promisify(execFile);

describe('the packed package', () => {
  it('installs from its tarball; every export in package.json loads; the colloquy bin runs', async () => {
    const { dir, tarball } = await packedPackage();
    expect(existsSync(tarball)).toBe(true);
    expect(existsSync(join(dir, 'node_modules', 'colloquy', 'dist', 'index.js'))).toBe(true);
    const { exports } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    const subpaths = Object.keys(exports)
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? 'colloquy' : `colloquy/${k.slice(2)}`));
    const script = `for (const p of ${JSON.stringify(subpaths)}) { const m = await import(p); if (!Object.keys(m).length) throw new Error(p + ' exports nothing'); } console.log('ok');`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
    expect(stdout.trim()).toBe('ok');
    const version = await run(join(dir, 'node_modules', '.bin', 'colloquy'), ['--version'], { cwd: dir });
    expect(version.stdout).toMatch(/\d+\.\d+\.\d+/);
  }, 600_000);

  it('is cached: a second call in the same run returns the same project', async () => {
    const a = await packedPackage();
    const b = await packedPackage();
    expect(b.dir).toBe(a.dir);
  }, 600_000);
});
