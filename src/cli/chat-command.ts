// `colloquy chat URL`: a terminal (or a pipe) in a chat room of a Colloquy server.
//
// In a terminal it is interactive (readline: a prompt, incoming lines printed above it, /who,
// /turn, /quit). When stdin is not a terminal every line is sent as one message and everything
// the room says is printed; at the end of input the command waits until the room has echoed each
// of its own messages (so none is lost by leaving early), then leaves by orderly release.
// Ctrl-C leaves by orderly release too (bounded by --timeout, then abort), and the dispatcher
// exits 130. All chat logic is in src/apps/chat-client.ts; this file is only the terminal.

import { createInterface } from 'node:readline';
import type { Interface } from 'node:readline';
import { ChatClient } from '../apps/chat-client.js';
import type { ChatMessage } from '../apps/chat-client.js';
import { nickProblem, roomProblem, DEFAULT_ROOM } from '../apps/chat-protocol.js';
import { releasedByServer } from '../apps/peer-release.js';
import { ExitCode, parseMs, parseOrUsage, UsageError } from './args.js';
import { checkSessionUrl, describeError, oneUrl } from './session-args.js';
import type { Command, CommandContext } from './commands.js';
import type {} from '../apps/errors.js';

const HELP = `Usage: colloquy chat URL [options]

Joins a chat room on a Colloquy server (colloquy serve). URL is the server's session endpoint:
ws://HOST:PORT/session or tcp://HOST:PORT (wss:// and tls:// too). The session survives cut
connections: it resumes by itself, and no message is lost or shown twice.

Options:
  --nick NAME        your nick (default: $USER, else guest); a nick already in the room gets
                     a suffix (ada-2), shown when you join
  --room NAME        the room, 1..64 of A-Z a-z 0-9 _ . - (default ${DEFAULT_ROOM})
  --half-duplex      join (or create) a walkie-talkie room: only the holder of the data token
                     speaks. A line typed without the floor asks for it (please-token) and is
                     sent when the holder gives it; the holder gives it when someone asks
  --json             one JSON object per line: {"event":"message","id","room","from","text",
                     "ts","history"}, and events welcome, join, leave, presence, turn, error,
                     interrupted, resumed, left
  --no-history       do not print the history the room sends on join
  --timeout MS       time allowed to join and to leave, in ms (default 10000)
  --credentials TEXT credentials for the server's authenticate hook (colloquy serve takes
                     its admin token where --access keeps chat for logins or the admin)
  -h, --help         show this help

In a terminal: type a line and Enter to send it; /help lists the commands: /who lists the room, /turn asks for the floor
(half duplex), /quit leaves (so does Ctrl-C or Ctrl-D); a line starting with // sends it
with one / removed.
From a pipe: each line of input is one message (empty lines are skipped); at the end of input
the command waits until the room has echoed each of its messages, then leaves.

Text output: "[12:00:05] <ada> hello", "* bob joined", "* bob left", "* turn: ada".
Notices about the connection (cut, resumed) go to stderr.

Exit codes: 0 left the room normally; 1 could not join, the session ended with an error, or
the server ended the chat (its reason is printed); 2 usage error; 130 interrupted by Ctrl-C
(after leaving by orderly release).
`;

