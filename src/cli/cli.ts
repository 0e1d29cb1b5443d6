// The dispatcher: global options, help, version, and handing the rest to a command of the table.
//
//   colloquy [global options] <command> [command arguments]
//
// Global options are the ones before the command name; everything from the command name on
// belongs to the command (so `colloquy serve --help` is serve's help, not ours). Output goes
// through the context's streams and the result is an exit code, so this runs in-process too;
// ./main.ts is the thin shell that binds it to the real process.

import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { type Command, type CommandContext, ExitCode, UsageError, commands as defaultCommands } from './commands.js';
import { readVersion } from './version.js';
// The commands dial and listen through connect() and listen(); the protocol profiles register
// their schemes there (iso://), as the package's entry points do.
import '../iso/profile.js';

const globalOptions = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

export function helpText(table: readonly Command[] = defaultCommands): string {
  const width = Math.max(0, ...table.map((c) => c.name.length)) + 2;
  const commandLines =
    table.length > 0
      ? table.map((c) => `  ${c.name.padEnd(width)}${c.summary}`)
      : [
          '  None yet. This version ships the library core (the wire codec and the session',
          '  protocol machine); serve, chat, get, put and the rest arrive in later versions.',
        ];
  return [
    'Usage: colloquy [options] <command> [arguments]',
    '',
    'Colloquy is the OSI session layer for TypeScript: sessions that survive dropped',
    'connections, with dialogue tokens, sync points, activities and negotiated release.',
    '',
    'Options:',
    '  -h, --help     show this help and exit',
    '  -V, --version  print the version and exit',
    '',
    'Commands:',
    ...commandLines,
    ...(table.length > 0 ? ['', "Run 'colloquy help <command>' for a command's arguments."] : []),
    '',
    'Exit codes:',
    '  0    ok',
    '  1    failure',
    '  2    usage error (unknown command or option, bad arguments)',
    '  130  interrupted (Ctrl-C)',
    '',
  ].join('\n');
}

export async function runCli(
  argv: readonly string[],
  ctx: CommandContext,
  table: readonly Command[] = defaultCommands,
): Promise<number> {
  const { globals, rest } = splitAtCommand(argv);
  let flags: { help: boolean; version: boolean };
  try {
    flags = parseGlobals(globals);
  } catch (err) {
    if (err instanceof UsageError) return usageError(ctx, err.message);
    throw err;
  }

  if (flags.help) return print(ctx.stdout, helpText(table));
  if (flags.version) return print(ctx.stdout, `${readVersion()}\n`);

  const [name, ...args] = rest;
  if (name === undefined) {
    ctx.stderr.write(helpText(table));
    return ExitCode.usage;
  }
  if (name === 'help') {
    const [topic] = args;
    if (topic === undefined) return print(ctx.stdout, helpText(table));
    return dispatch(table, topic, ['--help'], ctx);
  }
  return dispatch(table, name, args, ctx);
}

async function dispatch(
  table: readonly Command[],
  name: string,
  args: readonly string[],
  ctx: CommandContext,
): Promise<number> {
  const command = table.find((c) => c.name === name);
  if (command === undefined) return usageError(ctx, `unknown command '${name}'`);
  try {
    const code = await command.run(args, ctx);
    return ctx.signal.aborted && command.stopsOnInterrupt !== true ? ExitCode.interrupted : code;
  } catch (err) {
    // However a command unwinds after Ctrl-C (often an AbortError), the user interrupted it.
    if (ctx.signal.aborted) return ExitCode.interrupted;
    if (err instanceof UsageError) return usageError(ctx, err.message, name);
    ctx.stderr.write(`colloquy ${name}: ${describe(err)}\n`);
    return ExitCode.failure;
  }
}

// Everything up to the first word that is not an option is global; `--` ends the global options.
// (No global option takes a value; one that did would have to be skipped here.)
function splitAtCommand(argv: readonly string[]): { globals: string[]; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') return { globals: argv.slice(0, i), rest: argv.slice(i + 1) };
    if (!arg.startsWith('-') || arg === '-') return { globals: argv.slice(0, i), rest: argv.slice(i) };
  }
  return { globals: [...argv], rest: [] };
}

// parseArgs in non-strict mode with tokens, so that the messages are ours and name the option
// exactly as the user typed it.
function parseGlobals(globals: string[]): { help: boolean; version: boolean } {
  const { tokens } = parseArgs({
    args: globals,
    options: globalOptions,
    strict: false,
    tokens: true,
    allowPositionals: true,
  });
  const flags = { help: false, version: false };
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (token.name !== 'help' && token.name !== 'version') throw new UsageError(`unknown option '${token.rawName}'`);
    if (token.value !== undefined) throw new UsageError(`option '${token.rawName}' takes no value`);
    flags[token.name] = true;
  }
  return flags;
}

/** One format for every error: `colloquy[ COMMAND]: what happened`, then for usage errors where to read more. */
function usageError(ctx: CommandContext, message: string, command?: string): number {
  const help = command === undefined ? 'colloquy --help' : `colloquy help ${command}`;
  ctx.stderr.write(
    `${command === undefined ? 'colloquy' : `colloquy ${command}`}: ${message}\nRun '${help}' for usage.\n`,
  );
  return ExitCode.usage;
}

function print(stream: Writable, text: string): number {
  stream.write(text);
  return ExitCode.ok;
}

// Session errors show their stable code, which docs/errors.md explains. They are recognised by
// shape (a code and an origin) rather than by class, so the dispatcher needs no engine import;
// Node's own errors also have ERR_ codes but no origin, and docs/errors.md does not cover them.
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const { code, origin } = err as { code?: unknown; origin?: unknown };
  const coded = typeof code === 'string' && (origin === 'local' || origin === 'remote');
  return coded ? `${err.message} (${code}, see docs/errors.md)` : err.message;
}
