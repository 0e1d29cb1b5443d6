// The one list of services `colloquy serve` offers. Each service module is added here as it
// lands; the rest of serve takes the list from this function only.
//
//   chat   rooms of named people (src/apps/chat.ts); across nodes on the bus
//   rpc    JSON-RPC 2.0 (src/apps/rpc.ts): echo, system.listMethods and the files methods
//   files  resumable get/put confined to the --files directory (src/apps/files.ts)
//   echo   built in: every data unit comes back as it went (handy for `colloquy call`-less
//          checks, the tour's cut-and-resume demonstration and the tests)

import { chatService } from '../apps/chat.js';
import { filesService } from '../apps/files.js';
import { rpcService } from '../apps/rpc.js';
import type { Service } from '../apps/service.js';
import type { Bus } from '../cluster/bus.js';
import type { SessionStore } from '../store/store.js';
import type { ServeLimits } from './limits.js';

/** The services serveServices returns, by name (the access policy names them). */
export const SERVICE_NAMES: readonly string[] = ['chat', 'rpc', 'files', 'echo'];

export interface ServiceContext {
  /** The directory the files service serves (created by serve if missing). */
  files: string;
  /** Node-to-node messages: LocalBus with the memory store, the Redis bus with a Redis store. */
  bus: Bus;
  /** The store serve runs on (memory or Redis). */
  store: SessionStore;
  /** serve's bounds; the files service takes its quotas from them. */
  limits?: ServeLimits;
  /** The store is shared by every node (Redis, PostgreSQL): RPC calls are kept there, exactly once across nodes, and every chat room has its log there. */
  shared?: boolean;
}

export function serveServices(context: ServiceContext): Service[] {
  const l = context.limits;
  const files = filesService({
    root: context.files,
    ...(l ? {
      maxTotalBytes: l.filesMaxTotalBytes, maxBytesPerPrincipal: l.filesMaxBytesPerPrincipal, maxConcurrentUploads: l.filesMaxConcurrentUploads,
      maxUploadsPerPrincipal: l.filesMaxUploadsPerPrincipal, maxDepth: l.filesMaxDepth, staleUploadMs: l.filesStaleUploadMs, sweepIntervalMs: l.filesSweepIntervalMs,
    } : {}),
  });
  const shared = context.shared ? { shared: { store: context.store } } : {};
  return [chatService({ bus: context.bus, ...shared }), rpcService({ methods: files.rpcMethods(), ...shared }), files, echoService()];
}

/** Echoes every data unit of a session back, in order, until the session ends. */
export function echoService(): Service {
  return {
    name: 'echo',
    open(session) {
      void (async () => {
        for await (const message of session) await session.send(message);
      })().catch(() => {
        // the session ended (released, aborted, expired): nothing is left to echo to
      });
    },
  };
}
