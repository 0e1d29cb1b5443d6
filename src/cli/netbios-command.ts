// `colloquy netbios connect HOST[:PORT] --called NAME`: an `openssl s_client` for the NetBIOS
// session service. Prints the answer to the session request, then sends each hex line of stdin
// as a SESSION MESSAGE and prints each message received as a hex line. EOF on stdin closes the
// session; the command ends when the connection is over.
//
// `colloquy netbios listen [--name NAME ...]`: the called side (server.ts). Prints each session
// request and its answer, and each message received, until Ctrl-C.
//
// Bad arguments throw UsageError (exit 2) from args.ts. This command lives in src/cli/, above
// src/netbios/, so the protocol folder imports nothing of the CLI.

import { createInterface } from 'node:readline';
import { ExitCode, parseHostPort, parseOrUsage, UsageError } from './args.js';
import type { Command, CommandContext } from './commands.js';
import { toHex } from '../engine/bytes.js';
import { connectNetbios } from '../netbios/client.js';
import { decideByName, listenNetbios } from '../netbios/server.js';
import { NetbiosError } from '../netbios/errors.js';
import { formatNetbiosName, parseNetbiosName } from '../netbios/names.js';
import { MAX_MESSAGE_SIZE, negativeReason, NETBIOS_SESSION_PORT } from '../netbios/packets.js';
import type { NetbiosSession, RetargetHop } from '../netbios/session.js';

const HELP = `Usage: colloquy netbios connect HOST[:PORT] --called NAME [options]
       colloquy netbios listen [--host H] [--port P] [--name NAME ...] [--json]

Opens a NetBIOS session (RFC 1002 section 4.3; TCP port ${NETBIOS_SESSION_PORT} by default): sends a
SESSION REQUEST and prints the answer (positive; negative with its error code; the retargets
followed on the way). Then each hex line read from stdin goes out as one SESSION MESSAGE, and
each message received is printed as one hex line. EOF on stdin closes the session: replies
still on their way are printed until the peer closes its side (within --timeout).

Names are written NAME, NAME<20> or NAME#20 (the 16th octet in hex) and upper-cased; '*' alone
is the wildcard (* and 15 NULs).

Options:
  --called NAME        the name called (suffix 20 unless given), e.g. '*SMBSERVER'
  --calling NAME       this side's name (suffix 00 unless given; default COLLOQUY<00>)
  --scope SCOPE        NetBIOS scope of both names, e.g. example.com (default: none)
  --max-retargets N    retarget responses to follow (default 4)
  --timeout MS         time allowed for each answer, and for the peer to close after EOF,
                       in ms (default 10000)
  --json               print one JSON object per line
  -h, --help           show this help

listen accepts TCP connections on --host (default 127.0.0.1) and --port (default ${NETBIOS_SESSION_PORT}; 0 picks
a free port) and prints the address it listens on. A session request calling one of the --name
names (repeatable; suffix 20 unless given) gets a POSITIVE SESSION RESPONSE, any other called
name a NEGATIVE one with code 0x82 (called name not present); without --name every called name
is accepted, as Samba does. Each request, its answer and each message received (as hex) is
printed, until Ctrl-C closes the listener and its sessions. Anyone who can reach the port may
open a session: keep the default loopback host unless you mean to serve others.

  colloquy netbios listen --port 0 --name FILESRV
  colloquy netbios connect 127.0.0.1:1139 --called FILESRV --timeout 2000

Exit codes: 0 the session ended cleanly (listen: stopped by Ctrl-C); 1 refused or failed;
2 usage error; 130 connect interrupted.
`;

