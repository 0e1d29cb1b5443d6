// Argument helpers every command shares. This module imports nothing from the command table, so
// command modules (which the table imports) can use it without an import cycle.

import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  interrupted: 130, // 128 + SIGINT, the shell's convention
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Bad arguments: the dispatcher prints the message and a pointer to the help, and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** node:util parseArgs, with its errors turned into UsageError. */
export function parseOrUsage<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** HOST, HOST:PORT, [V6] or [V6]:PORT. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text);
  if (m === null) throw new UsageError(`'${text}' is not HOST[:PORT]`);
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port < 1 || port > 65535) throw new UsageError(`port ${port} is not in 1..65535`);
  return { host: (m[1] ?? m[2]) as string, port };
}

/** A --NAME option in milliseconds: `fallback` when absent, else an integer >= `min`. */
export function parseMs(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`--${name} must be an integer >= ${min} (milliseconds)`);
  return Number(value);
}
