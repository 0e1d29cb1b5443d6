// Every code example in README.md and docs/*.md runs, as printed, against the package a user
// installs: the packed tarball in a fresh temporary project (test/support/packed-package.ts).
// The convention (which fences run, the not-run marker) is in ./doc-examples.ts.
//
// Each runnable example is written to <project>/examples/, type-checked together with the
// others (strict, as a user's project would be), then run with tsx's loader in a fresh empty working
// directory, and must exit 0 within EXAMPLE_TIMEOUT_MS.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedPackage, REPO_ROOT } from '../support/packed-package.js';
import { allExamples, importedPackages } from './doc-examples.js';
import type { DocExample } from './doc-examples.js';

const EXAMPLE_TIMEOUT_MS = 30_000;
const TSX_LOADER = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const examples = allExamples(REPO_ROOT);
/** Examples that are type-checked: runnable ones and those marked type-check-only. */
const checked = examples.filter((e) => e.notRun === undefined && !e.problem);
const runnable = checked.filter((e) => e.typeOnly === undefined);
const slug = (e: DocExample): string => `${e.file.replace(/[/.]/g, '_')}_L${e.line}`;
const fileOf = (e: DocExample): string =>
  `${slug(e)}.${e.lang === 'js' || e.lang === 'javascript' || e.lang === 'mjs' ? 'mjs' : 'ts'}`;

/** Packages the examples import, with their type definitions where the repository has them. */
function extras(): string[] {
  const names = new Set<string>(['@types/node']);
  for (const e of checked) {
    for (const name of importedPackages(e.code)) {
      names.add(name);
      const types = `@types/${name.replace(/^@/, '').replace('/', '__')}`;
      if (existsSync(join(REPO_ROOT, 'node_modules', types, 'package.json'))) names.add(types);
    }
  }
  return [...names];
}

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 16 << 20,
        env: { ...process.env, NODE_OPTIONS: '' },
      },
      (error, stdout, stderr) => {
        const e = error as (NodeJS.ErrnoException & { code?: number | string; signal?: string }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
          ms: Date.now() - started,
        });
      },
    );
  });
}

let project = '';
const scratch: string[] = [];
let typeErrors = new Map<string, string[]>();

describe('the examples in README.md and docs/*.md', () => {
  beforeAll(async () => {
    const { dir } = await packedPackage({ extras: extras() });
    project = dir;
    const folder = join(project, 'examples');
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    for (const e of checked) {
      // `export {}` makes a fragment without imports a module, as every example is in a user's file.
      writeFileSync(join(folder, fileOf(e)), `${e.code}\n\nexport {};\n`);
    }
    writeFileSync(
      join(project, 'tsconfig.examples.json'),
      JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2022',
            lib: ['ES2023'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            allowJs: true,
            checkJs: false,
            types: ['node'],
          },
          include: ['examples/*.ts'],
        },
        null,
        2,
      ),
    );
    const tsc = await run(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        'tsconfig.examples.json',
        '--pretty',
        'false',
      ],
      project,
      180_000,
    );
    typeErrors = new Map();
    for (const line of tsc.stdout.split('\n')) {
      const m = /^examples\/([^(]+)\((\d+),(\d+)\): (.*)$/.exec(line);
      if (!m) continue;
      const list = typeErrors.get(m[1] as string) ?? [];
      list.push(`line ${m[2]}: ${m[4]}`);
      typeErrors.set(m[1] as string, list);
    }
    if (tsc.code !== 0 && typeErrors.size === 0)
      throw new Error(`tsc failed on the examples:\n${tsc.stdout}\n${tsc.stderr}`);
  }, 600_000);

  afterAll(() => {
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
  });

  it('follow the convention: a reason on every not-run marker, no untagged code that imports', () => {
    expect(examples.filter((e) => e.problem).map((e) => `${e.file}:${e.line}: ${e.problem}`)).toEqual([]);
    expect(runnable.length).toBeGreaterThan(5);
  });

  for (const e of checked) {
    it(
      `${e.file}:${e.line} type-checks${e.typeOnly === undefined ? ' and runs' : ''}`,
      async () => {
        const errors = typeErrors.get(fileOf(e)) ?? [];
        expect(errors, `${e.file}:${e.line} does not type-check (lines counted from the fence)`).toEqual([]);
        if (e.typeOnly !== undefined) return;
        const cwd = mkdtempSync(join(tmpdir(), 'colloquy-example-'));
        scratch.push(cwd);
        // One process (node with tsx's loader, not the tsx wrapper that forks one): the timeout's
        // SIGKILL then ends the example itself and never leaves it running.
        const r = await run(
          process.execPath,
          ['--import', TSX_LOADER, join(project, 'examples', fileOf(e))],
          cwd,
          EXAMPLE_TIMEOUT_MS,
        );
        const what = r.signal
          ? `was killed after ${r.ms} ms (${r.signal}): it must exit by itself within ${EXAMPLE_TIMEOUT_MS} ms`
          : `exited with ${r.code}`;
        expect(
          { code: r.code, signal: r.signal },
          `${e.file}:${e.line} ${what}\n--- stderr\n${r.stderr.slice(-3000)}\n--- stdout\n${r.stdout.slice(-1000)}`,
        ).toEqual({ code: 0, signal: null });
      },
      EXAMPLE_TIMEOUT_MS + 15_000,
    );
  }
});
