// The error family: the one base class every Colloquy error with a code extends.
//
// A folder that reports failures owns a table of its codes (`what` happened, what `todo`), in its
// own errors.ts, and an error class (or it raises SessionError, the session-level class, with a
// code it registers: see src/engine/errors.ts). src/errors.ts merges the tables; the docs generator
// (scripts/gen-docs.ts) writes them to docs/errors.md. This file sits in src/util/, the lowest
// layer (pure: no I/O, no clock), so that every folder, the engine included, may import it.

/** `local`: this side refused or detected something about its own use; `remote`: the peer did. */
export type ErrorOrigin = 'local' | 'remote';

/** One code's documentation: what happened, and what the user should do about it. */
export interface ErrorEntry {
  readonly what: string;
  readonly todo: string;
}

/** A folder's codes and their documentation, in the order docs/errors.md lists them. */
export type ErrorTable = Readonly<Record<string, ErrorEntry>>;

export class ColloquyError<C extends string = string> extends Error {
  override name = 'ColloquyError';
  readonly code: C;
  readonly origin: ErrorOrigin;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: C,
    message: string,
    origin: ErrorOrigin = 'local',
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.origin = origin;
    this.details = details;
  }
}

/** True for every error of the family: SessionError, ProtocolError, TransportError, NetbiosError, PptpError. */
export function isColloquyError(value: unknown): value is ColloquyError {
  return value instanceof ColloquyError;
}
