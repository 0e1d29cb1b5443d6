// `colloquy iso connect|listen`: an `openssl s_client` / `s_server` for ISO 8327 sessions.
//
//   connect: TCP, COTP CR/CC, CN -> prints the peer's answer (AC, RF or AB: version, units,
//            tokens, reason, user data as hex); then each hex line of stdin goes out as DT user
//            data and received user data prints as hex lines; EOF releases the session.
//   listen:  accepts sessions and prints what arrives (CN, data, sync points, release, abort);
//            --echo sends data back. Runs until Ctrl-C.
// Text output puts received data alone on its line (plain hex, for pipes); everything else
// starts with '<' (connect) or '[n]' (listen). --json prints one JSON object per line; the
// records and their two forms are ./iso-format.ts.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { toHex } from '../engine/bytes.js';
import { Unit } from '../engine/frames.js';
import type { UnitName } from '../engine/frames.js';
import { ExitCode, UsageError } from './args.js';
import type { Command, CommandContext } from './commands.js';
import { Printer, ccRecord, describeSpdu, eventRecord, hex } from './iso-format.js';
import { parseHex } from '../iso/octets.js';
import type { Spdu } from '../iso/spdu.js';
import { connectIso, ISO_DEFAULT_PORT, listenIso, parseIsoAddress } from '../iso/runtime.js';
import type { IsoConnectOptions, IsoSession } from '../iso/runtime.js';
import type {} from '../driver/errors.js';

const HELP = `Usage: colloquy iso connect HOST[:PORT] [options]
       colloquy iso listen [--port N] [options]

ISO 8327 / X.225 sessions over RFC 1006 (TPKT) and ISO 8073 class 0 (COTP). Port ${ISO_DEFAULT_PORT} by default.

connect prints the peer's answer to the CN (AC, RF or AB: version, units, tokens, reason, user
data as hex), then sends each hex line read from stdin as DT user data and prints received user
data as hex lines. End of input releases the session (FN/DN). When the handshake fails it prints
what came back (the CC, then the RF or AB) or, when nothing did, how the connection ended
(e.g. "< closed ... the peer closed the transport connection after our CN ...").

listen accepts sessions and prints what arrives, one line per SPDU or event, until Ctrl-C.

Options:
  --called-tsap HEX    COTP called TSAP (connect: sent; listen: the only one accepted). Default 0001
  --calling-tsap HEX   COTP calling TSAP (connect). Default 0001
  --called-ssel HEX    session selector (connect: sent; listen: the only one accepted). Default 0001
  --calling-ssel HEX   calling session selector (connect). Default 0001
  --user-data HEX      user data of the CN (connect) or of the AC (listen)
  --release-data HEX   connect: user data of the FN sent at end of input (e.g. an ACSE RLRQ)
  --units LIST         functional units, comma-separated: ${Object.keys(Unit)
    .filter((u) => u !== 'duplex' && u !== 'halfDuplex')
    .join(', ')}.
                       Default none (kernel and duplex, as MMS peers use)
  --half-duplex        half duplex (data token) instead of duplex
  --versions LIST      X.225 versions offered or supported: 1, 2 or 1,2 (default 1,2)
  --libiec61850        libiec61850 compatibility: version 2 only, one-octet lengths (connect:
                       give --user-data, the presentation CP the server expects)
  --tpdu-size N        largest TPDU, 128..8192, a power of two (default 8192)
  --timeout MS         handshake timeout (default 10000)
  --host H             listen: address to bind (default 127.0.0.1)
  --port N             listen: port to bind, 0 for any free one (default ${ISO_DEFAULT_PORT})
  --echo               listen: send received data back
  --json               one JSON object per line
  -h, --help           show this help

Exit codes: 0 connect: the session was released; 1 the session failed (refused, aborted,
lost); 2 usage error; 130 interrupted by Ctrl-C (the way listen stops).
`;

/** How long `connect` waits at end of input for the peer to hand over the tokens a release needs. */
const RELEASE_TOKEN_WAIT_MS = 5000;

const OPTIONS = {
  'called-tsap': { type: 'string' },
  'calling-tsap': { type: 'string' },
  'called-ssel': { type: 'string' },
  'calling-ssel': { type: 'string' },
  'user-data': { type: 'string' },
  'release-data': { type: 'string' },
  units: { type: 'string' },
  'half-duplex': { type: 'boolean' },
  versions: { type: 'string' },
  libiec61850: { type: 'boolean' },
  'tpdu-size': { type: 'string' },
  timeout: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  echo: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.replace(/\. To specify.*$/s, '') : String(e));
  }
}

