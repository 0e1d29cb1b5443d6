// Issue 14's targets in one place: every bench part that measures one calls `recordTarget`, and
// `npm run bench` (bench/run.ts) prints one table of all of them at the end, each met or not met,
// and for one not met, where the docs explain it.
//
// Theory of operation
//   Parts run in the launcher's process (apps, web, stores, chat) or in processes it starts (the
//   runtime bench runs compiled on plain node, see runtime/compile.ts). So a record goes to the
//   file named by BENCH_TARGETS_FILE (one JSON line, appended; children inherit the variable)
//   when it is set, and to this process's list otherwise (a part run on its own, `npx tsx
//   bench/chat.ts`, which may call `printTargets` itself). `met` is derived from `target` when the
//   target reads `>= N` or `<= N` (a ratio), unless the caller says it. A measure recorded more
//   than once (rounds) keeps its best ratio in the summary, and says of how many. `explained` names
//   a docs section, `docs/FILE.md#Heading text`: the summary checks that the file has a heading
//   starting with that text and says so when it is missing. This module imports only node:, so
//   the runtime bench's tsc build pulls in nothing else with it.

import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TargetRecord {
  /** What is compared, e.g. 'getFile / raw TCP copy, 50 MB'. */
  measure: string;
  /** Our number and the peer's, with units ('48.0 MB/s'); '' when there is no peer. */
  ours: string;
  peer: string;
  /** ours / peer as the target states it; NaN when not measured or not a ratio. */
  ratio: number;
  /** '>= 0.8x', '<= 1.10x', or words ('100,000 sessions open'). */
  target: string;
  /** undefined: not measured. */
  met: boolean | undefined;
  /** Where the docs explain a miss: 'docs/apps.md#Files at the limit'. */
  explained?: string;
}

export interface TargetInput {
  measure: string;
  ours?: string | number;
  peer?: string | number;
  ratio?: number;
  target: string;
  met?: boolean;
  explained?: string;
}

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const FILE_VARIABLE = 'BENCH_TARGETS_FILE';
const recorded: TargetRecord[] = [];

/** The verdict a `>= N` / `<= N` target gives `ratio`; undefined for a NaN ratio or a target in words. */
export function verdict(target: string, ratio: number): boolean | undefined {
  const m = /^\s*(>=|<=)\s*([\d.]+)/.exec(target);
  if (!m || !Number.isFinite(ratio)) return undefined;
  return m[1] === '>=' ? ratio >= Number(m[2]) : ratio <= Number(m[2]);
}

const text = (v: string | number | undefined): string =>
  v === undefined ? '' : typeof v === 'number' ? (Number.isFinite(v) ? String(Math.round(v * 100) / 100) : 'n/a') : v;

/** Records one target measured by a bench part (see the header). */
export function recordTarget(input: TargetInput): void {
  const ratio = input.ratio ?? Number.NaN;
  const record: TargetRecord = {
    measure: input.measure,
    ours: text(input.ours),
    peer: text(input.peer),
    ratio,
    target: input.target,
    met: input.met ?? verdict(input.target, ratio),
    ...(input.explained ? { explained: input.explained } : {}),
  };
  const file = process.env[FILE_VARIABLE];
  if (file) appendFileSync(file, `${JSON.stringify({ ...record, ratio: Number.isFinite(ratio) ? ratio : null })}\n`);
  else recorded.push(record);
}

/** Sends later records (this process and its children) to `file`; the launcher calls it once. */
export function recordTargetsTo(file: string): void {
  process.env[FILE_VARIABLE] = file;
}

/** Every record so far: this process's and those in `file`. */
export function readTargets(file = process.env[FILE_VARIABLE]): TargetRecord[] {
  const fromFile =
    file && existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const r = JSON.parse(l) as TargetRecord & { ratio: number | null };
            return { ...r, ratio: r.ratio ?? Number.NaN };
          })
      : [];
  return [...recorded, ...fromFile];
}

/** Whether `explained` ('docs/x.md#Heading start') names a file with such a heading. */
function sectionExists(explained: string): boolean {
  const [path, heading] = explained.split('#', 2) as [string, string | undefined];
  const file = join(ROOT, path);
  if (!existsSync(file)) return false;
  if (!heading) return true;
  const want = heading.trim().toLowerCase();
  return readFileSync(file, 'utf8')
    .split('\n')
    .some(
      (l) =>
        /^#+\s/.test(l) &&
        l
          .replace(/^#+\s+/, '')
          .toLowerCase()
          .startsWith(want),
    );
}

/** Better of two ratios under `target` (a larger one for >=, a smaller for <=). */
function better(target: string, a: number, b: number): boolean {
  if (!Number.isFinite(b)) return true;
  if (!Number.isFinite(a)) return false;
  return /^\s*<=/.test(target) ? a < b : a > b;
}

/** The summary table: one row per measure (the best of its records), met / not met and where it is explained. */
export function printTargets(records = readTargets()): void {
  const best = new Map<string, { r: TargetRecord; n: number }>();
  for (const r of records) {
    const had = best.get(r.measure);
    if (!had) best.set(r.measure, { r, n: 1 });
    else best.set(r.measure, { r: better(r.target, r.ratio, had.r.ratio) ? r : had.r, n: had.n + 1 });
  }
  console.log('');
  console.log(`=== targets (issue 14): ${best.size} measured by this run ===`);
  if (best.size === 0) {
    console.log('(no part that measures a target ran)');
    return;
  }
  const rows = [['measure', 'ours', 'peer', 'ratio', 'target', 'verdict']];
  let missed = 0;
  let unmeasured = 0;
  for (const { r, n } of best.values()) {
    if (r.met === undefined) unmeasured++;
    let v = r.met === undefined ? 'not measured' : r.met ? 'met' : 'NOT MET';
    if (r.met === false) {
      missed++;
      if (!r.explained) v += ' (no explanation in the docs)';
      else v += ` -> ${r.explained}${sectionExists(r.explained) ? '' : ' (SECTION MISSING)'}`;
    }
    rows.push([
      n > 1 ? `${r.measure} (best of ${n})` : r.measure,
      r.ours,
      r.peer,
      Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : '',
      r.target,
      v,
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]): string =>
    row
      .map((cell, c) => (c === 0 || c >= 4 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  console.log(line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows.slice(1)) console.log(line(row));
  console.log(`${best.size - missed - unmeasured} met, ${missed} not met, ${unmeasured} not measured`);
}
