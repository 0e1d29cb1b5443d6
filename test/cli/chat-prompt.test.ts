// `colloquy chat` at a terminal prompt (in process, streams that say they are a TTY): /help lists
// the commands, and a notice (here an unknown command) is printed above the prompt, the line
// cleared first, with the prompt redrawn after it, never in the middle of what is being typed.

import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceHost, chatService } from '../../src/apps/index.js';
import { runCli } from '../../src/cli/cli.js';
import { listen, type Server } from '../../src/server/server.js';

let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

class Tty extends Writable {
  text = '';
  isTTY = true;
  columns = 100;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function until(what: string, probe: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('colloquy chat at a prompt', () => {
  it('/help lists the commands; an unknown command is answered above the prompt, which is redrawn', async () => {
    const host = new ServiceHost([chatService()]);
    server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, authenticate: host.authenticate });
    host.attach(server);
    const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => stdin });
    const stdout = new Tty();
    const stderr = new Tty();
    const running = runCli(['chat', `tcp://127.0.0.1:${server.addresses.tcp as number}`, '--nick', 'ada'], {
      signal: new AbortController().signal,
      stdout,
      stderr,
      stdin,
    });
    await until('the prompt', () => stdout.text.includes('ada> '));

    stdin.write('/help\r');
    await until('the list', () => stdout.text.includes('/turn'));
    for (const cmd of ['/who', '/turn', '/quit', '/help']) expect(stdout.text).toContain(cmd);

    stdin.write('half-typ');
    await until('the echo', () => stdout.text.includes('half-typ'));
    const before = stdout.text.length;
    stdin.write('\x01\x0b'); // clear the half-typed line (Ctrl-A, Ctrl-K) before trying a command
    stdin.write('/nope\r');
    await until('the notice', () => stderr.text.includes('unknown command /nope'));
    expect(stderr.text).toContain('\r\x1b[Kcolloquy chat: unknown command /nope (type /help for the list)\n');
    await until(
      'the redrawn prompt',
      () => stdout.text.slice(before).lastIndexOf('ada> ') > stdout.text.slice(before).indexOf('/nope'),
    );

    stdin.write('/quit\r');
    expect(await running).toBe(0);
  }, 60_000);
});
