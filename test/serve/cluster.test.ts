// Several `colloquy serve` nodes sharing one Redis (--store redis://…): the multi-node suite
// (cluster-suite.ts) on a redis-server of our own on a free port.

import { skipWithout, startRedis, type RedisServer } from '../support/redis.js';
import { clusterSuite } from './cluster-suite.js';

const skip = skipWithout('redis-server', 'serve cluster test', 'apt-get install redis-server');

let redis: RedisServer | undefined;
clusterSuite('a Redis store', skip, {
  start: async () => (redis = await startRedis()).url,
  stop: async () => {
    await redis?.stop();
  },
});
