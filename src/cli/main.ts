#!/usr/bin/env node
// The `colloquy` executable (package.json "bin" -> dist/cli/main.js): binds the dispatcher in
// ./cli.ts to the real process: argv, stdout/stderr, Ctrl-C and the exit code.
//
// Ctrl-C aborts the command's signal so it can unwind (close sessions, flush files) and the run
// ends with 130; a second Ctrl-C ends the process at once. The exit code is set, not forced with
// process.exit(), so piped output is never cut short; but once the command has returned, nothing
// it left open (a socket, a timer) keeps the process more than EXIT_GRACE_MS: the process ends
// then with that code.

import { runCli } from './cli.js';
import { ExitCode } from './commands.js';

const interrupt = new AbortController();
const onSigint = (): void => {
  if (interrupt.signal.aborted) process.exit(ExitCode.interrupted);
  interrupt.abort(new Error('interrupted'));
};
process.on('SIGINT', onSigint);

/** How long the process may outlive its command's return. */
const EXIT_GRACE_MS = 500;

try {
  process.exitCode = await runCli(process.argv.slice(2), {
    signal: interrupt.signal,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    exit: (code) => process.exit(code),
  });
} catch (err) {
  process.stderr.write(`colloquy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = ExitCode.failure;
} finally {
  process.off('SIGINT', onSigint);
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}
