// A rolling restart nobody notices: three `colloquy serve` processes on one Redis (ours, on a
// free port) behind a load balancer running its shipped configuration (addresses changed only):
// HAProxy with deploy/haproxy.cfg (active checks of GET /api/ready), then nginx with
// deploy/nginx.conf (passive: a draining node's 503 sends the redial to the next server). Clients
// on the balancer's WebSocket: echo sessions counting every message both ways, chat clients
// talking in one room, and a large get (24 MB) from the shared files directory.
// Each node in turn gets SIGTERM (a handover: the default with a shared store) and is started
// again on its port; the next one goes once the restarted node says it is ready (GET /api/ready)
// and the balancer sends it new clients again.
//
// Checked: every echo message once and in order both ways; every member hears every member's
// chat lines (its own and the others', said while sessions moved between nodes too) exactly once
// and in order, through the room log in the shared store (issue 12); the get ends with the file's
// SHA-256 (files take over on another node, docs/apps.md); no client sees an error, a
// failed resume, a rejoin (a second welcome, a leave or join of a member) or a closed session;
// and every stopped node reports its sessions handed over: none released, none aborted.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/apps/chat-client.js';
import { getFile } from '../../src/apps/files-client.js';
import { encodeHello } from '../../src/apps/service.js';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import { HAPROXY, NGINX, skipWithoutBinary, startHaproxy, startNginx } from '../deploy/lb.js';
import type { Balancer } from '../deploy/lb.js';
import { freePort, skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';

const noRedis = skipWithout('redis-server', 'rolling restart test', 'apt-get install redis-server');
const FILE_BYTES = 24 * 1024 * 1024;
const ECHO_SESSIONS = 3;
const CHATTERS = ['ada', 'bob', 'cy'];
/** Each node's stop deadline, given explicitly: the helper kills a node only well past it. */
const STOP_TIMEOUT_MS = 10_000;
const dec = new TextDecoder();

interface BalancerKind {
  name: string;
  skip: boolean;
  start(backends: { name: string; port: number }[], probePath: string): Promise<Balancer>;
}

const BALANCERS: BalancerKind[] = [
  {
    name: 'HAProxy (deploy/haproxy.cfg)',
    skip: noRedis || skipWithoutBinary(HAPROXY, 'haproxy', 'rolling restart test', 'apt-get install haproxy'),
    start: startHaproxy,
  },
  {
    name: 'nginx (deploy/nginx.conf)',
    skip: noRedis || skipWithoutBinary(NGINX, 'nginx', 'rolling restart test', 'apt-get install nginx-light'),
    start: startNginx,
  },
];

describe.each(BALANCERS)('rolling restart of three serve nodes behind $name', (balancer) => {
  let redis: RedisServer | undefined;
  let lb: Balancer | undefined;
  const nodes: (ServeNode | undefined)[] = [];
  afterAll(async () => {
    await lb?.stop();
    await Promise.all(nodes.map((n) => n?.stop()));
    await redis?.stop();
  });

  it.skipIf(balancer.skip)(
    'each node drained and restarted in turn: nothing lost, nothing twice, no error, no release',
    async () => {
      redis = await startRedis();
      const files = mkdtempSync(join(tmpdir(), 'colloquy-rolling-'));
      const big = randomBytes(FILE_BYTES);
      writeFileSync(join(files, 'big.bin'), big);
      const sha256 = createHash('sha256').update(big).digest('hex');
      const ports = [await freePort(), await freePort(), await freePort()];
      const args = (i: number): string[] => [
        '--store',
        (redis as RedisServer).url,
        '--port',
        String(ports[i]),
        '--files',
        files,
        '--stop-timeout',
        String(STOP_TIMEOUT_MS),
      ];
      nodes.push(...(await Promise.all(ports.map((_, i) => startServe(args(i))))));
      lb = await balancer.start(
        ports.map((port, i) => ({ name: `node${i + 1}`, port })),
        '/api/health',
      );
      const url = `ws://127.0.0.1:${lb.port}/session`;
      const problems: string[] = [];

      /** True once HAProxy sends a cookie-less request to `name` (round robin over the nodes up). */
      const inPool = async (name: string): Promise<boolean> => {
        for (let i = 0; i < 6; i++) {
          const res = await fetch(`${(lb as Balancer).url}/api/health`, { signal: AbortSignal.timeout(2000) }).catch(
            () => null,
          );
          if (!res) continue;
          await res.arrayBuffer();
          if ((res.headers.get('set-cookie') ?? '').startsWith(`COLLOQUY_NODE=${name};`)) return true;
        }
        return false;
      };
      const waitInPool = async (name: string): Promise<void> => {
        const until = Date.now() + 60_000;
        while (!(await inPool(name))) {
          if (Date.now() > until) throw new Error(`HAProxy did not put ${name} back in the pool within 60 s`);
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      for (const name of ['node1', 'node2', 'node3']) await waitInPool(name);

      // Echo sessions: a counter each way, a message every few ms.
      const echoes: { s: ClientSession; sent: number; got: number[] }[] = [];
      for (let k = 0; k < ECHO_SESSIONS; k++) {
        const s = await connect(url, { userData: encodeHello({ service: 'echo' }) });
        const entry = { s, sent: 0, got: [] as number[] };
        s.on('closed', ({ error }) => problems.push(`echo ${k} closed${error ? `: ${error.code}` : ''}`));
        s.on('resume-failed', (e) => problems.push(`echo ${k} resume failed: ${e.code}`));
        void (async () => {
          for await (const m of s) entry.got.push(Number(dec.decode(m)));
        })().catch(() => {});
        echoes.push(entry);
      }
      // Chat: every member says a numbered line every 50 ms.
      const heard = new Map<string, { from: string; text: string; id: string }[]>();
      const chats: ChatClient[] = [];
      for (const nick of CHATTERS) {
        const lines: { from: string; text: string; id: string }[] = [];
        heard.set(nick, lines);
        let welcomes = 0;
        const c = await ChatClient.connect(url, {
          nick,
          room: 'deploy',
          onClient: (client) => {
            client.on('welcome', () => {
              if (++welcomes > 1) problems.push(`${nick} was welcomed again (a rejoin)`);
            });
            client.on('message', (m) => {
              if (!m.history) lines.push({ from: m.from, text: m.text, id: m.id });
            });
            client.on('notice', (n) => problems.push(`${nick} got a notice: ${n.code} ${n.message}`));
            client.on('closed', ({ error }) => problems.push(`${nick} closed${error ? `: ${error.code}` : ''}`));
          },
        });
        chats.push(c);
      }
      // Members seen joining or leaving once everyone knows everyone would be rejoins.
      const joinedBy = Date.now() + 30_000;
      while (!chats.every((c) => CHATTERS.every((n) => c.members.includes(n))) && Date.now() < joinedBy)
        await new Promise((r) => setTimeout(r, 20));
      for (const c of chats) {
        c.on('join', (j) => {
          if (CHATTERS.includes(j.nick)) problems.push(`${c.nick} saw ${j.nick} join again`);
        });
        c.on('leave', (l) => {
          if (CHATTERS.includes(l.nick)) problems.push(`${c.nick} saw ${l.nick} leave (${l.reason})`);
        });
      }

      let talking = true;
      const said = new Map<string, number>(CHATTERS.map((n) => [n, 0]));
      const talk = Promise.all([
        ...chats.map(async (c) => {
          while (talking) {
            const n = (said.get(c.nick) as number) + 1;
            await c.send(`${c.nick} ${n}`);
            said.set(c.nick, n);
            await new Promise((r) => setTimeout(r, 50));
          }
        }),
        ...echoes.map(async (e) => {
          while (talking) {
            await e.s.send(String(e.sent));
            e.sent++;
            await new Promise((r) => setTimeout(r, 5));
          }
        }),
      ]);

      // The large get from the shared files directory, over the balancer like everything else.
      let transferred = 0;
      const local = join(mkdtempSync(join(tmpdir(), 'colloquy-rolling-get-')), 'big.bin');
      const get = getFile(url, 'big.bin', local, {
        onProgress: (p) => {
          transferred = p.transferred;
        },
      });
      get.catch((e: unknown) => problems.push(`get failed: ${String(e)}`));

      // The rolling restart begins while the get runs.
      const until = Date.now() + 60_000;
      while (transferred < FILE_BYTES / 20 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      // First the node holding the get, so the transfer crosses a handover.
      const holdsGet = async (n: ServeNode): Promise<boolean> => {
        const listed = (await (
          await fetch(new URL('/api/sessions', n.http), { headers: { authorization: `Bearer ${n.adminToken}` } })
        ).json()) as { sessions: { service: string }[] };
        return listed.sessions.some((x) => x.service === 'files');
      };
      const first = (await Promise.all(nodes.map((n) => holdsGet(n as ServeNode)))).indexOf(true);
      expect(first).toBeGreaterThanOrEqual(0);
      for (const i of [first, (first + 1) % 3, (first + 2) % 3]) {
        const node = nodes[i] as ServeNode;
        expect(await node.stop()).toBe(0);
        const stopped = await node.event('stopped');
        expect(stopped).toMatchObject({ mode: 'handover', released: 0, aborted: 0 });
        const restarted = await startServe(args(i));
        nodes[i] = restarted;
        expect((await fetch(new URL('/api/ready', restarted.http))).status).toBe(200);
        await waitInPool(`node${i + 1}`);
      }

      const result = await get;
      expect(result.sha256).toBe(sha256);
      expect(result.interruptions).toBeGreaterThanOrEqual(1);
      expect(createHash('sha256').update(readFileSync(local)).digest('hex')).toBe(sha256);

      talking = false;
      await talk;
      // Everything said is heard, everywhere, once and in order.
      for (const e of echoes) {
        const deadline = Date.now() + 30_000;
        while (e.got.length < e.sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(e.got).toEqual(Array.from({ length: e.sent }, (_, i) => i));
      }
      expect(problems).toEqual([]);
      const total = [...said.values()].reduce((a, b) => a + b, 0);
      for (const listener of CHATTERS) {
        const lines = heard.get(listener) as { from: string; text: string; id: string }[];
        const deadline = Date.now() + 60_000;
        while (lines.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        for (const from of CHATTERS) {
          const numbers = lines.filter((l) => l.from === from).map((l) => Number(l.text.slice(from.length + 1)));
          // Every line of every member, its own and the others', exactly once and in order (a line
          // heard twice is named with its ids: two ids, logged twice; one id, delivered twice).
          const twice = lines
            .filter((l, i) => l.from === from && lines.findIndex((x) => x.from === from && x.text === l.text) !== i)
            .map(
              (l) =>
                `${l.text} ${lines
                  .filter((x) => x.from === from && x.text === l.text)
                  .map((x) => x.id)
                  .join(',')}`,
            );
          expect(
            numbers,
            `${listener} hears ${from}'s lines once each, in order; heard twice: ${twice.join('; ') || 'none'}`,
          ).toEqual(Array.from({ length: said.get(from) as number }, (_, i) => i + 1));
        }
      }
      // And in one order for the whole room (the room log's).
      const order = (nick: string): string[] => (heard.get(nick) as { id: string }[]).map((l) => l.id);
      for (const nick of CHATTERS.slice(1)) expect(order(nick)).toEqual(order(CHATTERS[0] as string));
      expect(Math.min(...[...said.values()])).toBeGreaterThan(20);

      for (const c of chats) await c.close();
      for (const e of echoes) await e.s.release();
    },
    300_000,
  );
});
