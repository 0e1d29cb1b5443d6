// RedisStore's expiry sweeper (redis-store.ts): how the deadlines set becomes `expired` events.
//
// Theory of operation
//   Every session is in the deadlines set ({P}:deadlines), scored by a deadline. The sweeper
//   reaps what is due and emits `expired` for each session whose DEL it won (so exactly once
//   across every store sharing the Redis, since reads and writes reap with the same rule).
//
//   One-node mode: colloquyStoreSweep reaps a batch atomically (session hash, principal index,
//   deadlines entry) and returns the reaped ids with their principals; up to 8 batches a sweep.
//
//   Cluster: the deadlines set holds bounds, not exact deadlines (see redis-store.ts). The sweeper
//   lists the entries due by `score - slackMs`, reads each session (the read reaps an expired
//   one, on the session's own slot), and drops an entry only when no session stands behind it and
//   its score is older than maxClockSkewMs: no write that relied on it can still commit. The drop
//   is conditional on the score being unchanged (colloquyStoreUnhint), so a write that raised it
//   meanwhile keeps it.

import type { RedisKeys } from './redis-keys.js';
import { decP } from './redis-keys.js';
import type { ScriptFn, ScriptName } from './redis-scripts.js';
import { stillOn, type CallState } from './shared.js';

export interface SweepContext {
  readonly keys: RedisKeys;
  readonly batch: number;
  readonly slackMs: number;
  readonly skewMs: number;
  script(name: ScriptName): ScriptFn;
  expired(id: string, principal: string | null): void;
}

/** One-node mode: reaps due sessions batch by batch; resolves with how many it emitted. */
export async function sweepOneNode(ctx: SweepContext, call: CallState): Promise<number> {
  let emitted = 0;
  for (let batch = 0; batch < 8; batch++) {
    const out = (await ctx.script('colloquyStoreSweep')(ctx.keys.deadlines, ctx.keys.prefix, ctx.batch)) as (
      string | number
    )[];
    for (let i = 1; i + 1 < out.length; i += 2) {
      ctx.expired(String(out[i]), decP(String(out[i + 1])));
      emitted++;
    }
    if (Number(out[0]) < ctx.batch || call.aborted) break;
  }
  return emitted;
}

/** Cluster: checks the due entries against their sessions; resolves with how many it emitted. */
export async function sweepCluster(ctx: SweepContext, call: CallState): Promise<number> {
  const out = (await ctx.script('colloquyStoreDue')(ctx.keys.deadlines, ctx.slackMs, ctx.batch)) as (string | number)[];
  const now = Number(out[0]);
  const due: { id: string; score: number }[] = [];
  for (let i = 1; i + 1 < out.length; i += 2) due.push({ id: String(out[i]), score: Number(out[i + 1]) });
  if (due.length === 0) return 0;
  stillOn(call);
  const checked = await Promise.all(
    due.map(async ({ id }) => {
      const r = (await ctx.script('colloquyStoreGet')(ctx.keys.session(id), 'meta', id)) as string[];
      return r;
    }),
  );
  let emitted = 0;
  const removable: (string | number)[] = [];
  checked.forEach((r, i) => {
    const { id, score } = due[i] as { id: string; score: number };
    if (r[1]) {
      ctx.expired(id, decP(r[1]));
      emitted++;
    }
    // Only entries older than the skew bound go: no write that relied on them can still commit.
    if (r[0] !== 'ok' && score <= now - ctx.skewMs) removable.push(id, score);
  });
  if (removable.length > 0) {
    stillOn(call);
    await ctx.script('colloquyStoreUnhint')(ctx.keys.deadlines, ...removable);
  }
  return emitted;
}
