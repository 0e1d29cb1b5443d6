// The web-session suite (suite.ts) and the token suite (token-suite.ts) on the memory store; the
// session suite for node:http, Express and Fastify.

import { MemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { webSessionSuite, type StoreFactory } from './suite.js';
import { tokenSuite } from './token-suite.js';
import { realtimeSuite } from './realtime-suite.js';

const stores: SessionStore[] = [];
const memory: StoreFactory = {
  make: async () => {
    const s = new MemoryStore({ sweepIntervalMs: 0 });
    stores.push(s);
    return s;
  },
  close: async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  },
};

webSessionSuite('memory', memory);
tokenSuite('memory', memory);
realtimeSuite('memory', memory);
