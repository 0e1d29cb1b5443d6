// Bundles the client (src/client/connect.ts, export `connect`) for a browser: one ESM file,
// es2022, for a page's <script type="module">. Over ws:// and wss:// the client then runs on the
// browser's native WebSocket (src/transport/ws.ts falls back to globalThis.WebSocket when `ws`
// has no WebSocket export).
//
// What the bundle cannot contain, and how it is stubbed (no src change needed):
//   - node:* builtins. src/client/dial.ts imports the tcp, tls and memory transports
//     statically; tcp.ts imports node:net, tls.ts node:tls, and ws.ts's attachWs (server side)
//     imports node:http lazily. Each resolves to a stub module whose every property access
//     throws "node:net is not available in a browser ...", so the bundle loads and only using a
//     Node-only transport fails (connect('tcp://…') rejects with ERR_CONNECT_FAILED).
//   - `ws`: resolves to an empty module, so ws.ts finds no `WebSocket` export there and uses
//     the native one.
//
// Usage: `await bundleBrowserClient()` returns the bundle's text; from the command line,
// `tsx scripts/bundle-browser.ts [out.js]` writes it to a file (or stdout).
// `tsx scripts/bundle-browser.ts --package` writes the package's browser build,
// dist/browser/colloquy.js (src/browser.ts, minified), which the "browser" export condition of
// `colloquy` points at (`npm run build` does this).

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = 'src/client/connect.ts';

/** Node builtins by either spelling ("node:net" or "net"); the bare list is what src could use. */
const NODE_BUILTIN = /^(node:.*|net|tls|http|https|crypto|stream|buffer|events|fs|os|path|url|util|zlib|timers)$/;

// A CommonJS module, so any named import from it binds (esbuild reads named imports of a CJS
// module as property reads at the point of use): reading anything throws with the module's name.
const nodeStub = (name: string): string => `
const message = ${JSON.stringify(`${name} is not available in a browser: this Colloquy bundle speaks ws:// and wss:// only`)};
module.exports = new Proxy({}, {
  get(_target, key) {
    if (key === '__esModule' || typeof key === 'symbol') return undefined;
    throw new Error(message + ' (tried ' + ${JSON.stringify(name)} + '.' + String(key) + ')');
  },
});
`;

export const browserStubs: Plugin = {
  name: 'colloquy-browser-stubs',
  setup(b) {
    b.onResolve({ filter: NODE_BUILTIN }, (args) => ({
      path: args.path.startsWith('node:') ? args.path : `node:${args.path}`,
      namespace: 'node-stub',
    }));
    b.onResolve({ filter: /^ws$/ }, () => ({ path: 'ws', namespace: 'ws-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (args) => ({ contents: nodeStub(args.path), loader: 'js' }));
    b.onLoad({ filter: /.*/, namespace: 'ws-stub' }, () => ({
      contents: '// `ws` is Node-only: the browser uses its native WebSocket.\nexport {};\n',
      loader: 'js',
    }));
  },
};

/** The client bundle (ESM text, exports `connect`), built in memory. */
export async function bundleBrowserClient(): Promise<string> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: 'inline',
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [browserStubs],
  });
  const [out] = result.outputFiles;
  if (!out || result.outputFiles.length !== 1)
    throw new Error(`esbuild produced ${result.outputFiles.length} files for ${ENTRY}, expected one`);
  return out.text;
}

/**
 * One browser entry bundled to a file as the page and the package ship it: ESM, es2022,
 * minified, a linked source map, node:* and `ws` stubbed. Resolves to the file written.
 */
export async function bundleToFile(entry: string, outfile: string): Promise<string> {
  await mkdir(dirname(outfile), { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [browserStubs],
  });
  if (result.errors.length > 0) throw new Error(result.errors.map((e) => e.text).join('\n'));
  return outfile;
}

/** The package's browser build (see the top of this file); resolves to the file written. */
export function bundlePackageBrowser(outfile = join(ROOT, 'dist', 'browser', 'colloquy.js')): Promise<string> {
  return bundleToFile('src/browser.ts', outfile);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2] === '--package') {
  process.stdout.write(`browser build written to ${await bundlePackageBrowser()}\n`);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = await bundleBrowserClient();
  const target = process.argv[2];
  if (target) await writeFile(target, text);
  else process.stdout.write(text);
}
