// A `colloquy serve` process serving a fresh build of the web page (scripts/build-web.ts into a
// temporary directory), for the browser suites (test/browser/).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWeb } from '../../scripts/build-web.js';
import { startServe, type ServeNode } from './serve.js';

export async function servePage(args: readonly string[] = []): Promise<ServeNode> {
  const webRoot = await buildWeb(join(mkdtempSync(join(tmpdir(), 'colloquy-web-')), 'web'));
  return startServe(['--web-root', webRoot, ...args]);
}
