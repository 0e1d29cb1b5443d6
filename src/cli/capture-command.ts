// `colloquy capture PROTOCOL FILE.pcap`: runs a whole exchange between two of our own endpoints
// over an in-memory link and writes every frame to a pcap file (Ethernet link type), so anyone can
// open it in Wireshark or read it with tshark and tcpdump.
//
// One row of CAPTURES per protocol: a summary for the help text and a function that runs the
// exchange and returns the frames. Adding a protocol is one line here (its exchange lives in its
// own folder, as src/decnet/capture.ts does).

import { writeFile } from 'node:fs/promises';
import { parseOrUsage, UsageError } from './args.js';
import type { Command, CommandContext } from './commands.js';
import { appletalkExchange } from '../appletalk/capture.js';
import { decnetExchange } from '../decnet/capture.js';
import { pcapFile, type CapturedFrame } from '../util/pcap.js';

export interface CaptureScenario {
  /** One line for the help text: what the exchange shows. */
  readonly summary: string;
  /** Runs the exchange; `start` is the first timestamp (ms since the epoch). */
  run(start: number): { readonly frames: readonly CapturedFrame[] };
}

export const CAPTURES: Readonly<Record<string, CaptureScenario>> = {
  decnet: {
    summary: 'DECnet Phase IV: NSP connect with access control, data both ways, interrupts, link service, disconnect',
    run: decnetExchange,
  },
  appletalk: {
    summary:
      'AppleTalk: ZIP lookups (DDP and ATP), an ASP session with commands, a write, an attention, tickles, close',
    run: appletalkExchange,
  },
};

const help = (): string => `Usage: colloquy capture PROTOCOL FILE.pcap [--json]

Runs a whole exchange between two Colloquy endpoints over an in-memory link and writes every
frame to FILE.pcap (libpcap format, Ethernet link type), then prints one line per frame.
Open the file in Wireshark, or check it with tshark -r FILE.pcap -V and tcpdump -r FILE.pcap -vv.

Protocols:
${Object.entries(CAPTURES)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Options:
  --json        print one JSON object: the file, the frame count and each frame's length
  -h, --help    show this help

Exit codes: 0 the file was written; 1 the exchange or the write failed; 2 usage error.
`;

const options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

async function run(args: readonly string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseOrUsage({ args: [...args], options, allowPositionals: true, strict: true });
  if (values.help) {
    ctx.stdout.write(help());
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError('expected PROTOCOL FILE.pcap');
  const [protocol, file] = positionals as [string, string];
  const scenario = CAPTURES[protocol];
  if (scenario === undefined)
    throw new UsageError(`unknown protocol '${protocol}': one of ${Object.keys(CAPTURES).join(', ')}`);
  const { frames } = scenario.run(Date.now());
  await writeFile(file, pcapFile(frames), { signal: ctx.signal });
  if (values.json) {
    ctx.stdout.write(`${JSON.stringify({ file, protocol, frames: frames.map((f) => f.data.length) })}\n`);
  } else {
    ctx.stdout.write(`wrote ${frames.length} frames to ${file}\n`);
  }
  return 0;
}

export const captureCommand: Command = {
  name: 'capture',
  summary: 'run an exchange between two endpoints in memory and write its frames to a pcap file',
  run,
};
