// Printing for the runtime bench: units, targets and the load line.

import { availableParallelism, loadavg } from 'node:os';

// ---- printing ------------------------------------------------------------------------------

export const sizeName = (size: number): string => (size < 1024 ? `${size} B` : `${size / 1024} KiB`);
export const rateText = (rate: number): string =>
  Number.isNaN(rate) ? 'failed' : rate >= 1e6 ? `${(rate / 1e6).toFixed(2)} M/s` : `${(rate / 1e3).toFixed(1)} k/s`;
export const us = (v: number): string => (Number.isNaN(v) ? 'n/a' : `${(v * 1000).toFixed(0)} us`);
export const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export interface Target {
  name: string;
  ratio: number;
  goal: string;
  met: boolean | undefined;
  /** Our number and the peer's, printed in the summary of `npm run bench` (../targets.ts). */
  ours?: string;
  peer?: string;
  /** A target in words (no ratio), e.g. the scale run's session count. */
  words?: string;
}

export function target(name: string, ratio: number, goal: number, atMost = false, ours = '', peer = ''): Target {
  const met = Number.isFinite(ratio) ? (atMost ? ratio <= goal : ratio >= goal) : undefined;
  return { name, ratio, goal: `${atMost ? '<=' : '>='} ${goal.toFixed(2)}x`, met, ours, peer };
}

/** Where the docs explain a missed runtime target (docs/runtime.md, "Where the time and memory go"). */
export function explanation(name: string): string {
  if (/^RTT|64 B/.test(name)) return 'docs/runtime.md#Round trip and small messages';
  if (/idle RSS/.test(name)) return 'docs/runtime.md#Idle memory per session';
  if (/sessions on one node/.test(name)) return 'docs/runtime.md#100,000 sessions on one node';
  return 'docs/runtime.md#Speed near the limit';
}

export function loadText(): string {
  const [one] = loadavg();
  const cores = availableParallelism();
  return `load average ${(one ?? 0).toFixed(1)} on ${cores} cores${(one ?? 0) > cores * 0.75 ? ' (BUSY: other work competes for the cores; rates are low and noisy)' : ''}`;
}
