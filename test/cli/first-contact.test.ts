// The messages a newcomer meets on a wrong first try, each answered with what happened and what
// to type instead (issue 13): a session URL against the wrong port or path or without a scheme,
// `get -o` into a directory that does not exist, serve's banner line for `sessions` (it runs as
// printed), and one error format for every command (`colloquy NAME: ...`). Spawned processes
// against a real `colloquy serve`, as a user runs them.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';
import { colloquy, spawnColloquy } from './apps-cli.js';

let serve: ServeNode;
let files: string;
let httpPort: number;
let tcpPort: number;

beforeAll(async () => {
  files = await mkdtemp(join(tmpdir(), 'colloquy-first-contact-'));
  serve = await startServe(['--files', files]);
  httpPort = Number(new URL(serve.http).port);
  tcpPort = Number(new URL(serve.tcp).port);
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await rm(files, { recursive: true, force: true });
});

describe('wrong first tries get a hint', () => {
  it('tcp:// against the HTTP port: says it is a web port and what to use', async () => {
    const r = await colloquy(['call', `tcp://127.0.0.1:${httpPort}`, 'echo', '[1]']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^colloquy call: /);
    expect(r.stderr).toContain('answered in HTTP: that is a web port');
    expect(r.stderr).toContain(`ws://127.0.0.1:${httpPort}/session`);
    expect(r.stderr).not.toContain('unknown frame type');
  });

  it('ws:// against the native TCP port: says it is not HTTP and to try tcp://', async () => {
    const r = await colloquy(['call', `ws://127.0.0.1:${tcpPort}/session`, 'echo', '[1]']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`not in HTTP: it is likely a native TCP endpoint, try tcp://127.0.0.1:${tcpPort}`);
  });

  it('ws:// without /session: says nothing accepts sessions at that path, and names /session', async () => {
    const r = await colloquy(['call', `ws://127.0.0.1:${httpPort}`, 'echo', '[1]']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `nothing accepts WebSocket sessions at the path / (colloquy serve's is ws://127.0.0.1:${httpPort}/session)`,
    );
  });

  it('HOST:PORT without a scheme: says which URLs to write', async () => {
    const r = await colloquy(['call', `localhost:${tcpPort}`, 'echo', '[1]']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`'localhost:${tcpPort}' has no scheme: write tcp://localhost:${tcpPort}`);
    expect(r.stderr).not.toContain('has no host');
  });

  it('get -o into a directory that does not exist: names the directory, not a lock file', async () => {
    const r = await colloquy(['get', serve.tcp, 'anything.bin', '-o', '/no/such/dir/x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot save to /no/such/dir/x: the directory /no/such/dir does not exist');
    expect(r.stderr).not.toMatch(/ENOENT|colloquy-lock/);
  });

  it("serve's banner prints a sessions command that runs as printed", async () => {
    const own = spawnColloquy(['serve', '--port', '0', '--tcp-port', '0', '--files', join(files, 'own')], {
      timeoutMs: 120_000,
    });
    let banner = '';
    own.child.stdout?.on('data', (d: Buffer) => {
      banner += d.toString();
    });
    const end = Date.now() + 60_000;
    while (!/list sessions.*\n/.test(banner)) {
      if (Date.now() > end || own.child.exitCode !== null) throw new Error(`no banner: ${banner}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      const line = /list sessions\s+(npx colloquy sessions \S+ --token \S+)\s*\n/.exec(banner)?.[1];
      expect(line, banner).toBeDefined();
      expect(line).not.toContain('…');
      const r = await colloquy((line as string).split(' ').slice(2));
      expect(r.code, r.stderr).toBe(0);
    } finally {
      own.child.kill('SIGTERM');
      await own.done;
    }
  });

  it('sessions --cut newest-files with no transfer running says so (the tour cuts a running put with it)', async () => {
    const r = await colloquy(['sessions', serve.http, '--token', serve.adminToken, '--cut', 'newest-files']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('colloquy sessions: no files session is connected to');
  });

  it('one error format: a usage error and a failure both start with "colloquy NAME: "', async () => {
    const usage = await colloquy(['sessions', serve.http]);
    const failure = await colloquy(['sessions', 'http://127.0.0.1:1/', '--token', 'x']);
    expect(usage.code).toBe(2);
    expect(failure.code).toBe(1);
    expect(usage.stderr).toMatch(/^colloquy sessions: /);
    expect(failure.stderr).toMatch(/^colloquy sessions: /);
  });
});