const options = {
  nick: { type: 'string' },
  room: { type: 'string' },
  'half-duplex': { type: 'boolean' },
  json: { type: 'boolean' },
  'no-history': { type: 'boolean' },
  timeout: { type: 'string' },
  credentials: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Nick, room and flags from the command line, checked as the service would. */
function parse(args: readonly string[]):
  | {
      url: string;
      nick: string;
      room: string;
      halfDuplex: boolean;
      json: boolean;
      history: boolean;
      timeoutMs: number;
      credentials?: string;
    }
  | 'help' {
  const { values, positionals } = parseOrUsage({ args: [...args], options, allowPositionals: true, strict: true });
  if (values.help) return 'help';
  const url = checkSessionUrl(oneUrl(positionals));
  const envNick = process.env['USER'];
  const nick = values.nick ?? (envNick && !nickProblem(envNick, 32) ? envNick : 'guest');
  const nickBad = nickProblem(nick, 256);
  if (nickBad) throw new UsageError(`--nick: ${nickBad}`);
  const room = values.room ?? DEFAULT_ROOM;
  const roomBad = roomProblem(room);
  if (roomBad) throw new UsageError(`--room: ${roomBad}`);
  const timeoutMs = parseMs(values.timeout, 'timeout', 10_000, 1);
  return {
    url,
    nick,
    room,
    halfDuplex: values['half-duplex'] === true,
    json: values.json === true,
    history: values['no-history'] !== true,
    timeoutMs,
    ...(values.credentials !== undefined ? { credentials: values.credentials } : {}),
  };
}

/** What /help prints at the prompt. */
const CHAT_COMMANDS = [
  'commands: /who    who is in the room',
  '          /turn   ask for the floor (walkie-talkie rooms)',
  '          /quit   leave (orderly release; Ctrl-C or Ctrl-D too)',
  '          /help   this list',
  '          //text  send a line that starts with /',
].join('\n');

const clock = (ts: number): string => new Date(ts).toTimeString().slice(0, 8);

async function chat(args: readonly string[], ctx: CommandContext): Promise<number> {
  const a = parse(args);
  if (a === 'help') {
    ctx.stdout.write(HELP);
    return 0;
  }
  const input = ctx.stdin;
  const interactive = Boolean(
    (input as { isTTY?: boolean } | undefined)?.isTTY && (ctx.stdout as { isTTY?: boolean }).isTTY,
  );

  let rl: Interface | undefined;
  const out = (line: string): void => {
    if (rl) {
      // Print above the prompt, then redraw the prompt with what was typed so far.
      ctx.stdout.write(`\r\x1b[K${line}\n`);
      rl.prompt(true);
    } else ctx.stdout.write(`${line}\n`);
  };
  const emit = (event: string, fields: Record<string, unknown>, text: string | undefined): void => {
    if (a.json) out(JSON.stringify({ event, ...fields }));
    else if (text !== undefined) out(text);
  };
  // Notices go to stderr; at a prompt, above it (the line cleared first), then the prompt is
  // redrawn with what was typed so far, so they never land in the middle of the input line.
  const warn = (text: string): void => {
    if (rl) {
      ctx.stderr.write(`\r\x1b[K${text}\n`);
      rl.prompt(true);
    } else ctx.stderr.write(`${text}\n`);
  };
  const note = (text: string, event: string, fields: Record<string, unknown> = {}): void => {
    if (a.json) out(JSON.stringify({ event, ...fields }));
    else warn(`colloquy chat: ${text}`);
  };

  const joinTimeout = AbortSignal.any([ctx.signal, AbortSignal.timeout(a.timeoutMs)]);
  let client: ChatClient;
  try {
    client = await ChatClient.connect(a.url, {
      nick: a.nick,
      room: a.room,
      halfDuplex: a.halfDuplex,
      welcomeTimeoutMs: a.timeoutMs,
      signal: joinTimeout,
      reconnect: { initialDelayMs: 50, maxDelayMs: 2000 },
      ...(a.credentials !== undefined ? { credentials: a.credentials } : {}),
    });
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    ctx.stderr.write(`colloquy chat: cannot join room '${a.room}' at ${a.url}: ${describeError(e)}\n`);
    return 1;
  }

  const showMessage = (m: ChatMessage & { history: boolean }): void => {
    if (m.history && !a.history) return;
    emit(
      'message',
      { id: m.id, room: m.room, from: m.from, text: m.text, ts: m.ts, history: m.history },
      `[${clock(m.ts)}] <${m.from}> ${m.text}`,
    );
  };
  emit(
    'welcome',
    {
      room: client.room,
      nick: client.nick,
      members: client.members,
      halfDuplex: client.halfDuplex,
      holder: client.holder,
    },
    `* joined ${client.room} as ${client.nick}${client.nick !== a.nick ? ` ('${a.nick}' was taken)` : ''}; here: ${client.members.join(', ')}${client.halfDuplex ? `; walkie-talkie room, floor: ${client.holder ?? 'free'}` : ''}`,
  );
  for (const m of client.history) showMessage({ ...m, history: true });

  // Own messages not yet echoed by the room: at the end of piped input we wait for them.
  let unechoed = 0;
  let settle: (() => void) | undefined;
  const checkSettled = (): void => {
    if (unechoed <= 0) settle?.();
  };
  client.on('message', (m) => {
    showMessage(m);
    if (!m.history && m.from === client.nick) {
      unechoed--;
      checkSettled();
    }
  });
  client.on('join', (j) => emit('join', { room: j.room, nick: j.nick }, `* ${j.nick} joined`));
  client.on('leave', (l) =>
    emit(
      'leave',
      { room: l.room, nick: l.nick, reason: l.reason },
      `* ${l.nick} left${l.reason === 'left' ? '' : ` (${l.reason === 'lost' ? 'connection lost' : 'their server is gone'})`}`,
    ),
  );
  client.on('presence', (members) => emit('presence', { room: client.room, members }, `* here: ${members.join(', ')}`));
  client.on('turn', (holder) =>
    emit(
      'turn',
      { room: client.room, holder },
      `* floor: ${holder === null ? 'free' : holder === client.nick ? 'you' : holder}`,
    ),
  );
  client.on('notice', (n) => {
    if (n.code === 'ERR_CHAT_MESSAGE_TOO_LARGE' || n.code === 'ERR_TOKEN_NOT_HELD') {
      unechoed--;
      checkSettled();
    }
    if (a.json) out(JSON.stringify({ event: 'error', code: n.code, message: n.message }));
    else warn(`colloquy chat: the server says: ${n.message} (${n.code})`);
  });
  client.session.on('reconnecting', ({ attempt }) => {
    if (attempt === 1) note('connection lost; reconnecting (the session resumes, nothing is lost)', 'interrupted');
  });
  client.on('resumed', ({ replayed }) => note(`resumed (${replayed} frames sent again)`, 'resumed', { replayed }));

  let closedError: Error | undefined;
  let serverReason: string | undefined;
  const closed = new Promise<void>((resolve) =>
    client.on('closed', ({ error, serverReason: reason }) => {
      closedError = error;
      serverReason = reason;
      resolve();
    }),
  );

  const send = (text: string): void => {
    unechoed++;
    client.send(text).catch((e: unknown) => {
      unechoed--;
      checkSettled();
      if (!client.session.closed) warn(`colloquy chat: not sent: ${describeError(e)}`);
    });
  };

  // Lines from the user, in order; resolves at the end of input, on /quit, or on Ctrl-C in a
  // terminal (readline keeps the terminal in raw mode, so Ctrl-C arrives as a key, not a signal).
  let reader: Interface | undefined;
  const lines = new Promise<'eof' | 'quit' | 'signal'>((resolve) => {
    if (!input) {
      resolve('eof');
      return;
    }
    const onLine = (line: string): void => {
      if (interactive) {
        const cmd = line.trim();
        rl?.prompt();
        if (cmd === '/quit') {
          resolve('quit');
          return;
        }
        if (cmd === '/who') {
          client.who();
          return;
        }
        if (cmd === '/turn') {
          client.requestTurn();
          return;
        }
        if (cmd === '/help') {
          out(CHAT_COMMANDS);
          return;
        }
        if (cmd.startsWith('/') && !cmd.startsWith('//')) {
          warn(`colloquy chat: unknown command ${cmd.split(/\s/)[0]} (type /help for the list)`);
          return;
        }
        if (line.startsWith('//')) line = line.slice(1);
      }
      if (line.length > 0) send(line);
    };
    if (interactive) {
      rl = createInterface({ input, output: ctx.stdout, prompt: `${client.nick}> `, terminal: true });
      rl.on('SIGINT', () => resolve('signal'));
      reader = rl;
    } else {
      reader = createInterface({ input, terminal: false, crlfDelay: Infinity });
    }
    reader.on('line', onLine);
    reader.on('close', () => resolve('eof'));
    rl?.prompt();
  });

  const stop = new Promise<'signal'>((resolve) =>
    ctx.signal.addEventListener('abort', () => resolve('signal'), { once: true }),
  );
  const why = await Promise.race([lines, stop, closed.then(() => 'closed' as const)]);
  if (why === 'eof' && !interactive) {
    // Leave only once the room has every line we sent (or the session ended, or Ctrl-C).
    await Promise.race([
      new Promise<void>((resolve) => {
        settle = resolve;
        checkSettled();
      }),
      stop,
      closed,
    ]);
  }
  reader?.close();
  rl = undefined;
  if (!client.session.closed) {
    const release = AbortSignal.timeout(a.timeoutMs);
    try {
      await client.close({ signal: release });
    } catch (e) {
      if (!client.session.closed) {
        ctx.stderr.write(
          `colloquy chat: the orderly release did not finish (${describeError(e)}); aborting the session\n`,
        );
        client.abort('release timed out');
      }
    }
  }
  await closed;
  if (closedError) {
    ctx.stderr.write(`colloquy chat: the session ended: ${describeError(closedError)}\n`);
    return ExitCode.failure;
  }
  if (serverReason !== undefined) {
    // Not the user's leaving: the server ended the chat (a stopping node releases its sessions).
    if (a.json) out(JSON.stringify({ event: 'released', room: client.room, reason: serverReason }));
    ctx.stderr.write(`colloquy chat: ${releasedByServer(serverReason)}\n`);
    return ExitCode.failure;
  }
  if (a.json) out(JSON.stringify({ event: 'left', room: client.room, nick: client.nick }));
  return why === 'signal' ? ExitCode.interrupted : ExitCode.ok;
}

export const chatCommand: Command = {
  name: 'chat',
  summary: 'chat in a room (interactive, or line by line from a pipe)',
  run: (args, ctx) => chat(args, ctx),
};
