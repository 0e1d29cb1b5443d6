// npm run explore: the bounded exhaustive search of a machine pair (test/engine/support/explorer.ts)
// over every configuration, at full depth, in up to two worker processes. Prints, per
// configuration, the states reached at each depth, the transitions, the time and any violation
// (with the path of events that leads to it); exit code 1 on any violation, 2 when the time
// budget stopped it before the depth.
//
//   COLLOQUY_EXPLORE_DEPTH    events per path (default 8)
//   COLLOQUY_EXPLORE_SENDS    data units per path (default 2); COLLOQUY_EXPLORE_CUTS cuts (default 1)
//   COLLOQUY_EXPLORE_WORKERS  worker processes (default 2, at most the CPU count)
//   COLLOQUY_EXPLORE_SECONDS  time budget (default 3,600): a configuration still running then is
//                             stopped and reported with the depth it completed
//   COLLOQUY_EXPLORE_ONLY     run only the configurations whose name contains this text
//
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

type Message = { kind: 'depth'; config: number; depth: number; states: number } | { kind: 'done'; config: number; result: ExploreResult; cpuMs: number };

async function worker(): Promise<void> {
  // Refused commands throw SessionErrors; their stacks are not needed here and cost a lot.
  Error.stackTraceLimit = 0;
  const { CONFIGS, explore } = await import('../test/engine/support/explorer.js');
  const depth = env('COLLOQUY_EXPLORE_DEPTH', 8);
  const bounds = { sends: env('COLLOQUY_EXPLORE_SENDS', 2), cuts: env('COLLOQUY_EXPLORE_CUTS', 1) };
  process.on('message', (config: number) => {
    const c0 = process.cpuUsage();
    const result = explore(CONFIGS[config] as (typeof CONFIGS)[number], {
      depth,
      bounds,
      onDepth: (d, states) => process.send?.({ kind: 'depth', config, depth: d, states } satisfies Message),
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
  console.log(`explore: ${queue.length} configurations to depth ${depth}, ${workers} workers, budget ${budgetMs / 1000} s`);

  const results: { result: ExploreResult; cpuMs: number }[] = [];
  const reached = new Map<number, { depth: number; states: number }>();
  const stopped: number[] = [];
  await Promise.all(Array.from({ length: Math.min(workers, queue.length) }, () => new Promise<void>((resolve) => {
    const child = fork(fileURLToPath(import.meta.url), ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let current = -1;
    const guard = setTimeout(() => {
      if (current >= 0) stopped.push(current);
      console.error(`explore: the budget ran out; stopping worker ${child.pid}`);
      child.kill();
    }, budgetMs);
    const give = (): void => {
      const next = queue.shift();
      if (next === undefined) { current = -1; child.disconnect(); return; }
      current = next;
      child.send(next);
    };
    child.on('message', (m: 'ready' | Message) => {
      if (m === 'ready') return give();
      const name = CONFIGS[m.config]?.name;
      if (m.kind === 'depth') {
        reached.set(m.config, { depth: m.depth, states: m.states });
        console.log(`  ${name}: depth ${m.depth}, ${m.states} states, ${((performance.now() - started) / 1000).toFixed(0)} s`);
        return;
      }
      results.push(m);
      const r = m.result;
      console.log(`${name}: ${r.states} states, ${r.transitions} transitions to depth ${r.depth} in ${(m.cpuMs / 1000).toFixed(1)} s CPU, ${r.violations.length} violations`);
      for (const v of r.violations) console.log(`  VIOLATION: ${v.error}\n    path: ${v.path.join(' -> ')}`);
      give();
    });
    child.on('exit', () => { clearTimeout(guard); resolve(); });
  })));

  const states = results.reduce((n, r) => n + r.result.states, 0);
  const transitions = results.reduce((n, r) => n + r.result.transitions, 0);
  const cpu = results.reduce((n, r) => n + r.cpuMs, 0) / 1000;
  const violations = results.reduce((n, r) => n + r.result.violations.length, 0);
  console.log(`\nexplore: ${results.length} configurations to depth ${depth}: ${states} states, ${transitions} transitions, ` +
    `${violations} violations, ${cpu.toFixed(1)} s CPU, ${((performance.now() - started) / 1000).toFixed(1)} s wall`);
  for (const i of [...stopped, ...queue]) {
    const r = reached.get(i);
    console.log(`explore: NOT FINISHED ${CONFIGS[i]?.name}: ${r ? `depth ${r.depth} complete, ${r.states} states` : 'not started'}`);
  }
  if (violations) process.exitCode = 1;
  else if (stopped.length || queue.length) process.exitCode = 2;
}

if (process.argv.includes('--worker')) await worker();
else await main();
