// The web-session suite (suite.ts) on the memory store, for node:http, Express and Fastify.

import { MemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { webSessionSuite } from './suite.js';

const stores: SessionStore[] = [];

webSessionSuite('memory', {
  make: async () => {
    const s = new MemoryStore({ sweepIntervalMs: 0 });
    stores.push(s);
    return s;
  },
  close: async () => { await Promise.all(stores.splice(0).map((s) => s.close())); },
});
