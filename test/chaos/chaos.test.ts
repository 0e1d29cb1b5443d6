// The acceptance test: sessions through a proxy that tears frames apart and cuts the connection
// every 20-500 ms deliver every message exactly once, in order, both directions, over tcp and
// over ws; the same in half duplex with the data token changing hands, minor and major sync
// points, resynchronize and activities in play.
//
// Knobs (environment):
//   COLLOQUY_CHAOS_SEED        replay a run (every failure message names the seed)
//   COLLOQUY_CHAOS_MESSAGES    messages each way (default 100,000, sizes 0..65,536 bytes)
//   COLLOQUY_CHAOS_TINY_MESSAGES  the same for the tiny-pieces cases (default 2,000, sizes
//                              0..2,048 bytes, through 1..7-byte pieces held back up to 2 ms)
//   COLLOQUY_CHAOS_MAX_CHUNK   largest piece the proxy writes at once (default 65,536)
//   COLLOQUY_CHAOS_MAX_DELAY   largest hold-back per piece in ms (default 1)
//   COLLOQUY_CHAOS_CASE_MS     time limit of one case (default 180,000)
//   COLLOQUY_CHAOS_BUDGET_MS   time limit of all cases together (default 480,000: 8 minutes)
//   COLLOQUY_CHAOS_PROXY       'inline' runs the proxy on the test's thread (default: a worker)
//
// How a message is checked
//   Message i of direction d has a size drawn from a PRNG seeded by (seed, d); it starts with a
//   header [d, i (u32), size (u32)] cut to the size, and continues with a slice of a seeded
//   random block chosen by (d, i). The receiver regenerates the expected size and content from
//   the same seed and compares every byte, so a lost, duplicated, reordered, truncated or
//   corrupted message fails, and so does an empty one out of place.
//   In half duplex the sender also logs each control point (activity start/end, minor/major sync,
//   resynchronize, token give/please) with the number of messages sent before it; the receiver
//   checks that each arrives exactly once, in order, between the right two messages.

import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { ClientSession, ConnectOptions } from '../../src/client/connect.js';
import type { IndicationHandlers, Session } from '../../src/driver/session.js';
import { SessionError } from '../../src/engine/errors.js';
import type { DialogueModeName, TokenName, UnitName } from '../../src/engine/frames.js';
import type { SessionEvent } from '../../src/engine/machine/index.js';
import { listen } from '../../src/server/server.js';
import type { Server, ServerOptions } from '../../src/server/server.js';
import { chaosSeed, mixSeed, mulberry32, randInt, startFaultProxy, startFaultProxyWorker } from './fault-proxy.js';
import type { FaultProxy } from './fault-proxy.js';

const SEED = chaosSeed();
const ALL_MESSAGES = Number(process.env.COLLOQUY_CHAOS_MESSAGES ?? 100_000);
const MAX_SIZE = 65_536;
const TINY_MESSAGES = Number(process.env.COLLOQUY_CHAOS_TINY_MESSAGES ?? 2000);
const TINY_MAX_SIZE = 2048;
const MAX_CHUNK = Number(process.env.COLLOQUY_CHAOS_MAX_CHUNK ?? 65_536);
const MAX_DELAY_MS = Number(process.env.COLLOQUY_CHAOS_MAX_DELAY ?? 1);
const CUT_EVERY_MS: [number, number] = [20, 500];
/** The proxy runs on its own thread unless COLLOQUY_CHAOS_PROXY=inline. */
const PROXY_INLINE = process.env.COLLOQUY_CHAOS_PROXY === 'inline';
const CASE_MS = Number(process.env.COLLOQUY_CHAOS_CASE_MS ?? 180_000);
const BUDGET_MS = Number(process.env.COLLOQUY_CHAOS_BUDGET_MS ?? 480_000);
const SUITE_STARTED = performance.now();
/** No counter moved for this long: a hang. */
const STALL_MS = 20_000;
const HEARTBEAT_MS = 1000;
/** COLLOQUY_CHAOS_TRACE=1 logs every event but data (for a small MESSAGES). */
const TRACE = process.env.COLLOQUY_CHAOS_TRACE === '1';
const RESUME_WINDOW_MS = 20_000;
const RECONNECT = { initialDelayMs: 5, maxDelayMs: 200, maxAttempts: 500 };

