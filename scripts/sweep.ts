// npm run sweep: the engine's property test (test/engine/support/property-run.ts, the same model
// and invariants as test/engine/machine/property.test.ts) over many fresh seeds, in parallel
// worker processes, within a time budget. Every failing seed is printed with its shrunk
// counterexample, the error and the command that replays it; the exit code is 1 on any failure,
// 2 when the budget ran out before the runs were done, 0 otherwise.
//
//   COLLOQUY_SWEEP_RUNS      runs in all (default 1,000,000)
//   COLLOQUY_SWEEP_PER_SEED  runs per seed (default 5,000; one seed is one fast-check run)
//   COLLOQUY_SWEEP_WORKERS   worker processes (default 2, at most the CPU count)
//   COLLOQUY_SWEEP_SECONDS   time budget (default 3,600): no new seed starts after it, and a
//                            worker still busy a minute later is stopped
//
// Run it niced on a shared machine: `nice -n 10 npm run sweep`.

import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

interface Job {
  seed: number;
  runs: number;
}
interface Result extends Job {
  ms: number;
  cpuMs: number;
  failure?: { counterexample: string; error: string; path: string };
}

const env = (name: string, fallback: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, not '${v}'`);
  return n;
};

async function worker(): Promise<void> {
  // A refused command throws a SessionError, and capturing its stack was over half of a run's
  // CPU; the replay command given for a failure shows the full stack.
  Error.stackTraceLimit = 0;
  const fc = (await import('fast-check')).default;
  const { property } = await import('../test/engine/support/property-run.js');
  process.on('message', (job: Job) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const d = fc.check(property, { numRuns: job.runs, seed: job.seed });
    const cpu = process.cpuUsage(c0);
    const result: Result = { ...job, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
    if (d.failed) {
      const e = d.errorInstance;
      result.failure = {
        counterexample: fc.stringify(d.counterexample),
        error: e instanceof Error ? `${e.message}` : String(e),
        path: d.counterexamplePath ?? '',
      };
    }
    process.send?.(result);
  });
  process.send?.('ready');
}

async function main(): Promise<void> {
  const total = env('COLLOQUY_SWEEP_RUNS', 1_000_000);
  const perSeed = Math.min(total, env('COLLOQUY_SWEEP_PER_SEED', 5_000));
  const workers = Math.min(env('COLLOQUY_SWEEP_WORKERS', 2), availableParallelism());
  const budgetMs = env('COLLOQUY_SWEEP_SECONDS', 3_600) * 1000;
  const started = performance.now();
  const deadline = started + budgetMs;
  console.log(`sweep: ${total} runs, ${perSeed} per seed, ${workers} workers, budget ${budgetMs / 1000} s`);

  let dispatched = 0;
  let done = 0;
  let seeds = 0;
  let cpuMs = 0;
  const failures: Result[] = [];
  const children: ChildProcess[] = [];
  let lastReport = started;

  const next = (): Job | undefined => {
    if (dispatched >= total || performance.now() >= deadline) return undefined;
    const runs = Math.min(perSeed, total - dispatched);
    dispatched += runs;
    return { seed: randomInt(0x7fffffff), runs };
  };

  await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<void>((resolve) => {
          const child = fork(fileURLToPath(import.meta.url), ['--worker'], {
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          children.push(child);
          // A worker that neither answers nor ends a minute past the budget is stopped (its seed is lost
          // and reported as such).
          const guard = setTimeout(() => {
            console.error(`sweep: worker ${child.pid} still busy a minute past the budget; stopping it`);
            child.kill();
          }, budgetMs + 60_000);
          const give = (): void => {
            const job = next();
            if (job) child.send(job);
            else child.disconnect();
          };
          child.on('message', (m: 'ready' | Result) => {
            if (m !== 'ready') {
              done += m.runs;
              seeds++;
              cpuMs += m.cpuMs;
              if (m.failure) {
                failures.push(m);
                console.log(
                  `\nFAIL seed ${m.seed} (${m.runs} runs)\n  error: ${m.failure.error}\n  counterexample: ${m.failure.counterexample}\n  path: ${m.failure.path}\n` +
                    `  replay: COLLOQUY_SEED=${m.seed} COLLOQUY_PROPERTY_RUNS=${m.runs} npx vitest run test/engine/machine/property.test.ts\n`,
                );
              }
              const now = performance.now();
              if (now - lastReport > 30_000) {
                lastReport = now;
                console.log(
                  `sweep: ${done} runs, ${seeds} seeds, ${failures.length} failing, ${((now - started) / 1000).toFixed(0)} s`,
                );
              }
            }
            give();
          });
          child.on('exit', (code, signal) => {
            clearTimeout(guard);
            if (code !== 0 && code !== null) console.error(`sweep: worker ${child.pid} exited with ${code}`);
            if (signal) console.error(`sweep: worker ${child.pid} ended by ${signal}`);
            resolve();
          });
        }),
    ),
  );

  const wall = (performance.now() - started) / 1000;
  console.log(
    `\nsweep: ${done} runs over ${seeds} fresh seeds in ${wall.toFixed(1)} s (${(cpuMs / 1000).toFixed(1)} s of worker CPU, ${workers} workers): ` +
      `${failures.length} failing seed${failures.length === 1 ? '' : 's'}`,
  );
  for (const f of failures) console.log(`  seed ${f.seed}: ${f.failure?.error}`);
  if (failures.length) process.exitCode = 1;
  else if (done < total) {
    console.log(`sweep: INCOMPLETE, the ${budgetMs / 1000} s budget ran out after ${done} of ${total} runs`);
    process.exitCode = 2;
  }
}

if (process.argv.includes('--worker')) await worker();
else await main();
