// Property: two machines on a virtual clock, random service calls from both sides, random
// transport cuts at any byte followed by resumes (the model: ../support/property-run.ts),
// checked after every step and once settled against the invariants of ../support/invariants.ts:
// no protocol violation between correct peers, data exactly once and in order, tokens never held
// twice, no data past an unconfirmed major sync, and at rest agreement on serials, activity and
// tokens with nothing stuck.
// Runs: COLLOQUY_PROPERTY_RUNS (default 2000 under CI, 500 otherwise). Seed: COLLOQUY_SEED (default:
// a fresh one, printed). `npm run sweep` runs the same property over many fresh seeds.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PATHS, property, seen } from '../support/property-run.js';

const RUNS = Number(process.env.COLLOQUY_PROPERTY_RUNS ?? (process.env.CI ? 2000 : 500));
// A fresh seed every run unless one is given, printed up front so that any failure can be replayed.
const SEED = process.env.COLLOQUY_SEED ? Number(process.env.COLLOQUY_SEED) : Math.floor(Math.random() * 0x7fffffff);
console.log(
  `property test seed ${SEED}, ${RUNS} runs (replay: COLLOQUY_SEED=${SEED} COLLOQUY_PROPERTY_RUNS=${RUNS} npx vitest run test/engine/machine/property.test.ts)`,
);

describe('session machine pair, random services and cuts', () => {
  it(
    `keeps exactly-once, token, sync and activity invariants (${RUNS} runs)`,
    () => {
      fc.assert(property, { numRuns: RUNS, seed: SEED });
      // The paths the invariants are about must actually have run.
      console.log('property paths:', JSON.stringify(seen));
      for (const k of PATHS) expect(seen[k] ?? 0, `path '${k}' never ran`).toBeGreaterThan(0);
    },
    60_000 + RUNS * 20,
  );
});