const HEADER = 9;
const TOKENS: TokenName[] = ['data', 'minorSync', 'majorActivity'];
const HALF_DUPLEX_UNITS: UnitName[] = ['halfDuplex', 'activities', 'majorSync', 'minorSync', 'resynchronize'];
/** A side hands the tokens over at the end of its turn, not whenever asked (the default). */
const KEEP_TOKENS: IndicationHandlers = { tokensRequested: () => false };

type Dir = 0 | 1; // 0: client to server, 1: server to client
const DIR_NAME = ['client->server', 'server->client'] as const;

// ---- messages ------------------------------------------------------------------------------

/** A seeded random block; message bodies are slices of it. */
function randomBlock(seed: number, n: number): Buffer {
  const rand = mulberry32(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE((rand() * 0x100000000) >>> 0, i);
  return b;
}

const BLOCK = randomBlock(mixSeed(SEED, 0xb10c), 2 * MAX_SIZE);

/** Sizes of one direction's messages, in order: both ends draw the same sequence. */
function sizes(dir: Dir, maxSize: number): () => number {
  const rand = mulberry32(mixSeed(SEED, dir, 0x5123));
  return () => randInt(rand, 0, maxSize);
}

const bodyOffset = (dir: Dir, i: number): number => mixSeed(dir, i, 0xb0d1) & 0xffff;

function header(dir: Dir, i: number, size: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER);
  h[0] = dir;
  h.writeUInt32BE(i, 1);
  h.writeUInt32BE(size, 5);
  return h;
}

function makeMessage(dir: Dir, i: number, size: number): Uint8Array {
  const b = Buffer.allocUnsafe(size);
  header(dir, i, size).copy(b, 0, 0, Math.min(size, HEADER));
  if (size > HEADER) BLOCK.copy(b, HEADER, bodyOffset(dir, i), bodyOffset(dir, i) + size - HEADER);
  return b;
}

/** Why `m` is not message i of `dir` with `size` bytes, or null when it is. */
function mismatch(m: Uint8Array, dir: Dir, i: number, size: number): string | null {
  const got = Buffer.from(m.buffer, m.byteOffset, m.byteLength);
  const seen =
    got.length >= HEADER
      ? ` (its header says direction ${got[0]}, index ${got.readUInt32BE(1)}, size ${got.readUInt32BE(5)})`
      : '';
  if (got.length !== size) return `message ${i} ${DIR_NAME[dir]}: expected ${size} bytes, got ${got.length}${seen}`;
  const h = header(dir, i, size);
  const n = Math.min(size, HEADER);
  if (h.compare(got, 0, n, 0, n) !== 0) return `message ${i} ${DIR_NAME[dir]}: header differs${seen}`;
  if (size > HEADER && BLOCK.compare(got, HEADER, size, bodyOffset(dir, i), bodyOffset(dir, i) + size - HEADER) !== 0) {
    let at = HEADER;
    while (at < size && got[at] === BLOCK[bodyOffset(dir, i) + at - HEADER]) at++;
    return `message ${i} ${DIR_NAME[dir]}: content differs at byte ${at} of ${size}`;
  }
  return null;
}

// ---- plumbing ------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Failure {
  private rejectFn: (e: Error) => void = () => {};
  readonly promise: Promise<never>;
  message: string | null = null;
  constructor(private readonly describe: () => string) {
    this.promise = new Promise<never>((_, reject) => {
      this.rejectFn = reject;
    });
    this.promise.catch(() => {}); // raced by the case; never unhandled
  }
  fail(message: string): void {
    if (this.message !== null) return;
    this.message = message;
    this.rejectFn(new Error(`${message}\n${this.describe()}`));
  }
  check(): void {
    if (this.message !== null) throw new Error(this.message);
  }
}

/** Wakes waiters when something happened; waits are bounded by `failure` and a poll interval. */
class Signal {
  private waiters: (() => void)[] = [];
  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  async until(pred: () => boolean, failure: Failure, what: string, deadline: number): Promise<void> {
    while (!pred()) {
      failure.check();
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 250);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.waiters.push(done);
      });
    }
  }
}

const errText = (e: unknown): string =>
  e instanceof SessionError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);

