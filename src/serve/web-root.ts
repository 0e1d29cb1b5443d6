// The built web page (dist/page, written by scripts/build-web.ts) and how serve answers for it.
//
// Only the files the build writes are served, by exact name, from memory: no path from a
// request ever reaches the file system. Without a build, the page answers 503 with the command
// that builds it; the session endpoint and the API work regardless.

import { existsSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** The files of the page, by URL path. */
export const WEB_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/app.js.map': { file: 'app.js.map', type: 'application/json; charset=utf-8' },
};

/** Where the build puts the page: dist/page beside dist/serve when running the build (not dist/web: that is the compiled src/web), the repository's dist/page when running from source. */
export function defaultWebRoot(): string {
  const candidates = [new URL('../page/', import.meta.url), new URL('../../dist/page/', import.meta.url)].map((u) =>
    fileURLToPath(u),
  );
  return candidates.find((dir) => existsSync(`${dir}index.html`)) ?? (candidates[1] as string);
}

export class WebRoot {
  private readonly files = new Map<string, Buffer>();

  constructor(readonly dir: string) {
    for (const { file } of Object.values(WEB_FILES)) {
      const path = `${dir.endsWith('/') ? dir : `${dir}/`}${file}`;
      if (existsSync(path)) this.files.set(file, readFileSync(path));
    }
  }

  get built(): boolean {
    return this.files.has('index.html') && this.files.has('app.js');
  }

  /** Answers a GET for one of the page's files; false when `path` is not one of them. */
  serve(path: string, res: ServerResponse): boolean {
    const entry = WEB_FILES[path];
    if (!entry) return false;
    const body = this.files.get(entry.file);
    if (!body) {
      res
        .writeHead(503, { 'content-type': 'text/plain; charset=utf-8' })
        .end(
          `The web page is not built (no ${entry.file} in ${this.dir}).\nBuild it with: npx tsx scripts/build-web.ts   (npm run build does it too)\n`,
        );
      return true;
    }
    res
      .writeHead(200, {
        'content-type': entry.type,
        'content-length': body.length,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        ...(entry.file === 'index.html'
          ? {
              'content-security-policy':
                "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
              'referrer-policy': 'no-referrer',
            }
          : {}),
      })
      .end(body);
    return true;
  }
}
