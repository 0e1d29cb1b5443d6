// `colloquy trace`, run in-process (runCli) against a chat server (listen() + ServiceHost + chat),
// directly and through the fault proxy to show a resume in the ladder.

import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { startChatServer } from '../apps/fixtures/chat-server.js';
import type { ChatServer } from '../apps/fixtures/chat-server.js';
import { startFaultProxy } from '../chaos/fault-proxy.js';
import type { FaultProxy } from '../chaos/fault-proxy.js';

class Sink extends Writable {
  text = '';
  private readonly waiters: (() => void)[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString('utf8');
    for (const w of [...this.waiters]) w();
    done();
  }
  until(pattern: RegExp): Promise<void> {
    return new Promise((resolve) => {
      const w = (): void => {
        if (pattern.test(this.text)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          resolve();
        }
      };
      this.waiters.push(w);
      w();
    });
  }
}

async function trace(
  args: string[],
  signal = new AbortController().signal,
): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const code = await runCli(['trace', ...args], { signal, stdout, stderr });
  return { code, out: stdout.text, err: stderr.text };
}

let server: ChatServer | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await server?.close();
  server = undefined;
});

interface Traced {
  t: number;
  dir: 'in' | 'out';
  type: string;
  bytes: number;
  n?: number;
  serial?: number;
  tokens?: string[];
  holds: string[];
  detail: string;
}

