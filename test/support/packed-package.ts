// The package as a user gets it: `npm pack` of the built package, installed from the tarball into
// a fresh temporary project. Tests that must see what a user sees (the doc examples, package
// installs) run their code inside that project, importing `colloquy` and its subpaths.
//
// Theory of operation
//   - The package is packed with `--ignore-scripts` from the built dist/ (npm test builds before
//     vitest; when dist/ is missing it is built here first). Nothing in the worktree changes.
//   - The result is cached by content: the key is a SHA-256 over package.json and every file the
//     tarball ships (dist/, docs/, README.md, LICENSE), plus the extra packages asked for. The
//     project lives in <tmpdir>/colloquy-packed/<key>/project and is reused by every test file of
//     the run (vitest runs files in separate processes) and by later runs while nothing changed.
//   - Concurrent callers: the first takes a lock (an exclusive mkdir), builds the project in a
//     scratch directory and renames it into place; the others wait for it, probing, bounded.
//     A lock older than LOCK_STALE_MS is a crashed builder's and is taken over.
//   - Extra packages (e.g. `express` for an example that uses it) are installed beside the
//     tarball at the version the repository's lockfile pins, so examples see what the tests see.
//   - Other keys' projects older than a day are removed, so the temporary directory stays bounded.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const CACHE_ROOT = join(tmpdir(), 'colloquy-packed');
/** A builder that has held the lock this long has died; its lock is taken over. */
const LOCK_STALE_MS = 10 * 60_000;
/** How long a caller waits for another caller's build before giving up. */
const WAIT_MS = 10 * 60_000;
const PRUNE_AFTER_MS = 24 * 3600_000;

export interface PackedPackage {
  /** The temporary project's directory: package.json ("type": "module") and node_modules/colloquy. */
  dir: string;
  /** The tarball that was installed. */
  tarball: string;
  /** The cache key (content hash). */
  key: string;
}

export interface PackedPackageOptions {
  /** Packages installed beside colloquy, at the version the repository's lockfile has. */
  extras?: readonly string[];
}

const memo = new Map<string, Promise<PackedPackage>>();

/** The built package, packed and installed into a fresh temporary project; cached by content. */
export function packedPackage(options: PackedPackageOptions = {}): Promise<PackedPackage> {
  const extras = [...new Set(options.extras ?? [])].sort();
  const id = extras.join(',');
  let p = memo.get(id);
  if (!p) {
    p = prepare(extras);
    memo.set(id, p);
    p.catch(() => memo.delete(id));
  }
  return p;
}

async function prepare(extras: string[]): Promise<PackedPackage> {
  if (!existsSync(join(REPO_ROOT, 'dist', 'index.js')))
    await run('npm', ['run', 'build'], { cwd: REPO_ROOT, maxBuffer: 64 << 20 });
  const specs = extras.map(pinned);
  const key = contentKey(specs);
  const home = join(CACHE_ROOT, key);
  const dir = join(home, 'project');
  const result = (): PackedPackage => ({ dir, tarball: readFileSync(join(home, 'tarball'), 'utf8'), key });
  if (existsSync(join(dir, '.ready'))) return result();
  mkdirSync(home, { recursive: true });
  const lock = join(home, 'lock');
  const deadline = Date.now() + WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    if (existsSync(join(dir, '.ready'))) return result();
    if (takeLock(lock)) break;
    if (Date.now() > deadline)
      throw new Error(
        `packed-package: waited ${WAIT_MS / 1000} s for another test's build of ${home}; remove ${lock} if no test is running`,
      );
    await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
  }
  try {
    if (existsSync(join(dir, '.ready'))) return result();
    const scratch = join(home, `build-${process.pid}-${Date.now()}`);
    mkdirSync(scratch, { recursive: true });
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', home], {
      cwd: REPO_ROOT,
      maxBuffer: 64 << 20,
    });
    const tarball = join(home, stdout.trim().split('\n').pop() as string);
    writeFileSync(
      join(scratch, 'package.json'),
      `${JSON.stringify({ name: 'colloquy-packed-project', private: true, type: 'module' }, null, 2)}\n`,
    );
    await run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--no-package-lock',
        '--loglevel=error',
        tarball,
        ...specs,
      ],
      { cwd: scratch, maxBuffer: 64 << 20 },
    );
    writeFileSync(join(scratch, '.ready'), `${new Date().toISOString()}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(scratch, dir);
    writeFileSync(join(home, 'tarball'), tarball);
    prune(key);
    return result();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function takeLock(lock: string): boolean {
  try {
    mkdirSync(lock);
    return true;
  } catch {
    try {
      if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) {
        rmSync(lock, { recursive: true, force: true });
        return false;
      }
    } catch {
      /* released meanwhile */
    }
    return false;
  }
}

/** `name@version` as the repository's lockfile pins it (the installed copy under node_modules). */
function pinned(name: string): string {
  const manifest = join(REPO_ROOT, 'node_modules', ...name.split('/'), 'package.json');
  if (!existsSync(manifest))
    throw new Error(`packed-package: ${name} is not installed in the repository (add it to devDependencies)`);
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return `${name}@${version}`;
}

/** SHA-256 over package.json, every shipped file (path and bytes) and the extra packages. */
function contentKey(specs: string[]): string {
  const hash = createHash('sha256');
  const files = ['package.json', 'README.md', 'LICENSE'].map((f) => join(REPO_ROOT, f)).filter((f) => existsSync(f));
  for (const top of ['dist', 'docs']) walk(join(REPO_ROOT, top), files);
  for (const f of files.sort()) {
    hash.update(relative(REPO_ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
  }
  hash.update(specs.join('\n'));
  return hash.digest('hex').slice(0, 24);
}

function walk(dir: string, out: string[]): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else if (entry.isFile()) out.push(p);
  }
}

/** Removes other keys' projects not touched for a day. */
function prune(keep: string): void {
  for (const name of readdirSync(CACHE_ROOT)) {
    if (name === keep) continue;
    const p = join(CACHE_ROOT, name);
    try {
      if (Date.now() - statSync(p).mtimeMs > PRUNE_AFTER_MS) rmSync(p, { recursive: true, force: true });
    } catch {
      /* gone */
    }
  }
}
