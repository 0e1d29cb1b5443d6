// A program that awaits its session must not exit while the client waits to redial. The backoff
// timer is the only thing alive between two dial attempts (no socket): if it let the process go,
// Node would end a program mid-download with exit code 13 ("unsettled top-level await") and
// nothing printed (found with `colloquy get` from a node killed with SIGKILL). The client runs
// in its own process here, so the test sees exactly what a user's program would.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect as tcpConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, type Server } from '../../src/server.js';

const clientModule = fileURLToPath(new URL('../../src/client.ts', import.meta.url));

let server: Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A forwarder to `target` whose `kill()` drops every connection and stops listening: a dead node. */
async function forwarder(target: number): Promise<{ port: number; kill: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const front = createServer((inbound) => {
    const up = tcpConnect(target, '127.0.0.1');
    sockets.add(inbound).add(up);
    inbound.pipe(up).pipe(inbound);
    const drop = (): void => {
      inbound.destroy();
      up.destroy();
    };
    inbound.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  return {
    port: (front.address() as AddressInfo).port,
    kill: async () => {
      const closed = new Promise((resolve) => front.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

describe('a client process whose server vanishes', () => {
  it('stays alive through the backoff and ends with ERR_CONNECT_FAILED, not exit code 13', async () => {
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
    const front = await forwarder(server.addresses.tcp as number);
    // Backoff of 300-600 ms between dials: long enough that the process has no socket for a while.
    const script = `
      import { connect } from ${JSON.stringify(clientModule)};
      const session = await connect('tcp://127.0.0.1:${front.port}', { heartbeatMs: 0, reconnect: { initialDelayMs: 300, maxDelayMs: 600, maxAttempts: 3 } });
      console.log('connected');
      const closed = await new Promise((resolve) => session.on('closed', resolve));
      console.log('closed ' + (closed.error ? closed.error.code : 'none'));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      for (let i = 0; i < 600 && !out.includes('connected') && child.exitCode === null; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(out, err).toContain('connected');
      await front.kill();
      const [code] = await exited;
      expect({ code, out: out.trim().split('\n') }, err).toEqual({
        code: 0,
        out: ['connected', 'closed ERR_CONNECT_FAILED'],
      });
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
