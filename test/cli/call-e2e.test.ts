// `colloquy call` as a user runs it: a spawned CLI against a spawned server (the apps fixture,
// which adds the counting method test.count to rpc + files), directly and through the chaos
// proxy cutting the connection every 100-300 ms. Also --help of call, get and put.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosSeed, startFaultProxyWorker } from '../chaos/fault-proxy.js';
import type { FaultProxy } from '../chaos/fault-proxy.js';
import { RpcClient } from '../../src/apps/rpc.js';
import { colloquy, spawnColloquy, startFixtureServer } from './apps-cli.js';
import type { FixtureServer } from './apps-cli.js';

let dir: string;
let server: FixtureServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'colloquy-call-e2e-'));
  server = await startFixtureServer(dir);
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('colloquy call (spawned)', () => {
  it('prints the JSON result and exits 0; over ws too', async () => {
    const r = await colloquy(['call', server.tcp, 'echo', '{"greeting":"hello","n":[1,2]}', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ greeting: 'hello', n: [1, 2] });
    const w = await colloquy(['call', server.ws, 'system.listMethods']);
    expect(w.code).toBe(0);
    expect(JSON.parse(w.stdout)).toEqual(expect.arrayContaining(['echo', 'system.listMethods', 'files.list']));
  });

  it('prints a JSON-RPC error on stderr and exits 1', async () => {
    const r = await colloquy(['call', server.tcp, 'no.such.method', '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr)).toEqual({ code: -32601, message: "method not found: 'no.such.method'" });
    const p = await colloquy(['call', server.tcp, 'files.list', '{"path":"/etc"}', '--json']);
    expect(p.code).toBe(1);
    expect(JSON.parse(p.stderr)).toMatchObject({
      code: -32000,
      data: { code: 'ERR_PATH_REJECTED', details: { reason: 'absolute' } },
    });
  });

  it('usage errors exit 2; an unreachable server exits 1 naming ERR_CONNECT_FAILED', async () => {
    const bad = await colloquy(['call', server.tcp, 'echo', '42']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/JSON array or object/);
    const scheme = await colloquy(['call', 'http://127.0.0.1:1/', 'echo']);
    expect(scheme.code).toBe(2);
    const down = await colloquy(['call', 'tcp://127.0.0.1:1', 'echo', '[]']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/ERR_CONNECT_FAILED/);
  });

  it('a call survives cuts of its connection and runs exactly once; a rerun with the same ids is answered from the cache', async () => {
    const seed = chaosSeed();
    const proxy: FaultProxy = await startFaultProxyWorker({
      target: { host: '127.0.0.1', port: server.tcpPort },
      seed,
      cutEveryMs: [100, 300],
      maxChunk: 4096,
    });
    try {
      const before = JSON.parse((await colloquy(['call', server.tcp, 'test.runs', '--json'])).stdout) as number;
      const args = [
        'call',
        `tcp://127.0.0.1:${proxy.port}`,
        'test.count',
        '{"sleepMs":1500}',
        '--client',
        `e2e-${seed}`,
        '--id',
        'once-1',
        '--json',
        '--timeout',
        '60000',
      ];
      const r = await colloquy(args);
      expect(r.code, `seed ${seed}: ${r.stderr}`).toBe(0);
      expect(JSON.parse(r.stdout)).toBe(before + 1);
      expect(proxy.stats.cuts, `seed ${seed}`).toBeGreaterThanOrEqual(1);
      // The client "restarts" and retries the same request: stored answer, no second run.
      const again = await colloquy(args);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toBe(before + 1);
      const after = JSON.parse((await colloquy(['call', server.tcp, 'test.runs', '--json'])).stdout) as number;
      expect(after, `seed ${seed}`).toBe(before + 1);
    } finally {
      await proxy.close();
    }
  });
});

describe('colloquy call and Ctrl-C', () => {
  it('SIGINT cancels the running call and exits 130 without waiting for the method', async () => {
    const probe = await RpcClient.connect(server.tcp);
    try {
      const before = await probe.call<number>('test.runs');
      const started = Date.now();
      const run = spawnColloquy(['call', server.tcp, 'test.count', '{"sleepMs":60000}', '--timeout', '0']);
      // Interrupt once the method is running on the server (the CLI has its SIGINT handler by then).
      for (let i = 0; i < 600 && (await probe.call<number>('test.runs')) === before; i++)
        await new Promise((r) => setTimeout(r, 50));
      run.child.kill('SIGINT');
      const r = await run.done;
      expect(r.code, r.stderr).toBe(130);
      expect(Date.now() - started).toBeLessThan(50_000);
    } finally {
      await probe.close();
    }
  }, 90_000);
});

describe('--help', () => {
  for (const name of ['call', 'get', 'put']) {
    it(`colloquy ${name} --help prints its usage and exit codes on stdout and exits 0`, async () => {
      const r = await colloquy([name, '--help']);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`^Usage: colloquy ${name} URL`));
      expect(r.stdout).toMatch(/Exit codes: 0 /);
      expect(r.stdout).toMatch(/130 interrupted/);
      expect(r.stdout).toMatch(/--json/);
    });
  }
});
