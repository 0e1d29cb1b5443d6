// Chat fan-out: one room, MEMBERS clients, one of them says MESSAGES messages; every member
// (the sender included) must get every message, in order. Colloquy's chat service over WebSocket
// against a Socket.IO 4 room broadcast over WebSocket.
//
// Theory of operation
//   The measured server runs alone in its own process, and the members in CLIENT_PROCS other
//   processes (this file, forked with BENCH_CHAT_ROLE=server or clients), so the server's
//   fan-out is not measured on an event loop it shares with a thousand clients. The launcher
//   starts every process, steps them through one run over IPC and stops them by their PID
//   (an `exit` message, SIGTERM after 5 s, SIGKILL after 5 more); every step has a deadline, so a
//   run that hangs is reported (what is missing), never waited on forever. One run:
//     1. the server process listens and says its port; the client processes connect their
//        members (CONNECT_BATCH at a time) and say `ready`;
//     2. warm-up: the sender says WARMUP messages, and every client process waits until all of its
//        members have them (JIT and buffers warm on both sides, not measured);
//     3. the server starts its CPU count (process.cpuUsage), the client processes theirs, and the
//        sender says MESSAGES messages in bursts of BURST, waiting for its own copy of a burst's
//        last message before the next (neither side is measured on an unbounded queue);
//     4. every client process reports once each of its members has every message (or WAIT_MS
//        passed): arrivals, latencies, messages missing or out of order, its CPU; the server then
//        reports its CPU over the same span.
//   Every message text is the same size on both sides (MESSAGE_CHARS) and carries its sequence
//   number and the time it was sent (process.hrtime, one monotonic clock for every process on the
//   machine). A member checks that message n arrives as its n-th: a gap, duplicate or reordering
//   counts as `disorder`, a message not arrived as `missing`.
//   Reported per run: deliveries per second (measured deliveries / time from the first send to the
//   last arrival in any process), latency from send to arrival (p50, p99 over every delivery),
//   the server process's CPU per delivery and the client processes' CPU per delivery. The
//   systems run in alternating rounds (Colloquy, Socket.IO, Colloquy, ...), each with fresh
//   processes; each round's ratio is printed, then the best and the median.
//
// Two room sizes: 20 members (2,000 messages) and 1,000 members (100 messages, 100,000
// deliveries). BENCH_CHAT_MEMBERS=20,1000 picks the sizes, BENCH_CHAT_MESSAGES the messages at
// every size, BENCH_CHAT_ROUNDS (3) the rounds, BENCH_CHAT_CLIENT_PROCS (2) the client processes,
// BENCH_CHAT_WAIT_MS (120,000) how long a run waits for its deliveries, BENCH_CHAT_PROFILE=dir a
// V8 CPU profile of every server process (written there when it exits), with the measured span
// of each in window-SYSTEM-PID.json (profile clock, microseconds).
//
// Run: npx tsx bench/chat.ts   (or import { run } and await it). A few minutes.

import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fmt, loadAverages, percentile, ratioText, table } from './support.js';
import { recordTarget } from './targets.js';

type System = 'colloquy' | 'socketio';
const LABEL: Record<System, string> = { colloquy: 'Colloquy chat (ws)', socketio: 'Socket.IO 4 room (ws)' };

const HERE = fileURLToPath(import.meta.url);
const COMPILED = import.meta.url.endsWith('.js');
const SIZES = (process.env.BENCH_CHAT_MEMBERS ?? '20,1000').split(',').map(Number);
/** Messages per run: 2,000 in a small room, 100 at 1,000 members (100,000 deliveries). */
const messagesFor = (members: number): number =>
  Number(process.env.BENCH_CHAT_MESSAGES ?? (members >= 500 ? 100 : 2000));
