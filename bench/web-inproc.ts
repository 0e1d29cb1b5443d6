// Express with and without the session middleware, driven in this process through node:http
// with Duplex "sockets" (no kernel, no load generator in another process): CPU per request of the
// JavaScript alone, for profiling the Express path (`node --cpu-prof --import tsx
// bench/web-inproc.ts`) without the syscall and scheduling noise of bench/web.ts.
//
//   bare          POST /inc answers res.json({ n }) synchronously (bench/web.ts's bare Express)
//   bare-async    the same after one promise step (as any route awaiting a store does)
//   middleware    sessionMiddleware (memory store) in front of bare-async, no cookie: a fresh
//                 session per request, nothing saved
//   increment     sessionMiddleware, one fixed cookie, await session.increment('n') then res.json
//                 (bench/web.ts's Colloquy on Express, memory)
//
// 50 keep-alive connections, each sending its next request one event-loop turn after its
// response; every case in a fresh process-local server, the cases alternated block by block
// (A, B, C, D, A, ...) after one warm-up block each; least and median CPU per request printed.
// The cases share this process, so the bare ones run with the prototype hooks of src/web/node.ts
// installed (one WeakMap miss per write, end and writeHead): the differences between the cases
// are the session middleware's per-request cost, not the cost of loading it.
//
// Run: npx tsx bench/web-inproc.ts. BENCH_WEB_INPROC_REQUESTS=20000 per block,
// BENCH_WEB_INPROC_BLOCKS=5, BENCH_WEB_INPROC_CASES=bare,increment to choose.

import http from 'node:http';
import { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { WebSessions, sessionMiddleware } from '../src/web/index.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { envList, loadAverages, table } from './support.js';

const CASES = ['bare', 'bare-async', 'middleware', 'increment'] as const;
type Case = (typeof CASES)[number];
const REQUESTS = Number(process.env.BENCH_WEB_INPROC_REQUESTS ?? 20_000);
const BLOCKS = Math.max(1, Number(process.env.BENCH_WEB_INPROC_BLOCKS ?? 5));
const CONNECTIONS = 50;

type SessionReq = { session: { increment(k: string): Promise<number> } };

function app(name: Case): http.RequestListener {
  let counter = 0;
  const a = express();
  if (name === 'middleware' || name === 'increment')
    a.use(sessionMiddleware(new WebSessions({ store: new MemoryStore(), storeTimeoutMs: 5000 })));
  if (name === 'bare')
    a.post('/inc', (_req, res) => {
      res.json({ n: ++counter });
    });
  if (name === 'bare-async' || name === 'middleware')
    a.post('/inc', (_req, res) => {
      void Promise.resolve().then(() => {
        res.json({ n: ++counter });
      });
    });
  if (name === 'increment')
    a.post('/inc', (req, res, next) => {
      (req as unknown as SessionReq).session.increment('n').then((n) => {
        res.json({ n });
      }, next);
    });
  return a as unknown as http.RequestListener;
}

/** A socket the server writes to and the driver pushes requests into. */
class FakeSocket extends Duplex {
  remoteAddress = '127.0.0.1';
  remotePort = 40_000;
  onChunk: (chunk: Buffer) => void = () => {};
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.onChunk(chunk);
    done();
  }
}

const request = (cookie: string): string =>
  `POST /inc HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\nUser-Agent: bench\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}\r\n`;

/** A server for one case, its connections, and a function running n requests through them. */
async function prepare(name: Case): Promise<{ block: (n: number) => Promise<number>; close: () => void }> {
  const server = http.createServer(app(name));
  // One request first, for the session cookie (increment) or nothing (the others).
  const text = await new Promise<string>((resolve) => {
    const s = new FakeSocket();
    let seen = '';
    s.onChunk = (c) => {
      seen += c.toString('latin1');
      if (seen.includes('{"n"')) {
        resolve(seen);
        s.destroy();
      }
    };
    server.emit('connection', s);
    s.push(request(''));
  });
  const cookie = name === 'increment' ? (/set-cookie: ([^;\r\n]+)/i.exec(text)?.[1] ?? '') : '';
  const line = request(cookie);
  const sockets: FakeSocket[] = [];
  let done = 0;
  let target = 0;
  let finish: () => void = () => {};
  const send = (s: FakeSocket): void => {
    s.push(line);
  };
  for (let i = 0; i < CONNECTIONS; i++) {
    const s = new FakeSocket();
    // A response's last non-empty chunk is its JSON body; the next request follows one turn later.
    s.onChunk = (c) => {
      if (c.length === 0 || c[c.length - 1] !== 0x7d) return;
      done++;
      if (done < target) setImmediate(send, s);
      else if (done === target) finish();
    };
    server.emit('connection', s);
    sockets.push(s);
  }
  const block = async (n: number): Promise<number> => {
    const t0 = process.cpuUsage();
    await new Promise<void>((resolve) => {
      done = 0;
      target = n;
      finish = resolve;
      for (const s of sockets) send(s);
    });
    const t = process.cpuUsage(t0);
    // Let the last responses' 'finish' and the sockets settle before the next case.
    await new Promise((resolve) => setImmediate(resolve));
    return (t.user + t.system) / n;
  };
  return {
    block,
    close: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

export async function run(): Promise<void> {
  const wanted = envList('BENCH_WEB_INPROC_CASES');
  const cases = CASES.filter((c) => wanted.length === 0 || wanted.includes(c));
  console.log(
    `Express in-process (node:http over Duplex sockets, ${CONNECTIONS} connections), CPU per request: ${BLOCKS} blocks of ${REQUESTS.toLocaleString('en-US')} per case, alternated, after one warm-up block. Load average: ${loadAverages()}`,
  );
  const runners = new Map<Case, Awaited<ReturnType<typeof prepare>>>();
  for (const c of cases) runners.set(c, await prepare(c));
  for (const c of cases) await runners.get(c)?.block(REQUESTS);
  const results = new Map<Case, number[]>(cases.map((c) => [c, []]));
  for (let b = 0; b < BLOCKS; b++)
    for (const c of cases)
      results.get(c)?.push(await (runners.get(c) as Awaited<ReturnType<typeof prepare>>).block(REQUESTS));
  for (const r of runners.values()) r.close();
  table([
    ['case', 'least µs/request', 'median µs/request'],
    ...cases.map((c) => {
      const xs = [...(results.get(c) as number[])].sort((x, y) => x - y);
      return [c, (xs[0] as number).toFixed(1), (xs[Math.floor(xs.length / 2)] as number).toFixed(1)];
    }),
  ]);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run();
  process.exit(0);
}
