// The command table: every `colloquy <name>` subcommand is one row here, and the dispatcher
// (./cli.ts) and the help text list exactly this table, in this order.
//
// Rules for a command:
//   - it parses its own arguments (everything after its name) and answers its own `--help`;
//     `colloquy help <name>` forwards to `<name> --help`;
//   - it writes through `ctx.stdout` / `ctx.stderr`, never `console`, so it can run in-process;
//   - it returns an exit code (or throws); it never calls `process.exit`, so output is flushed
//     (ctx.exit is for a deadline that must hold: serve's stop);
//   - it throws `UsageError` for bad arguments (exit 2) and passes `ctx.signal` to every wait:
//     Ctrl-C aborts the signal and the dispatcher exits 130 once the command has unwound.

import type { Readable, Writable } from 'node:stream';
import { netbiosCommand } from './netbios-command.js';
import { pptpCommand } from './pptp-command.js';
import { captureCommand } from './capture-command.js';
import { isoCommand } from './iso-command.js';
import { serveCommand } from './serve-command.js';
import { chatCommand } from './chat-command.js';
import { getCommand, putCommand } from './files-command.js';
import { callCommand } from './call-command.js';
import { traceCommand } from './trace-command.js';
import { sessionsCommand } from './sessions-command.js';

export { ExitCode } from './args.js';

export interface CommandContext {
  /** Aborted on Ctrl-C (SIGINT). */
  readonly signal: AbortSignal;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Input for commands that read lines (hex lines for `iso connect`, chat lines). */
  readonly stdin?: Readable;
  /**
   * Ends the process at once with `code` (main.ts: process.exit; absent when a command runs
   * in-process). Only for a deadline that must hold whatever is still running (serve's stop);
   * write what must be said first.
   */
  readonly exit?: (code: number) => void;
}

export interface Command {
  /** What the user types: `colloquy <name>`. */
  readonly name: string;
  /** One line for the help listing. */
  readonly summary: string;
  run(args: readonly string[], ctx: CommandContext): Promise<number> | number;
  /**
   * Ctrl-C is this command's normal way to stop (serve: release every session, then exit 0):
   * the dispatcher returns the command's own exit code instead of 130.
   */
  readonly stopsOnInterrupt?: boolean;
}

export { UsageError } from './args.js';

export const commands: readonly Command[] = [
  serveCommand,
  chatCommand,
  getCommand,
  putCommand,
  callCommand,
  traceCommand,
  sessionsCommand,
  isoCommand,
  netbiosCommand,
  pptpCommand,
  captureCommand,
];
