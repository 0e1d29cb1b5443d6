// Numeric service options: defaults merged with what the caller gave, each checked once at
// construction. The rpc and files services (./rpc.ts, ./files.ts) take all their limits this way.
//
// Theory of operation
//   `defaults` names every numeric option and its default; an option the caller left undefined
//   keeps its default, any other must pass `isInteger` (the caller picks Number.isInteger or
//   Number.isSafeInteger) and be >= 1, else the constructor throws ERR_INVALID_ARGUMENT naming
//   the service and the option. Options that are not in `defaults` are ignored here.

import { SessionError } from '../engine/errors.js';

export function positiveIntegers<D extends Record<string, number>>(
  owner: string,
  defaults: D,
  options: { readonly [K in keyof D]?: number | undefined },
  isInteger: (v: number) => boolean,
): D {
  const o = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof D & string)[]) {
    const v = options[key];
    if (v === undefined) continue;
    if (!isInteger(v) || v < 1)
      throw new SessionError('ERR_INVALID_ARGUMENT', `${owner}: ${key} must be an integer >= 1, got ${String(v)}`);
    o[key] = v as D[keyof D & string];
  }
  return o;
}
