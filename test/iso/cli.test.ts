// `colloquy iso connect` against `colloquy iso listen`, both in-process through the dispatcher
// (the same code the executable runs): the answer, data both ways, release, refusals, help and
// usage errors.

import net from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { LIBIEC61850 } from './cases.js';
import { rawServer } from './support.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(): { stream: PassThrough; text: () => string; wait(re: RegExp): Promise<string> } {
  const stream = new PassThrough();
  let text = '';
  const waiters: (() => void)[] = [];
  stream.on('data', (d: Buffer) => {
    text += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  return {
    stream,
    text: () => text,
    async wait(re) {
      while (!re.test(text)) await new Promise<void>((resolve) => waiters.push(resolve));
      return text;
    },
  };
}

async function cli(args: string[], stdin?: string[]): Promise<Run> {
  const out = sink();
  const err = sink();
  const code = await runCli(args, {
    signal: new AbortController().signal,
    stdout: out.stream,
    stderr: err.stream,
    stdin: stdin ? Readable.from(stdin) : undefined,
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** `iso listen` running in the background until stop(). */
async function listener(
  args: string[] = [],
): Promise<{ port: number; out: ReturnType<typeof sink>; stop(): Promise<number> }> {
  const out = sink();
  const ac = new AbortController();
  const done = runCli(['iso', 'listen', '--port', '0', ...args], {
    signal: ac.signal,
    stdout: out.stream,
    stderr: process.stderr,
  });
  const text = await out.wait(/listening on|"listening"/);
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
  return {
    port,
    out,
    stop: async () => {
      ac.abort();
      return done;
    },
  };
}

const stops: (() => Promise<number>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

describe('colloquy iso', () => {
  it('connect prints CC and AC, sends stdin hex lines as DT, prints the echoes, releases at EOF', async () => {
    const l = await listener(['--echo']);
    stops.push(l.stop);
    const r = await cli(
      [
        'iso',
        'connect',
        `127.0.0.1:${l.port}`,
        '--user-data',
        'ca fe',
        '--units',
        'minorSync',
        '--release-data',
        'aabb',
      ],
      ['68656c6c6f\n', '\n', '# a comment\n', '0102\n'],
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('< CC tpduSize=8192 calledTsap=0001 callingTsap=0001');
    expect(lines[1]).toMatch(
      /^< AC versions=2 requirements=0x000a units=duplex,minorSync tokens=minorSync:initiator initialSerial=1 calledSsel=0001 userData=- version=2$/,
    );
    expect(lines.slice(2)).toEqual(['68656c6c6f', '0102', '< released userData=-']);
    const seen = await l.out.wait(/\[1\] closed/);
    expect(seen).toMatch(/\[1\] CN versions=3 requirements=0x000a units=duplex,minorSync .*userData=cafe/);
    expect(seen).toMatch(/\[1\] data 68656c6c6f\n\[1\] data 0102\n/);
    expect(seen).toMatch(/\[1\] release-request userData=aabb\n/);
  });

  it('--json prints one object per line on both sides', async () => {
    const l = await listener(['--json']);
    stops.push(l.stop);
    const r = await cli(['iso', 'connect', `iso://127.0.0.1:${l.port}`, '--json', '--libiec61850'], ['aabb\n']);
    expect(r.code).toBe(0);
    const objects = r.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(objects[0]).toMatchObject({ spdu: 'CC', tpduSize: 8192 });
    expect(objects[1]).toMatchObject({
      spdu: 'AC',
      versions: 2,
      requirements: '0x0002',
      units: ['duplex'],
      version: 2,
    });
    expect(objects.at(-1)).toEqual({ event: 'released', userData: '' });
    const seen = await l.out.wait(/"event":"closed"/);
    const records = seen
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toContainEqual(expect.objectContaining({ spdu: 'CN', versions: 2 }));
    expect(records).toContainEqual({ session: 1, event: 'data', hex: 'aabb' });
  });

  it('a refusal prints the RF with its reason and exits 1', async () => {
    const l = await listener(['--called-ssel', '0002']);
    stops.push(l.stop);
    const r = await cli(['iso', 'connect', `127.0.0.1:${l.port}`], []);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      '< CC tpduSize=8192 calledTsap=0001 callingTsap=0001\n< RF reason=129 reasonText=session selector unknown transportDisconnect=transport released userData=-\n',
    );
    expect(r.stderr).toMatch(/ERR_REFUSED/);
  });

  it('a peer that closes the transport after the CN: connect prints the CC and says so, exit 1', async () => {
    const mock = await rawServer();
    try {
      const running = cli(['iso', 'connect', `127.0.0.1:${mock.port}`, '--libiec61850'], []);
      const peer = await mock.peer;
      await peer.next(); // CR
      peer.write(LIBIEC61850.cc);
      expect(await peer.next()).not.toBeNull(); // the CN
      peer.socket.destroy(); // what libiec61850 does with a CN it does not like
      const r = await running;
      expect(r.code).toBe(1);
      expect(r.stdout.split('\n')).toEqual([
        expect.stringMatching(/^< CC tpduSize=\d+ calledTsap=0001 callingTsap=0001$/),
        '< closed code=ERR_ABORTED message=the peer closed the transport connection after our CN, without answering it (no AC, RF or AB)',
        '',
      ]);
      expect(r.stderr).toMatch(/no --user-data; a libiec61850 server expects/);
      expect(r.stderr).toMatch(/ERR_ABORTED/);
    } finally {
      mock.close();
    }
  });

  it('an unreachable peer is ERR_CONNECT_FAILED, exit 1', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const r = await cli(['iso', 'connect', `127.0.0.1:${port}`], []);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_CONNECT_FAILED/);
  });

  it('--help for iso, connect and listen', async () => {
    for (const args of [
      ['iso', '--help'],
      ['iso', 'connect', '--help'],
      ['iso', 'listen', '-h'],
      ['help', 'iso'],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: colloquy iso connect HOST\[:PORT\]/);
      expect(r.stdout).toMatch(/--called-tsap HEX/);
      expect(r.stdout).toMatch(/--port N/);
    }
  });

  it('usage errors exit 2', async () => {
    const bad = [
      ['iso'],
      ['iso', 'frob'],
      ['iso', 'connect'],
      ['iso', 'connect', 'h', 'extra'],
      ['iso', 'connect', 'h', '--units', 'nope'],
      ['iso', 'connect', 'h', '--called-tsap', 'zz'],
      ['iso', 'connect', 'h', '--versions', '3'],
      ['iso', 'connect', 'h', '--tpdu-size', '1000'],
      ['iso', 'listen', '--port', '70000'],
      ['iso', 'connect', 'h', '--bogus'],
    ];
    for (const args of bad) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
    }
  });
});
