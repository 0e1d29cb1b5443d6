// `colloquy serve`: the session endpoint (WebSocket and native TCP), the services and the web
// page in one process (src/serve/app.ts). Runs until Ctrl-C or SIGTERM, then ends every session
// under one deadline (released, or handed over to the other nodes of a shared store: see
// src/serve/stop.ts) and exits 0. SIGHUP reloads --tls-cert/--tls-key for new connections.
//
// With --json, stdout carries one JSON object per line; the first is always
//   {"event":"listening","http":"http://HOST:P/","ws":"ws://HOST:P/session","tcp":"tcp://HOST:Q"}
// once every endpoint accepts (other tools and tests wait for it), then events: "admin-token"
// (only when serve generated it), "session", "closed", "tls-reloaded", "tls-reload-failed",
// "stopping", "draining", "drained" (released, handedOver, aborted, elapsedMs), "stopped".

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServe } from '../serve/app.js';
import type { ServeApp, ServeEvent } from '../serve/app.js';
import { accessPolicy } from '../serve/access.js';
import { parseStoreSpec, redact } from '../serve/backing.js';
import type { DurabilityKnobs, StoreSpec } from '../serve/backing.js';
import { DURABILITY_FLAGS_HELP, durabilityFlagOptions, parseDurabilityFlags } from '../serve/durability-flags.js';
import { DEFAULT_CLOSE_TIMEOUT_MS } from '../server/server.js';
import type { CloseReport, StopMode } from '../server/server.js';
import { parseLimitArgs } from '../serve/limits.js';
import { parseRuntimeFlags, runtimeFlagOptions, RUNTIME_FLAGS_HELP } from '../serve/runtime-flags.js';
import type { RuntimeLimits } from '../serve/runtime-flags.js';
import type { ServeLimits } from '../serve/limits.js';
import { SERVICE_NAMES } from '../serve/services.js';
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
  --store STORE        memory (default: this process only), redis://HOST:PORT,
                       redis+sentinel://H1:26379,H2:26379/NAME, redis+cluster://H1:7000,H2:7001
                       (rediss… for TLS) or postgres://USER@HOST:PORT/DB[?schema=NAME]: durable
                       sessions that resume on any node sharing that store, one chat across
                       nodes. Redis passwords: in the URL or COLLOQUY_REDIS_PASSWORD (Sentinels:
                       COLLOQUY_REDIS_SENTINEL_PASSWORD); never printed
