// The progress bar of `colloquy get`/`put` on a virtual clock: percentage, bytes, rate over the
// last seconds, ETA, redraws throttled to ten a second, and a final newline.

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../src/cli/files-command.js';

const MiB = 1024 * 1024;

function sink(): { out: Writable; text(): string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { out, text: () => text };
}

describe('ProgressBar', () => {
  it('shows percentage, bytes, rate and ETA, redraws at most every 100 ms, ends its line', async () => {
    let now = 0;
    const s = sink();
    const bar = new ProgressBar(s.out, 'get big.bin', () => now);
    bar.update({ transferred: 0, total: 50 * MiB, resumedFrom: 0 });
    now = 1000;
    bar.update({ transferred: 10 * MiB, total: 50 * MiB, resumedFrom: 0 });
    expect(bar.line({ transferred: 10 * MiB, total: 50 * MiB, resumedFrom: 0 })).toBe(
      'get big.bin [#####...................]  20% 10.0 MiB/50.0 MiB 10.0 MiB/s ETA 0:04',
    );
    now = 1050; // within 100 ms of the last draw: not drawn
    bar.update({ transferred: 11 * MiB, total: 50 * MiB, resumedFrom: 0 });
    now = 2000;
    bar.update({ transferred: 50 * MiB, total: 50 * MiB, resumedFrom: 0 }, true);
    bar.finish();
    await new Promise((r) => setImmediate(r));
    const frames = s.text().split('\r').filter(Boolean);
    expect(frames).toHaveLength(3);
    expect(frames[2]).toBe(`get big.bin [${'#'.repeat(24)}] 100% 50.0 MiB/50.0 MiB 25.0 MiB/s ETA 0:00\u001b[K\n`);
  });

  it('an empty file is 100% at once and a stalled transfer has no ETA', () => {
    const bar = new ProgressBar(sink().out, 'put empty', () => 0);
    expect(bar.line({ transferred: 0, total: 0, resumedFrom: 0 })).toMatch(/100% 0 B\/0 B --\/s ETA 0:00$/);
    expect(bar.line({ transferred: 0, total: 10, resumedFrom: 0 })).toMatch(/ETA --:--$/);
  });

  it('after a resume the first burst shows no rate (not gigabytes per second); a rate once half a second has passed', () => {
    let now = 0;
    const bar = new ProgressBar(sink().out, 'get big.bin', () => now);
    const at = (transferred: number) => ({ transferred, total: 100 * MiB, resumedFrom: 40 * MiB });
    bar.update(at(40 * MiB));
    now = 1;
    bar.update(at(40 * MiB + 64 * 1024));
    expect(bar.line(at(40 * MiB + 64 * 1024))).toMatch(/ --\/s ETA --:--$/);
    now = 1000;
    bar.update(at(50 * MiB));
    expect(bar.line(at(50 * MiB))).toMatch(/ 10\.0 MiB\/s ETA 0:05$/);
  });
});
