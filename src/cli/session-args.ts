// What the commands that open a session share: the session URL on the command line, and how an
// error is told to the user. Like ./args.ts it imports nothing from the command table.
//
// Theory of operation
//   A command takes the URL of a server's session endpoint: ws://HOST:PORT/session or
//   tcp://HOST:PORT (wss:// and tls:// too). Commands that take it as their only positional
//   check its form here before dialling (a UsageError, exit 2); commands that hand the URL to a
//   library client (call, get, put) let connect() parse it and turn its ERR_INVALID_URL into the
//   same kind of UsageError. Errors that end a command are printed as their message plus, for
//   the library's typed errors, the code and where it is documented.

import { SessionError } from '../engine/errors.js';
import { UsageError } from './args.js';
import type {} from '../client/errors.js';

const URL_FORMS = 'ws://HOST:PORT/session or tcp://HOST:PORT';

/** The single positional of a command that takes one URL. */
export function oneUrl(positionals: readonly string[]): string {
  if (positionals.length !== 1) throw new UsageError(`expected one URL (${URL_FORMS})`);
  return positionals[0] as string;
}

/** Checks the form of a session URL (scheme and host) before dialling it. */
export function checkSessionUrl(url: string): string {
  if (!/^(wss?|tcp|tls):\/\/[^/]+/.test(url)) throw new UsageError(`'${url}' is not ${URL_FORMS}`);
  return url;
}

/** A connect() that refused the URL itself is a usage error; anything else is left to the caller. */
export function throwIfInvalidUrl(error: unknown): void {
  if (error instanceof SessionError && error.code === 'ERR_INVALID_URL')
    throw new UsageError(`${error.message} (use ${URL_FORMS})`);
}

/** An error for the terminal: its message, and for a typed error its code and where it is documented. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_') ? `${e.message} (${code}, see docs/errors.md)` : e.message;
}
