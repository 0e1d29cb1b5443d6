// One Colloquy node as its own process, for the multi-node tests: a TCP endpoint, durable
// sessions in Redis, and an echo service. Prints "ready <port>" on stdout once listening.
//
//   tsx test/nodes/node.ts <redis-url>

import { listen } from '../../src/server/server.js';
import { RedisStore } from '../../src/store/redis-store.js';

const url = process.argv[2];
if (!url) {
  console.error('usage: node.ts <redis-url>');
  process.exit(2);
}
const store = new RedisStore({ url, prefix: 'multinode' });
const server = await listen({ tcp: { port: 0 }, heartbeatMs: 0, durability: { store } });
server.on('session', (s) => {
  void (async () => {
    for await (const m of s) await s.send(m);
  })().catch(() => {});
});
process.stdout.write(`ready ${String(server.addresses.tcp)}\n`);
