// AbortPacer: when close() must start aborting the sessions still waiting, so the last abort is
// done by the deadline however many there are.
//
// Theory of operation
//   Aborting a session costs CPU time (its ABORT encoded and written, its transport closed,
//   its end recorded, the garbage of it collected): 0.1-0.4 ms a session on the shared test
//   machine depending on its load (bench/operations.ts), so 10,000 silent sessions cannot all
//   be aborted in the last instant before the deadline. The pacer keeps an estimate of the cost
//   of one abort and, while sessions are still waiting,
//     left = deadline - now          need = waiting x cost x ABORT_MARGIN
//     left <= need  -> cut a batch (the caller aborts it), give the event loop a turn, and
//                      measure what the batch really cost: the estimate follows it (it rises
//                      at once, falls by halves), so a slower machine starts cutting earlier
//     otherwise     -> sleep until left would reach need (at most PACE_TICK_MS) or all ended.
//   At the deadline whatever is left is cut at once. Cutting yields between batches, so the
//   sessions still releasing (or handing over) keep going while others are aborted.
//   What it cannot meet: aborting every session taking longer than the whole deadline (it cuts
//   from the first instant and ends late by the difference), and a cost more than ABORT_MARGIN
//   times the estimate when cutting starts (it learns from the first batch, but the time lost
//   before is lost: late by the excess).
//
// Rules
//   - No timer or clock of its own: `clock`, `sleep` and `yieldTurn` are given (tests drive a
//     virtual clock).
//   - `waiting` is the caller's: a session leaves it when it ended by itself (released, handed
//     over), and the pacer removes the ones it cuts.

/** The estimate of one abort before anything was measured (ms). */
export const INITIAL_ABORT_COST_MS = 0.25;
/** Start cutting when the time left is within this factor of the estimated abort time. */
export const ABORT_MARGIN = 2;
/** Sessions cut between two turns of the event loop. */
export const ABORT_BATCH = 100;
/** The longest the pacer sleeps before it looks again. */
export const PACE_TICK_MS = 25;

export interface PacerHooks<T> {
  clock: () => number;
  /** Resolves after `ms`, or earlier when `ended` resolves. */
  sleep: (ms: number) => Promise<void>;
  /** One turn of the event loop: the work the cuts started runs before it resolves. */
  yieldTurn: () => Promise<void>;
  cut: (item: T) => void;
  /**
   * Called once when the deadline has passed with `left` still waiting, right before they are
   * all cut at once: from then on nothing ends any other way.
   */
  deadline?: (left: number) => void;
}

export interface PaceResult {
  /** How many were cut (the others ended by themselves). */
  cut: number;
  /** The estimate of one abort at the end (ms). */
  costMs: number;
}

export async function paceAborts<T>(
  waiting: Set<T>,
  deadlineAt: number,
  hooks: PacerHooks<T>,
  initialCostMs = INITIAL_ABORT_COST_MS,
): Promise<PaceResult> {
  let cost = initialCostMs;
  let cut = 0;
  while (waiting.size > 0) {
    const left = deadlineAt - hooks.clock();
    const need = waiting.size * cost * ABORT_MARGIN;
    if (left > need) {
      await hooks.sleep(Math.min(PACE_TICK_MS, left - need));
      continue;
    }
    const batch: T[] = [];
    // Past the deadline: everything at once, no more measuring.
    const size = left <= 0 ? waiting.size : ABORT_BATCH;
    if (left <= 0) hooks.deadline?.(waiting.size);
    for (const item of waiting) {
      if (batch.length >= size) break;
      batch.push(item);
    }
    const started = hooks.clock();
    for (const item of batch) {
      waiting.delete(item);
      hooks.cut(item);
    }
    cut += batch.length;
    await hooks.yieldTurn();
    const measured = (hooks.clock() - started) / batch.length;
    cost = measured >= cost ? measured : (cost + measured) / 2;
  }
  return { cut, costMs: cost };
}
