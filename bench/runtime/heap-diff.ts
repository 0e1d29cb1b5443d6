// Where idle memory goes: the difference between two V8 heap snapshots, by constructor.
//
//   npx tsx bench/runtime/heap-diff.ts before.heapsnapshot after.heapsnapshot [sessions] [rows]
//
// Every node of a snapshot counts its self size under "<node type> <name>" (an object under its
// constructor, a closure under its function's name, V8's internal arrays under names such as
// "(object properties)"; strings, numbers and code under their type alone). The table lists the
// groups that grew most from `before` to `after`, in bytes and objects, and per session when
// `sessions` (how many were opened between the two) is given. The idle bench writes the two
// snapshots with BENCH_IDLE_SNAPSHOTS=<dir> (bench/runtime/idle.ts); what the numbers showed is
// in docs/runtime.md.

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { table } from '../support.js';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface Group {
  count: number;
  bytes: number;
}

const BY_TYPE_ONLY = new Set(['string', 'concatenated string', 'sliced string', 'number', 'code', 'bigint']);

/** Self size and count per "<type> <name>" group of one snapshot file. */
export function groups(path: string): Map<string, Group> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const out = new Map<string, Group>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!] ?? '?';
    const key = BY_TYPE_ONLY.has(type) ? `(${type})` : `${type} ${snap.strings[snap.nodes[i + nameAt]!] ?? '?'}`;
    const g = out.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += snap.nodes[i + sizeAt]!;
    out.set(key, g);
  }
  return out;
}

/** The groups that grew from `before` to `after`, largest growth first. */
export function growth(before: Map<string, Group>, after: Map<string, Group>): [string, Group][] {
  const rows: [string, Group][] = [];
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    if (a.bytes > b.bytes) rows.push([key, { count: a.count - b.count, bytes: a.bytes - b.bytes }]);
  }
  return rows.sort((x, y) => y[1].bytes - x[1].bytes);
}

export function printGrowth(beforePath: string, afterPath: string, sessions: number, rows = 40): void {
  const grown = growth(groups(beforePath), groups(afterPath));
  const total = grown.reduce((s, [, g]) => s + g.bytes, 0);
  const per = (n: number): string => (sessions > 0 ? (n / sessions).toFixed(1) : 'n/a');
  table([
    ['group (type, constructor or function)', 'objects/session', 'bytes/session', 'share'],
    ...grown
      .slice(0, rows)
      .map(([key, g]) => [key.slice(0, 60), per(g.count), per(g.bytes), `${((100 * g.bytes) / total).toFixed(1)}%`]),
  ]);
  console.log(
    `grown in all: ${per(total)} bytes/session over ${sessions} sessions (self sizes; shrunk groups left out)`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [before, after, sessions = '0', rows = '40'] = process.argv.slice(2);
  if (!before || !after) {
    console.error('usage: heap-diff.ts before.heapsnapshot after.heapsnapshot [sessions] [rows]');
    process.exit(2);
  }
  printGrowth(before, after, Number(sessions), Number(rows));
}