/** Warm-up messages before a run's measured ones (every member gets them; not measured). */
const warmupFor = (messages: number): number => Math.max(10, Math.round(messages / 10));
const ROUNDS = Math.max(1, Number(process.env.BENCH_CHAT_ROUNDS ?? 3));
const CLIENT_PROCS = Math.max(1, Number(process.env.BENCH_CHAT_CLIENT_PROCS ?? 2));
const BURST = 50;
/** Clients connecting at once (in each client process). */
const CONNECT_BATCH = 25;
/** Every message's text is this long on both sides. */
const MESSAGE_CHARS = 48;
/** How long a run waits for its deliveries (after the first measured send) before it reports what is missing. */
const WAIT_MS = Number(process.env.BENCH_CHAT_WAIT_MS ?? 120_000);
/**
 * How long starting the processes, connecting the members or the warm-up may take: 1,000
 * Colloquy joins took up to 123 s at load average 24 (each costs milliseconds of CPU on both sides).
 */
const SETUP_MS = 300_000;

/** Milliseconds on the machine's monotonic clock, the same in every process. */
const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const cpuMicros = (c: NodeJS.CpuUsage): number => c.user + c.system;

/** `seq time` padded to MESSAGE_CHARS. */
const messageText = (seq: number): string => `${seq} ${now().toFixed(3)} `.padEnd(MESSAGE_CHARS, 'm');

// ---------------------------------------------------------------------------------------------
// IPC between the launcher and its processes.

type ToServer = { type: 'cpu-start' } | { type: 'cpu-stop' } | { type: 'exit' };
type FromServer =
  { type: 'listening'; port: number } | { type: 'cpu-started' } | { type: 'cpu'; micros: number; slowAborts: number };
type ToClients = { type: 'warm' } | { type: 'go' } | { type: 'exit' };
type FromClients =
  | { type: 'ready' }
  | { type: 'warmed'; missing: number }
  | {
      type: 'done';
      got: number;
      missing: number;
      disorder: number;
      latencies: Float64Array;
      /** When the sender's first measured message left (the sender's process only), and the last arrival here. */
      startedAt: number | null;
      lastAt: number;
      cpuMicros: number;
    };

function send(child: ChildProcess, m: ToServer | ToClients): void {
  if (child.connected) child.send(m);
}

