// Every command of the table answers --help in-process: usage on stdout, exit 0, nothing on
// stderr, and its exit codes documented (the command-line rules of the project).

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { commands } from '../../src/cli/commands.js';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

describe('--help on every command', () => {
  for (const command of commands) {
    it(`colloquy ${command.name} --help`, async () => {
      const stdout = new Sink();
      const stderr = new Sink();
      const code = await runCli([command.name, '--help'], { signal: new AbortController().signal, stdout, stderr });
      expect(stderr.text).toBe('');
      expect(code).toBe(0);
      expect(stdout.text).toMatch(new RegExp(`^Usage: colloquy ${command.name}\\b`));
      expect(stdout.text).toMatch(/Exit codes:/);
      // `help <name>` prints the same.
      const again = new Sink();
      expect(
        await runCli(['help', command.name], { signal: new AbortController().signal, stdout: again, stderr }),
      ).toBe(0);
      expect(again.text).toBe(stdout.text);
    });
  }
});
