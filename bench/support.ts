// What the benchmarks print with and how they read their switches: one table printer, the
// number formats, a percentile, BENCH_* list variables and the load average line.
//
// Theory of operation
//   A bench collects its results as rows of strings (a header row first) and prints them with
//   `table`: columns padded to their widest cell, the first `leftColumns` columns left-aligned
//   and the rest right-aligned, a dashed rule under the header, trailing blanks trimmed. Numbers
//   that could not be measured (NaN, Infinity) print as 'n/a'. Switches such as BENCH_ONLY are
//   comma-separated lists; an unset or empty variable is the empty list (run everything). This
//   module imports nothing but node:os, so the runtime bench's tsc build (runtime/compile.ts)
//   and web.ts's forked server processes pull in nothing else with it.

import { loadavg } from 'node:os';

export function table(rows: readonly (readonly string[])[], leftColumns = 1): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((cell, c) => (c < leftColumns ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  console.log(line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
}

/** A count or rate, rounded, with thousands separators. */
export const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
/** A ratio as `1.23x`. */
export const ratioText = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}x` : 'n/a');

/** The p-th percentile (0..100) of ascending `sorted`; NaN when it is empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** A comma-separated list from the environment (BENCH_ONLY=a,b): trimmed, empty entries dropped. */
export function envList(name: string): string[] {
  return (process.env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The 1, 5 and 15 minute load averages, for a bench's header line. */
export const loadAverages = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/**
 * Runs `op` in `concurrency` workers (each awaiting its call) for `warmMs`, then counts the calls
 * that complete during `measureMs`; resolves with calls per second once every worker stopped.
 */
export async function callsPerSecond(
  concurrency: number,
  warmMs: number,
  measureMs: number,
  op: (worker: number, i: number) => Promise<unknown>,
): Promise<number> {
  let phase: 'warm' | 'measure' | 'stop' = 'warm';
  let count = 0;
  const workers = Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; phase !== 'stop'; i++) {
      await op(w, i);
      if (phase === 'measure') count++;
    }
  });
  await new Promise((r) => setTimeout(r, warmMs));
  phase = 'measure';
  const start = performance.now();
  await new Promise((r) => setTimeout(r, measureMs));
  const counted = count;
  const elapsed = performance.now() - start;
  phase = 'stop';
  await Promise.all(workers);
  return (counted / elapsed) * 1000;
}
