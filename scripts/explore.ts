// npm run explore: the bounded exhaustive search of a machine pair (test/engine/support/explorer.ts)
// over every configuration, at full depth, in up to two worker processes. Prints, per
// configuration, the distinct states reached (by the depth of their shortest path), the
// transitions, the CPU and wall time and any violation (with the path of events that leads to
// it); exit code 1 on any violation, 2 when a bound stopped a configuration before the depth.
//
//   COLLOQUY_EXPLORE_DEPTH    events per path (default 8)
//   COLLOQUY_EXPLORE_SENDS    data units per path (default 2); COLLOQUY_EXPLORE_CUTS cuts (default 1)
//   COLLOQUY_EXPLORE_WORKERS  worker processes (default 2, at most the CPU count)
//   COLLOQUY_EXPLORE_SECONDS  time budget for the whole run (default 3,600): a configuration
//                             still running then stops and says where (states, path)
//   COLLOQUY_EXPLORE_STATES   states per configuration at most (default 20,000,000)
//   COLLOQUY_EXPLORE_ONLY     run only the configurations whose name contains this text
//
// The search never throws (an engine exception is a violation with its path); a worker that dies
// anyway is reported with the configuration it was on, and the others go on.
// Run it niced on a shared machine: `nice -n 10 npm run explore`.

import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ExploreResult } from '../test/engine/support/explorer.js';

const env = (name: string, fallback: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, not '${v}'`);
  return n;
};

type Message = { kind: 'done'; config: number; result: ExploreResult; cpuMs: number };

async function worker(): Promise<void> {
  const { CONFIGS, explore } = await import('../test/engine/support/explorer.js');
  const depth = env('COLLOQUY_EXPLORE_DEPTH', 8);
  const bounds = { sends: env('COLLOQUY_EXPLORE_SENDS', 2), cuts: env('COLLOQUY_EXPLORE_CUTS', 1) };
  const maxStates = env('COLLOQUY_EXPLORE_STATES', 20_000_000);
  process.on('message', ({ config, deadline }: { config: number; deadline: number }) => {
    const c0 = process.cpuUsage();
    // performance.now() counts from each process's start: the deadline comes as wall-clock time.
    const result = explore(CONFIGS[config] as (typeof CONFIGS)[number], {
      depth,
      bounds,
      maxStates,
      deadline: performance.now() + (deadline - Date.now()),
    });
    const cpu = process.cpuUsage(c0);
    process.send?.({ kind: 'done', config, result, cpuMs: (cpu.user + cpu.system) / 1000 } satisfies Message);
  });
  process.send?.('ready');
}

async function main(): Promise<void> {
  const { CONFIGS } = await import('../test/engine/support/explorer.js');
  const depth = env('COLLOQUY_EXPLORE_DEPTH', 8);
  const workers = Math.max(1, Math.min(env('COLLOQUY_EXPLORE_WORKERS', 2), availableParallelism()));
  const budgetMs = env('COLLOQUY_EXPLORE_SECONDS', 3_600) * 1000;
  const only = process.env.COLLOQUY_EXPLORE_ONLY;
  const queue = CONFIGS.map((_, i) => i).filter((i) => !only || (CONFIGS[i]?.name ?? '').includes(only));
  const started = performance.now();
  console.log(
    `explore: ${queue.length} configurations to depth ${depth}, ${workers} workers, budget ${budgetMs / 1000} s`,
  );

  const deadline = Date.now() + budgetMs;
  const results: { result: ExploreResult; cpuMs: number }[] = [];
  const lost: number[] = [];
  await Promise.all(
    Array.from(
      { length: Math.min(workers, queue.length) },
      () =>
        new Promise<void>((resolve) => {
          const child = fork(fileURLToPath(import.meta.url), ['--worker'], {
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          let current = -1;
          // A backstop only: the search stops itself at the deadline and reports where.
          const guard = setTimeout(() => child.kill(), budgetMs + 120_000);
          const give = (): void => {
            const next = Date.now() < deadline ? queue.shift() : undefined; // (past the deadline: left as not started)
            if (next === undefined) {
              current = -1;
              child.disconnect();
              return;
            }
            current = next;
            child.send({ config: next, deadline });
          };
          child.on('message', (m: 'ready' | Message) => {
            if (m === 'ready') return give();
            results.push(m);
            const r = m.result;
            const name = CONFIGS[m.config]?.name;
            const upTo = r.stopped
              ? `stopped by the ${r.stopped.reason} bound (depth ${r.depth} not covered)`
              : `to depth ${r.depth}`;
            console.log(
              `${name}: ${r.states} states, ${r.transitions} transitions ${upTo} in ${(m.cpuMs / 1000).toFixed(1)} s CPU, ${(r.ms / 1000).toFixed(1)} s wall, ${r.violations.length} violations`,
            );
            console.log(`  states by depth: ${r.perDepth.join(' ')}`);
            if (r.stopped)
              console.log(
                `  stopped at ${r.stopped.states} states, on the path ${r.stopped.path.join(' -> ') || '(root)'}`,
              );
            for (const v of r.violations) console.log(`  VIOLATION: ${v.error}\n    path: ${v.path.join(' -> ')}`);
            give();
          });
          child.on('exit', (code, signal) => {
            clearTimeout(guard);
            if (current >= 0) {
              lost.push(current);
              console.log(
                `explore: the worker on ${CONFIGS[current]?.name} ended (${signal ?? `exit ${code}`}) before reporting`,
              );
            }
            resolve();
          });
        }),
    ),
  );

  const states = results.reduce((n, r) => n + r.result.states, 0);
  const transitions = results.reduce((n, r) => n + r.result.transitions, 0);
  const cpu = results.reduce((n, r) => n + r.cpuMs, 0) / 1000;
  const violations = results.reduce((n, r) => n + r.result.violations.length, 0);
  const stopped = results.filter((r) => r.result.stopped);
  console.log(
    `\nexplore: ${results.length - stopped.length} of ${results.length + lost.length + queue.length} configurations to depth ${depth}: ${states} states, ${transitions} transitions, ` +
      `${violations} violations, ${cpu.toFixed(1)} s CPU, ${((performance.now() - started) / 1000).toFixed(1)} s wall`,
  );
  for (const r of stopped)
    console.log(
      `explore: NOT FINISHED ${r.result.config}: ${r.result.stopped?.reason} bound at ${r.result.states} states`,
    );
  for (const i of [...lost, ...queue])
    console.log(`explore: NOT FINISHED ${CONFIGS[i]?.name}: ${lost.includes(i) ? 'its worker died' : 'not started'}`);
  if (violations) process.exitCode = 1;
  else if (stopped.length || lost.length || queue.length) process.exitCode = 2;
}

if (process.argv.includes('--worker')) await worker();
else await main();
