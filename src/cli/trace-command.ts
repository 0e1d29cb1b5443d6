// `colloquy trace URL`: opens a session, runs a short scripted dialogue and draws every frame
// that crosses the wire, both directions, as a ladder diagram (or one JSON object per frame).
//
// The frames come from the session's wire tap (WireSession.tap, set through connect's onSession
// before the first transport is attached), so the ladder shows exactly what was encoded and
// decoded: CONNECT/ACCEPT, data, acknowledgements, heartbeats, sync points, tokens, release, and
// RESUME/RESUMED when a connection is cut meanwhile. Rendering is in ./trace-format.ts.
//
// The script (--steps) exercises the session services so the ladder has something to show:
//   data     one data unit (chat: a `say`, answered by the room's copy; echo: answered in kind)
//   minor    a minor sync point, not asking for confirmation (MINOR_SYNC)
//   major    a major sync point (MAJOR_SYNC / MAJOR_SYNC_ACK)
//   tokens   give the minor-sync token to the server and ask for it back (GIVE / PLEASE / GIVE)
//   release  orderly release (FINISH / DISCONNECT / ACK)
// A step whose functional unit the server did not agree to is skipped with a note.

import { connect } from '../client/connect.js';
import type { ClientSession } from '../client/connect.js';
import { encodeHello } from '../apps/service.js';
import { encodeChat } from '../apps/chat-protocol.js';
import type { Frame } from '../engine/frames.js';
import { ExitCode, parseMs, parseOrUsage, UsageError } from './args.js';
import { checkSessionUrl, describeError, oneUrl } from './session-args.js';
import type { Command, CommandContext } from './commands.js';
import { describeFrame, LEGEND, ladderHeader, ladderLine } from './trace-format.js';
import type { TracedFrame } from './trace-format.js';

const STEPS = ['data', 'minor', 'major', 'tokens', 'release'] as const;
type Step = (typeof STEPS)[number];

const HELP = `Usage: colloquy trace URL [options]

Opens a session to URL (ws://HOST:PORT/session, tcp://HOST:PORT, wss://, tls://), runs a
short scripted dialogue and draws every frame on the wire as a ladder: client on the left,
server on the right, one arrow per frame with its type, size, session frame number,
sync serial number and the tokens the client holds afterwards.

Options:
  --service NAME     the service named in the CONNECT hello (default chat; 'none' sends no
                     hello, for a plain listen() server)
  --nick NAME        chat: the nick (default trace)
  --room NAME        chat: the room (default trace)
  --data TEXT        the data unit to send (default: a chat message for chat, else 'hello')
  --half-duplex      negotiate half duplex and, with chat, join a walkie-talkie room: the data
                     token is the floor, asked for (PLEASE_TOKENS) and handed over by the
                     service (GIVE_TOKENS) before data, sync points and the release
  --steps LIST       comma-separated, in this order: ${STEPS.join(',')} (default all);
                     'none' only connects and aborts
  --watch MS         before releasing, keep watching this long (heartbeats, room traffic);
                     default 0
  --timeout MS       time allowed for each step (default 10000)
  --json             one JSON object per frame, no ladder
  --no-legend        no legend above the ladder
  -h, --help         show this help

${LEGEND}
Exit codes: 0 the dialogue ran to the end; 1 the session was refused, failed or a step timed
out; 2 usage error; 130 interrupted by Ctrl-C (the session is released first).
`;

const options = {
  service: { type: 'string' },
  nick: { type: 'string' },
  room: { type: 'string' },
  data: { type: 'string' },
  steps: { type: 'string' },
  watch: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  'half-duplex': { type: 'boolean' },
  'no-legend': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseSteps(value: string | undefined): Step[] {
  if (value === undefined) return [...STEPS];
  if (value === 'none') return [];
  const steps = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of steps)
    if (!(STEPS as readonly string[]).includes(s))
      throw new UsageError(`--steps: unknown step '${s}' (known: ${STEPS.join(', ')}, or none)`);
  return STEPS.filter((s) => steps.includes(s));
}

