// The explorer branches from copies of states (../support/clone.ts) instead of replaying each
// path from the start; the search is only as good as the copies are exact. For every
// configuration, along pseudo-random walks of the explorer's own steps (cuts, resumes, timers and
// deliveries among them), at several points:
//   - the copy equals the state rebuilt by replaying the walk from the start (`build`);
//   - the copy and the original, given the same steps, answer alike (same outcome, same state
//     after each step, the same events, and the same verdict and state once settled);
//   - running the copy leaves the original untouched, and the other way round.
// States are compared through the explorer's own `stateText` (every field of both machines, the
// link, the clock and the ledger).

import { describe, expect, it } from 'vitest';
import { build, CONFIGS, copyWorld, root, runStep, stateText, STEPS } from '../support/explorer.js';
import type { World } from '../support/explorer.js';
import { settleAndCheck } from '../support/invariants.js';

/** A small deterministic generator, so that a failure names a walk that can be replayed. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** One step of a walk: a step that does something now, picked at random (none: -1). */
function pick(w: World, rnd: () => number, path: number[]): number {
  for (let tries = 0; tries < 40; tries++) {
    const i = Math.floor(rnd() * STEPS.length);
    const probe = copyWorld(w);
    if (runStep(probe, i) === 'done') {
      runStep(w, i);
      path.push(i);
      return i;
    }
  }
  return -1;
}

function settledText(w: World): { text: string; verdict: string } {
  let verdict = 'ok';
  try {
    settleAndCheck(w.p, w.ledger);
  } catch (e) {
    verdict = e instanceof Error ? e.message : String(e);
  }
  return { text: stateText(w), verdict };
}

const WALKS = 4;
const LENGTH = 14;
const AHEAD = 8;

describe('explorer state copies are exact', () => {
  for (const [n, config] of CONFIGS.entries()) {
    it(`${config.name}: a copy equals the replayed state and behaves as the original`, () => {
      let compared = 0;
      for (let walk = 0; walk < WALKS; walk++) {
        const rnd = lcg(1000 * n + walk);
        let w = root(config);
        const path: number[] = [];
        for (let k = 0; k < LENGTH; k++) {
          if (pick(w, rnd, path) < 0) break;
          if (k % 3 !== 2) continue;
          const before = stateText(w);
          const copy = copyWorld(w);
          const where = `walk ${walk} [${path.map((i) => STEPS[i]?.name).join(', ')}]`;
          expect(stateText(copy), `copy at ${where}`).toBe(before);
          expect(stateText(build(config, path)), `replay at ${where}`).toBe(before);
          // The same steps on the copy first, then on the original: each leaves the other alone.
          const ahead = Array.from({ length: AHEAD }, () => Math.floor(rnd() * STEPS.length));
          const trail = ahead.map((i) => {
            const outcome = runStep(copy, i);
            return { outcome, text: stateText(copy), events: copy.events };
          });
          expect(stateText(w), `original after the copy ran, at ${where}`).toBe(before);
          const copied = stateText(copy);
          for (const [j, i] of ahead.entries()) {
            const outcome = runStep(w, i);
            expect(
              { outcome, text: stateText(w), events: w.events },
              `step ${j} (${STEPS[i]?.name}) after ${where}`,
            ).toEqual(trail[j]);
          }
          expect(stateText(copy), `copy after the original ran, at ${where}`).toBe(copied);
          expect(settledText(w)).toEqual(settledText(copy));
          compared++;
          // Go on from a fresh replay (the original was moved and settled).
          w = build(config, path);
        }
      }
      expect(compared).toBeGreaterThanOrEqual(2);
    }, 120_000);
  }
});
