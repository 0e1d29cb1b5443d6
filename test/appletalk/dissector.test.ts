// The hand-written fixtures of cases.ts (and an LLAP frame with the short header) read by an
// independent decoder: Wireshark's atalk dissectors through tshark. Every frame must be DDP with
// the field values written in the fixture, and nothing may be malformed or carry an expert note.
//
// Needs tshark (.ci/run installs it). Without it the test is skipped with a notice, unless CI is
// set: then it runs and fails.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeAtp, encodeLlap } from '../../src/appletalk/index.js';
import { pcapFile } from '../../src/util/pcap.js';
import { FIXTURES, hex } from './cases.js';

const HAVE = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
const RUN = HAVE || !!process.env.CI;
if (!RUN)
  console.warn(
    '\n*** test/appletalk/dissector.test.ts SKIPPED: tshark is not installed (apt-get install tshark). Under CI=true it runs and fails instead. ***\n',
  );

const dir = mkdtempSync(join(tmpdir(), 'colloquy-atalk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tshark = (file: string, ...args: string[]): string => {
  const r = spawnSync('tshark', ['-r', file, ...args], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
};

describe.skipIf(!RUN)('tshark reads the hand-written fixtures', () => {
  const file = join(dir, 'fixtures.pcap');
  writeFileSync(file, pcapFile(FIXTURES.map((f, i) => ({ at: i, data: f.wire }))));

  it("every frame is DDP with the fixture's header fields; nothing malformed", () => {
    const fields = [
      'llc.apple_atalk_pid',
      'ddp.hopcount',
      'ddp.len',
      'ddp.checksum',
      'ddp.dst.net',
      'ddp.dst.node',
      'ddp.dst_socket',
      'ddp.src.net',
      'ddp.src.node',
      'ddp.src_socket',
      'ddp.type',
    ];
    const rows = tshark(file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f]))
      .trimEnd()
      .split('\n');
    expect(rows).toHaveLength(FIXTURES.length);
    FIXTURES.forEach(({ frame: { ddp: d }, wire }, i) => {
      const sum = (wire[24]! << 8) | wire[25]!;
      expect(rows[i], FIXTURES[i]!.name).toBe(
        [
          '0x809b',
          d.hops,
          13 + d.data.length,
          sum,
          d.destination.network,
          d.destination.node,
          d.destination.socket,
          d.source.network,
          d.source.node,
          d.source.socket,
          d.type,
        ].join('|'),
      );
    });
    expect(tshark(file, '-V')).not.toMatch(/Malformed|Expert Info|Exception/i);
  });

  it('ATP, ZIP and ASP fields as the fixtures wrote them', () => {
    const fields = [
      'atp.function',
      'atp.xo',
      'atp.eom',
      'atp.sts',
      'atp.bitmap',
      'atp.tid',
      'zip.function',
      'zip.atp_function',
      'asp.function',
    ];
    const rows = tshark(file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f]))
      .trimEnd()
      .split('\n');
    FIXTURES.forEach(({ name, frame: { ddp: d } }, i) => {
      const cols = rows[i]!.split('|');
      if (d.type === 3) {
        const p = decodeAtp(d.data);
        expect(cols.slice(0, 6), name).toEqual([
          String({ TReq: 1, TResp: 2, TRel: 3 }[p.fn]),
          p.xo ? '1' : '0',
          p.eom ? '1' : '0',
          p.sts ? '1' : '0',
          `0x${p.bitmap.toString(16).padStart(2, '0')}`,
          String(p.tid),
        ]);
      } else expect(cols[0], name).toBe('');
      if (d.type === 6) expect(cols[6], name).toBe(String(d.data[0]));
    });
    const out = tshark(file, '-V');
    for (const line of [
      'Zone: Colloquy',
      'Network start: 1000',
      'Network end: 1009',
      '..1. .... = Only one zone: True',
      'Function: GetZoneList (8)',
      'Start index: 1',
      'Last Flag: True',
      'asp function: OpenSession (4)',
      'Version: 0x0100',
      'Socket: 129',
      'asp function: Tickle (5)',
      'Hop count: 3',
    ])
      expect(out).toContain(line);
  });

  it('an LLAP frame with the short header (link type LocalTalk, 114)', () => {
    const llap = join(dir, 'llap.pcap');
    const frame = encodeLlap({
      destinationNode: 0x14,
      sourceNode: 0x0a,
      type: 1,
      ddp: { destinationSocket: 6, sourceSocket: 6, type: 6, data: hex('01 01 03e8') },
    });
    writeFileSync(llap, pcapFile([{ at: 0, data: frame }], 114));
    const row = tshark(
      llap,
      '-T',
      'fields',
      '-E',
      'separator=|',
      '-e',
      'llap.type',
      '-e',
      'ddp.len',
      '-e',
      'ddp.dst_socket',
      '-e',
      'zip.function',
      '-e',
      'zip.network',
    );
    expect(row.trim()).toBe('0x01|9|6|1|1000');
    expect(tshark(llap, '-V')).not.toMatch(/Malformed|Expert Info|Exception/i);
  });
});
