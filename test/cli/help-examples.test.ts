// Every example in every `--help` text parses. An example is a help line indented by exactly two
// spaces that starts with `colloquy ` or `npx colloquy ` (the `Usage:` synopsis and its
// continuation lines are not examples). Each one runs its command in-process with Ctrl-C already
// pressed: a command parses all its arguments first (bad ones throw UsageError before any I/O)
// and then passes ctx.signal to every wait (src/cli/commands.ts), so it stops at its first
// connect or listen without needing a server. The command's run() is called directly, because
// the dispatcher reports anything thrown after Ctrl-C as "interrupted" (130), a UsageError too.

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { commands, UsageError } from '../../src/cli/commands.js';

async function run(args: string[], signal: AbortSignal): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const stdin = new PassThrough();
  stdin.end();
  const code = await runCli(args, { signal, stdout, stderr, stdin });
  return { code, out, err };
}

/** A shell command line's words: plain, '...' and "..." (no escapes inside '...', as sh). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /\s*(?:'([^']*)'|"((?:[^"\\]|\\.)*)"|([^\s'"]+))/gy;
  let word: string | undefined;
  let m: RegExpExecArray | null;
  let last = 0;
  while (last < line.length && (m = re.exec(line)) !== null) {
    const piece = m[1] ?? m[2]?.replace(/\\(.)/g, '$1') ?? (m[3] as string);
    const joined = m[0].length > 0 && !/^\s/.test(m[0]) && word !== undefined;
    if (joined) words[words.length - 1] += piece;
    else words.push(piece);
    word = piece;
    last = re.lastIndex;
    if (line.slice(last).trim() === '') break;
    if (/^\s/.test(line.slice(last))) word = undefined;
  }
  if (line.slice(last).trim() !== '') throw new Error(`cannot split: ${line}`);
  return words;
}

async function helpExamples(): Promise<Array<{ command: string; line: string }>> {
  const found: Array<{ command: string; line: string }> = [];
  const live = new AbortController().signal;
  for (const command of commands) {
    const help = await run([command.name, '--help'], live);
    expect(help.code, `colloquy ${command.name} --help`).toBe(0);
    for (const line of help.out.split('\n')) {
      if (/^ {2}(npx )?colloquy /.test(line)) found.push({ command: command.name, line: line.trim() });
    }
  }
  return found;
}

describe('--help examples', () => {
  it('splits shell words like sh', () => {
    expect(shellWords(`colloquy call tcp://h:1 echo '{"hello":"world"}' --json`)).toEqual([
      'colloquy',
      'call',
      'tcp://h:1',
      'echo',
      '{"hello":"world"}',
      '--json',
    ]);
    expect(shellWords(`a "b c" d'e f'`)).toEqual(['a', 'b c', 'de f']);
  });

  it('every example in every command help parses (no usage error)', async () => {
    const examples = await helpExamples();
    // The texts that have examples today; a help that loses all its examples fails here.
    expect(new Set(examples.map((e) => e.command))).toEqual(new Set(['get', 'put', 'call', 'netbios']));
    const interrupted = AbortSignal.abort();
    for (const { line } of examples) {
      const words = shellWords(line.replace(/^npx /, ''));
      expect(words[0]).toBe('colloquy');
      const command = commands.find((c) => c.name === words[1]);
      expect(command, line).toBeDefined();
      const stdin = new PassThrough();
      stdin.end();
      const sink = (): PassThrough => new PassThrough().resume();
      const usage = await Promise.resolve()
        .then(() => command?.run(words.slice(2), { signal: interrupted, stdout: sink(), stderr: sink(), stdin }))
        .then(
          () => undefined,
          (error: unknown) => (error instanceof UsageError ? error.message : undefined),
        );
      expect(usage, line).toBeUndefined();
    }
  });
});
