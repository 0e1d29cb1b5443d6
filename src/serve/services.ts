// The one list of services `colloquy serve` offers. Each service module is added here as it
// lands; the rest of serve takes the list from this function only.
//
//   chat   rooms of named people (src/apps/chat.ts); across nodes on the bus
//   rpc    JSON-RPC 2.0 (src/apps/rpc.ts): echo, system.listMethods, sleep and the files methods
//   files  resumable get/put confined to the --files directory (src/apps/files.ts)
//   echo   built in: every data unit comes back as it went (handy for `colloquy call`-less
//          checks, the tour's cut-and-resume demonstration and the tests)

import { chatService } from '../apps/chat.js';
import { filesService } from '../apps/files.js';
import { RpcErrorCode, RpcMethodError, rpcService } from '../apps/rpc.js';
import type { RpcMethod } from '../apps/rpc.js';
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
  /**
   * How long a chat room log append keeps trying while the shared store is unreachable: the
   * durable sessions' persistRetryMs (--persist-retry-ms), so both ride out the same outage.
   * Absent: the default (APPEND_RETRY_MS, 30 s).
   */
  persistRetryMs?: number;
}

/** The longest `sleep` serve's RPC service does. */
export const SLEEP_MAX_MS = 60_000;

/**
 * `sleep` [ms] or {ms}: waits ms (0..SLEEP_MAX_MS) and answers {slept, attempt}; a slow method to
 * try timeouts, cancellation and a node's death mid-call with (`attempt` 2: the node that ran it
 * died and another ran it again). Cancelling ends it at once. It holds nothing but a timer, and the
 * service's own bounds (calls per session, callTimeoutMs) bound it.
 */
export const sleepMethod: RpcMethod = async (params, { signal, attempt }) => {
  const ms = Array.isArray(params) ? params[0] : (params as { ms?: unknown } | undefined)?.ms;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > SLEEP_MAX_MS) {
    throw new RpcMethodError(
      RpcErrorCode.invalidParams,
      `sleep takes a number of milliseconds, 0..${SLEEP_MAX_MS}: [ms] or {"ms":ms}`,
    );
  }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
  return { slept: ms, attempt };
};

export function serveServices(context: ServiceContext): Service[] {
  const l = context.limits;
  const files = filesService({
    root: context.files,
    ...(l
      ? {
          maxTotalBytes: l.filesMaxTotalBytes,
          maxBytesPerPrincipal: l.filesMaxBytesPerPrincipal,
          maxConcurrentUploads: l.filesMaxConcurrentUploads,
          maxUploadsPerPrincipal: l.filesMaxUploadsPerPrincipal,
          maxDepth: l.filesMaxDepth,
          staleUploadMs: l.filesStaleUploadMs,
          sweepIntervalMs: l.filesSweepIntervalMs,
        }
      : {}),
  });
  const shared = context.shared ? { shared: { store: context.store } } : {};
  const retry = context.persistRetryMs !== undefined ? { appendRetryMs: context.persistRetryMs } : {};
  return [
    chatService({ bus: context.bus, ...(context.shared ? { shared: { store: context.store, ...retry } } : {}) }),
    rpcService({ methods: { ...files.rpcMethods(), sleep: sleepMethod }, ...shared }),
    files,
    echoService(),
  ];
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
