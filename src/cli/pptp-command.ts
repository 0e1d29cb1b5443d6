// `colloquy pptp probe HOST[:PORT]`: open a PPTP control connection, print what the peer says
// about itself (protocol version, framing and bearer capabilities, maximum channels, firmware
// revision, host name, vendor), then stop the connection cleanly.
//
// Bad arguments throw UsageError (exit 2) from args.ts. This command lives in src/cli/, above
// src/pptp/, so the protocol folder imports nothing of the CLI.

import { parseHostPort, parseOrUsage, UsageError } from './args.js';
import type { Command, CommandContext } from './commands.js';
import { PPTP_PORT } from '../pptp/messages.js';
import { describeProbe, probePptp } from '../pptp/probe.js';

const HELP = `Usage: colloquy pptp probe HOST[:PORT] [options]

Opens a PPTP control connection (RFC 2637; TCP port ${PPTP_PORT} by default), sends a
Start-Control-Connection-Request and prints the peer's reply: protocol version, result,
framing and bearer capabilities, maximum channels, firmware revision, host name and vendor.
Then it stops the connection cleanly (Stop-Control-Connection-Request / -Reply) and closes it.
No call is placed and no tunnel is built.

Options:
  --host-name NAME     our Host Name in the request (default colloquy)
  --vendor TEXT        our Vendor String in the request (default colloquy)
  --timeout MS         time allowed for each reply, in ms (default 10000)
  --json               print one JSON object
  -h, --help           show this help

Exit codes: 0 the peer accepted and the connection was stopped cleanly; 1 refused or failed;
2 usage error.
`;

const options = {
  'host-name': { type: 'string' },
  vendor: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function text64(value: string | undefined, option: string): string | undefined {
  const bad =
    value !== undefined &&
    (value.length > 64 || [...value].some((c) => c.charCodeAt(0) === 0 || c.charCodeAt(0) > 0xff));
  if (bad) throw new UsageError(`--${option} takes at most 64 octets (characters U+0001..U+00FF)`);
  return value;
}

async function probe(args: readonly string[], ctx: CommandContext): Promise<number> {
  const parsed = parseOrUsage({ args: [...args], options, allowPositionals: true, strict: true });
  const { values, positionals } = parsed;
  if (values.help) {
    ctx.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one HOST[:PORT]');
  const { host, port } = parseHostPort(positionals[0] as string, PPTP_PORT);
  const timeout = values.timeout;
  if (timeout !== undefined && (!/^\d+$/.test(timeout) || Number(timeout) < 1))
    throw new UsageError('--timeout must be an integer >= 1');
  const result = await probePptp({
    host,
    port,
    signal: ctx.signal,
    hostName: text64(values['host-name'], 'host-name'),
    vendor: text64(values.vendor, 'vendor'),
    timeoutMs: timeout === undefined ? undefined : Number(timeout),
  });
  const d = describeProbe(result);
  if (values.json) {
    ctx.stdout.write(`${JSON.stringify(d)}\n`);
  } else {
    const caps = (c: { value: number; names: readonly string[] }): string =>
      `0x${c.value.toString(16).padStart(8, '0')} (${c.names.length === 0 ? 'none' : c.names.join(', ')})`;
    const rows: Array<[string, string]> = [
      ['peer', d.peer],
      ['protocol version', d.protocolVersion],
      ['result', `${d.resultCode} (${d.result})${d.resultCode === 2 ? `, error ${d.errorCode} (${d.error})` : ''}`],
      ['framing', caps(d.framingCapabilities)],
      ['bearer', caps(d.bearerCapabilities)],
      ['maximum channels', String(d.maximumChannels)],
      ['firmware revision', `${d.firmwareRevision} (0x${d.firmwareRevision.toString(16).padStart(4, '0')})`],
      ['host name', JSON.stringify(d.hostName)],
      ['vendor', JSON.stringify(d.vendor)],
      ['stopped', d.stop === null ? 'no (refused: the peer closes)' : `${d.stop.resultCode} (${d.stop.result})`],
    ];
    for (const [k, v] of rows) ctx.stdout.write(`${k.padEnd(18)}${v}\n`);
  }
  return result.stop === undefined ? 1 : 0;
}

export const pptpCommand: Command = {
  name: 'pptp',
  summary: 'probe a PPTP server (RFC 2637 control connection)',
  async run(args, ctx) {
    const [sub, ...rest] = args;
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      ctx.stdout.write(HELP);
      return 0;
    }
    if (sub !== 'probe')
      throw new UsageError(
        sub === undefined ? 'expected a subcommand: probe' : `unknown subcommand '${sub}' (expected probe)`,
      );
    return probe(rest, ctx);
  },
};