${DURABILITY_FLAGS_HELP}
  --tls-cert FILE      PEM certificate: https, wss and tls:// instead of http, ws and tcp://
  --tls-key FILE       PEM private key for --tls-cert
  --admin-token TOKEN  the admin's secret: bearer token for 'colloquy sessions' and the admin
                       API, the page's admin login, native clients' credentials (at least
                       ${MIN_ADMIN_TOKEN_LENGTH} characters; default: $${ADMIN_TOKEN_ENV}, else a random one, printed)
  --access POLICY      who may use the services: anyone, login (page logins and the admin
                       token) or admin, for all or per service (chat=login,files=admin).
                       Default on a loopback --host: anyone. Required on any other address
                       (protected mode: serve refuses to start without it)
  --allow-origin URL   also accept WebSocket upgrades and POSTs from pages of this origin
                       (repeatable; default: serve's own origin only)
  --allow-host NAME    also answer to this host name (repeatable; default: IP addresses,
                       localhost, the --host name; others are refused against DNS rebinding)
  --limit NAME=VALUE   set a bound (repeatable), e.g. --limit filesMaxTotalBytes=1000000000;
                       the names and defaults are in docs/security.md
  --web-root DIR       the built web page (default: dist/page of this installation)
  --on-stop MODE       release: end every session by orderly release; handover: leave every
                       session in the shared store for the other nodes, its client resumes
                       there unnoticed (default: handover with --store redis://, else release)
  --stop-timeout MS    deadline for a stop, however many sessions: what has not ended by then
                       is aborted (default ${DEFAULT_CLOSE_TIMEOUT_MS})
  --drain-delay MS     on a stop, answer GET /api/ready with 503 this long before closing
                       transports, so the load balancer takes the node out first (default 0)
  --json               one JSON object per line on stdout, first {"event":"listening",...}
  -h, --help           show this help and exit

Runtime limits (each is the session server's option of that name, e.g. --max-sessions sets
maxSessions; whole numbers; docs/security.md says what each bounds):
${RUNTIME_FLAGS_HELP}

Ctrl-C or SIGTERM stops the server in order: not ready (GET /api/ready says 503), no new
connections, then every session released or handed over (--on-stop) within --stop-timeout, then
exit. If the deadline comes with sessions left, serve prints its report and exits there (the
kernel closes their connections); the rest of its own cleanup gets half a second more. POST /api/admin/drain (admin token) does the same handover without exiting. SIGHUP reloads
--tls-cert and --tls-key: new connections get the new certificate, live sessions go on.
See docs/operations.md.

Exit codes:
  0  stopped by Ctrl-C or SIGTERM (every session released, handed over or, at the deadline, aborted)
  1  could not start (port in use, store unreachable, unreadable TLS files) or failed, or a stop
     overran its deadline by more than a second (ended by force)
  2  usage error

See docs/serve.md.
`;

function port(text: string, option: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535)
    throw new UsageError(`${option} takes a port number 0..65535, not '${text}'`);
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
        access: { type: 'string' },
        'allow-origin': { type: 'string', multiple: true, default: [] },
        'allow-host': { type: 'string', multiple: true, default: [] },
        limit: { type: 'string', multiple: true, default: [] },
        'web-root': { type: 'string' },
        'on-stop': { type: 'string' },
        'stop-timeout': { type: 'string' },
        'drain-delay': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        ...durabilityFlagOptions(),
        ...runtimeFlagOptions(),
      },
    });
    if (values.help) {
      ctx.stdout.write(HELP);
      return ExitCode.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] as string}'`);
    const httpPort = port(values.port, '--port');
    const tcpPort = port(values['tcp-port'], '--tcp-port');
    let durability: DurabilityKnobs;
    try {
      const spec: StoreSpec = parseStoreSpec(values.store);
      durability = parseDurabilityFlags(values, spec);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined))
      throw new UsageError('--tls-cert and --tls-key go together');
    const onStop = values['on-stop'];
    if (onStop !== undefined && onStop !== 'release' && onStop !== 'handover')
      throw new UsageError(`--on-stop takes release or handover, not '${onStop}'`);
    if (onStop === 'handover' && values.store === 'memory')
      throw new UsageError(
        '--on-stop handover needs a shared store (--store redis://HOST:PORT): with the memory store no other node can take the sessions over',
      );
    const stopTimeoutMs =
      values['stop-timeout'] === undefined ? undefined : millis(values['stop-timeout'], '--stop-timeout');
    const drainDelayMs =
      values['drain-delay'] === undefined ? undefined : millis(values['drain-delay'], '--drain-delay');
    if ((drainDelayMs ?? 0) >= (stopTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS))
      throw new UsageError('--drain-delay must be shorter than --stop-timeout (the delay is part of the stop)');
    let limits: Partial<ServeLimits>;
    let runtime: RuntimeLimits;
    try {
      limits = parseLimitArgs(values.limit);
      runtime = parseRuntimeFlags(values);
      // Protected mode and the policy's form are checked before anything is opened.
      accessPolicy(values.host, values.access, SERVICE_NAMES);
      for (const o of values['allow-origin'])
        if (new URL(o).origin !== o.replace(/\/$/, ''))
          throw new Error(`--allow-origin takes an origin such as https://app.example:8443, not '${o}'`);
    } catch (e) {
      throw new UsageError((e as Error).message.replace(/^Invalid URL$/, 'an --allow-origin is not a URL'));
    }
    let adminToken = values['admin-token'] ?? process.env[ADMIN_TOKEN_ENV];
    const generated = adminToken === undefined || adminToken === '';
    if (!generated && (adminToken as string).length < MIN_ADMIN_TOKEN_LENGTH) {
      throw new UsageError(`the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
    }
    if (generated) adminToken = randomBytes(24).toString('base64url');

    let tls: { cert: Buffer; key: Buffer } | undefined;
    const readTls = (): { cert: Buffer; key: Buffer } => ({
      cert: readFileSync(values['tls-cert'] as string),
      key: readFileSync(values['tls-key'] as string),
    });
    if (values['tls-cert'] !== undefined && values['tls-key'] !== undefined) {
      try {
        tls = readTls();
      } catch (e) {
        ctx.stderr.write(`colloquy serve: cannot read the TLS files: ${(e as Error).message}\n`);
        return ExitCode.failure;
      }
    }

    const json = values.json;
    const line = (o: unknown): void => {
      ctx.stdout.write(`${JSON.stringify(o)}\n`);
    };
    let stopReported = false;
    const reportStop = (report: CloseReport): void => {
      if (stopReported) return;
      stopReported = true;
      if (json) line({ event: 'stopped', ...report });
      else ctx.stdout.write(`stopped: ${summary(report)}\n`);
    };
    const onEvent = (e: ServeEvent): void => {
      if (json) return line(e);
      if (e.event === 'session')
        ctx.stdout.write(
          `session ${e.id} opened: ${e.service ?? '?'}${e.name ? ` as ${e.name}` : ''} over ${e.transport ?? '?'}${e.restored ? ' (taken over from the store)' : ''}\n`,
        );
      else if (e.event === 'closed') ctx.stdout.write(`session ${e.id} closed${e.error ? `: ${e.error}` : ''}\n`);
      else if (e.event === 'draining')
        ctx.stdout.write(
          `draining: not ready; ${e.mode === 'handover' ? 'handing over' : 'releasing'} ${e.sessions} session(s)...\n`,
        );
      else ctx.stdout.write(`drained in ${e.elapsedMs} ms: ${summary(e)}\n`);
    };

    if (ctx.signal.aborted) return ExitCode.ok;
    const files = resolve(values.files);
    let app: ServeApp;
    try {
      app = await startServe({
        host: values.host,
        port: httpPort,
        tcpPort,
        files,
        store: values.store,
        durability,
        ...(tls ? { tls } : {}),
        adminToken: adminToken as string,
        onEvent,
        ...(values.access !== undefined ? { access: values.access } : {}),
        allowOrigins: values['allow-origin'],
        allowHosts: values['allow-host'],
        limits,
        server: runtime,
        ...(values['web-root'] !== undefined ? { webRoot: resolve(values['web-root']) } : {}),
        ...(onStop !== undefined ? { onStop: onStop as StopMode } : {}),
        ...(stopTimeoutMs !== undefined ? { stopTimeoutMs } : {}),
        ...(drainDelayMs !== undefined ? { drainDelayMs } : {}),
        // The deadline came with sessions left: report now and go; the kernel closes the rest.
        onStopDeadline: (report) => {
          onEvent({ event: 'drained', ...report });
          reportStop(report);
          ctx.exit?.(ExitCode.ok);
        },
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const hint =
        err.code === 'EADDRINUSE'
          ? ' (another program uses that port: pick another with --port / --tcp-port, or 0 for any free one)'
          : '';
      ctx.stderr.write(`colloquy serve: cannot start: ${err.message}${hint}\n`);
      return ExitCode.failure;
    }

    if (json) {
      line({ event: 'listening', http: app.urls.http, ws: app.urls.ws, tcp: app.urls.tcp });
      if (generated) line({ event: 'admin-token', token: adminToken });
    } else {
      banner(ctx, app, files, values.store, adminToken as string, generated);
    }
    // SIGHUP: new handshakes get the certificate now in the files; a bad pair keeps the old one.
    const reload = (): void => {
      if (!tls) {
        ctx.stderr.write('colloquy serve: SIGHUP ignored: no --tls-cert to reload\n');
        return;
      }
      try {
        app.reloadTls(readTls());
        if (json) line({ event: 'tls-reloaded' });
        else ctx.stdout.write('SIGHUP: TLS certificate reloaded for new connections\n');
      } catch (e) {
        if (json) line({ event: 'tls-reload-failed', error: (e as Error).message });
        ctx.stderr.write(
          `colloquy serve: SIGHUP: cannot reload the TLS files, the old certificate stays in force: ${(e as Error).message}\n`,
        );
      }
    };
    process.on('SIGHUP', reload);
    try {
      await waitForStop(ctx);
    } finally {
      process.off('SIGHUP', reload);
    }
    if (json) line({ event: 'stopping', sessions: app.live.size, mode: app.stopMode });
    else
      ctx.stdout.write(
        `stopping: ${app.live.size} session(s) to ${app.stopMode === 'handover' ? 'hand over' : 'release'}...\n`,
      );
    // Whatever happens, the process is gone soon after its deadline (STOP_GRACE_MS).
    const deadline = stopTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    const watchdog = setTimeout(() => {
      ctx.stderr.write(
        `colloquy serve: the stop overran its deadline (${deadline} ms) by ${STOP_GRACE_MS} ms: ending the process\n`,
      );
      ctx.exit?.(ExitCode.failure);
    }, deadline + STOP_GRACE_MS);
    watchdog.unref();
    // The sessions, by the deadline; then the rest (HTTP, services, the store's connections),
    // given STOP_CLEANUP_MS: what is not closed by then is left to the end of the process.
    const report = await app.drain();
    let cleanupTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      app.close(),
      new Promise<void>((resolve) => {
        cleanupTimer = setTimeout(resolve, STOP_CLEANUP_MS);
      }),
    ]);
    clearTimeout(cleanupTimer);
    clearTimeout(watchdog);
    reportStop(report);
    return ExitCode.ok;
  },
};

/** After the sessions have ended, how long serve waits for the rest of its cleanup before it reports and returns. */
export const STOP_CLEANUP_MS = 500;
/** Past the stop's deadline, how long before serve ends the process whatever it is doing. */
export const STOP_GRACE_MS = 1000;

function millis(text: string, option: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new UsageError(`${option} takes milliseconds (a whole number), not '${text}'`);
  return Number(text);
}

function summary(r: CloseReport): string {
  return `${r.released} released, ${r.handedOver} handed over, ${r.aborted} aborted`;
}

function banner(
  ctx: CommandContext,
  app: ServeApp,
  files: string,
  store: string,
  token: string,
  generated: boolean,
): void {
  ctx.stdout.write(
    [
      'colloquy serve: listening',
      `  open the page   ${app.urls.http}${app.webBuilt ? '' : '   (not built: run npx tsx scripts/build-web.ts)'}`,
      `  websocket       ${app.urls.ws}`,
      `  native          ${app.urls.tcp}`,
      `  services        ${app.services.join(', ')}`,
      `  files           ${files}`,
      `  store           ${store === 'memory' ? app.backing.description : redact(store)}`,
      `  access          ${app.access.describe(app.services)}   (--access; docs/security.md)`,
      `  admin token     ${generated ? `${token}   (generated; set --admin-token or $${ADMIN_TOKEN_ENV} to keep one)` : '(as given)'}`,
      // A line that runs as printed: npx (the bin is not on PATH in a clone), the real token when generated.
      `  list sessions   npx colloquy sessions ${app.urls.http} --token ${generated ? token : `"$${ADMIN_TOKEN_ENV}"   (set it to the token you gave)`}`,
      `Ctrl-C stops: every session is ${app.stopMode === 'handover' ? 'handed over to the other nodes' : 'released'}, then serve exits.`,
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