function hexOption(v: Values, name: keyof Values): Uint8Array | undefined {
  const text = v[name];
  if (typeof text !== 'string') return undefined;
  try {
    return parseHex(text);
  } catch {
    throw new UsageError(`--${name} takes hex, not '${text}'`);
  }
}

function intOption(v: Values, name: keyof Values, min: number, max: number): number | undefined {
  const text = v[name];
  if (typeof text !== 'string') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} takes an integer from ${min} to ${max}, not '${text}'`);
  return n;
}

function profile(v: Values): IsoConnectOptions {
  const units = (v.units ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const u of units)
    if (!(u in Unit) || u === 'duplex' || u === 'halfDuplex')
      throw new UsageError(`unknown functional unit '${u}' (see --help)`);
  const versions = (v.versions ?? (v.libiec61850 ? '2' : '1,2')).split(',').map((s) => Number(s.trim()));
  if (versions.length === 0 || versions.some((n) => n !== 1 && n !== 2))
    throw new UsageError(`--versions takes 1, 2 or 1,2, not '${v.versions}'`);
  const tpduSize = intOption(v, 'tpdu-size', 128, 8192);
  if (tpduSize !== undefined && !Number.isInteger(Math.log2(tpduSize)))
    throw new UsageError('--tpdu-size takes a power of two from 128 to 8192');
  return {
    units: units as UnitName[],
    modes: v['half-duplex'] ? ['halfDuplex'] : ['fullDuplex'],
    versions: versions as (1 | 2)[],
    libiec61850: v.libiec61850 ?? false,
    tpduSize,
    handshakeTimeoutMs: intOption(v, 'timeout', 1, 600_000),
    calledTsap: hexOption(v, 'called-tsap'),
    callingTsap: hexOption(v, 'calling-tsap'),
    calledSsel: hexOption(v, 'called-ssel'),
    callingSsel: hexOption(v, 'calling-ssel'),
  };
}

/** Release needs every token: ask the peer for those it holds first (bounded wait). */
async function releaseWithTokens(
  session: IsoSession,
  userData: Uint8Array | undefined,
  signal: AbortSignal,
): Promise<void> {
  const missing = (session.negotiated?.tokens ?? []).filter((t) => !session.tokens.includes(t));
  if (missing.length) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`the peer kept the ${missing.join(', ')} token(s)`));
      }, RELEASE_TOKEN_WAIT_MS);
      const off = session.on('tokens-given', () => {
        if (missing.every((t) => session.tokens.includes(t))) {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
      session.requestTokens(missing);
    });
  }
  await session.release(userData, { signal });
}

async function runConnect(v: Values, target: string | undefined, ctx: CommandContext): Promise<number> {
  if (!target) throw new UsageError('connect needs HOST[:PORT]');
  const p = new Printer(ctx.stdout, v.json ?? false);
  const options: IsoConnectOptions = { ...profile(v), userData: hexOption(v, 'user-data'), signal: ctx.signal };
  if (options.libiec61850 && !options.userData)
    ctx.stderr.write(
      'colloquy iso: note: no --user-data; a libiec61850 server expects its presentation CP (AARQ, MMS initiate) in the CN and closes the connection without one\n',
    );
  let address: string;
  try {
    const a = parseIsoAddress(target);
    address = `iso://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  } catch {
    throw new UsageError(`'${target}' is not HOST[:PORT]`);
  }
  let session: IsoSession;
  try {
    session = await connectIso(address, options);
  } catch (e) {
    // What came back before the handshake failed: the CC, then the RF or AB, or else how it ended.
    const details = (e as { details?: { iso?: Spdu; cotp?: IsoSession['cotp'] } }).details;
    if (details?.cotp) p.record('< ', ccRecord(details.cotp));
    if (details?.iso) p.record('< ', describeSpdu(details.iso));
    else
      p.record('< ', {
        event: 'closed',
        code: (e as { code?: string }).code ?? 'ERR_CONNECT_FAILED',
        message: e instanceof Error ? e.message : String(e),
      });
    throw e;
  }
  if (session.cotp) p.record('< ', ccRecord(session.cotp));
  if (session.peerAnswer) p.record('< ', { ...describeSpdu(session.peerAnswer), version: session.isoVersion });
  // Printed as the events come, so data and the close are in the order they arrived; the
  // iterator below only consumes the data (so the receive buffer never fills).
  session.on('event', (e) => {
    if (e.type === 'data') p.line(p.json ? JSON.stringify({ event: 'data', hex: toHex(e.payload) }) : toHex(e.payload));
    // 'interrupted' only precedes 'closed' here: an ISO session does not resume.
    else if (e.type !== 'closed' && e.type !== 'writable' && e.type !== 'interrupted') p.record('< ', eventRecord(e));
  });
  const closed = new Promise<number>((resolve) =>
    session.on('closed', ({ error, userData }) => {
      p.record(
        '< ',
        error
          ? { event: 'closed', code: error.code, message: error.message }
          : { event: 'released', userData: hex(userData) },
      );
      resolve(error ? ExitCode.failure : ExitCode.ok);
    }),
  );
  const onAbort = (): void => session.abort('interrupted');
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const reading = (async () => {
    for await (const data of session) void data;
  })().catch(() => {
    /* the close event reports it */
  });
  if (ctx.stdin) {
    const rl = createInterface({ input: ctx.stdin, crlfDelay: Infinity });
    session.on('closed', () => rl.close());
    for await (const raw of rl) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      if (session.closed) break;
      try {
        await session.send(parseHex(line));
      } catch (e) {
        ctx.stderr.write(`colloquy iso: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  }
  if (!session.closed) {
    try {
      await releaseWithTokens(session, hexOption(v, 'release-data'), ctx.signal);
    } catch (e) {
      ctx.stderr.write(`colloquy iso: release failed (${e instanceof Error ? e.message : String(e)}); aborting\n`);
      session.abort('release failed');
    }
  }
  const code = await closed;
  await reading;
  ctx.signal.removeEventListener('abort', onAbort);
  return code;
}

async function runListen(v: Values, ctx: CommandContext): Promise<number> {
  const p = new Printer(ctx.stdout, v.json ?? false);
  const { modes, units, versions, libiec61850, tpduSize, handshakeTimeoutMs, calledTsap, calledSsel } = profile(v);
  const userData = hexOption(v, 'user-data');
  let next = 0;
  const ids = new WeakMap<object, number>();
  const idOf = (s: object): number => {
    let id = ids.get(s);
    if (id === undefined) ids.set(s, (id = ++next));
    return id;
  };
  const server = await listenIso(
    {
      host: v.host ?? '127.0.0.1',
      port: intOption(v, 'port', 0, 65535) ?? ISO_DEFAULT_PORT,
      // A listener supports every unit unless told otherwise, and both dialogue modes.
      units: units?.length ? units : undefined,
      modes: v['half-duplex'] ? modes : ['fullDuplex', 'halfDuplex'],
      versions,
      libiec61850,
      tpduSize,
      handshakeTimeoutMs,
      calledTsap,
      calledSsel,
      onConnect: (req, session) => {
        const id = idOf(session);
        const c = session.cotp;
        if (c)
          p.record(`[${id}] `, {
            spdu: 'CR',
            from: req.remoteAddress,
            tpduSize: c.tpduSize,
            calledTsap: hex(c.calledTsap),
            callingTsap: hex(c.callingTsap),
          });
        p.record(`[${id}] `, describeSpdu(req.cn));
        session.on('event', (e) => {
          if (e.type === 'data') {
            p.line(
              p.json
                ? JSON.stringify({ session: id, event: 'data', hex: toHex(e.payload) })
                : `[${id}] data ${toHex(e.payload)}`,
            );
            if (v.echo && !session.closed)
              session.send(e.payload).catch(() => {
                /* closing */
              });
          } else if (e.type !== 'writable' && e.type !== 'interrupted')
            p.record(`[${id}] `, { ...(p.json ? { session: id } : {}), ...eventRecord(e) });
        });
        return { accept: true, userData };
      },
    },
    () => {
      /* events are printed as they come */
    },
  );
  p.line(
    p.json
      ? JSON.stringify({ event: 'listening', address: server.address, port: server.port })
      : `listening on ${server.address}`,
  );
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  return ExitCode.ok;
}

export const isoCommand: Command = {
  name: 'iso',
  summary: 'ISO 8327 sessions over RFC 1006: connect to a peer or listen for one',
  async run(args, ctx) {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      ctx.stdout.write(HELP);
      return sub === undefined ? ExitCode.usage : ExitCode.ok;
    }
    if (sub !== 'connect' && sub !== 'listen')
      throw new UsageError(`unknown iso subcommand '${sub}' (connect or listen)`);
    const { values, positionals } = parse(rest);
    if (values.help) {
      ctx.stdout.write(HELP);
      return ExitCode.ok;
    }
    if (sub === 'connect') {
      if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
      return runConnect(values, positionals[0], ctx);
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    return runListen(values, ctx);
  },
};