async function trace(args: readonly string[], ctx: CommandContext): Promise<number> {
  // A reader that goes away (| head) ends the output, not the process.
  const output = { broken: false };
  const onOutputError = (): void => {
    output.broken = true;
  };
  ctx.stdout.on('error', onOutputError);
  try {
    return await traceRun(args, ctx, output);
  } finally {
    ctx.stdout.off('error', onOutputError);
  }
}

async function traceRun(args: readonly string[], ctx: CommandContext, output: { broken: boolean }): Promise<number> {
  const { values, positionals } = parseOrUsage({ args: [...args], options, allowPositionals: true, strict: true });
  if (values.help) {
    ctx.stdout.write(HELP);
    return ExitCode.ok;
  }
  const url = oneUrl(positionals);
  if (url.startsWith('iso://'))
    throw new UsageError('trace draws the native protocol; for ISO 8327 capture with tshark (docs/iso8327.md)');
  checkSessionUrl(url);
  const service = values.service ?? 'chat';
  const steps = parseSteps(values.steps);
  const watchMs = parseMs(values.watch, 'watch', 0, 0);
  const timeoutMs = parseMs(values.timeout, 'timeout', 10_000, 1);
  const json = values.json === true;
  const half = values['half-duplex'] === true;
  const hello =
    service === 'none'
      ? undefined
      : service === 'chat'
        ? { service, nick: values.nick ?? 'trace', room: values.room ?? 'trace', ...(half ? { halfDuplex: true } : {}) }
        : { service };
  const data =
    values.data !== undefined && service === 'chat'
      ? encodeChat({ type: 'say', text: values.data })
      : service === 'chat'
        ? encodeChat({ type: 'say', text: 'hello from colloquy trace' })
        : new TextEncoder().encode(values.data ?? 'hello');
  // Services known to answer a data unit: wait for the answer so it lands in the ladder.
  const answers = service === 'chat' || service === 'echo';

  const started = performance.now();
  let session: ClientSession | undefined;
  const counts = { in: 0, out: 0 };
  const print = (line: string): void => {
    if (!output.broken) ctx.stdout.write(`${line}\n`);
  };
  if (!json) {
    if (values['no-legend'] !== true) print(LEGEND);
    print(ladderHeader());
  }
  const draw = (direction: 'in' | 'out', frame: Frame, t: number): void => {
    const traced: TracedFrame = describeFrame(direction, frame, t, counts, session?.machine.tokens ?? []);
    print(json ? JSON.stringify(traced) : ladderLine(traced));
  };
  // The tap sees an incoming frame before the machine handles it; draw it once handled (at the
  // next frame or the next microtask), so the tokens shown are those held after it.
  let pendingIn: { frame: Frame; t: number } | undefined;
  const flushIn = (): void => {
    const p = pendingIn;
    pendingIn = undefined;
    if (p) draw('in', p.frame, p.t);
  };
  const onFrame = (direction: 'in' | 'out', frame: Frame): void => {
    flushIn();
    const t = performance.now() - started;
    if (direction === 'out') {
      draw('out', frame, t);
      return;
    }
    pendingIn = { frame, t };
    queueMicrotask(flushIn);
  };
  const note = (text: string): void => {
    if (json) print(JSON.stringify({ note: text }));
    else print(`          ${text}`);
  };

  const received: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  try {
    session = await connect(url, {
      ...(hello ? { userData: encodeHello(hello) } : {}),
      // Half duplex: the data token starts on the server's side, as a chat client has it.
      ...(half
        ? {
            modes: ['halfDuplex'] as const,
            units: ['typedData', 'minorSync', 'majorSync'] as const,
            initialTokens: { data: 'acceptor' as const },
          }
        : {}),
      reconnect: { initialDelayMs: 50, maxDelayMs: 1000 },
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]),
      onSession: (s) => {
        session = s;
        s.driver.wire.tap = onFrame;
        // A half-duplex chat room talks in TYPED data (no token governs it), from the first frame on.
        s.on('typed', (unit) => {
          received.push(unit);
          wake?.();
        });
      },
    });
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    ctx.stderr.write(`colloquy trace: cannot open a session at ${url}: ${describeError(e)}\n`);
    return ExitCode.failure;
  }
  const s = session;
  const units = s.negotiated?.units ?? new Set();
  void (async () => {
    for await (const unit of s) {
      received.push(unit);
      wake?.();
    }
  })().catch(() => {
    wake?.();
  });
  s.on('closed', () => wake?.());
  /** Half duplex: gets the data token (PLEASE_TOKENS, then the peer's GIVE_TOKENS) unless held. */
  const takeData = async (): Promise<void> => {
    if (!(s.negotiated?.tokens ?? []).includes('data') || s.tokens.includes('data')) return;
    const given = new Promise<void>((resolve) => {
      const off = s.on('tokens-given', (t) => {
        if (t.includes('data')) {
          off();
          resolve();
        }
      });
    });
    s.requestTokens(['data']);
    await bounded(given, 'the data token');
  };
  const nextUnit = async (after: number): Promise<void> => {
    while (received.length <= after && !s.closed)
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
  };
  const bounded = <T>(p: Promise<T>, what: string): Promise<T> => {
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void =>
        reject(
          ctx.signal.aborted
            ? new Error('interrupted')
            : new Error(`${what}: no answer within ${timeoutMs} ms (--timeout)`),
        );
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e as Error);
        },
      );
    });
  };

  try {
    // A service that greets (chat's welcome) speaks first; let its greeting land before our data.
    if (service === 'chat') await bounded(nextUnit(0), 'the chat welcome');
    for (const step of steps) {
      if (step === 'data') {
        const before = received.length;
        await takeData();
        await s.send(data);
        if (answers) await bounded(nextUnit(before), 'the answer to our data');
      } else if (step === 'minor') {
        if (!units.has('minorSync')) {
          note('minor: skipped, the minorSync unit was not agreed');
          continue;
        }
        // Unconfirmed: a service need not answer minor sync points (X.225 makes it optional).
        await takeData();
        await s.syncMinor({ confirm: false });
      } else if (step === 'major') {
        if (!units.has('majorSync')) {
          note('major: skipped, the majorSync unit was not agreed');
          continue;
        }
        await takeData();
        await bounded(s.syncMajor(), 'the major sync confirmation');
      } else if (step === 'tokens') {
        // Half duplex shows the floor changing hands; otherwise the minor-sync token travels.
        const token = half ? 'data' : 'minorSync';
        if (half) await takeData();
        if (!s.tokens.includes(token)) {
          note(`tokens: skipped, the client does not hold the ${token} token`);
          continue;
        }
        const back = new Promise<void>((resolve) => {
          const off = s.on('tokens-given', (t) => {
            if (t.includes(token)) {
              off();
              resolve();
            }
          });
        });
        s.giveTokens([token]);
        s.requestTokens([token]);
        await bounded(back, `the ${token} token coming back`);
      } else if (step === 'release') {
        if (watchMs > 0) await bounded(new Promise((r) => setTimeout(r, watchMs)), 'watching');
        await takeData(); // a release needs every token
        await bounded(s.release(), 'the release');
      }
    }
    if (!steps.includes('release')) {
      if (watchMs > 0) await bounded(new Promise((r) => setTimeout(r, watchMs)), 'watching');
      s.abort('trace done');
    }
  } catch (e) {
    if (ctx.signal.aborted) {
      if (!s.closed)
        await s.release(undefined, { signal: AbortSignal.timeout(timeoutMs) }).catch(() => s.abort('interrupted'));
      return ExitCode.interrupted;
    }
    ctx.stderr.write(`colloquy trace: ${describeError(e)}\n`);
    if (!s.closed) s.abort('trace failed');
    return ExitCode.failure;
  }
  if (!json)
    print(
      `${counts.out} session frames sent, ${counts.in} received; session ${s.id || '(none)'} ${s.closed ? 'closed' : s.state}`,
    );
  return ExitCode.ok;
}

export const traceCommand: Command = {
  name: 'trace',
  summary: 'open a session and draw its frames as a ladder diagram',
  run: (args, ctx) => trace(args, ctx),
};
