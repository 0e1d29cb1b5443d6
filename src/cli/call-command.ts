// `colloquy call URL METHOD [JSON-PARAMS]`: one JSON-RPC 2.0 call over a session to the `rpc`
// service of a server (`colloquy serve`), the result printed as JSON on stdout; a JSON-RPC error
// is printed as JSON on stderr and the exit code is 1. The session survives cuts (the call is
// answered once, never run twice: the server deduplicates request ids), and is ended by orderly
// release, also on Ctrl-C (which first cancels the call on the server with $/cancel).

import { SessionError } from '../engine/errors.js';
import { RpcClient } from '../apps/rpc.js';
import { ExitCode, parseOrUsage, UsageError } from './args.js';
import { throwIfInvalidUrl } from './session-args.js';
import type { Command } from './commands.js';
import type {} from '../apps/errors.js';

const HELP = `Usage: colloquy call URL METHOD [JSON-PARAMS] [options]

Makes one JSON-RPC 2.0 call to the rpc service of the server at URL (ws://HOST:PORT/session,
tcp://HOST:PORT, wss:// or tls://) and prints the result as JSON on stdout. JSON-PARAMS is a
JSON array or object (JSON-RPC has no scalar params). If the server answers with an error, the
JSON-RPC error object ({"code","message","data"}) is printed on stderr and the exit code is 1.
Connection cuts are survived: the session resumes and the call still runs exactly once.

  colloquy call ws://127.0.0.1:7200/session system.listMethods
  colloquy call tcp://127.0.0.1:7201 echo '{"hello":"world"}'
  colloquy call tcp://127.0.0.1:7201 files.list '{"path":""}' --json

Options:
  --timeout MS         give up (and cancel the call on the server) after MS ms (default 30000;
                       0 waits as long as the session lives)
  --client ID          client id for deduplication (default: random per run)
  --id ID              request id (default: generated); a rerun with the same --client and --id
                       gets the stored answer instead of running the method again
  --credentials TEXT   credentials for the server's authenticate hook
  --json               print the result (or the error) as one line of JSON
  -h, --help           show this help

Exit codes: 0 the result was printed; 1 the server answered with an error, or the call failed
(unreachable, timeout: the message names the error code, see docs/errors.md); 2 usage error;
130 interrupted (Ctrl-C).
`;

const options = {
  timeout: { type: 'string' },
  client: { type: 'string' },
  id: { type: 'string' },
  credentials: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseParams(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`JSON-PARAMS is not JSON: ${text}`);
  }
  if (typeof value !== 'object' || value === null)
    throw new UsageError("JSON-PARAMS must be a JSON array or object, e.g. '[1,2]' or '{\"a\":1}'");
  return value;
}

export const callCommand: Command = {
  name: 'call',
  summary: 'make a JSON-RPC 2.0 call over a session',
  async run(args, ctx) {
    const { values, positionals } = parseOrUsage({ args: [...args], options, allowPositionals: true, strict: true });
    if (values.help) {
      ctx.stdout.write(HELP);
      return ExitCode.ok;
    }
    if (positionals.length < 2 || positionals.length > 3) throw new UsageError('expected URL METHOD [JSON-PARAMS]');
    const [url, method, paramsText] = positionals as [string, string, string | undefined];
    const params = parseParams(paramsText);
    const timeout = values.timeout ?? '30000';
    if (!/^\d+$/.test(timeout)) throw new UsageError('--timeout must be an integer >= 0 (ms)');
    if (values.client !== undefined && (values.client.length === 0 || values.client.length > 128))
      throw new UsageError('--client takes 1..128 characters');
    const id = values.id;

    let client: RpcClient;
    try {
      client = await RpcClient.connect(url, {
        ...(values.client !== undefined ? { clientId: values.client } : {}),
        connect: {
          signal: ctx.signal,
          ...(values.credentials !== undefined ? { credentials: values.credentials } : {}),
        },
      });
    } catch (error) {
      throwIfInvalidUrl(error);
      throw error;
    }
    try {
      const result = await client.call(method, params, {
        timeoutMs: Number(timeout),
        signal: ctx.signal,
        ...(id !== undefined ? { id } : {}),
      });
      ctx.stdout.write(`${values.json ? JSON.stringify(result) : JSON.stringify(result, null, 2)}\n`);
      return ExitCode.ok;
    } catch (error) {
      if (error instanceof SessionError && error.code === 'ERR_RPC_ERROR') {
        const d = error.details as { rpcCode?: number; data?: unknown };
        const rpcError = {
          code: d.rpcCode,
          message: error.message.replace(/ \(JSON-RPC [^)]*\)$/, ''),
          ...(d.data === undefined ? {} : { data: d.data }),
        };
        ctx.stderr.write(`${values.json ? JSON.stringify(rpcError) : JSON.stringify(rpcError, null, 2)}\n`);
        return ExitCode.failure;
      }
      throw error;
    } finally {
      await client.close({ signal: AbortSignal.timeout(5000) }).catch(() => {
        if (!client.session.closed) client.session.abort('colloquy call: no orderly release in time');
      });
    }
  },
};
