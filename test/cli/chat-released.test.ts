// `colloquy chat` says why when the server ended the chat: a `colloquy serve` that stops (SIGTERM,
// on the memory store: it releases its sessions, saying why in the release request) ends a
// running chat, and the command prints the server's reason and exits 1, instead of leaving as if
// the user had quit (before: exit 0 with nothing said). Real processes on loopback.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { STOP_REASON_TEXT } from '../../src/server/server.js';
import { ANONYMOUS, startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let node: ServeNode | undefined;
afterEach(async () => {
  if (node && node.process.exitCode === null && node.process.signalCode === null) node.process.kill('SIGKILL');
  node = undefined;
});

describe('colloquy chat when the server releases the session', () => {
  it('prints the server reason and exits 1', async () => {
    node = await startServe([...ANONYMOUS, '--on-stop', 'release']);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'chat', node.tcp, '--json', '--nick', 'ada', '--room', 'stops'],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] }, // stdin stays open: the chat goes on until the server ends it
    );
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    const events: Record<string, unknown>[] = [];
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const joined = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        events.push(JSON.parse(line) as Record<string, unknown>);
        if (events.some((e) => e.event === 'welcome')) resolve();
      });
      void exited.then(() => reject(new Error(`colloquy chat exited before joining; stderr:\n${stderr}`)));
    });
    try {
      await joined;
      expect(await node.stop()).toBe(0);
      expect(await exited).toBe(1);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(stderr).toContain(`colloquy chat: the server released the session (${STOP_REASON_TEXT})`);
    expect(events.at(-1)).toEqual({ event: 'released', room: 'stops', reason: STOP_REASON_TEXT });
  }, 90_000);
});
