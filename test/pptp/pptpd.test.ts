// Against Debian's pptpd on loopback, started here with a scratch configuration. pptpd always
// binds TCP 1723 (it has no port option): these tests use 127.0.0.1:1723 when it is free and say
// so when it is not. Without pptpd: skipped loudly outside CI, failed under CI=true.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPptp, describeProbe, probePptp } from '../../src/pptp/index.js';
import { portIsFree, pptpdInstalled, startPptpd, type Pptpd } from './pptpd.js';

const CI = process.env.CI === 'true' || process.env.CI === '1';
const installed = pptpdInstalled();
const free = await portIsFree(1723);
const available = installed && free;
if (!available) {
  const why = installed
    ? '127.0.0.1:1723 is in use (pptpd cannot bind another port)'
    : '/usr/sbin/pptpd is missing (Debian package pptpd)';
  console.warn(`\n*** ${CI ? 'FAILING' : 'SKIPPED'}: test/pptp/pptpd.test.ts: ${why}. ***\n`);
}

describe.runIf(!available && CI)('pptpd under CI', () => {
  it('is installed and can bind 127.0.0.1:1723', () => {
    expect.fail(
      installed ? '127.0.0.1:1723 is in use' : '/usr/sbin/pptpd is missing: .ci/run installs the Debian package pptpd',
    );
  });
});

describe.runIf(available)('against pptpd on 127.0.0.1:1723', () => {
  let pptpd: Pptpd;
  beforeAll(async () => {
    pptpd = await startPptpd();
  }, 30_000);
  afterAll(async () => {
    await pptpd?.stop();
  });

  it("the probe reads pptpd's host name and vendor, and stops cleanly", async () => {
    const result = await probePptp({ host: '127.0.0.1', port: pptpd.port });
    expect(describeProbe(result)).toEqual({
      peer: '127.0.0.1:1723',
      protocolVersion: '1.0',
      resultCode: 1,
      result: 'successful channel establishment',
      errorCode: 0,
      error: 'none',
      framingCapabilities: { value: 0, names: [] },
      bearerCapabilities: { value: 0, names: [] },
      maximumChannels: 1,
      firmwareRevision: 1,
      hostName: 'local',
      vendor: 'linux',
      stop: { resultCode: 1, result: 'OK', errorCode: 0 },
    });
  });

  it('echo round trips keep their identifiers', async () => {
    const conn = await connectPptp({ host: '127.0.0.1', port: pptpd.port });
    for (const identifier of [1, 0xdeadbeef, 42]) {
      expect(await conn.echo({ identifier })).toEqual({ type: 'ECHO_REPLY', identifier, resultCode: 1, errorCode: 0 });
    }
    expect(await conn.stop()).toEqual({ type: 'STOP_CONTROL_CONNECTION_REPLY', resultCode: 1, errorCode: 0 });
    expect(conn.closed).toBe(true);
  });

  it('answers an outgoing call (its pppd is /bin/false, so it then hangs up)', async () => {
    const conn = await connectPptp({ host: '127.0.0.1', port: pptpd.port });
    const reply = await conn.outgoingCall({ callId: 7 });
    expect(reply).toMatchObject({ type: 'OUTGOING_CALL_REPLY', peerCallId: 7, resultCode: 1, errorCode: 0 });
    await conn.whenClosed();
  });

  it('`colloquy pptp probe` prints the host name and vendor (the real executable)', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const run = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', 'src/cli/main.ts', 'pptp', 'probe', ...args],
          { cwd: root, timeout: 30_000 },
          (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr }),
        );
      });
    // One after the other: pptpd serves each control connection from a forked child, and two
    // at the same instant made it turn one away now and then on a loaded machine.
    const text = await run('127.0.0.1');
    const json = await run('127.0.0.1:1723', '--json');
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^host name\s+"local"$/m);
    expect(text.stdout).toMatch(/^vendor\s+"linux"$/m);
    expect(text.stdout).toMatch(/^protocol version\s+1\.0$/m);
    expect(text.stdout).toMatch(/^stopped\s+1 \(OK\)$/m);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      hostName: 'local',
      vendor: 'linux',
      maximumChannels: 1,
      firmwareRevision: 1,
      stop: { resultCode: 1 },
    });
  });
});
