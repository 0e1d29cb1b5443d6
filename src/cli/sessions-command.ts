// `colloquy sessions URL`: the live sessions of a `colloquy serve` node, read from its admin
// API (GET /api/sessions with `Authorization: Bearer TOKEN`), as a table or JSON; `--cut ID`
// drops one session's transport (the client resumes on a new one), for demonstrations and tests.

import { ExitCode, UsageError, parseOrUsage } from './args.js';
import type { Command, CommandContext } from './commands.js';
import { ADMIN_TOKEN_ENV } from './serve-command.js';

/** How long one request to the server may take. */
export const SESSIONS_REQUEST_TIMEOUT_MS = 10_000;

const HELP = `Usage: colloquy sessions URL [options]

Lists the live sessions of a 'colloquy serve' node: ID, service, name, transport, state,
resumes, tokens held, sync serial and bytes. URL is the page's address
(http://HOST:PORT/, as serve prints it); ws://HOST:PORT/session works too.

Options:
  --token TOKEN  the node's admin token (default: $${ADMIN_TOKEN_ENV})
  --cut ID       drop that session's transport instead (the client resumes on a new one);
                 --cut newest-files cuts the newest files session (a running get or put)
  --json         print {"total":N,"truncated":false,"sessions":[...]} (or the cut result)
  -h, --help     show this help and exit

Exit codes:
  0  ok
  1  the server could not be reached, refused the token, or has no such session
  2  usage error

See docs/serve.md.
`;

interface Row {
  id: string;
  openedAt?: string;
  service: string | null;
  name: string | null;
  transport: string | null;
  state: string;
  resumes: number;
  interruptions: number;
  tokens: string[];
  serial: number | null;
  bytesIn: number | null;
  bytesOut: number | null;
}

/** The http(s) base of a serve node from what the user typed. */
export function apiBase(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`'${text}' is not a URL; give the page's address, e.g. http://127.0.0.1:7200/`);
  }
  if (url.protocol === 'ws:' || url.protocol === 'wss:')
    url = new URL(`${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}/`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`'${text}' is not an http(s):// or ws(s):// URL of a serve node`);
  return new URL('/', url);
}

export const sessionsCommand: Command = {
  name: 'sessions',
  summary: "list a server's live sessions",
  async run(args, ctx) {
    const { values, positionals } = parseOrUsage({
      args: [...args],
      allowPositionals: true,
      options: {
        token: { type: 'string' },
        cut: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      ctx.stdout.write(HELP);
      return ExitCode.ok;
    }
    if (positionals.length !== 1)
      throw new UsageError(
        positionals.length === 0
          ? 'give the URL of a serve node, e.g. colloquy sessions http://127.0.0.1:7200/'
          : `unexpected argument '${positionals[1] as string}'`,
      );
    const base = apiBase(positionals[0] as string);
    const token = values.token ?? process.env[ADMIN_TOKEN_ENV];
    if (!token) throw new UsageError(`give the admin token serve printed: --token TOKEN or $${ADMIN_TOKEN_ENV}`);
    if (values.cut !== undefined && values.cut !== 'newest-files' && !/^[0-9a-f]{32}$/.test(values.cut))
      throw new UsageError(`--cut takes a session ID (32 hex digits) or newest-files, not '${values.cut}'`);
    if (values.cut === 'newest-files') {
      const listed = await request(ctx, new URL('/api/sessions', base), token, 'GET');
      if (listed === null) return ExitCode.failure;
      const files = (listed as { sessions: Row[] }).sessions.filter(
        (r) => r.service === 'files' && r.transport !== null,
      );
      const newest = files.sort((x, y) => String(y.openedAt).localeCompare(String(x.openedAt)))[0];
      if (!newest) {
        ctx.stderr.write(
          `colloquy sessions: no files session is connected to ${base.origin} now (start the get or put first)\n`,
        );
        return ExitCode.failure;
      }
      values.cut = newest.id;
    }

    const path = values.cut === undefined ? '/api/sessions' : `/api/sessions/${values.cut}/cut`;
    const answer = await request(ctx, new URL(path, base), token, values.cut === undefined ? 'GET' : 'POST');
    if (answer === null) return ExitCode.failure;
    if (values.cut !== undefined) {
      const { cut } = answer as { cut: boolean };
      if (values.json) ctx.stdout.write(`${JSON.stringify(answer)}\n`);
      else
        ctx.stdout.write(
          cut
            ? `cut the transport of ${values.cut}: its client resumes on a new one\n`
            : `${values.cut} had no transport attached (already interrupted)\n`,
        );
      return ExitCode.ok;
    }
    const { sessions: rows, total } = answer as { sessions: Row[]; total?: number };
    if (values.json) ctx.stdout.write(`${JSON.stringify(answer)}\n`);
    else
      ctx.stdout.write(
        table(rows) +
          (total !== undefined && total > rows.length
            ? `(${total - rows.length} more not listed: the node lists at most ${rows.length})\n`
            : ''),
      );
    return ExitCode.ok;
  },
};

async function request(ctx: CommandContext, url: URL, token: string, method: 'GET' | 'POST'): Promise<unknown> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`no answer within ${SESSIONS_REQUEST_TIMEOUT_MS} ms`)),
    SESSIONS_REQUEST_TIMEOUT_MS,
  );
  const onAbort = (): void => controller.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal: controller.signal,
      });
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      ctx.stderr.write(
        `colloquy sessions: cannot reach ${url.origin}: ${controller.signal.aborted ? String((controller.signal.reason as Error).message) : (cause ?? (e as Error).message)}\n`,
      );
      return null;
    }
    const body = (await res.json().catch(() => null)) as { error?: string } | null;
    if (res.status === 401) {
      ctx.stderr.write(
        `colloquy sessions: ${url.origin} refused the admin token (use the one serve printed, or the one it was given)\n`,
      );
      return null;
    }
    if (!res.ok || body === null) {
      ctx.stderr.write(
        `colloquy sessions: ${url.origin} answered ${res.status}: ${body?.error ?? 'not a serve node?'}\n`,
      );
      return null;
    }
    return body;
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

function bytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 10_000) return `${n}`;
  if (n < 10_000_000) return `${Math.round(n / 1024)}K`;
  return `${Math.round(n / 1024 / 1024)}M`;
}

export function table(rows: readonly Row[]): string {
  if (rows.length === 0) return 'no live sessions\n';
  const head = ['ID', 'SERVICE', 'NAME', 'TRANSPORT', 'STATE', 'RESUMES', 'TOKENS', 'SERIAL', 'IN', 'OUT'];
  const cells = rows.map((r) => [
    r.id,
    r.service ?? '-',
    r.name ?? '-',
    r.transport ?? '(none)',
    r.state,
    String(r.resumes),
    r.tokens.join(',') || '-',
    r.serial === null ? '-' : String(r.serial),
    bytes(r.bytesIn),
    bytes(r.bytesOut),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]): string =>
    c
      .map((x, i) => x.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return `${[line(head), ...cells.map(line)].join('\n')}\n${rows.length} session(s)\n`;
}