/** The next message of `type` from `child`; rejects when it exits first or `ms` pass. */
function next<T extends { type: string }>(child: ChildProcess, type: T['type'], ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if ((m as { type?: string }).type !== type) return;
      done();
      resolve(m as T);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(`${what}: process ${child.pid} exited (${code ?? signal}) before '${type}'`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: no '${type}' from process ${child.pid} within ${ms / 1000} s`));
    }, ms);
    function done(): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function start(env: Record<string, string>, profile: boolean): ChildProcess {
  const dir = process.env.BENCH_CHAT_PROFILE;
  return fork(HERE, [], {
    execArgv: [
      ...(COMPILED ? [] : ['--import', 'tsx']),
      ...(profile && dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []),
    ],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
}

/**
 * Stops a process this bench started, by its PID: `exit` over IPC, then SIGTERM, then SIGKILL.
 * A profiled process gets longer to write its profile.
 */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  send(child, { type: 'exit' });
  const grace = process.env.BENCH_CHAT_PROFILE ? 60_000 : 5000;
  const term = setTimeout(() => child.kill('SIGTERM'), grace);
  const kill = setTimeout(() => child.kill('SIGKILL'), grace + 5000);
  await exited;
  clearTimeout(term);
  clearTimeout(kill);
}

// ---------------------------------------------------------------------------------------------
// The launcher.

interface Result {
  system: System;
  deliveries: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU time of the server process per delivery, microseconds. */
  serverCpu: number;
  /** CPU time of all client processes per delivery, microseconds. */
  clientCpu: number;
  missing: number;
  disorder: number;
  slowAborts: number;
  /** Seconds from starting the processes until the measured sends began (connects, warm-up). */
  setup: number;
  /** Why the run ended early, when it did. */
  failed?: string;
}

async function measure(system: System, members: number, messages: number): Promise<Result> {
  const procs: ChildProcess[] = [];
  const expected = members * messages;
  const began = now();
  let setup = NaN;
  const fail = (why: string): Result => ({
    system,
    deliveries: 0,
    perSecond: NaN,
    p50: NaN,
    p99: NaN,
    serverCpu: NaN,
    clientCpu: NaN,
    missing: expected,
    disorder: 0,
    slowAborts: 0,
    setup: (now() - began) / 1000,
    failed: why,
  });
  try {
    const server = start({ BENCH_CHAT_ROLE: 'server', BENCH_CHAT_SYSTEM: system }, true);
    procs.push(server);
    const { port } = await next<Extract<FromServer, { type: 'listening' }>>(server, 'listening', SETUP_MS, 'server');
    const per = Math.ceil(members / CLIENT_PROCS);
    const clients: ChildProcess[] = [];
    for (let first = 0; first < members; first += per) {
      const c = start(
        {
          BENCH_CHAT_ROLE: 'clients',
          BENCH_CHAT_SYSTEM: system,
          BENCH_CHAT_PORT: String(port),
          BENCH_CHAT_FIRST: String(first),
          BENCH_CHAT_COUNT: String(Math.min(per, members - first)),
          BENCH_CHAT_N: String(messages),
          BENCH_CHAT_WARMUP: String(warmupFor(messages)),
        },
        false,
      );
      procs.push(c);
      clients.push(c);
    }
    await Promise.all(clients.map((c) => next(c, 'ready', SETUP_MS, 'clients')));
    const warmed = clients.map((c) => next<Extract<FromClients, { type: 'warmed' }>>(c, 'warmed', SETUP_MS, 'warm-up'));
    for (const c of clients) send(c, { type: 'warm' });
    const warm = await Promise.all(warmed);
    const warmMissing = warm.reduce((n, w) => n + w.missing, 0);
    if (warmMissing > 0) return fail(`${warmMissing} warm-up deliveries missing`);
    const cpuStarted = next(server, 'cpu-started', SETUP_MS, 'server');
    send(server, { type: 'cpu-start' });
    await cpuStarted;
    const done = clients.map((c) =>
      next<Extract<FromClients, { type: 'done' }>>(c, 'done', WAIT_MS + SETUP_MS, 'deliveries'),
    );
    setup = (now() - began) / 1000;
    for (const c of clients) send(c, { type: 'go' });
    const reports = await Promise.all(done);
    const cpu = next<Extract<FromServer, { type: 'cpu' }>>(server, 'cpu', SETUP_MS, 'server');
    send(server, { type: 'cpu-stop' });
    const serverCpu = await cpu;
    const got = reports.reduce((n, r) => n + r.got, 0);
    const startedAt = reports.find((r) => r.startedAt !== null)?.startedAt ?? NaN;
    const lastAt = Math.max(...reports.map((r) => r.lastAt));
    const latencies = new Float64Array(got);
    let at = 0;
    for (const r of reports) {
      latencies.set(r.latencies, at);
      at += r.latencies.length;
    }
    latencies.sort();
    const sorted = Array.from(latencies);
    return {
      system,
      deliveries: got,
      perSecond: got / ((lastAt - startedAt) / 1000),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      serverCpu: serverCpu.micros / Math.max(1, got),
      clientCpu: reports.reduce((n, r) => n + r.cpuMicros, 0) / Math.max(1, got),
      missing: reports.reduce((n, r) => n + r.missing, 0),
      disorder: reports.reduce((n, r) => n + r.disorder, 0),
      slowAborts: serverCpu.slowAborts,
      setup,
    };
  } catch (e) {
    return fail((e as Error).message);
  } finally {
    // Clients first (they leave), then the server.
    await Promise.all(procs.slice(1).map(stop));
    if (procs[0]) await stop(procs[0]);
  }
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const us = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

export async function run(): Promise<void> {
  for (const members of SIZES) {
    const messages = messagesFor(members);
    console.log(
      `chat: one room, ${fmt(members)} members, ${fmt(messages)} messages of ${MESSAGE_CHARS} characters from one of them ` +
        `(${fmt(members * messages)} deliveries a run), over WebSocket; server in its own process, members in ` +
        `${Math.min(CLIENT_PROCS, members)} client processes; ${ROUNDS} rounds (load average ${loadAverages()})`,
    );
    const rows = [
      [
        'round',
        'system',
        'deliveries/s',
        'p50 ms',
        'p99 ms',
        'server CPU us/delivery',
        'clients CPU us/delivery',
        'missing',
        'disorder',
        'setup s',
      ],
    ];
    const rounds: { c: Result; s: Result }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const c = await measure('colloquy', members, messages);
      const s = await measure('socketio', members, messages);
      rounds.push({ c, s });
      for (const r of [c, s])
        rows.push([
          String(round),
          LABEL[r.system],
          fmt(r.perSecond),
          ms(r.p50),
          ms(r.p99),
          us(r.serverCpu),
          us(r.clientCpu),
          fmt(r.missing),
          fmt(r.disorder),
          r.setup.toFixed(1),
        ]);
      for (const r of [c, s]) {
        if (r.failed) console.log(`  round ${round}, ${LABEL[r.system]}: ${r.failed}`);
        if (r.slowAborts > 0)
          console.log(`  round ${round}, ${LABEL[r.system]}: ${r.slowAborts} member(s) aborted as slow readers`);
      }
    }
    table(rows, 2);
    const rate = rounds.map(({ c, s }) => c.perSecond / s.perSecond);
    const serverCpu = rounds.map(({ c, s }) => s.serverCpu / c.serverCpu);
    const clientCpu = rounds.map(({ c, s }) => s.clientCpu / c.clientCpu);
    const p50 = rounds.map(({ c, s }) => c.p50 / s.p50);
    console.log(
      `  ratio Colloquy / Socket.IO, deliveries/s by round: ${rate.map(ratioText).join(', ')}; ` +
        `best ${ratioText(Math.max(...rate.filter(Number.isFinite)))}, median ${ratioText(median(rate))} (target >= 2x)`,
    );
    console.log(
      `  server CPU per delivery, Socket.IO / Colloquy by round: ${serverCpu.map(ratioText).join(', ')}; median ${ratioText(median(serverCpu))}` +
        ` (clients: median ${ratioText(median(clientCpu))}); p50 latency Colloquy / Socket.IO: median ${ratioText(median(p50))}`,
    );
    const clean = rounds.every(
      ({ c, s }) => !c.failed && !s.failed && c.missing + c.disorder + s.missing + s.disorder === 0,
    );
    const cMed = (f: (r: Result) => number): number => median(rounds.map(({ c }) => f(c)));
    const sMed = (f: (r: Result) => number): number => median(rounds.map(({ s }) => f(s)));
    recordTarget({
      measure: `chat, ${members}-member room, deliveries/s / Socket.IO room (median of ${ROUNDS} rounds)`,
      ours: `${fmt(cMed((r) => r.perSecond))}/s, server ${us(cMed((r) => r.serverCpu))} us CPU`,
      peer: `${fmt(sMed((r) => r.perSecond))}/s, server ${us(sMed((r) => r.serverCpu))} us CPU`,
      ratio: median(rate),
      // The issue: >= 2x at 20 members, and measured (every delivery arrived, in order) at 1,000.
      ...(members >= 500
        ? { target: 'measured, none missing', met: clean }
        : { target: '>= 2x', met: clean && median(rate) >= 2 }),
      explained: 'docs/runtime.md#Chat fan-out',
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The server process.

async function serveColloquy(): Promise<{ port: number; slowAborts(): number; close(): Promise<void> }> {
  const { listen } = await import('../src/server/server.js');
  const { ServiceHost } = await import('../src/apps/host.js');
  const { chatService } = await import('../src/apps/chat.js');
  const chat = chatService({ historyLimit: 10 });
  const host = new ServiceHost([chat]);
  const server = await listen({ ws: { port: 0 }, authenticate: host.authenticate, handshakeTimeoutMs: SETUP_MS });
  host.attach(server);
  return {
    port: server.addresses.ws as number,
    slowAborts: () => chat.stats.slowAborts,
    close: () => server.destroy(),
  };
}

async function serveSocketIo(): Promise<{ port: number; slowAborts(): number; close(): Promise<void> }> {
  const { Server } = await import('socket.io');
  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ['websocket'] });
  io.on('connection', (socket) => {
    void socket.join('bench');
    socket.on('say', (text: string) => {
      io.to('bench').emit('message', { from: socket.id, text });
    });
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  return {
    port: (httpServer.address() as AddressInfo).port,
    slowAborts: () => 0,
    close: () =>
      new Promise<void>((r) => {
        void io.close(() => r());
      }),
  };
}

async function serverProcess(system: System): Promise<void> {
  const server = system === 'colloquy' ? await serveColloquy() : await serveSocketIo();
  let cpu: NodeJS.CpuUsage | undefined;
  let since = 0;
  const reply = (m: FromServer): void => {
    process.send?.(m);
  };
  process.on('disconnect', () => process.exit(1));
  process.on('message', (m: ToServer) => {
    if (m.type === 'cpu-start') {
      cpu = process.cpuUsage();
      since = now();
      reply({ type: 'cpu-started' });
    } else if (m.type === 'cpu-stop') {
      // With BENCH_CHAT_PROFILE: the measured span on the profile's clock (microseconds of the
      // monotonic clock), so a reader of the profile can keep only its samples.
      const dir = process.env.BENCH_CHAT_PROFILE;
      if (dir)
        writeFileSync(
          join(dir, `window-${system}-${process.pid}.json`),
          JSON.stringify({ system, pid: process.pid, startUs: since * 1000, endUs: now() * 1000 }),
        );
      reply({ type: 'cpu', micros: cpuMicros(process.cpuUsage(cpu)), slowAborts: server.slowAborts() });
    } else if (m.type === 'exit') {
      // A bounded close, then a normal exit (so --cpu-prof writes its profile).
      void Promise.race([server.close(), new Promise((r) => setTimeout(r, 3000))]).then(() => process.exit(0));
    }
  });
  reply({ type: 'listening', port: server.port });
}

// ---------------------------------------------------------------------------------------------
// A client process: members first .. first + count - 1 (member 0 is the sender).

interface Member {
  send(text: string): void;
  close(): void;
}

async function joinColloquy(port: number, i: number, onText: (text: string) => void): Promise<Member> {
  const { ChatClient } = await import('../src/apps/chat-client.js');
  // Connecting is not measured: on a loaded machine a thousand joins (each announced to the room)
  // may take longer than the default 10 s handshake and welcome deadlines.
  const c = await ChatClient.connect(`ws://127.0.0.1:${port}/session`, {
    nick: `m${i}`,
    room: 'bench',
    handshakeTimeoutMs: SETUP_MS,
    welcomeTimeoutMs: SETUP_MS,
  });
  c.on('message', (m) => {
    if (!m.history) onText(m.text);
  });
  return {
    send: (text) => {
      c.send(text).catch(() => {
        /* counted as missing */
      });
    },
    close: () => c.abort(),
  };
}

