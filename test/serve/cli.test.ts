// `colloquy sessions` against a real serve node, and --help / usage errors for serve and sessions.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHello } from '../../src/apps/service.js';
import { commands } from '../../src/cli/commands.js';
import { connect } from '../../src/client/connect.js';
import { startServe, type ServeNode } from '../support/serve.js';
import { runCaptured } from '../support/run-cli.js';

const run = runCaptured;

describe('--help and usage errors', () => {
  it.each(['serve', 'sessions'])('%s --help prints usage and exit codes, exit 0', async (name) => {
    const r = await run([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Usage: colloquy ${name}`));
    expect(r.out).toContain('Exit codes:');
    expect((await run(['help', name])).out).toBe(r.out);
  });

  it.each(commands.map((c) => c.name))('every command answers --help: colloquy %s --help', async (name) => {
    const r = await run([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Usage: colloquy ${name}\\b`));
    expect(r.out).toMatch(/exit codes/i);
    expect(r.err).toBe('');
  });

  it('rejects bad arguments with exit 2', async () => {
    expect((await run(['serve', '--port', 'x'])).code).toBe(2);
    expect((await run(['serve', '--store', 'mongodb://x'])).code).toBe(2);
    expect((await run(['serve', '--tls-cert', 'a.pem'])).code).toBe(2);
    expect((await run(['serve', '--admin-token', 'short'])).code).toBe(2);
    expect((await run(['sessions'])).code).toBe(2);
    expect((await run(['sessions', 'not a url', '--token', 'x'])).code).toBe(2);
    expect((await run(['sessions', 'http://127.0.0.1:1/', '--token', 'x', '--cut', 'zz'])).code).toBe(2);
  });

  it('serve fails with exit 1 and a clear message when its port is taken', async () => {
    const node = await startServe();
    try {
      const port = new URL(node.http).port;
      const r = await run([
        'serve',
        '--port',
        port,
        '--tcp-port',
        '0',
        '--files',
        '/tmp/colloquy-serve-cli-files',
        '--admin-token',
        node.adminToken,
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/EADDRINUSE.*another program uses that port/);
    } finally {
      await node.stop();
    }
  }, 90_000);
});

describe('colloquy sessions URL', () => {
  let node: ServeNode;
  beforeAll(async () => {
    node = await startServe();
  }, 90_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('lists live sessions as a table and as JSON, with the token from --token or the environment', async () => {
    const s = await connect(node.tcp, { userData: encodeHello({ service: 'echo', nick: 'carol' }), heartbeatMs: 0 });
    try {
      const table = await run(['sessions', node.http, '--token', node.adminToken]);
      expect(table.code).toBe(0);
      expect(table.out).toMatch(/^ID\s+SERVICE\s+NAME\s+TRANSPORT/);
      expect(table.out).toMatch(new RegExp(`${s.id}\\s+echo\\s+carol\\s+tcp\\s+established`));
      const json = await run(['sessions', node.ws, '--json'], { COLLOQUY_ADMIN_TOKEN: node.adminToken });
      expect(json.code).toBe(0);
      const parsed = JSON.parse(json.out) as { sessions: { id: string; service: string; tokens: string[] }[] };
      expect(parsed.sessions.find((x) => x.id === s.id)).toMatchObject({ service: 'echo' });

      const resumed = new Promise<void>((resolve) => s.on('resumed', () => resolve()));
      const cut = await run(['sessions', node.http, '--token', node.adminToken, '--cut', s.id, '--json']);
      expect(JSON.parse(cut.out)).toEqual({ id: s.id, cut: true });
      await resumed;
    } finally {
      await s.release();
    }
  }, 30_000);

  it('exits 1 with a message on a wrong token, an unknown session or an unreachable node', async () => {
    const wrong = await run(['sessions', node.http, '--token', 'not-the-token-at-all']);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/refused the admin token/);
    const unknown = await run(['sessions', node.http, '--token', node.adminToken, '--cut', '0'.repeat(32)]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no live session/);
    const down = await run(['sessions', 'http://127.0.0.1:1/', '--token', node.adminToken]);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/cannot reach/);
  }, 30_000);
});