interface Marker {
  kind: 'start' | 'minor' | 'major' | 'end' | 'resync' | 'give' | 'please';
  after: number;
  serial?: number;
  id?: string;
}

/** One direction's progress: what was sent, what arrived, and the control points in between. */
class Flow {
  sent = 0;
  sentBytes = 0;
  /** Messages verified through the session's async iterator. */
  received = 0;
  /** Data events seen (the machine's event stream). */
  events = 0;
  readonly markers: Marker[] = [];
  markerHead = 0;
  readonly nextSize: () => number;
  private readonly expectSize: () => number;
  constructor(
    readonly dir: Dir,
    maxSize: number,
  ) {
    this.nextSize = sizes(dir, maxSize);
    this.expectSize = sizes(dir, maxSize);
  }
  verify(m: Uint8Array): string | null {
    const problem = mismatch(m, this.dir, this.received, this.expectSize());
    this.received++;
    return problem;
  }
}

// ---- one case ------------------------------------------------------------------------------

interface Case {
  transport: 'tcp' | 'ws';
  mode: 'fullDuplex' | 'halfDuplex';
  /** Tiny pieces: the proxy writes 1..7 bytes at a time (every frame torn apart), small messages. */
  tiny?: boolean;
}

interface Peer {
  name: 'client' | 'server';
  session: Session;
  out: Flow;
  in: Flow;
}

const results: string[] = [];

