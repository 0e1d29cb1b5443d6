// The dispatcher in-process, with a command table of its own: how later commands plug in.

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { helpText, runCli } from '../../src/cli/cli.js';
import { type Command, ExitCode, UsageError, commands } from '../../src/cli/commands.js';

function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(w, { text: () => chunks.join('') });
}

function context(signal = new AbortController().signal) {
  return { signal, stdout: sink(), stderr: sink() };
}

const echo: Command = {
  name: 'echo',
  summary: 'print the arguments',
  run(args, ctx) {
    if (args[0] === '--help') {
      ctx.stdout.write('Usage: colloquy echo [words...]\n');
      return ExitCode.ok;
    }
    if (args[0] === '--bad') throw new UsageError("unknown option '--bad'");
    ctx.stdout.write(`${args.join(' ')}\n`);
    return ExitCode.ok;
  },
};

const fail: Command = {
  name: 'fail',
  summary: 'always fails',
  run() {
    throw Object.assign(new Error('the peer aborted'), { code: 'ERR_ABORTED', origin: 'remote' });
  },
};

const table = [echo, fail];

describe('runCli', () => {
  it('ships every command, each listed in the help with its summary', () => {
    expect(commands.map((c) => c.name)).toEqual([
      'serve',
      'chat',
      'get',
      'put',
      'call',
      'trace',
      'sessions',
      'iso',
      'netbios',
      'pptp',
      'capture',
    ]);
    for (const c of commands) expect(helpText()).toContain(`${c.name}`);
    expect(helpText()).not.toContain('None yet');
    expect(helpText([])).toContain('None yet');
  });

  it('lists the table in the help, in order, with summaries', () => {
    const text = helpText(table);
    expect(text).toMatch(/^ {2}echo {2}print the arguments\n {2}fail {2}always fails$/m);
    expect(text).not.toContain('None yet');
  });

  it('hands everything after the command name to the command, options included', async () => {
    const ctx = context();
    expect(await runCli(['echo', 'a', '-h', '--', 'b'], ctx, table)).toBe(0);
    expect(ctx.stdout.text()).toBe('a -h -- b\n');
  });

  it('forwards help <command> to the command', async () => {
    const ctx = context();
    expect(await runCli(['help', 'echo'], ctx, table)).toBe(0);
    expect(ctx.stdout.text()).toBe('Usage: colloquy echo [words...]\n');
  });

  it("turns a command's UsageError into exit 2 with a pointer to its help", async () => {
    const ctx = context();
    expect(await runCli(['echo', '--bad'], ctx, table)).toBe(2);
    expect(ctx.stderr.text()).toBe("colloquy echo: unknown option '--bad'\nRun 'colloquy help echo' for usage.\n");
  });

  it('turns any other error into exit 1, showing a session error code', async () => {
    const ctx = context();
    expect(await runCli(['fail'], ctx, table)).toBe(1);
    expect(ctx.stderr.text()).toBe('colloquy fail: the peer aborted (ERR_ABORTED, see docs/errors.md)\n');
  });

  it('exits 130 when interrupted, however the command unwinds', async () => {
    const interrupt = new AbortController();
    const waits: Command = {
      name: 'wait',
      summary: 'waits for Ctrl-C',
      run: (_args, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
          interrupt.abort();
        }),
    };
    expect(await runCli(['wait'], context(interrupt.signal), [waits])).toBe(130);
  });
});
