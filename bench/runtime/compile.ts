// How the runtime benchmark runs Colloquy as it ships: compiled by tsc, on plain node.
//
// Why not under tsx: tsx transpiles every module it loads (even plain .js) with esbuild's
// keepNames, which wraps each named closure in __name(fn, "name"), an Object.defineProperty on
// every closure created. The runtime makes such closures per session and per read, so under tsx
// a session costs ~4.5 KiB more heap (16 closures with their own property arrays) and reads
// cost more CPU than in the published build, while ws, Socket.IO and mqtt (node_modules) run
// untouched. So `npm run bench` (tsx) compiles bench/runtime/ and its peers, with the src/
// they import, by tsc into a private temp directory (same layout, so relative imports hold; no
// declarations or maps; emitted even on type errors, since other work may be in progress in a
// shared checkout), links node_modules back, runs <tmp>/bench/runtime/index.js on plain node, and
// removes the directory. dist/ is left alone (it may be stale or being rebuilt).

import { execFile, fork } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const ENTRY = ['bench/runtime/index.ts', 'bench/peers/sink.ts', 'bench/peers/idle.ts', 'bench/peers/opener.ts'];

export interface Compiled {
  /** The compiled bench/runtime/index.js, or undefined when tsc could not emit it. */
  entry?: string;
  problem?: string;
  remove(): Promise<void>;
}

/** Compiles the runtime bench and the src/ it imports into a fresh temp directory. */
export async function compileBench(): Promise<Compiled> {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) return { problem: 'typescript is not installed', remove: () => Promise.resolve() };
  const dir = await mkdtemp(join(tmpdir(), 'colloquy-bench-'));
  // Interrupted (Ctrl-C, kill): the directory goes too; the compiled bench and its peers exit on
  // their own when their parent's IPC channel closes.
  const onSignal = (signal: NodeJS.Signals): void => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const remove = async (): Promise<void> => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rm(dir, { recursive: true, force: true });
  };
  const config = {
    extends: join(ROOT, 'tsconfig.json'),
    compilerOptions: {
      rootDir: ROOT,
      outDir: dir,
      declaration: false,
      sourceMap: false,
      noEmitOnError: false,
      incremental: false,
    },
    files: ENTRY.map((f) => join(ROOT, f)),
    include: [],
  };
  const project = join(dir, 'tsconfig.bench.json');
  await writeFile(project, JSON.stringify(config));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  // Exit status 2 only means type errors (elsewhere, perhaps); what counts is the emitted JS.
  const stderr = await new Promise<string>((resolve) => {
    execFile(
      process.execPath,
      [tsc, '-p', project],
      { cwd: ROOT, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (_e, out, err) => resolve(`${out}${err}`),
    );
  });
  const entry = join(dir, 'bench', 'runtime', 'index.js');
  if (!ENTRY.every((f) => existsSync(join(dir, f.replace(/\.ts$/, '.js'))))) {
    await remove();
    return {
      problem: `tsc emitted no ${ENTRY.join(', ')}: ${stderr.split('\n').slice(0, 3).join(' ')}`,
      remove: () => Promise.resolve(),
    };
  }
  return { entry, remove };
}

/**
 * Runs the compiled bench on plain node (no tsx: execArgv replaced), output to ours; rejects if
 * it fails. The IPC channel only tells it when we are gone (it then exits; see exitWithLauncher).
 */
export function runCompiled(entry: string): Promise<void> {
  const execArgv = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = fork(entry, [], { cwd: ROOT, execArgv, stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`the compiled bench exited with ${signal ?? code}`)),
    );
  });
}

/** In the compiled bench: exit when the launcher goes away, without the channel keeping us alive. */
export function exitWithLauncher(): void {
  if (!process.send) return;
  process.channel?.unref();
  process.on('disconnect', () => process.exit(1));
}
