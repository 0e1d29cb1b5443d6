// One Colloquy node as its own process, for the load-balancer tests and the store benchmark:
// one http.Server on one port serving
//   GET /whoami   -> {"node": <name>, "pid": <pid>}  (which node answered)
//   GET /api/ready -> 200 while accepting, 503 once closing (the load balancer's check)
//   GET /healthz  -> 200 ok                           (alive)
//   /session      -> the Colloquy WebSocket endpoint (listen({ ws: { server, path } }))
// and, with --tcp, a native TCP endpoint too. The session service echoes every message as
// "<node name> <message>", so a client sees which node answered each one.
//
//   tsx test/deploy/node.ts <name> <memory|redis://host:port> [--port N] [--tcp]
//
// With a redis:// URL the node keeps its sessions durable in a RedisStore (prefix "deploy");
// with "memory" a session lives and dies with this process. Prints "ready <http port> <tcp port>"
// on stdout once listening.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen, type Server } from '../../src/server/server.js';
import { RedisStore } from '../../src/store/redis-store.js';

const [name, storeArg, ...rest] = process.argv.slice(2);
if (!name || !storeArg || (storeArg !== 'memory' && !storeArg.startsWith('redis://'))) {
  console.error('usage: node.ts <name> <memory|redis://host:port> [--port N] [--tcp]');
  process.exit(2);
}
const portAt = rest.indexOf('--port');
const port = portAt >= 0 ? Number(rest[portAt + 1]) : 0;
const withTcp = rest.includes('--tcp');

// The health check can arrive before listen() below has returned (HAProxy starts checking as soon
// as the port answers): until then the node is not ready.
const started: { server?: Server } = {};
const httpServer = http.createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://node').pathname;
  if (req.method === 'GET' && path === '/whoami') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node: name, pid: process.pid }));
  } else if (req.method === 'GET' && path === '/api/ready') {
    const ready = started.server?.accepting === true;
    res
      .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
      .end(ready ? 'ready\n' : started.server ? 'draining\n' : 'starting\n');
  } else if (req.method === 'GET' && path === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  } else {
    res.writeHead(404).end();
  }
});
await new Promise<void>((resolve, reject) => {
  httpServer.once('error', reject);
  httpServer.listen(port, '127.0.0.1', () => resolve());
});

const store = storeArg === 'memory' ? null : new RedisStore({ url: storeArg, prefix: 'deploy' });
const server = await listen({
  ws: { server: httpServer, path: '/session' },
  ...(withTcp ? { tcp: { port: 0 } } : {}),
  ...(store ? { durability: { store } } : {}),
});
started.server = server;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
server.on('session', (s) => {
  void (async () => {
    for await (const m of s) await s.send(encoder.encode(`${name} ${decoder.decode(m)}`));
  })().catch(() => {});
});
process.stdout.write(`ready ${(httpServer.address() as AddressInfo).port} ${server.addresses.tcp ?? 0}\n`);
