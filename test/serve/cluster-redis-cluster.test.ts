// Several `colloquy serve` nodes on a Redis Cluster (--store redis+cluster://…, store and bus):
// the multi-node suite (cluster-suite.ts), including a session resumed on the other node after
// its node was killed with SIGKILL, on three Cluster masters of our own on free ports.

import { skipWithout, startRedisCluster, type RedisCluster } from '../support/redis.js';
import { clusterSuite } from './cluster-suite.js';

const skip = skipWithout('redis-server', 'serve on Redis Cluster test', 'apt-get install redis-server');

let cluster: RedisCluster | undefined;
clusterSuite('a Redis Cluster', skip, {
  start: async () => {
    cluster = await startRedisCluster();
    return `redis+cluster://${cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  },
  stop: async () => {
    await cluster?.stop();
  },
});
