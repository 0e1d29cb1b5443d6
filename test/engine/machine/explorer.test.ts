// The bounded exhaustive search (../support/explorer.ts) at CI size: every configuration (each
// dialogue mode and each unit set that changes the rules, tokens on either side) to a depth at
// which each side completes a sync point, a resynchronize, an activity interrupt and a release.
// `npm run explore` runs the same search deeper (docs/state-machine.md has its figures).
// Depth: COLLOQUY_EXPLORE_DEPTH (default 4).

import { describe, expect, it } from 'vitest';
import { CONFIGS, coverage, explore } from '../support/explorer.js';

const DEPTH = Number(process.env.COLLOQUY_EXPLORE_DEPTH ?? 4);

describe('bounded exhaustive search of a machine pair', () => {
  let total = 0;
  for (const config of CONFIGS) {
    it(`${config.name}: every state to depth ${DEPTH} keeps the invariants`, () => {
      const r = explore(config, { depth: DEPTH });
      total += r.states;
      expect(r.violations).toEqual([]);
      expect(r.perDepth.length).toBe(DEPTH + 1); // the space did not run out before the depth
    }, 300_000);
  }

  it('reached every service the search is about, on both sides', () => {
    console.log(`explorer: ${total} states to depth ${DEPTH} over ${CONFIGS.length} configurations`);
    for (const side of ['A', 'B']) {
      expect.soft(coverage.has(`${side}:sync-minor-confirmed`) || coverage.has(`${side}:sync-major-confirmed`), `${side} sync point`).toBe(true);
      for (const k of ['resync-complete', 'activity-interrupted', 'activity-discarded', 'activity-ended', 'release-refused', 'released', 'resumed', 'data-discarded', 'cancelled']) {
        expect.soft(coverage.has(`${side}:${k}`), `${side}:${k}`).toBe(true);
      }
    }
  });
});
