// `colloquy serve`: the session endpoint (WebSocket and native TCP), the services and the web
// page in one process (src/serve/app.ts). Runs until Ctrl-C or SIGTERM, then releases every
// session in order and exits 0.
//
// With --json, stdout carries one JSON object per line; the first is always
//   {"event":"listening","http":"http://HOST:P/","ws":"ws://HOST:P/session","tcp":"tcp://HOST:Q"}
// once every endpoint accepts (other tools and tests wait for it), then events: "admin-token"
// (only when serve generated it), "session", "closed", "stopping", "stopped".

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServe } from '../serve/app.js';
import type { ServeApp, ServeEvent } from '../serve/app.js';
import { parseStoreSpec, redact } from '../serve/backing.js';
import { ExitCode, UsageError, parseOrUsage } from './args.js';
import type { Command, CommandContext } from './commands.js';

export const ADMIN_TOKEN_ENV = 'COLLOQUY_ADMIN_TOKEN';
/** Shortest admin token accepted from the user (characters). */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

const HELP = `Usage: colloquy serve [options]

Serves Colloquy sessions over WebSocket (ws://HOST:PORT/session) and native TCP
(tcp://HOST:TCP-PORT), the chat, RPC and file services, and the web page at
http://HOST:PORT/ (chat, and a live view of the sessions with a frame ladder).

Options:
  --host HOST          address to listen on (default 127.0.0.1)
  --port PORT          HTTP port: page, API and WebSocket (default 7200; 0 = any free)
  --tcp-port PORT      native TCP port, TLS with --tls-cert (default 7201; 0 = any free)
  --files DIR          directory the file service serves (default ./files, created if missing)
  --store STORE        memory (default: this process only) or redis://HOST:PORT: durable
                       sessions that resume on any node sharing that Redis, one chat across nodes
  --tls-cert FILE      PEM certificate: https, wss and tls:// instead of http, ws and tcp://
  --tls-key FILE       PEM private key for --tls-cert
  --admin-token TOKEN  bearer token for 'colloquy sessions' and the admin API (at least
                       ${MIN_ADMIN_TOKEN_LENGTH} characters; default: $${ADMIN_TOKEN_ENV}, else a random one, printed)
  --web-root DIR       the built web page (default: dist/page of this installation)
  --json               one JSON object per line on stdout, first {"event":"listening",...}
  -h, --help           show this help and exit

Ctrl-C or SIGTERM stops the server in order: no new connections, every session released
(aborted if it does not answer within 5 s), then exit.

Exit codes:
  0  stopped by Ctrl-C or SIGTERM after releasing every session
  1  could not start (port in use, store unreachable, unreadable TLS files) or failed
  2  usage error

See docs/serve.md.
`;

function port(text: string, option: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${option} takes a port number 0..65535, not '${text}'`);
  return Number(text);
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve sessions, chat, RPC, files and the web page',
  stopsOnInterrupt: true,
  async run(args, ctx) {
    const { values, positionals } = parseOrUsage({
      args: [...args],
      allowPositionals: true,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '7200' },
        'tcp-port': { type: 'string', default: '7201' },
        files: { type: 'string', default: './files' },
        store: { type: 'string', default: 'memory' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'admin-token': { type: 'string' },
        'web-root': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) { ctx.stdout.write(HELP); return ExitCode.ok; }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] as string}'`);
    const httpPort = port(values.port, '--port');
    const tcpPort = port(values['tcp-port'], '--tcp-port');
    try {
      parseStoreSpec(values.store);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
    let adminToken = values['admin-token'] ?? process.env[ADMIN_TOKEN_ENV];
    const generated = adminToken === undefined || adminToken === '';
    if (!generated && (adminToken as string).length < MIN_ADMIN_TOKEN_LENGTH) {
      throw new UsageError(`the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
    }
    if (generated) adminToken = randomBytes(24).toString('base64url');

    let tls: { cert: Buffer; key: Buffer } | undefined;
    if (values['tls-cert'] !== undefined && values['tls-key'] !== undefined) {
      try {
        tls = { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) };
      } catch (e) {
        ctx.stderr.write(`colloquy serve: cannot read the TLS files: ${(e as Error).message}\n`);
        return ExitCode.failure;
      }
    }

    const json = values.json;
    const line = (o: unknown): void => { ctx.stdout.write(`${JSON.stringify(o)}\n`); };
    const onEvent = (e: ServeEvent): void => {
      if (json) return line(e);
      if (e.event === 'session') ctx.stdout.write(`session ${e.id} opened: ${e.service ?? '?'}${e.name ? ` as ${e.name}` : ''} over ${e.transport ?? '?'}${e.restored ? ' (taken over from the store)' : ''}\n`);
      else ctx.stdout.write(`session ${e.id} closed${e.error ? `: ${e.error}` : ''}\n`);
    };

    if (ctx.signal.aborted) return ExitCode.ok;
    const files = resolve(values.files);
    let app: ServeApp;
    try {
      app = await startServe({ host: values.host, port: httpPort, tcpPort, files, store: values.store, ...(tls ? { tls } : {}), adminToken: adminToken as string, onEvent, ...(values['web-root'] !== undefined ? { webRoot: resolve(values['web-root']) } : {}) });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const hint = err.code === 'EADDRINUSE' ? ' (another program uses that port: pick another with --port / --tcp-port, or 0 for any free one)' : '';
      ctx.stderr.write(`colloquy serve: cannot start: ${err.message}${hint}\n`);
      return ExitCode.failure;
    }

    if (json) {
      line({ event: 'listening', http: app.urls.http, ws: app.urls.ws, tcp: app.urls.tcp });
      if (generated) line({ event: 'admin-token', token: adminToken });
    } else {
      banner(ctx, app, files, values.store, adminToken as string, generated);
    }
    await waitForStop(ctx);
    if (json) line({ event: 'stopping', sessions: app.live.size });
    else ctx.stdout.write(`stopping: releasing ${app.live.size} session(s)...\n`);
    await app.close();
    if (json) line({ event: 'stopped' });
    else ctx.stdout.write('stopped\n');
    return ExitCode.ok;
  },
};

function banner(ctx: CommandContext, app: ServeApp, files: string, store: string, token: string, generated: boolean): void {
  ctx.stdout.write(
    [
      'colloquy serve: listening',
      `  open the page   ${app.urls.http}${app.webBuilt ? '' : '   (not built: run npx tsx scripts/build-web.ts)'}`,
      `  websocket       ${app.urls.ws}`,
      `  native          ${app.urls.tcp}`,
      `  services        ${app.services.join(', ')}`,
      `  files           ${files}`,
      `  store           ${store === 'memory' ? app.backing.description : redact(store)}`,
      `  admin token     ${generated ? `${token}   (generated; set --admin-token or $${ADMIN_TOKEN_ENV} to keep one)` : '(as given)'}`,
      `  list sessions   colloquy sessions ${app.urls.http} --token …`,
      'Ctrl-C stops: every session is released, then serve exits.',
      '',
    ].join('\n'),
  );
}

/** Resolves on Ctrl-C (the context's signal) or SIGTERM. */
function waitForStop(ctx: CommandContext): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGTERM', done);
      ctx.signal.removeEventListener('abort', done);
      resolve();
    };
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', done, { once: true });
    process.on('SIGTERM', done);
  });
}
