// Builds the web page of `colloquy serve` (web/) into dist/page: index.html and app.css copied,
// web/app.ts bundled for the browser with esbuild (the real engine and ChatClient, on the
// browser's native WebSocket; node:* and `ws` stubbed as for the client bundle, see
// scripts/bundle-browser.ts). serve reads dist/page at start (src/serve/web-root.ts).
//
//   npx tsx scripts/build-web.ts [OUT_DIR]      (default dist/page)

import { copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleToFile } from './bundle-browser.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Writes the page into `outDir` (default ROOT/dist/page); resolves to that directory. */
export async function buildWeb(outDir = join(ROOT, 'dist', 'page')): Promise<string> {
  await bundleToFile('web/app.ts', join(outDir, 'app.js'));
  await copyFile(join(ROOT, 'web', 'index.html'), join(outDir, 'index.html'));
  await copyFile(join(ROOT, 'web', 'app.css'), join(outDir, 'app.css'));
  return outDir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildWeb(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(`web page built in ${out}\n`);
}