describe('colloquy trace', () => {
  it('--json: one object per frame, both directions, in the order of the scripted dialogue', async () => {
    server = await startChatServer();
    const r = await trace([server.tcp, '--json']);
    expect(r.code, r.err).toBe(0);
    const frames = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Traced);
    const sessionFrames = (dir: 'in' | 'out'): Traced[] => frames.filter((f) => f.dir === dir && f.n !== undefined);
    // The script, as the client sent it: numbered 1, 2, 3 ... without gaps.
    expect(sessionFrames('out').map((f) => f.type)).toEqual([
      'DATA',
      'MINOR_SYNC',
      'MAJOR_SYNC',
      'GIVE_TOKENS',
      'PLEASE_TOKENS',
      'FINISH',
    ]);
    expect(sessionFrames('out').map((f) => f.n)).toEqual([1, 2, 3, 4, 5, 6]);
    // The server: welcome, the room's copy of our message, the major sync confirmation, the token back, DISCONNECT.
    expect(sessionFrames('in').map((f) => f.type)).toEqual([
      'DATA',
      'DATA',
      'MAJOR_SYNC_ACK',
      'GIVE_TOKENS',
      'DISCONNECT',
    ]);
    expect(sessionFrames('in').map((f) => f.n)).toEqual([1, 2, 3, 4, 5]);
    expect(frames[0]).toMatchObject({ dir: 'out', type: 'CONNECT', holds: [] });
    expect(frames[0]?.detail).toContain('{\\"service\\":\\"chat\\"');
    expect(frames[1]).toMatchObject({ dir: 'in', type: 'ACCEPT' });
    const minor = frames.find((f) => f.type === 'MINOR_SYNC');
    const major = frames.find((f) => f.type === 'MAJOR_SYNC');
    expect([minor?.serial, major?.serial]).toEqual([1, 2]);
    expect(frames.find((f) => f.type === 'MAJOR_SYNC_ACK')?.serial).toBe(2);
    // Tokens: given away, then back, as the client holds them after each frame.
    const give = frames.find((f) => f.type === 'GIVE_TOKENS' && f.dir === 'out');
    const back = frames.find((f) => f.type === 'GIVE_TOKENS' && f.dir === 'in');
    expect(give?.tokens).toEqual(['minorSync']);
    expect(give?.holds).not.toContain('minorSync');
    expect(back?.holds).toContain('minorSync');
    expect(frames.find((f) => f.type === 'DATA' && f.dir === 'out')?.detail).toContain('hello from colloquy trace');
    for (const f of frames) expect(f.bytes).toBeGreaterThan(0);
    // An ACK goes each way at some point, and frames are in time order.
    expect(frames.some((f) => f.type === 'ACK' && f.dir === 'out')).toBe(true);
    expect(frames.map((f) => f.t)).toEqual([...frames.map((f) => f.t)].sort((a, b) => a - b));
  }, 30_000);

  it('draws a ladder with a legend: client to server arrows on the left, server to client on the right', async () => {
    server = await startChatServer();
    const r = await trace([server.ws, '--steps', 'data,release']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^Legend: /);
    const lines = r.out.split('\n');
    const connect = lines.find((l) => l.includes(' CONNECT '));
    const accept = lines.find((l) => l.includes(' ACCEPT '));
    expect(connect).toMatch(/│─ CONNECT \d+ B ─+▶│ \[\]/);
    expect(accept).toMatch(/│◀─+ ACCEPT \d+ B ─│ \[minorSync,majorActivity\] session [0-9a-f]{8}…/);
    expect(lines.some((l) => /│─ DATA #1 \d+ B ─+▶│/.test(l))).toBe(true);
    expect(lines.some((l) => /│◀─+ DISCONNECT #\d+ \d+ B ─│/.test(l))).toBe(true);
    expect(r.out).toMatch(/2 session frames sent, 3 received; session [0-9a-f]{32} closed/);
    expect(r.out).not.toContain('MAJOR_SYNC');
  }, 30_000);

  it('--half-duplex: the data token is asked for and handed over before data, and the floor shows in the ladder', async () => {
    server = await startChatServer();
    const r = await trace([server.tcp, '--json', '--half-duplex']);
    expect(r.code, r.err).toBe(0);
    const frames = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Traced);
    const out = frames.filter((f) => f.dir === 'out' && f.n !== undefined);
    expect(out.map((f) => f.type)).toEqual([
      'PLEASE_TOKENS',
      'DATA',
      'MINOR_SYNC',
      'MAJOR_SYNC',
      'GIVE_TOKENS',
      'PLEASE_TOKENS',
      'FINISH',
    ]);
    expect(out[0]?.tokens).toEqual(['data']);
    expect(out[0]?.holds).not.toContain('data');
    const firstGive = frames.find((f) => f.dir === 'in' && f.type === 'GIVE_TOKENS');
    expect(firstGive?.tokens).toEqual(['data']);
    expect(firstGive?.holds).toContain('data');
    expect(frames.indexOf(firstGive as Traced)).toBeLessThan(
      frames.findIndex((f) => f.dir === 'out' && f.type === 'DATA'),
    );
    // The room talks in TYPED data, the floor included.
    const typed = frames.filter((f) => f.dir === 'in' && f.type === 'TYPED').map((f) => f.detail);
    expect(typed[0]).toContain('welcome');
    expect(typed.some((d) => d.includes('\\"turn\\"') && d.includes('\\"holder\\":\\"trace\\"'))).toBe(true);
    expect(frames.some((f) => f.dir === 'in' && f.type === 'DATA')).toBe(false);
  }, 30_000);

  it('shows RESUME and RESUMED, with the original frame numbers, when the connection is cut', async () => {
    server = await startChatServer();
    proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: server.server.addresses.tcp as number },
      seed: 1,
      cutEveryMs: [600_000, 600_000],
    });
    const stdout = new Sink();
    const stderr = new Sink();
    const run = runCli(
      ['trace', `tcp://127.0.0.1:${proxy.port}`, '--json', '--steps', 'data,release', '--watch', '1500'],
      { signal: new AbortController().signal, stdout, stderr },
    );
    // Cut once the room's copy of our message (the second DATA from the server) is in.
    await stdout.until(/("dir":"in","type":"DATA"[\s\S]*){2}/);
    proxy.cutAll();
    const code = await run;
    expect(code, stderr.text).toBe(0);
    const frames = stdout.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Traced);
    const resume = frames.findIndex((f) => f.type === 'RESUME' && f.dir === 'out');
    expect(resume).toBeGreaterThan(0);
    expect(frames[resume + 1]).toMatchObject({ type: 'RESUMED', dir: 'in' });
    expect(frames.at(-1)?.type === 'ACK' || frames.some((f) => f.type === 'DISCONNECT')).toBe(true);
    // Numbers go on from what each side had: FINISH is our session frame #2 whatever was replayed.
    expect(frames.find((f) => f.type === 'FINISH')?.n).toBe(2);
    expect(proxy.stats.cuts).toBe(1);
  }, 30_000);

  it('reports a refused session with exit 1, and bad arguments with exit 2', async () => {
    server = await startChatServer();
    const refused = await trace([server.tcp, '--service', 'nope']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(
      /cannot open a session at tcp:\/\/.*no service 'nope' here; this server offers chat.*ERR_REFUSED/,
    );
    expect((await trace([])).code).toBe(2);
    expect((await trace(['iso://127.0.0.1:102'])).err).toMatch(/native protocol/);
    const steps = await trace([server.tcp, '--steps', 'data,dance']);
    expect(steps.code).toBe(2);
    expect(steps.err).toMatch(/unknown step 'dance'/);
    const help = await trace(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: colloquy trace URL/);
    expect(help.out).toMatch(/Exit codes:/);
  }, 30_000);
});
