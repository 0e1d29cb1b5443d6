// Sessions through a Redis primary failover (issue 19), with real processes: a Redis primary, two
// replicas and three Sentinels on free ports (down-after 1 s, so the failover is quick), three
// `colloquy serve` nodes on `--store redis+sentinel://…` behind HAProxy (deploy/haproxy.cfg as
// shipped, addresses changed), chat members talking in one room and a large get through the
// balancer. The Redis primary is killed with SIGKILL mid-work; the Sentinels promote a replica.
// Checked: every session goes on (the persists wait through the outage, src/server/persist-retry.ts;
// store writes WAIT for a replica, src/store/redis-wait.ts), the get ends with the file's SHA-256,
// every chat line reaches every member once and in order, no client sees an error, a failed
// resume, a rejoin or a closed session, and the get ends in the session it started in (not in a
// new one from its checkpoint, which would mean the store lost its session). Then the same with the serve node holding the get killed
// (SIGKILL) while Redis is failing over: its sessions resume on the other nodes once the new
// primary answers.
//
// Without redis-server (its --sentinel mode) or haproxy: skipped loudly outside CI; under CI=true
// it runs (and fails without them).

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/apps/chat-client.js';
import { getFile } from '../../src/apps/files-client.js';
import { HAPROXY, skipWithoutBinary, startHaproxy, type Balancer } from '../deploy/lb.js';
import { freePort, redisCommand, skipWithout, startRedisSentinel, type RedisSentinel } from '../support/redis.js';
import { ANONYMOUS, startServe, type ServeNode } from '../support/serve.js';

const skip =
  skipWithoutBinary(HAPROXY, 'haproxy', 'Sentinel failover test', 'apt-get install haproxy') ||
  skipWithout('redis-server', 'Sentinel failover test', 'apt-get install redis-server redis-sentinel');

const FILE_BYTES = 24 * 1024 * 1024;
const CHATTERS = ['ada', 'bob', 'cy'];
/** Bounded waits: generous, for a loaded machine. */
const WAIT_MS = 90_000;

