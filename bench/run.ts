// `npm run bench`: every benchmark in one run. Speed targets live here, never in tests.
// `BENCH=web,stores npm run bench` runs only the named parts, in this order.
import { run as codec } from './codec.js';
import { run as machine } from './machine.js';
import { run as runtime } from './runtime/index.js';
import { run as stores } from './stores.js';
import { run as cluster } from './cluster.js';
import { run as web } from './web.js';
import { run as apps } from './apps.js';
import { run as chat } from './chat.js';
import { run as operations } from './operations.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printTargets, recordTargetsTo } from './targets.js';

const parts: [string, () => Promise<void>][] = [
  ['codec', codec],
  ['machine', machine],
  ['runtime', runtime],
  ['stores', stores],
  ['cluster', cluster],
  ['web', web],
  ['apps', apps],
  ['chat', chat],
  ['operations', operations],
];

const wanted = process.env['BENCH']
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const unknown = wanted?.filter((w) => !parts.some(([name]) => name === w)) ?? [];
if (unknown.length > 0) {
  console.error(`unknown benchmark part(s): ${unknown.join(', ')}; known: ${parts.map(([n]) => n).join(', ')}`);
  process.exit(2);
}
// Every part records the targets it measures (./targets.ts), here and in the processes it
// starts; the table of them all prints at the end, also when a part failed.
const targetsDir = mkdtempSync(join(tmpdir(), 'colloquy-bench-targets-'));
recordTargetsTo(join(targetsDir, 'targets.jsonl'));
let first = true;
try {
  for (const [name, part] of parts) {
    if (wanted && !wanted.includes(name)) continue;
    if (!first) console.log('');
    first = false;
    console.log(`=== ${name} ===`);
    await part();
  }
} finally {
  printTargets();
  rmSync(targetsDir, { recursive: true, force: true });
}
