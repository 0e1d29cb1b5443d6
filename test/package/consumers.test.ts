// The packed package from its consumers' side (issue 16), in the temporary project that installed
// the tarball (test/support/packed-package.ts): `npx colloquy --version`; CommonJS `require`;
// a TypeScript consumer type-checked under moduleResolution node16 and bundler; publint and
// arethetypeswrong on what was packed; and a page built with Vite that imports `colloquy` and
// runs a session (cut and resumed) in Debian's Chromium against a server in this test.
//
// The consumer files live in a fresh directory inside that project (removed afterwards), so
// `colloquy` resolves to the installed tarball, never to this repository. The tools (tsc, vite,
// publint, attw) are this repository's pinned devDependencies, run from node_modules: nothing is
// fetched from the network at test time. Without /usr/bin/chromium the browser case is skipped
// loudly, except under CI, where it runs.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type Server } from '../../src/server/server.js';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium, skipWithoutChromium } from '../support/chromium.js';
import { packedPackage, REPO_ROOT } from '../support/packed-package.js';

const run = promisify(execFile);
const SKIP_BROWSER = skipWithoutChromium(
  'test/package (Vite page)',
  'the package is NOT being checked in a Vite build running in a browser',
  '(under CI=true this case runs instead)',
);
const bin = (...p: string[]): string => join(REPO_ROOT, 'node_modules', ...p);
const pkgJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  exports: Record<string, unknown>;
};
const SUBPATHS = Object.keys(pkgJson.exports)
  .filter((k) => k !== './package.json')
  .map((k) => (k === '.' ? 'colloquy' : `colloquy/${k.slice(2)}`));

/** Runs a command; on failure the error carries its stdout and stderr (tsc and attw print there). */
async function sh(
  file: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 300_000 });
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

