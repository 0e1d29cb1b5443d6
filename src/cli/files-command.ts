// `colloquy get URL REMOTE [-o LOCAL]` and `colloquy put URL LOCAL [REMOTE]`: resumable,
// SHA-256 verified file transfer over a session to the files service of a server
// (`colloquy serve --files DIR`). The library functions do the work (src/apps/files-client.ts);
// this file parses arguments, draws the progress bar (only on a terminal: rate and ETA, at most
// ten times a second, on stderr) and prints the summary (one JSON line with --json). Ctrl-C ends
// the session by orderly release and keeps the checkpoint: running the same command again
// resumes.

import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Writable } from 'node:stream';
import { getFile, putFile } from '../apps/files.js';
import type { TransferOptions, TransferProgress, TransferResult } from '../apps/files.js';
import { GET_CHECKPOINT_SUFFIX, LOCK_SUFFIX, PART_SUFFIX, PUT_CHECKPOINT_SUFFIX } from '../apps/files-client.js';
import { ExitCode, parseOrUsage, UsageError } from './args.js';
import { throwIfInvalidUrl } from './session-args.js';
import type { Command, CommandContext } from './commands.js';

const COMMON = `  --restart            ignore a checkpoint from an earlier run and start over
  --credentials TEXT   credentials for the server's authenticate hook
  --json               print one JSON summary line on stdout (no other output on success)
  -h, --help           show this help

URL is ws://HOST:PORT/session, tcp://HOST:PORT, wss:// or tls://. The transfer goes in chunks
under major sync points, each confirmed only once the receiver has the bytes before it on disk;
it survives any number of connection cuts (the session resumes by itself) and a restart of this
command (a checkpoint file beside the local file). On a terminal a progress bar shows the rate
and the time left; otherwise the command is quiet unless something fails.

Exit codes: 0 the transfer is complete and the SHA-256 of both ends matched; 1 it failed (the
message names the error code, see docs/errors.md; e.g. ERR_FILE_NOT_FOUND, ERR_PATH_REJECTED,
ERR_FILE_TOO_LARGE, ERR_CHECKSUM_MISMATCH, ERR_CONNECT_FAILED); 2 usage error; 130 interrupted
(Ctrl-C: the session is released, the checkpoint kept; run the same command to resume).
`;

const GET_HELP = `Usage: colloquy get URL REMOTE [-o LOCAL] [options]

Downloads REMOTE (a path relative to the server's files directory) to LOCAL (default: the last
part of REMOTE, in the current directory). The bytes go to LOCAL${PART_SUFFIX} with the
checkpoint in LOCAL${GET_CHECKPOINT_SUFFIX}, and this run's PID in LOCAL${LOCK_SUFFIX} (a second
download into the same file fails with ERR_FILE_BUSY). LOCAL appears, replacing any file of that
name, only once the whole file arrived and its SHA-256 matched the server's.

  colloquy get ws://127.0.0.1:7200/session reports/q3.pdf -o q3.pdf

Options:
  -o, --output LOCAL   where to save the file
${COMMON}`;

const PUT_HELP = `Usage: colloquy put URL LOCAL [REMOTE] [options]

Uploads LOCAL to REMOTE (a path relative to the server's files directory; default: the name of
LOCAL). The server keeps the bytes under a hidden temporary name and renames them to REMOTE only
once the whole file arrived and its SHA-256 matched; until then REMOTE does not change. The
checkpoint (the server's transfer id) is LOCAL${PUT_CHECKPOINT_SUFFIX}.

  colloquy put tcp://127.0.0.1:7201 ./backup.tar backups/backup.tar

Options:
${COMMON}`;

