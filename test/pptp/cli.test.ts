// `colloquy pptp` in-process through the dispatcher, against the mock PAC.
// (test/pptp/pptpd.test.ts runs the real executable against pptpd.)

import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { GOOD_SCCRP, goodPac, mockPeer, type MockPeer, type Script } from './mock-peer.js';

const peers: MockPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function peer(script?: Script): Promise<MockPeer> {
  const p = await mockPeer(script);
  peers.push(p);
  return p;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runCli(args, { signal: new AbortController().signal, stdout, stderr });
  return { code, stdout: out, stderr: err };
}

describe('colloquy pptp', () => {
  it('is listed in the help, and --help explains probe', async () => {
    expect((await cli(['--help'])).stdout).toMatch(/^\s+pptp\s+probe a PPTP server/m);
    for (const args of [
      ['pptp', '--help'],
      ['help', 'pptp'],
      ['pptp', 'probe', '--help'],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: colloquy pptp probe HOST[:PORT]');
    }
  });

  it.each([
    [['pptp'], /expected a subcommand: probe/],
    [['pptp', 'connect', 'h'], /unknown subcommand 'connect'/],
    [['pptp', 'probe'], /expected one HOST\[:PORT\]/],
    [['pptp', 'probe', 'h:0'], /port 0 is not in 1..65535/],
    [['pptp', 'probe', 'h', '--host-name', 'x'.repeat(65)], /--host-name takes at most 64 octets/],
    [['pptp', 'probe', 'h', '--timeout', 'soon'], /--timeout must be an integer/],
    [['pptp', 'probe', 'h', '--bogus'], /Unknown option '--bogus'/],
  ])('usage error: %j', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("Run 'colloquy help pptp' for usage.");
  });

  it('prints what the peer says about itself, then that it stopped', async () => {
    const p = await peer();
    const r = await cli(['pptp', 'probe', `127.0.0.1:${p.port}`, '--host-name', 'me', '--vendor', 'us']);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        `peer              127.0.0.1:${p.port}`,
        'protocol version  1.0',
        'result            1 (successful channel establishment)',
        'framing           0x00000003 (asynchronous, synchronous)',
        'bearer            0x00000001 (analog)',
        'maximum channels  42',
        'firmware revision 515 (0x0203)',
        'host name         "mock-pac"',
        'vendor            "Colloquy tests"',
        'stopped           1 (OK)',
        '',
      ].join('\n'),
    });
    expect(p.connections[0]!.received[0]).toMatchObject({ hostName: 'me', vendor: 'us' });
  });

  it('--json prints one object', async () => {
    const p = await peer();
    const r = await cli(['pptp', 'probe', `127.0.0.1:${p.port}`, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      protocolVersion: '1.0',
      hostName: 'mock-pac',
      vendor: 'Colloquy tests',
      maximumChannels: 42,
      stop: { resultCode: 1 },
    });
  });

  it('a refusal is printed, and the exit code is 1', async () => {
    const p = await peer((m, conn) => {
      if (m.type === 'START_CONTROL_CONNECTION_REQUEST') conn.send({ ...GOOD_SCCRP, resultCode: 3 });
      else goodPac(m, conn);
    });
    const r = await cli(['pptp', 'probe', `127.0.0.1:${p.port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^result\s+3 \(command channel already exists\)$/m);
    expect(r.stdout).toMatch(/^stopped\s+no \(refused: the peer closes\)$/m);
  });

  it('a malformed reply is a failure with its code on stderr', async () => {
    const p = await peer((m, conn) => conn.send(Uint8Array.from('SSH-2.0-OpenSSH_9.2\r\n', (c) => c.charCodeAt(0))));
    const r = await cli(['pptp', 'probe', `127.0.0.1:${p.port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^colloquy pptp: PPTP: Length 21331 exceeds the longest control message \(220 octets\) \(ERR_FRAME_TOO_LARGE/,
    );
  });

  it('a silent peer times out (--timeout)', async () => {
    const p = await peer(() => {});
    const r = await cli(['pptp', 'probe', `127.0.0.1:${p.port}`, '--timeout', '50']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no START_CONTROL_CONNECTION_REPLY from 127\.0\.0\.1:\d+ within 50 ms \(ERR_PPTP_TIMEOUT/);
  });
});
