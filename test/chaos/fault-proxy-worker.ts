// Worker-thread entry of startFaultProxyWorker: runs one fault proxy, counters in shared memory.

import { parentPort, workerData } from 'node:worker_threads';
import { sharedStats, startFaultProxy } from './fault-proxy.js';
import type { FaultProxyOptions } from './fault-proxy.js';

const port = parentPort;
if (!port) throw new Error('fault-proxy-worker.ts runs as a worker thread');
const { options, buffer } = workerData as { options: FaultProxyOptions; buffer: SharedArrayBuffer };

startFaultProxy({ ...options, stats: sharedStats(buffer) }).then(
  (proxy) => {
    port.on('message', (m: { type: 'cutAll' | 'close' }) => {
      if (m.type === 'cutAll') proxy.cutAll();
      else void proxy.close().then(() => port.postMessage({ type: 'closed' }));
    });
    port.postMessage({ type: 'listening', port: proxy.port });
  },
  (e: unknown) => port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
);