const options = {
  output: { type: 'string', short: 'o' },
  restart: { type: 'boolean' },
  credentials: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MiB = 1024 * 1024;

function bytes(n: number): string {
  if (n >= 1024 * MiB) return `${(n / (1024 * MiB)).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** The shortest span of samples a rate is computed over, in ms. */
const RATE_MIN_SPAN_MS = 500;

/** A one-line progress bar for a terminal: percentage, bytes, rate over the last few seconds, ETA. */
export class ProgressBar {
  private samples: { t: number; n: number }[] = [];
  private lastDraw = -Infinity;
  private drawn = false;

  constructor(
    private readonly out: Writable & { columns?: number },
    private readonly label: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  update(p: TransferProgress, force = false): void {
    const t = this.now();
    this.samples.push({ t, n: p.transferred });
    while (this.samples.length > 2 && t - (this.samples[0] as { t: number }).t > 3000) this.samples.shift();
    if (!force && t - this.lastDraw < 100) return;
    this.lastDraw = t;
    this.out.write(`\r${this.line(p)}\x1b[K`);
    this.drawn = true;
  }

  line(p: TransferProgress): string {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    // A rate needs a span of time: the first chunks (right after a start or a resume) come in a
    // burst that would show gigabytes per second; until RATE_MIN_SPAN_MS have passed, none.
    const span = first && last ? last.t - first.t : 0;
    const rate = first && last && span >= RATE_MIN_SPAN_MS ? ((last.n - first.n) * 1000) / span : undefined;
    const eta = p.transferred >= p.total ? 0 : rate ? (p.total - p.transferred) / rate : Infinity;
    const fraction = p.total === 0 ? 1 : p.transferred / p.total;
    const width = 24;
    const full = Math.round(fraction * width);
    const bar = `${'#'.repeat(full)}${'.'.repeat(width - full)}`;
    return `${this.label} [${bar}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${bytes(p.transferred)}/${bytes(p.total)} ${rate === undefined ? '--' : bytes(rate)}/s ETA ${duration(eta)}`;
  }

  /** Ends the bar's line so that what follows starts on a fresh one. */
  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

function summary(kind: 'get' | 'put', r: TransferResult): Record<string, unknown> {
  return {
    event: kind === 'get' ? 'downloaded' : 'uploaded',
    local: r.local,
    remote: r.remote,
    size: r.size,
    sha256: r.sha256,
    resumedFrom: r.resumedFrom,
    interruptions: r.interruptions,
    takeovers: r.takeovers,
    newSessions: r.newSessions,
    seconds: Math.round(r.elapsedMs) / 1000,
  };
}

async function transfer(kind: 'get' | 'put', args: readonly string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseOrUsage({ args: [...args], options, allowPositionals: true, strict: true });
  if (values.help) {
    ctx.stdout.write(kind === 'get' ? GET_HELP : PUT_HELP);
    return ExitCode.ok;
  }
  let url: string;
  let local: string;
  let remote: string;
  if (kind === 'get') {
    if (positionals.length !== 2) throw new UsageError('expected URL REMOTE [-o LOCAL]');
    [url, remote] = positionals as [string, string];
    local = values.output ?? basename(remote.replace(/[/\\]+$/, ''));
    if (local === '' || local === '.' || local === '..')
      throw new UsageError(`cannot name a local file after '${remote}'; give -o LOCAL`);
  } else {
    if (values.output !== undefined) throw new UsageError('put takes no -o; the remote path is the third argument');
    if (positionals.length < 2 || positionals.length > 3) throw new UsageError('expected URL LOCAL [REMOTE]');
    [url, local] = positionals as [string, string];
    remote = positionals[2] ?? basename(local);
  }
  if (values.restart) {
    const leftovers =
      kind === 'get' ? [local + PART_SUFFIX, local + GET_CHECKPOINT_SUFFIX] : [local + PUT_CHECKPOINT_SUFFIX];
    for (const f of leftovers) await rm(f, { force: true });
  }

  const tty = (ctx.stderr as { isTTY?: boolean }).isTTY === true;
  const bar = tty
    ? new ProgressBar(ctx.stderr, kind === 'get' ? `get ${basename(remote)}` : `put ${basename(local)}`)
    : undefined;
  const opts: TransferOptions = {
    signal: ctx.signal,
    connect: values.credentials !== undefined ? { credentials: values.credentials } : {},
    ...(bar ? { onProgress: (p: TransferProgress) => bar.update(p, p.transferred === p.total) } : {}),
    onNotice: (message) => ctx.stderr.write(`colloquy ${kind}: ${message}\n`),
  };
  let result: TransferResult;
  try {
    result = kind === 'get' ? await getFile(url, remote, local, opts) : await putFile(url, local, remote, opts);
  } catch (error) {
    bar?.finish();
    throwIfInvalidUrl(error);
    if (ctx.signal.aborted)
      ctx.stderr.write(`colloquy ${kind}: interrupted; the checkpoint is kept, run the same command again to resume\n`);
    throw error;
  }
  bar?.finish();
  if (values.json) ctx.stdout.write(`${JSON.stringify(summary(kind, result))}\n`);
  else if (tty) {
    const resumed = result.resumedFrom > 0 ? `, resumed at ${bytes(result.resumedFrom)}` : '';
    const cuts = result.interruptions > 0 ? `, ${result.interruptions} connection cut(s) survived` : '';
    const moved = result.takeovers > 0 ? `, went on after ${result.takeovers} node(s) died` : '';
    ctx.stderr.write(
      `${kind === 'get' ? `saved ${result.local}` : `uploaded to ${result.remote}`}: ${bytes(result.size)}, sha256 ${result.sha256} verified${resumed}${cuts}${moved}\n`,
    );
  }
  return ExitCode.ok;
}

export const getCommand: Command = {
  name: 'get',
  summary: 'download a file over a session (resumable, SHA-256 verified)',
  run: (args, ctx) => transfer('get', args, ctx),
};

export const putCommand: Command = {
  name: 'put',
  summary: 'upload a file over a session (resumable, SHA-256 verified)',
  run: (args, ctx) => transfer('put', args, ctx),
};
