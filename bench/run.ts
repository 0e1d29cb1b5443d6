// `npm run bench`: every benchmark in one run. Speed targets live here, never in tests.
import { run as codec } from './codec.js';
import { run as machine } from './machine.js';
import { run as runtime } from './runtime.js';

await codec();
console.log('');
await machine();
console.log('');
await runtime();