async function runCase(c: Case): Promise<void> {
  const started = performance.now();
  const deadline = Math.min(started + CASE_MS, SUITE_STARTED + BUDGET_MS);
  const half = c.mode === 'halfDuplex';
  const modes: DialogueModeName[] = [c.mode];
  const MESSAGES = c.tiny ? TINY_MESSAGES : ALL_MESSAGES;
  const maxSize = c.tiny ? TINY_MAX_SIZE : MAX_SIZE;
  const flows: [Flow, Flow] = [new Flow(0, maxSize), new Flow(1, maxSize)];
  const counts = {
    interrupted: 0,
    resumed: 0,
    reconnecting: 0,
    serverInterrupted: 0,
    turns: [0, 0],
    resyncs: 0,
    activities: 0,
  };
  let server: Server | undefined;
  let proxy: FaultProxy | undefined;
  let client: ClientSession | undefined;
  let peerSession: Session | undefined;
  const signal = new Signal();
  const label = caseName(c);

  const describeState = (): string => {
    const f = flows
      .map(
        (x, d) =>
          `${DIR_NAME[d]}: sent ${x.sent}, events ${x.events}, received ${x.received}, markers ${x.markerHead}/${x.markers.length}`,
      )
      .join('; ');
    const st = (s: Session | undefined): string =>
      s ? `${s.state} tokens [${s.tokens.join(',')}] ${JSON.stringify(s.stats)}` : 'none';
    return [
      `[chaos ${label}] seed ${SEED} (rerun: COLLOQUY_CHAOS_SEED=${SEED} ${c.tiny ? 'COLLOQUY_CHAOS_TINY_MESSAGES' : 'COLLOQUY_CHAOS_MESSAGES'}=${MESSAGES} npx vitest run test/chaos/chaos.test.ts -t '${label}$')`,
      `  after ${((performance.now() - started) / 1000).toFixed(1)} s: ${f}`,
      `  client: ${st(client)}`,
      `  server session: ${st(peerSession)}`,
      `  proxy: ${proxy ? JSON.stringify(proxy.stats) : 'none'}; interrupted ${counts.interrupted}, resumed ${counts.resumed}, reconnect attempts ${counts.reconnecting}`,
    ].join('\n');
  };
  const failure = new Failure(describeState);

  const timers: ReturnType<typeof setInterval>[] = [];
  try {
    // A stall watchdog and the case deadline, both failing with the whole picture.
    let lastProgress = -1;
    let lastMove = performance.now();
    timers.push(
      setInterval(() => {
        const p = flows.reduce((a, f) => a + f.sent + f.events + f.received + f.markerHead, 0) + counts.resumed;
        if (p !== lastProgress) {
          lastProgress = p;
          lastMove = performance.now();
        } else if (performance.now() - lastMove > STALL_MS)
          failure.fail(`no progress for ${STALL_MS / 1000} s (a hang)`);
        if (performance.now() > deadline)
          failure.fail(`out of time: ${CASE_MS / 1000} s per case, ${BUDGET_MS / 1000} s for all cases`);
      }, 500),
    );

    const serverOptions: ServerOptions = {
      heartbeatMs: HEARTBEAT_MS,
      resumeWindowMs: RESUME_WINDOW_MS,
      modes,
      ...(half ? { handlers: KEEP_TOKENS } : {}),
      ...(c.transport === 'tcp' ? { tcp: { port: 0 } } : { ws: { port: 0, path: '/session' } }),
    };
    server = await listen(serverOptions);
    const sessions = new Map<string, Session>();
    server.on('session', (s) => sessions.set(s.id, s));
    const targetPort = c.transport === 'tcp' ? server.addresses.tcp : server.addresses.ws;
    if (targetPort === undefined) throw new Error(`the server opened no ${c.transport} endpoint`);
    proxy = await (PROXY_INLINE ? startFaultProxy : startFaultProxyWorker)({
      target: { host: '127.0.0.1', port: targetPort },
      seed: mixSeed(SEED, c.transport === 'tcp' ? 1 : 2, half ? 2 : 1, c.tiny ? 1 : 0),
      cutEveryMs: CUT_EVERY_MS,
      maxChunk: c.tiny ? 7 : MAX_CHUNK,
      maxDelayMs: c.tiny ? 2 : MAX_DELAY_MS,
    });
    const url = c.transport === 'tcp' ? `tcp://127.0.0.1:${proxy.port}` : `ws://127.0.0.1:${proxy.port}/session`;
    const clientOptions: ConnectOptions = {
      heartbeatMs: HEARTBEAT_MS,
      resumeWindowMs: RESUME_WINDOW_MS,
      reconnect: RECONNECT,
      modes,
      ...(half ? { units: HALF_DUPLEX_UNITS, handlers: KEEP_TOKENS } : {}),
    };
    // The first handshake itself may be cut; connect() redials, but give up after a few tries.
    for (let attempt = 1; !client; attempt++) {
      try {
        client = await connect(url, clientOptions);
      } catch (e) {
        if (attempt >= 5) throw new Error(`connect failed ${attempt} times, last: ${errText(e)}\n${describeState()}`);
      }
    }
    const cs: ClientSession = client;
    await signal.until(() => sessions.has(cs.id), failure, 'the server session', deadline);
    const ss = sessions.get(cs.id) as Session;
    peerSession = ss;
    expect(cs.negotiated?.mode, `seed ${SEED}`).toBe(c.mode);

    cs.on('interrupted', () => {
      counts.interrupted++;
    });
    cs.on('resumed', () => {
      counts.resumed++;
      signal.wake();
    });
    cs.on('reconnecting', () => {
      counts.reconnecting++;
    });
    ss.on('interrupted', () => {
      counts.serverInterrupted++;
    });

    const peers: [Peer, Peer] = [
      { name: 'client', session: cs, out: flows[0], in: flows[1] },
      { name: 'server', session: ss, out: flows[1], in: flows[0] },
    ];
    const closedWith = new Map<string, SessionError | undefined>();
    const peerWants = [false, false];
    const minorPromises = { issued: 0, resolved: 0, rejected: 0 };

    for (const [me, p] of peers.entries()) {
      // The event stream: counts data, checks control points in order, refuses surprises.
      p.session.on('event', (e: SessionEvent) => {
        if (TRACE && e.type !== 'data' && e.type !== 'writable')
          console.log(
            `[trace ${p.name}] ${e.type} ${JSON.stringify(e, (k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))} tokens [${p.session.tokens.join(',')}]`,
          );
        const flow = p.in;
        const marker = (kind: Marker['kind'], serial?: number, id?: string): void => {
          const m = flow.markers[flow.markerHead];
          if (!m)
            return failure.fail(
              `${p.name} got ${kind}${serial !== undefined ? ` ${serial}` : ''} that was never sent (or twice), after ${flow.events} messages`,
            );
          if (
            m.kind !== kind ||
            m.after !== flow.events ||
            (m.serial !== undefined && serial !== undefined && m.serial !== serial) ||
            (m.id !== undefined && m.id !== id)
          ) {
            return failure.fail(
              `${p.name} got ${kind} serial ${serial} id ${id} after ${flow.events} messages; expected ${m.kind} serial ${m.serial} id ${m.id} after ${m.after}`,
            );
          }
          flow.markerHead++;
        };
        switch (e.type) {
          case 'data': {
            const m = flow.markers[flow.markerHead];
            if (m && m.after <= flow.events)
              failure.fail(
                `${p.name}: message ${flow.events} arrived before the ${m.kind} sent after message ${m.after}`,
              );
            flow.events++;
            if (flow.events > MESSAGES)
              failure.fail(`${p.name} got message number ${flow.events} of ${MESSAGES} (duplicate or invented)`);
            return signal.wake();
          }
          case 'activity-start':
            return marker('start', undefined, Buffer.from(e.activityId).toString());
          case 'sync-minor':
            marker('minor', e.serial);
            if (e.confirm) {
              queueMicrotask(() => {
                try {
                  p.session.confirmMinorSync();
                } catch (error) {
                  if (!(error instanceof SessionError && error.code === 'ERR_NOTHING_TO_CONFIRM'))
                    failure.fail(`${p.name} could not confirm minor sync ${e.serial}: ${errText(error)}`);
                }
              });
            }
            return;
          case 'sync-major':
            return marker('major', e.serial);
          case 'activity-end':
            return marker('end', e.serial);
          case 'resync':
            return marker('resync', e.serial);
          case 'tokens-given':
            marker('give');
            return signal.wake();
          case 'tokens-requested':
            marker('please');
            peerWants[me] = true;
            return signal.wake();
          case 'data-discarded':
            return failure.fail(`${p.name}: ${e.payloads.length} messages discarded (${e.direction})`);
          case 'cancelled':
            return failure.fail(`${p.name}: ${e.service} cancelled by ${e.by} (${e.side})`);
          case 'exception':
            return failure.fail(`${p.name}: exception ${e.from} ${e.reason} ${e.message}`);
          case 'closed':
            closedWith.set(p.name, e.error);
            if (e.error) failure.fail(`${p.name} session closed: ${errText(e.error)}`);
            return signal.wake();
          default:
            return;
        }
      });
    }

    // Receivers: the application's view (async iteration), every byte checked.
    const receivers = peers.map(async (p) => {
      try {
        for await (const m of p.session) {
          const problem = p.in.verify(m);
          if (problem) return failure.fail(`${p.name} received a wrong message: ${problem}`);
          if (p.in.received === MESSAGES) return;
        }
        failure.fail(`${p.name}: the session ended after ${p.in.received} of ${MESSAGES} messages`);
      } catch (e) {
        failure.fail(`${p.name}: reading failed after ${p.in.received} messages: ${errText(e)}`);
      }
    });

    const send = async (p: Peer): Promise<void> => {
      const f = p.out;
      const size = f.nextSize();
      const m = makeMessage(f.dir, f.sent, size);
      try {
        await p.session.send(m);
      } catch (e) {
        failure.fail(`${p.name}: send of message ${f.sent} failed: ${errText(e)}`);
        throw e;
      }
      f.sent++;
      f.sentBytes += size;
    };

    let senders: Promise<unknown>[];
    if (!half) {
      senders = peers.map(async (p) => {
        while (p.out.sent < MESSAGES) {
          failure.check();
          await send(p);
        }
      });
    } else {
      // Half duplex: whoever holds every token takes a turn (start an activity if none, a batch
      // of messages with minor sync points, then a major sync or the activity's end, awaited,
      // sometimes a resynchronize), then hands the tokens over if the peer asked for them.
      const holdsAll = (s: Session): boolean => TOKENS.every((t) => s.tokens.includes(t));
      let activityNo = 0;
      const turn = async (me: number, p: Peer): Promise<void> => {
        const s = p.session;
        const f = p.out;
        const rand = mulberry32(mixSeed(SEED, me, 0x7a11, counts.turns[me] ?? 0));
        counts.turns[me] = (counts.turns[me] ?? 0) + 1;
        if (s.machine.activity === null) {
          const id = `${p.name}-${++activityNo}`;
          f.markers.push({ kind: 'start', after: f.sent, id });
          s.startActivity(id);
          counts.activities++;
        }
        const batch = Math.min(MESSAGES - f.sent, randInt(rand, 1, 400));
        for (let j = 0; j < batch; j++) {
          failure.check();
          await send(p);
          if (rand() < 0.05) {
            const confirm = rand() < 0.25;
            f.markers.push({ kind: 'minor', after: f.sent, serial: s.serial as number });
            const done = s.syncMinor({ confirm });
            if (confirm) {
              minorPromises.issued++;
              done.then(
                () => {
                  minorPromises.resolved++;
                },
                () => {
                  minorPromises.rejected++;
                },
              );
            }
          }
        }
        const serial = s.serial as number;
        if (rand() < 0.2) {
          f.markers.push({ kind: 'end', after: f.sent, serial });
          const got = await Promise.race([s.endActivity(), failure.promise]);
          if (got !== serial) failure.fail(`${p.name}: activity end confirmed serial ${got}, expected ${serial}`);
        } else {
          f.markers.push({ kind: 'major', after: f.sent, serial });
          const got = await Promise.race([s.syncMajor(), failure.promise]);
          if (got !== serial) failure.fail(`${p.name}: major sync confirmed serial ${got}, expected ${serial}`);
          if (rand() < 0.1) {
            // Right after a confirmed major sync nothing is in flight: a restart to V(A) loses nothing.
            // After major sync `serial` is confirmed, V(A) = V(M) = serial + 1: the restart point.
            f.markers.push({ kind: 'resync', after: f.sent, serial: serial + 1 });
            const to = await Promise.race([s.resynchronize('restart'), failure.promise]);
            if (to !== serial + 1)
              failure.fail(
                `${p.name}: resynchronize completed at ${to} after major sync ${serial}, expected ${serial + 1}`,
              );
            counts.resyncs++;
            if (!holdsAll(s)) failure.fail(`${p.name}: holds [${s.tokens.join(',')}] after its own resynchronize`);
          }
        }
      };
      const actor = async (me: number, p: Peer): Promise<void> => {
        const s = p.session;
        let asked = false;
        const done = (): boolean => p.out.sent === MESSAGES && p.in.events === MESSAGES;
        while (!done()) {
          failure.check();
          if (!holdsAll(s)) {
            if (p.out.sent < MESSAGES && !asked) {
              p.out.markers.push({ kind: 'please', after: p.out.sent });
              s.requestTokens(TOKENS);
              asked = true;
            }
            await signal.until(() => holdsAll(s) || done(), failure, `${p.name} to get the tokens`, deadline);
            continue;
          }
          asked = false;
          if (p.out.sent < MESSAGES) await turn(me, p);
          if (peerWants[me]) {
            peerWants[me] = false;
            p.out.markers.push({ kind: 'give', after: p.out.sent });
            s.giveTokens(TOKENS);
            continue;
          }
          if (p.out.sent === MESSAGES)
            await signal.until(
              () => peerWants[me] === true || done(),
              failure,
              `${p.name}: the peer to ask for the tokens or finish`,
              deadline,
            );
        }
      };
      senders = peers.map((p, me) => actor(me, p));
    }

    await Promise.race([Promise.all([...senders, ...receivers]), failure.promise]);
    failure.check();

    if (half) {
      // Whoever holds the tokens ends the activity and, if it is the server, hands them over.
      const holder = peers.find((p) => TOKENS.every((t) => p.session.tokens.includes(t)));
      if (!holder) throw new Error(`nobody holds every token at the end\n${describeState()}`);
      if (holder.session.machine.activity !== null) {
        const serial = holder.session.serial as number;
        holder.out.markers.push({ kind: 'end', after: holder.out.sent, serial });
        await Promise.race([holder.session.endActivity(), failure.promise]);
      }
      if (holder.name === 'server') {
        holder.out.markers.push({ kind: 'give', after: holder.out.sent });
        holder.session.giveTokens(TOKENS);
        await signal.until(
          () => TOKENS.every((t) => cs.tokens.includes(t)),
          failure,
          'the client to get the tokens for release',
          deadline,
        );
      }
    }

    // Everything acknowledged both ways, then an orderly release through the cuts.
    await signal.until(
      () => [cs, ss].every((s) => s.stats.replayFrames === 0 && s.stats.queuedBytes === 0),
      failure,
      'every frame to be acknowledged',
      deadline,
    );
    const released = await Promise.race([cs.release(), failure.promise]);
    expect(released, `seed ${SEED}: release refused`).toBe(true);
    await signal.until(() => closedWith.has('client'), failure, 'the client to close', deadline);
    // The server closes when our ACK of its DISCONNECT arrives; a cut may swallow that ACK, and
    // then it closes (without error) only when its resume window runs out.
    const serverDeadline = Math.min(deadline, performance.now() + 3000);
    while (!closedWith.has('server') && performance.now() < serverDeadline) await sleep(50);
    const serverNote = closedWith.has('server')
      ? 'closed'
      : `still ${ss.state} (the ACK of its DISCONNECT was cut; it closes at its resume window)`;
    failure.check();

    // Exactly once, in order, nothing extra, every control point delivered once.
    for (const f of flows) {
      expect(f.sent, `seed ${SEED}: ${DIR_NAME[f.dir]} sent`).toBe(MESSAGES);
      expect(f.received, `seed ${SEED}: ${DIR_NAME[f.dir]} received`).toBe(MESSAGES);
      expect(f.events, `seed ${SEED}: ${DIR_NAME[f.dir]} data events`).toBe(MESSAGES);
      expect(f.markerHead, `seed ${SEED}: ${DIR_NAME[f.dir]} control points delivered`).toBe(f.markers.length);
    }
    expect(closedWith.get('client'), `seed ${SEED}`).toBeUndefined();

    const elapsed = (performance.now() - started) / 1000;
    const bytes = flows[0].sentBytes + flows[1].sentBytes;
    const line = [
      `[chaos ${label}] seed ${SEED}: ${MESSAGES} messages each way (${(flows[0].sentBytes / 1e6).toFixed(0)} MB + ${(flows[1].sentBytes / 1e6).toFixed(0)} MB)`,
      `${proxy.stats.cuts} cuts, ${proxy.stats.connections} connections, ${counts.resumed} resumes (${counts.reconnecting} reconnect attempts)`,
      `${elapsed.toFixed(1)} s, ${(bytes / 1e6 / elapsed).toFixed(1)} MB/s`,
      half
        ? `turns ${counts.turns.join('+')}, activities ${counts.activities}, control points ${flows[0].markers.length}+${flows[1].markers.length}, resyncs ${counts.resyncs}, minor syncs asking confirmation ${minorPromises.issued}: confirmed ${minorPromises.resolved}, rejected at close ${minorPromises.rejected}, never settled ${minorPromises.issued - minorPromises.resolved - minorPromises.rejected}`
        : '',
      `proxy: ${(proxy.stats.bytes / 1e6).toFixed(0)} MB forwarded in ${proxy.stats.chunks} pieces, ${(proxy.stats.dropped / 1e6).toFixed(1)} MB dropped by cuts; server ${serverNote}`,
    ]
      .filter(Boolean)
      .join('; ');
    console.log(line);
    results.push(line);
  } catch (e) {
    if (failure.message !== null) throw new Error(`${failure.message}\n${describeState()}`);
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(message.includes('seed') ? message : `${message}\n${describeState()}`);
  } finally {
    for (const t of timers) clearInterval(t);
    try {
      client?.abort('chaos test over');
    } catch {
      /* closed */
    }
    await proxy?.close();
    await server?.destroy();
  }
}

const caseName = (c: Case): string => `${c.transport} ${c.mode}${c.tiny ? ' tiny pieces' : ''}`;

describe(`chaos (seed ${SEED}, ${ALL_MESSAGES} messages each way; rerun with COLLOQUY_CHAOS_SEED=${SEED})`, () => {
  afterAll(() => {
    if (results.length) console.log(`chaos summary:\n${results.join('\n')}`);
  });
  const cases: Case[] = [
    { transport: 'tcp', mode: 'fullDuplex' },
    { transport: 'ws', mode: 'fullDuplex' },
    { transport: 'tcp', mode: 'halfDuplex' },
    { transport: 'ws', mode: 'halfDuplex' },
    { transport: 'tcp', mode: 'fullDuplex', tiny: true },
    { transport: 'ws', mode: 'halfDuplex', tiny: true },
  ];
  for (const c of cases) {
    it(caseName(c), () => runCase(c), CASE_MS + 30_000);
  }
});