const options = {
  called: { type: 'string' },
  calling: { type: 'string' },
  scope: { type: 'string' },
  'max-retargets': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function positiveInt(text: string | undefined, name: string, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}`);
  return n;
}

function parseName(text: string, suffix: number, scope: string, option: string) {
  try {
    return parseNetbiosName(text, suffix, scope);
  } catch (error) {
    throw new UsageError(`--${option}: ${(error as Error).message}`);
  }
}

/** Hex digits with any whitespace; undefined if the line is not hex. */
function parseHexLine(line: string): Uint8Array | undefined {
  const digits = line.replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) return undefined;
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

async function connect(args: readonly string[], ctx: CommandContext): Promise<number> {
  const parsed = parseOrUsage({ args: [...args], options, allowPositionals: true, strict: true });
  const { values, positionals } = parsed;
  if (values.help) {
    ctx.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one HOST[:PORT]');
  if (values.called === undefined) throw new UsageError('--called NAME is required');
  const { host, port } = parseHostPort(positionals[0] as string, NETBIOS_SESSION_PORT);
  const scope = values.scope ?? '';
  const called = parseName(values.called, 0x20, scope, 'called');
  const calling = parseName(values.calling ?? 'COLLOQUY', 0x00, scope, 'calling');
  const maxRetargets = positiveInt(values['max-retargets'], 'max-retargets', 4, 0);
  const timeoutMs = positiveInt(values.timeout, 'timeout', 10_000, 1);
  const json = values.json === true;
  const out = (text: string, record: Record<string, unknown>): void => {
    ctx.stdout.write(json ? `${JSON.stringify(record)}\n` : `${text}\n`);
  };
  const printHops = (hops: readonly RetargetHop[]): void => {
    for (const hop of hops)
      out(`retarget session response: go to ${hop.address}:${hop.port}`, {
        event: 'retarget',
        address: hop.address,
        port: hop.port,
      });
  };
  const names = { called: formatNetbiosName(called), calling: formatNetbiosName(calling) };

  let session: NetbiosSession;
  try {
    session = await connectNetbios({ host, port, called, calling, maxRetargets, timeoutMs, signal: ctx.signal });
  } catch (error) {
    if (error instanceof NetbiosError && error.code === 'ERR_NETBIOS_REFUSED') {
      const { errorCode, reason, hops, remote } = error.details as {
        errorCode: number;
        reason: string;
        hops: RetargetHop[];
        remote: string;
      };
      printHops(hops);
      const code = `0x${errorCode.toString(16).padStart(2, '0')}`;
      out(`negative session response from ${remote}: ${code} ${reason}`, {
        event: 'answer',
        answer: 'negative',
        remote,
        errorCode,
        errorCodeHex: code,
        reason,
        ...names,
      });
      return 1;
    }
    throw error;
  }
  printHops(session.retargets);
  out(`positive session response from ${session.remoteAddress} (called ${names.called}, calling ${names.calling})`, {
    event: 'answer',
    answer: 'positive',
    remote: session.remoteAddress,
    ...names,
  });

  const onAbort = (): void => session.destroy();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const lines = ctx.stdin === undefined ? undefined : createInterface({ input: ctx.stdin, crlfDelay: Infinity });
  let failure: unknown;
  const receiving = (async () => {
    try {
      for await (const data of session) out(toHex(data), { event: 'message', length: data.length, hex: toHex(data) });
    } catch (error) {
      failure = error;
    } finally {
      // The connection is over: stop reading stdin.
      lines?.close();
    }
  })();
  if (lines !== undefined) {
    for await (const line of lines) {
      if (session.closed) break;
      if (line.trim() === '') continue;
      const data = parseHexLine(line);
      if (data === undefined || data.length > MAX_MESSAGE_SIZE) {
        ctx.stderr.write(`colloquy netbios: skipped a line that is not hex of at most ${MAX_MESSAGE_SIZE} octets\n`);
        continue;
      }
      await session.send(data, { signal: ctx.signal });
    }
  }
  // A peer that never closes its side is cut after --timeout.
  const cut = setTimeout(() => session.destroy(), timeoutMs);
  await session.close();
  clearTimeout(cut);
  await receiving;
  ctx.signal.removeEventListener('abort', onAbort);
  if (failure !== undefined && !ctx.signal.aborted) {
    ctx.stderr.write(
      `colloquy netbios: ${(failure as Error).message}${typeof (failure as { code?: unknown }).code === 'string' ? ` (${(failure as { code: string }).code})` : ''}\n`,
    );
    return 1;
  }
  if (ctx.signal.aborted) return ExitCode.interrupted;
  out('session closed', { event: 'closed' });
  return 0;
}

const listenOptions = {
  host: { type: 'string' },
  port: { type: 'string' },
  name: { type: 'string', multiple: true },
  scope: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function listen(args: readonly string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseOrUsage({
    args: [...args],
    options: listenOptions,
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    ctx.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const port = positiveInt(values.port, 'port', NETBIOS_SESSION_PORT, 0);
  if (port > 65535) throw new UsageError('--port must be in 0..65535');
  const scope = values.scope ?? '';
  const names = values.name?.map((n) => parseName(n, 0x20, scope, 'name'));
  const json = values.json === true;
  const out = (text: string, record: Record<string, unknown>): void => {
    ctx.stdout.write(json ? `${JSON.stringify(record)}\n` : `${text}\n`);
  };
  const decide = decideByName(names, []);
  const sessions = new Set<NetbiosSession>();
  const server = await listenNetbios({
    host: values.host ?? '127.0.0.1',
    port,
    answer: (request) => {
      const decision = decide(request);
      const called = formatNetbiosName(request.called);
      const calling = formatNetbiosName(request.calling);
      const remote = request.remoteAddress;
      out(`session request from ${remote}: called ${called}, calling ${calling}`, {
        event: 'request',
        remote,
        called,
        calling,
      });
      if (decision.kind === 'accept') {
        out(`positive session response to ${remote}`, { event: 'answer', answer: 'positive', remote, called, calling });
      } else if (decision.kind === 'refuse') {
        const code = `0x${decision.errorCode.toString(16).padStart(2, '0')}`;
        const reason = negativeReason(decision.errorCode);
        out(`negative session response to ${remote}: ${code} ${reason}`, {
          event: 'answer',
          answer: 'negative',
          remote,
          errorCode: decision.errorCode,
          errorCodeHex: code,
          reason,
          called,
          calling,
        });
      }
      return decision;
    },
    onSession: (session) => {
      sessions.add(session);
      const remote = session.remoteAddress;
      void (async () => {
        try {
          for await (const data of session)
            out(`message from ${remote}: ${toHex(data)}`, {
              event: 'message',
              remote,
              length: data.length,
              hex: toHex(data),
            });
          await session.close();
          out(`session with ${remote} closed`, { event: 'closed', remote });
        } catch (error) {
          if (!ctx.signal.aborted)
            out(`session with ${remote} failed: ${(error as Error).message}`, {
              event: 'failed',
              remote,
              message: (error as Error).message,
              code: (error as { code?: unknown }).code,
            });
        } finally {
          sessions.delete(session);
        }
      })();
    },
    onError: (error, remote) => ctx.stderr.write(`colloquy netbios: ${remote}: ${error.message}\n`),
  });
  out(`listening on ${server.address}`, { event: 'listening', local: server.address, port: server.port });
  if (!ctx.signal.aborted)
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  await server.close();
  for (const session of sessions) session.destroy();
  out('stopped', { event: 'stopped' });
  return 0;
}

export const netbiosCommand: Command = {
  name: 'netbios',
  summary: 'open or accept NetBIOS sessions (RFC 1002) and exchange hex session messages',
  // listen stops on Ctrl-C (exit 0); connect returns 130 itself when interrupted.
  stopsOnInterrupt: true,
  async run(args, ctx) {
    const [sub, ...rest] = args;
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      ctx.stdout.write(HELP);
      return 0;
    }
    if (sub === 'listen') return listen(rest, ctx);
    if (sub !== 'connect')
      throw new UsageError(
        sub === undefined
          ? 'expected a subcommand: connect or listen'
          : `unknown subcommand '${sub}' (expected connect or listen)`,
      );
    return connect(rest, ctx);
  },
};