async function joinSocketIo(port: number, _i: number, onText: (text: string) => void): Promise<Member> {
  const { io } = await import('socket.io-client');
  const c = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('connect_error', reject);
  });
  c.on('message', (m: { text: string }) => onText(m.text));
  return {
    send: (text) => void c.emit('say', text),
    close: () => void c.disconnect(),
  };
}

async function clientProcess(system: System): Promise<void> {
  const env = (name: string): number => Number(process.env[name]);
  const port = env('BENCH_CHAT_PORT');
  const first = env('BENCH_CHAT_FIRST');
  const count = env('BENCH_CHAT_COUNT');
  const messages = env('BENCH_CHAT_N');
  const warmup = env('BENCH_CHAT_WARMUP');
  const total = warmup + messages;
  const reply = (m: FromClients): void => {
    process.send?.(m);
  };
  process.on('disconnect', () => process.exit(1));

  // Per member: the sequence number it expects next. Measured arrivals (seq >= warmup) are timed.
  const nextSeq = new Int32Array(count);
  const latencies = new Float64Array(count * messages);
  let got = 0;
  let warmGot = 0;
  let disorder = 0;
  let lastAt = 0;
  let waiter: { check(): boolean; resolve(): void } | undefined;
  const wake = (): void => {
    if (waiter?.check()) {
      const w = waiter;
      waiter = undefined;
      w.resolve();
    }
  };
  /** Resolves once `check()` holds (checked on every arrival) or after `ms`. */
  const until = (check: () => boolean, ms: number): Promise<void> =>
    check()
      ? Promise.resolve()
      : new Promise((resolve) => {
          const timer = setTimeout(() => {
            waiter = undefined;
            resolve();
          }, ms);
          waiter = {
            check,
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
          };
        });
  const arrived = (k: number, text: string): void => {
    const at = now();
    const space = text.indexOf(' ');
    const seq = Number(text.slice(0, space));
    if (seq !== nextSeq[k]) disorder++;
    nextSeq[k] = seq + 1;
    if (seq < warmup) warmGot++;
    else if (got < latencies.length) {
      latencies[got++] = at - Number(text.slice(space + 1, text.indexOf(' ', space + 1)));
      lastAt = at;
    }
    if (waiter) wake();
  };

  const join = system === 'colloquy' ? joinColloquy : joinSocketIo;
  const list: Member[] = [];
  for (let k = 0; k < count; k += CONNECT_BATCH)
    await Promise.all(
      Array.from({ length: Math.min(CONNECT_BATCH, count - k) }, async (_, j) => {
        list[k + j] = await join(port, first + k + j, (text) => arrived(k + j, text));
      }),
    );
  const sender = first === 0 ? list[0] : undefined;
  /** Says messages from..to-1, in bursts, waiting for the sender's own copy of each burst's last. */
  const say = async (from: number, to: number, deadline: number): Promise<void> => {
    for (let seq = from; seq < to && now() < deadline;) {
      const end = Math.min(to, seq + BURST);
      for (; seq < end; seq++) sender?.send(messageText(seq));
      await until(() => (nextSeq[0] as number) >= end, Math.max(0, deadline - now()));
    }
  };
  const settled = (upTo: number): boolean => nextSeq.every((n) => n >= upTo);

  process.on('message', (m: ToClients) => {
    if (m.type === 'warm') {
      void (async () => {
        const deadline = now() + SETUP_MS;
        if (sender) await say(0, warmup, deadline);
        await until(() => settled(warmup), Math.max(0, deadline - now()));
        reply({ type: 'warmed', missing: count * warmup - warmGot });
      })();
    } else if (m.type === 'go') {
      void (async () => {
        const cpu = process.cpuUsage();
        const startedAt = now();
        const deadline = startedAt + WAIT_MS;
        if (sender) await say(warmup, total, deadline);
        await until(() => got >= latencies.length, Math.max(0, deadline - now()));
        reply({
          type: 'done',
          got,
          missing: latencies.length - got,
          disorder,
          latencies: latencies.subarray(0, got),
          startedAt: sender ? startedAt : null,
          lastAt,
          cpuMicros: cpuMicros(process.cpuUsage(cpu)),
        });
      })();
    } else if (m.type === 'exit') {
      for (const c of list) c?.close();
      setTimeout(() => process.exit(0), 200).unref();
    }
  });
  reply({ type: 'ready' });
}

// ---------------------------------------------------------------------------------------------

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const role = process.env.BENCH_CHAT_ROLE;
  const system = (process.env.BENCH_CHAT_SYSTEM ?? 'colloquy') as System;
  if (role === 'server') await serverProcess(system);
  else if (role === 'clients') await clientProcess(system);
  else await run();
}
