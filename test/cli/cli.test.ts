// The `colloquy` executable as a user runs it: a real process, its exit code and its two streams.
// Runs the source through tsx; the built dist/cli/main.js is checked too when a build exists
// (`npm test` always builds before it runs the tests).

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const distMain = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(nodeArgs: string[], args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeArgs, ...args],
      { cwd: root, timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') {
          reject(new Error(`colloquy ${args.join(' ')} did not exit normally (${err.signal ?? err.code}): ${stderr}`));
          return;
        }
        resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
  });
}

const colloquy = (...args: string[]): Promise<Run> => run(['--import', 'tsx', 'src/cli/main.ts'], args);

describe('colloquy (source, through tsx)', () => {
  it('--help prints usage, the commands and the exit codes on stdout and exits 0', async () => {
    const r = await colloquy('--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: colloquy /);
    expect(r.stdout).toContain('session layer');
    expect(r.stdout).toContain('--version');
    for (const name of ['iso', 'netbios', 'pptp']) expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    for (const line of [/^\s+0\s+ok$/m, /^\s+1\s+failure$/m, /^\s+2\s+usage error/m, /^\s+130\s+interrupted/m]) {
      expect(r.stdout).toMatch(line);
    }
  });

  it('-h and help print the same text as --help', async () => {
    const [long, short, word] = await Promise.all([colloquy('--help'), colloquy('-h'), colloquy('help')]);
    expect(short).toEqual(long);
    expect(word).toEqual(long);
  });

  it('--version and -V print the version in package.json', async () => {
    const [long, short] = await Promise.all([colloquy('--version'), colloquy('-V')]);
    for (const r of [long, short]) {
      expect(r).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    }
  });

  it('an unknown command is a usage error: message on stderr, exit 2', async () => {
    const r = await colloquy('frobnicate', '--flag');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("colloquy: unknown command 'frobnicate'\nRun 'colloquy --help' for usage.\n");
  });

  it('an unknown global option is a usage error', async () => {
    const r = await colloquy('--frobnicate');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^colloquy: unknown option '--frobnicate'\nRun 'colloquy --help'/);
  });

  it('no command at all prints the usage on stderr and exits 2', async () => {
    const r = await colloquy();
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: colloquy /);
  });
});

describe.skipIf(!existsSync(distMain))('colloquy (built, dist/cli/main.js)', () => {
  it('starts with a shebang so npm can link it as a bin', () => {
    expect(readFileSync(distMain, 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('finds package.json from dist too', async () => {
    const r = await run([distMain], ['--version']);
    expect(r).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });
});
