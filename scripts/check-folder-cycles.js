// Fails (exit 1) when the folders of src/ import each other in a cycle, naming the files that
// close it. Run by `npm run lint` after ESLint; the graph comes from the sources
// (scripts/layers.js), independently of the ESLint rule.

import process from 'node:process';
import { folderCycles, folderGraph } from './layers.js';

const cycles = folderCycles(folderGraph());
const lines = cycles.flatMap(({ folders, edges }) => [
  `folder cycle: ${folders.map((f) => (f === '' ? 'src/' : `src/${f}/`)).join(' <-> ')}`,
  ...edges.map((edge) => `  ${edge}`),
]);
if (cycles.length > 0) {
  lines.push(`${cycles.length} folder cycle(s) in src/: imports must point down the layers of README.md "Layers"`);
  process.stderr.write(`${lines.join('\n')}\n`);
  process.exitCode = 1;
} else {
  process.stdout.write('src/: no folder cycle\n');
}
