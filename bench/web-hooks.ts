// The session layer's own CPU per request, without HTTP: the Fastify plugin's onRequest and onSend
// hooks driven in this process on fake request/reply objects, memory store, one fixed cookie:
//
//   bare        what the loop costs without a session (one await)
//   read        onRequest, session.get('n'), onSend (an unchanged session: no write)
//   increment   onRequest, await session.increment('n'), onSend (bench/web.ts's route)
//
// CPU time (process.cpuUsage) per request over 200,000 requests, least and median of 7 blocks
// after a warm-up block: on a shared machine this repeats far better than an HTTP run, and it is
// exactly what the session layer adds to a framework's request (bench/web.ts gives the whole).
//
// Run: npx tsx bench/web-hooks.ts (or import { run }).

import { pathToFileURL } from 'node:url';
import { WebSessions, fastifySessions } from '../src/web/index.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { WebSession } from '../src/web/web-session.js';
import { loadAverages, table } from './support.js';

type Hook = (...args: unknown[]) => void;
interface FakeRequest {
  raw: { socket: { remoteAddress: string }; headers: Record<string, string> };
  headers: Record<string, string>;
  ip: string;
  session: WebSession | null;
}

const N = 200_000;
const BLOCKS = 7;

function noop(): void {}

async function measure(mode: 'bare' | 'read' | 'increment'): Promise<{ least: number; median: number }> {
  const sessions = new WebSessions({ store: new MemoryStore(), storeTimeoutMs: 5000 });
  const hooks: Record<string, Hook> = {};
  const fake = {
    decorateRequest: noop,
    addHook: (name: string, hook: Hook): void => {
      hooks[name] = hook;
    },
  };
  fastifySessions(sessions)(fake as never, {}, noop);
  const onRequest = hooks['onRequest'] as Hook;
  const onSend = hooks['onSend'] as Hook;
  const request = (headers: Record<string, string>): FakeRequest => ({
    raw: { socket: { remoteAddress: '127.0.0.1' }, headers },
    headers: {},
    ip: '127.0.0.1',
    session: null,
  });
  // A stored session and its cookie.
  let cookie = '';
  const first = request({});
  await new Promise<void>((resolve) => onRequest(first, {}, resolve));
  await (first.session as WebSession).increment('n');
  const capture = {
    header: (_name: string, value: string): unknown => {
      cookie = value.split(';')[0] as string;
      return capture;
    },
  };
  await new Promise<void>((resolve) => onSend(first, capture, 'x', resolve));
  const reply = { header: (): unknown => reply };
  const one = async (): Promise<void> => {
    const req = request({ cookie, 'user-agent': 'bench' });
    if (mode === 'bare') {
      await Promise.resolve();
      return;
    }
    onRequest(req, reply, noop);
    const session = req.session as WebSession;
    if (mode === 'increment') await session.increment('n');
    else await Promise.resolve(session.get('n'));
    onSend(req, reply, 'x', noop);
  };
  for (let i = 0; i < N; i++) await one();
  const blocks: number[] = [];
  for (let b = 0; b < BLOCKS; b++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) await one();
    const t = process.cpuUsage(t0);
    blocks.push(((t.user + t.system) * 1000) / N);
  }
  blocks.sort((a, b) => a - b);
  await sessions.close();
  return { least: blocks[0] as number, median: blocks[Math.floor(BLOCKS / 2)] as number };
}

export async function run(): Promise<void> {
  console.log(
    `Web session hooks (Fastify plugin, memory store) in-process, no HTTP: CPU per request, ${BLOCKS} blocks of ${N.toLocaleString('en-US')}. Load average: ${loadAverages()}`,
  );
  const rows: string[][] = [['case', 'least ns/request', 'median ns/request']];
  for (const mode of ['bare', 'read', 'increment'] as const) {
    const r = await measure(mode);
    rows.push([mode, r.least.toFixed(0), r.median.toFixed(0)]);
  }
  table(rows);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await run();
