// The bounded exhaustive search (../support/explorer.ts) at CI size: every configuration (each
// dialogue mode and each unit set that changes the rules, tokens on either side) to a depth at
// which each side completes a sync point, a resynchronize, an activity interrupt and a release.
// `npm run explore` runs the same search deeper (docs/state-machine.md has its figures).
// Depth: COLLOQUY_EXPLORE_DEPTH (default 4).

import { afterEach, describe, expect, it, vi } from 'vitest';
import { SessionMachine } from '../../../src/engine/machine/index.js';
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
      expect
        .soft(
          coverage.has(`${side}:sync-minor-confirmed`) || coverage.has(`${side}:sync-major-confirmed`),
          `${side} sync point`,
        )
        .toBe(true);
      for (const k of [
        'resync-complete',
        'activity-interrupted',
        'activity-discarded',
        'activity-ended',
        'release-refused',
        'released',
        'resumed',
        'data-discarded',
        'cancelled',
      ]) {
        expect.soft(coverage.has(`${side}:${k}`), `${side}:${k}`).toBe(true);
      }
    }
  });
});

describe('the explorer reports instead of crashing, and stops at its bounds', () => {
  const config = CONFIGS[0] as (typeof CONFIGS)[number];
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('an engine exception is a violation with its path; the search goes on', () => {
    vi.spyOn(SessionMachine.prototype, 'syncMinor').mockImplementation(() => {
      throw new TypeError('engine bug');
    });
    const r = explore(config, { depth: 2, maxViolations: 1000 });
    expect(r.violations.length).toBeGreaterThan(0);
    expect(r.violations[0]).toMatchObject({ error: 'engine bug' });
    expect(r.violations[0]?.path.at(-1)).toMatch(/\.minor$/);
    expect(r.stopped).toBeUndefined();
    expect(r.states).toBeGreaterThan(50); // the other steps were still explored
  });

  it('a state bound stops it and says where', () => {
    const r = explore(config, { depth: 8, maxStates: 200 });
    expect(r.stopped).toMatchObject({ reason: 'states' });
    expect(r.stopped?.states).toBeGreaterThanOrEqual(200);
    expect(r.stopped?.path.length).toBeGreaterThan(0);
  });

  it('a time bound stops it and says where', () => {
    const r = explore(config, { depth: 8, deadline: performance.now() + 200 });
    expect(r.stopped).toMatchObject({ reason: 'time' });
    expect(r.ms).toBeLessThan(5_000);
  });
});