describe('the packed package, as its consumers use it', () => {
  let project: string;
  let work: string;
  let tarball: string;
  /** A consumer's directory inside the project, with these files; its path. */
  const consumer = (name: string, files: Record<string, string>): string => {
    const dir = join(work, name);
    mkdirSync(dir);
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
    return dir;
  };
  beforeAll(async () => {
    ({ dir: project, tarball } = await packedPackage());
    work = mkdtempSync(join(project, 'consumers-'));
  }, 600_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('npx colloquy --version prints the package version', async () => {
    const { stdout } = await sh('npx', ['--no-install', 'colloquy', '--version'], project, {
      npm_config_update_notifier: 'false',
    });
    expect(stdout).toContain(pkgJson.version);
  }, 120_000);

  it('CommonJS: require() of every subpath works where Node can load ES modules with require (>= 20.19); elsewhere the error says the package is an ES module', async () => {
    const dir = consumer('cjs', {
      'package.json': '{"type":"commonjs"}\n',
      'main.js': `for (const p of ${JSON.stringify(SUBPATHS)}) { const m = require(p); if (!Object.keys(m).length) throw new Error(p + ' exports nothing'); }\nconst { SessionError } = require('colloquy');\nconsole.log(typeof SessionError);\n`,
    });
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    if (major > 20 || (major === 20 && minor >= 19)) {
      const { stdout } = await sh(process.execPath, ['main.js'], dir);
      expect(stdout.trim()).toBe('function');
    }
    // Node without require(esm) (before 20.19, or with it turned off): not "path not exported", but a clear ESM-only error.
    const old = await run(process.execPath, ['--no-experimental-require-module', 'main.js'], { cwd: dir }).then(
      () => null,
      (e: { stderr: string }) => e.stderr,
    );
    expect(old).toMatch(/ERR_REQUIRE_ESM/);
    expect(old).toMatch(/require\(\) of ES Module .*node_modules\/colloquy\/dist\/index\.js/);
    expect(old).not.toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  }, 120_000);

  it('type-checks a TypeScript consumer under moduleResolution node16 and bundler (no skipLibCheck)', async () => {
    const dir = consumer('ts', {
      'package.json': '{"type":"module"}\n',
      'consumer.ts': [
        "import { connect, listen, SessionError, CHANNELS, type ClientSession, type ServerOptions } from 'colloquy';",
        "import { FrameDecoder } from 'colloquy/codec';",
        "import { SessionMachine } from 'colloquy/engine';",
        "import { ClientSession as Client } from 'colloquy/client';",
        "import { Refusal } from 'colloquy/server';",
        "import { MemoryStore, RedisStore, MemcachedStore, PostgresStore, type SessionStore } from 'colloquy/store';",
        "import { WebSessions, TokenService } from 'colloquy/web';",
        "import * as transport from 'colloquy/transport';",
        "import * as iso from 'colloquy/iso';",
        "import * as netbios from 'colloquy/netbios';",
        "import * as pptp from 'colloquy/pptp';",
        "import * as apps from 'colloquy/apps';",
        "import * as cluster from 'colloquy/cluster';",
        "const options: ServerOptions = { tcp: { host: '127.0.0.1', port: 0 }, authenticate: () => { throw new Refusal('no'); } };",
        'export async function roundTrip(): Promise<string> {',
        '  const server = await listen(options);',
        '  const session: ClientSession = await connect(`tcp://127.0.0.1:${server.addresses.tcp ?? 0}`);',
        '  const isClient: boolean = session instanceof Client;',
        '  await session.release();',
        '  await server.close();',
        '  return `${isClient} ${CHANNELS.sessionOpened}`;',
        '}',
        'const store: SessionStore = new MemoryStore();',
        "export const used = [store, RedisStore, MemcachedStore, PostgresStore, WebSessions, TokenService, FrameDecoder, SessionMachine, transport, iso, netbios, pptp, apps, cluster, new SessionError('ERR_REFUSED', 'no')];",
        '',
      ].join('\n'),
    });
    const tsc = bin('typescript', 'bin', 'tsc');
    const common = [
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      'false',
      '--target',
      'es2022',
      '--types',
      'node',
      'consumer.ts',
    ];
    await sh(process.execPath, [tsc, '--module', 'node16', '--moduleResolution', 'node16', ...common], dir);
    await sh(process.execPath, [tsc, '--module', 'esnext', '--moduleResolution', 'bundler', ...common], dir);
  }, 300_000);

  it('passes publint and arethetypeswrong (profile esm-only: the package is ESM; see README "Using the package")', async () => {
    const lint = await sh(
      process.execPath,
      [bin('publint', 'src', 'cli.js'), '--strict', '--pack', 'false', join(project, 'node_modules', 'colloquy')],
      work,
    );
    expect(lint.stdout).toMatch(/All good!|Suggestions/);
    expect(lint.stdout).not.toMatch(/Errors|Warnings/);
    const attw = await sh(
      process.execPath,
      [bin('@arethetypeswrong', 'cli', 'dist', 'index.js'), tarball, '--profile', 'esm-only', '--format', 'ascii'],
      work,
    );
    // attw exits non-zero on any problem the profile counts; the CommonJS-from-TypeScript and
    // node10 rows are the ones esm-only leaves out, and nothing else may be marked.
    const marked = attw.stdout.split('\n').filter((line) => /💀|⚠️|❌|🥴|🐛|❗️|🎭|🚭/u.test(line));
    expect(marked.filter((line) => !line.includes('(ignored'))).toEqual([]);
  }, 300_000);

  describe.skipIf(SKIP_BROWSER)(
    `a page built with Vite, in Chromium${SKIP_BROWSER ? ` [SKIPPED: ${CHROMIUM} missing]` : ''}`,
    () => {
      let browser: Browser | undefined;
      let http: HttpServer | undefined;
      let server: Server | undefined;
      afterAll(async () => {
        await browser?.close();
        await server?.destroy();
        if (http) {
          const closing = new Promise((r) => http?.close(r));
          http.closeAllConnections();
          await closing;
        }
      });

      it('builds with vite (the browser build of colloquy: no Node built-in reaches the bundler) and runs a session that is cut and resumes', async () => {
        if (!HAVE_CHROMIUM)
          throw new Error(`CI is set but ${CHROMIUM} is missing: .ci/run should have installed chromium`);
        const dir = consumer('vite', {
          'index.html':
            '<!doctype html>\n<meta charset="utf-8">\n<title>colloquy from Vite</title>\n<link rel="icon" href="data:,">\n<script type="module" src="./main.js"></script>\n',
          'main.js':
            "import { connect, SessionError } from 'colloquy';\nwindow.colloquy = { connect, SessionError };\n",
        });
        const built = await sh(process.execPath, [bin('vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], dir);
        expect(built.stderr + built.stdout).not.toMatch(/externalized for browser compatibility|node:/);
        const out = join(dir, 'dist');
        http = createServer((req, res) => {
          const path = new URL(req.url ?? '/', 'http://localhost').pathname;
          const file = join(out, path === '/' ? 'index.html' : path);
          if (!file.startsWith(out)) {
            res.writeHead(404).end();
            return;
          }
          try {
            res
              .writeHead(200, {
                'content-type': extname(file) === '.js' ? 'text/javascript' : 'text/html; charset=utf-8',
              })
              .end(readFileSync(file));
          } catch {
            res.writeHead(404).end();
          }
        });
        await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve));
        // The server echoes, and cuts the transport after the 5th message.
        server = await listen({ ws: { host: '127.0.0.1', port: 0, path: '/session' }, heartbeatMs: 0 });
        let cuts = 0;
        server.on('session', (session) => {
          let n = 0;
          void (async () => {
            for await (const m of session) {
              await session.send(m.slice());
              if (++n === 5) {
                cuts++;
                session.driver.attached?.destroy();
              }
            }
          })().catch(() => {});
        });
        browser = await launchChromium();
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`, { waitUntil: 'load' });
        await page.waitForFunction(() => 'colloquy' in globalThis, undefined, { timeout: 30_000 });
        const result = await page.evaluate(async (url) => {
          type Api = {
            connect: (
              u: string,
              o: object,
            ) => Promise<
              {
                send(s: string): Promise<void>;
                release(): Promise<void>;
                on(e: string, f: () => void): void;
              } & AsyncIterable<Uint8Array>
            >;
            SessionError: unknown;
          };
          const { connect } = (globalThis as unknown as { colloquy: Api }).colloquy;
          const s = await connect(url, { heartbeatMs: 0, reconnect: { initialDelayMs: 5, maxDelayMs: 50 } });
          let resumes = 0;
          s.on('resumed', () => {
            resumes++;
          });
          const echoes: string[] = [];
          const inbound = s[Symbol.asyncIterator]();
          for (let i = 0; i < 10; i++) await s.send(`m${i}`);
          for (let i = 0; i < 10; i++) {
            const r = await inbound.next();
            if (r.done) break;
            echoes.push(new TextDecoder().decode(r.value));
          }
          await s.release();
          return { echoes, resumes };
        }, `ws://127.0.0.1:${server.addresses.ws}/session`);
        expect(errors).toEqual([]);
        expect(cuts).toBe(1);
        expect(result.echoes).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
        expect(result.resumes).toBe(1);
      }, 300_000);
    },
  );
});
