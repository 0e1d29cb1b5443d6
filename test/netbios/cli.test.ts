// `colloquy netbios` in-process through the dispatcher, against our own server on loopback.
// (test/netbios/smbd.test.ts runs the real executable against smbd.)

import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { listenNetbios, type NetbiosServer, type NetbiosSession } from '../../src/netbios/index.js';

const servers: NetbiosServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function echoServer(options: Partial<Parameters<typeof listenNetbios>[0]> = {}): Promise<NetbiosServer> {
  const s = await listenNetbios({
    port: 0,
    onSession: (session: NetbiosSession) => {
      void (async () => {
        for await (const data of session) await session.send(data);
        await session.close();
      })().catch(() => session.destroy());
    },
    ...options,
  });
  servers.push(s);
  return s;
}

async function cli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const stdin = input === undefined ? undefined : new PassThrough();
  stdin?.end(input);
  const code = await runCli(args, { signal: new AbortController().signal, stdout, stderr, stdin });
  return { code, stdout: out, stderr: err };
}

describe('colloquy netbios', () => {
  it('is listed in the help', async () => {
    const r = await cli(['--help']);
    expect(r.stdout).toMatch(/^\s+netbios\s+open or accept NetBIOS sessions/m);
  });

  it('--help explains connect', async () => {
    for (const args of [
      ['netbios', '--help'],
      ['help', 'netbios'],
      ['netbios', 'connect', '--help'],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: colloquy netbios connect HOST[:PORT] --called NAME');
    }
  });

  it.each([
    [['netbios'], /expected a subcommand/],
    [['netbios', 'bogus'], /unknown subcommand 'bogus'/],
    [['netbios', 'listen', '--port', '70000'], /--port must be in 0..65535/],
    [['netbios', 'listen', '--name', 'SIXTEENCHARSLONG'], /--name: .*at most 15 octets/],
    [['netbios', 'connect', '127.0.0.1'], /--called NAME is required/],
    [['netbios', 'connect', '--called', 'X'], /expected one HOST\[:PORT\]/],
    [['netbios', 'connect', 'a:b:c', '--called', 'X'], /is not HOST\[:PORT\]/],
    [['netbios', 'connect', 'h:70000', '--called', 'X'], /port 70000/],
    [['netbios', 'connect', 'h', '--called', 'SIXTEENCHARSLONG'], /--called: .*at most 15 octets/],
    [['netbios', 'connect', 'h', '--called', 'X', '--timeout', '0'], /--timeout must be an integer >= 1/],
    [['netbios', 'connect', 'h', '--called', 'X', '--bogus'], /Unknown option '--bogus'/],
  ])('usage error: %j', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("Run 'colloquy help netbios' for usage.");
  });

  it('prints the positive answer, sends stdin hex lines and prints what comes back', async () => {
    const s = await echoServer({ names: ['TESTSRV'] });
    const r = await cli(
      ['netbios', 'connect', `127.0.0.1:${s.port}`, '--called', 'testsrv'],
      '0102 03\n\nnot hex\nFFEE\n',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `positive session response from 127.0.0.1:${s.port} (called TESTSRV<20>, calling COLLOQUY<00>)`,
        '010203',
        'ffee',
        'session closed',
        '',
      ].join('\n'),
    );
    expect(r.stderr).toBe('colloquy netbios: skipped a line that is not hex of at most 131071 octets\n');
  });

  it('prints a negative answer with its code and exits 1', async () => {
    const s = await echoServer({ names: ['TESTSRV'] });
    const r = await cli(['netbios', 'connect', `127.0.0.1:${s.port}`, '--called', 'OTHER', '--calling', 'ME'], '');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`negative session response from 127.0.0.1:${s.port}: 0x82 called name not present\n`);
  });

  it('--json: the retarget followed, the answer, messages and the close, one object per line', async () => {
    const target = await echoServer();
    const front = await echoServer({
      retarget: [
        { called: { name: 'SRV', suffix: 0x1b, scope: 'corp.example' }, address: '127.0.0.1', port: target.port },
      ],
    });
    const r = await cli(
      ['netbios', 'connect', `127.0.0.1:${front.port}`, '--called', 'SRV<1B>', '--scope', 'corp.example', '--json'],
      'aa\n',
    );
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      { event: 'retarget', address: '127.0.0.1', port: target.port },
      {
        event: 'answer',
        answer: 'positive',
        remote: `127.0.0.1:${target.port}`,
        called: 'SRV<1b>.corp.example',
        calling: 'COLLOQUY<00>.corp.example',
      },
      { event: 'message', length: 1, hex: 'aa' },
      { event: 'closed' },
    ]);
  });

  it('--json: a negative answer', async () => {
    const s = await echoServer({ answer: () => ({ kind: 'refuse', errorCode: 0x83 }) });
    const r = await cli(['netbios', 'connect', `127.0.0.1:${s.port}`, '--called', 'X', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      event: 'answer',
      answer: 'negative',
      remote: `127.0.0.1:${s.port}`,
      errorCode: 0x83,
      errorCodeHex: '0x83',
      reason: 'called name present, but insufficient resources',
      called: 'X<20>',
      calling: 'COLLOQUY<00>',
    });
  });

  it('a connection refused is a failure (exit 1) with the system error', async () => {
    const s = await echoServer();
    const port = s.port;
    await s.close();
    servers.length = 0;
    const r = await cli(['netbios', 'connect', `127.0.0.1:${port}`, '--called', 'X']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^colloquy netbios: connect ECONNREFUSED/);
  });

  it('listen answers a listed called name positively, refuses others with 0x82, prints what arrives, stops on Ctrl-C', async () => {
    const stop = new AbortController();
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    const running = runCli(['netbios', 'listen', '--port', '0', '--name', 'FILESRV'], {
      signal: stop.signal,
      stdout,
      stderr: new PassThrough(),
    });
    // Probe for the address line (bounded by the test timeout).
    let port: number | undefined;
    for (let i = 0; i < 500 && port === undefined; i++) {
      const m = /^listening on 127\.0\.0\.1:(\d+)$/m.exec(out);
      if (m !== null) port = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 20));
    }
    expect(port).toBeGreaterThan(0);

    const ok = await cli(
      ['netbios', 'connect', `127.0.0.1:${port}`, '--called', 'filesrv', '--calling', 'ME', '--timeout', '5000'],
      '0102ff\n',
    );
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(
      `positive session response from 127.0.0.1:${port} (called FILESRV<20>, calling ME<00>)`,
    );
    const no = await cli(['netbios', 'connect', `127.0.0.1:${port}`, '--called', 'OTHER', '--timeout', '5000'], '');
    expect(no.code).toBe(1);
    expect(no.stdout).toBe(`negative session response from 127.0.0.1:${port}: 0x82 called name not present\n`);

    stop.abort();
    expect(await running).toBe(0);
    expect(out).toMatch(/^session request from 127\.0\.0\.1:\d+: called FILESRV<20>, calling ME<00>$/m);
    expect(out).toMatch(/^positive session response to 127\.0\.0\.1:\d+$/m);
    expect(out).toMatch(/^message from 127\.0\.0\.1:\d+: 0102ff$/m);
    expect(out).toMatch(/^session request from 127\.0\.0\.1:\d+: called OTHER<20>, calling COLLOQUY<00>$/m);
    expect(out).toMatch(/^negative session response to 127\.0\.0\.1:\d+: 0x82 called name not present$/m);
    expect(out.trimEnd().endsWith('stopped')).toBe(true);
  });
});