async function until(check: () => boolean | Promise<boolean>, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skip)('a Redis primary failover (Sentinel) under three serve nodes', () => {
  let sentinel: RedisSentinel | undefined;
  let lb: Balancer | undefined;
  const nodes: ServeNode[] = [];
  afterEach(async () => {
    await lb?.stop();
    lb = undefined;
    for (const n of nodes.splice(0)) if (n.process.exitCode === null && n.process.signalCode === null) await n.stop();
    await sentinel?.stop();
    sentinel = undefined;
  }, 60_000);

  async function scenario(killServeNode: boolean): Promise<void> {
    sentinel = await startRedisSentinel('colloquy', {
      replicas: 2,
      sentinels: 3,
      downAfterMs: 1000,
      failoverTimeoutMs: 3000,
    });
    const s = sentinel;
    const store = `redis+sentinel://${s.sentinels.map((x) => `${x.host}:${x.port}`).join(',')}/${s.name}`;
    const files = mkdtempSync(join(tmpdir(), 'colloquy-failover-'));
    const big = randomBytes(FILE_BYTES);
    writeFileSync(join(files, 'big.bin'), big);
    const sha256 = createHash('sha256').update(big).digest('hex');
    const ports = [await freePort(), await freePort(), await freePort()];
    nodes.push(
      ...(await Promise.all(
        ports.map((port) => startServe([...ANONYMOUS, '--store', store, '--port', String(port), '--files', files])),
      )),
    );
    lb = await startHaproxy(
      ports.map((port, i) => ({ name: `node${i + 1}`, port })),
      '/api/health',
    );
    const balancer = lb;
    const url = `ws://127.0.0.1:${balancer.port}/session`;
    await until(async () => {
      const res = await fetch(`${balancer.url}/api/health`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
      await res?.arrayBuffer();
      return res?.status === 200;
    }, 'HAProxy to find a node up');
    const problems: string[] = [];

    const heard = new Map<string, { from: string; text: string }[]>();
    const chats: ChatClient[] = [];
    for (const nick of CHATTERS) {
      const lines: { from: string; text: string }[] = [];
      heard.set(nick, lines);
      let welcomes = 0;
      chats.push(
        await ChatClient.connect(url, {
          nick,
          room: 'failover',
          onClient: (client) => {
            client.on('welcome', () => {
              if (++welcomes > 1) problems.push(`${nick} was welcomed again (a rejoin)`);
            });
            client.on('message', (m) => {
              if (!m.history) lines.push({ from: m.from, text: m.text });
            });
            client.on('notice', (n) => problems.push(`${nick} got a notice: ${n.code} ${n.message}`));
            client.on('closed', ({ error }) =>
              problems.push(`${nick} closed${error ? `: ${error.code} ${error.message}` : ''}`),
            );
          },
        }),
      );
    }
    await until(
      () => chats.every((c) => CHATTERS.every((n) => c.members.includes(n))),
      'every member to see every other',
    );

    let talking = true;
    const said = new Map<string, number>(CHATTERS.map((n) => [n, 0]));
    const talk = Promise.all(
      chats.map(async (c) => {
        while (talking) {
          const n = (said.get(c.nick) as number) + 1;
          await c.send(`${c.nick} ${n}`);
          said.set(c.nick, n);
          await new Promise((r) => setTimeout(r, 50));
        }
      }),
    );

    let transferred = 0;
    let done = false;
    const local = join(mkdtempSync(join(tmpdir(), 'colloquy-failover-get-')), 'big.bin');
    const get = getFile(url, 'big.bin', local, {
      onProgress: (p) => {
        transferred = p.transferred;
      },
      // The get goes on in its own session; one carried on in a new session from its checkpoint
      // means the store lost it (it says so here).
      onNotice: (notice) => problems.push(`get: ${notice}`),
    });
    get.then(
      () => {
        done = true;
      },
      (e: unknown) => problems.push(`get failed: ${String(e)}`),
    );
    await until(() => transferred >= FILE_BYTES / 20, 'the get to be under way');

    // The node holding the get, for the second case.
    const holdsGet = async (n: ServeNode): Promise<boolean> => {
      const listed = (await (
        await fetch(new URL('/api/sessions', n.http), { headers: { authorization: `Bearer ${n.adminToken}` } })
      ).json()) as { sessions: { service: string }[] };
      return listed.sessions.some((x) => x.service === 'files');
    };
    const holder = nodes[(await Promise.all(nodes.map(holdsGet))).indexOf(true)];
    expect(holder).toBeDefined();

    const oldPort = s.master.port;
    const killedAt = Date.now();
    const saidAtKill = [...said.values()].reduce((a, b) => a + b, 0);
    process.kill(s.master.pid, 'SIGKILL');
    if (killServeNode) {
      await new Promise((r) => setTimeout(r, 300)); // Redis is down, not yet failed over
      (holder as ServeNode).process.kill('SIGKILL');
    }
    const promoted = async (): Promise<boolean> => {
      const addr = await redisCommand(s.sentinels[0]!.port, ['SENTINEL', 'get-master-addr-by-name', s.name], 500).catch(
        () => null,
      );
      return Array.isArray(addr) && addr[1] !== String(oldPort);
    };
    await until(promoted, 'Sentinel to promote a replica');
    const failoverMs = Date.now() - killedAt;
    expect(done, 'the get was still running when the primary died').toBe(false);

    // Talk on for a while on the new primary, then stop and check.
    const after = [...said.values()].reduce((a, b) => a + b, 0);
    await until(
      () => [...said.values()].reduce((a, b) => a + b, 0) >= after + 30,
      'the chat to go on after the failover',
    );
    talking = false;
    await talk;
    const result = await get;
    const total = [...said.values()].reduce((a, b) => a + b, 0);
    console.log(
      `Sentinel failover${killServeNode ? ' + serve node killed' : ''}: promoted after ${failoverMs} ms; ` +
        `${saidAtKill} chat lines before the kill, ${total} in all; get of ${FILE_BYTES} bytes, ` +
        `${result.interruptions} interruptions, ${result.newSessions} new sessions`,
    );
    expect(result.sha256).toBe(sha256);
    expect(createHash('sha256').update(readFileSync(local)).digest('hex')).toBe(sha256);
    expect(problems).toEqual([]);
    expect(result.newSessions, 'the get finished in the session it started in').toBe(0);
    if (killServeNode) expect(result.interruptions).toBeGreaterThanOrEqual(1);
    for (const listener of CHATTERS) {
      const lines = heard.get(listener) as { from: string; text: string }[];
      await until(() => lines.length >= total, `${listener} to hear all ${total} lines`).catch(() => undefined);
      for (const from of CHATTERS) {
        const numbers = lines.filter((l) => l.from === from).map((l) => Number(l.text.slice(from.length + 1)));
        expect(numbers, `${listener} hears ${from}'s lines once each, in order`).toEqual(
          Array.from({ length: said.get(from) as number }, (_, i) => i + 1),
        );
      }
    }
    for (const c of chats) await c.close();
  }

  it('every session goes on through the SIGKILL of the Redis primary', async () => {
    await scenario(false);
  }, 300_000);

  // Was skipped (2 of 10 runs failed, load average 21-26). The serve node kill had nothing to do
  // with it: the Sentinels, at down-after 1 s on a loaded machine, declared the promoted primary
  // down 1-4 s after its promotion and promoted the other replica; the serve nodes went on writing
  // to the deposed primary for about 10 s (each write skipping its WAIT: it had no replica left)
  // until Sentinel demoted it and it dropped all of it, so every session resumed against state
  // seconds old and was refused stale-state (the get went on in a new session). Writes no replica
  // acknowledged now stand only while no Sentinel sees their primary down, failing over or
  // replaced (src/store/redis-wait-sentinel.ts). Also fixed on the way: a claim slower than
  // handshakeTimeoutMs turned the client away as if the session did not exist.
  it('and through a serve node killed while Redis fails over', async () => {
    await scenario(true);
  }, 300_000);
});
