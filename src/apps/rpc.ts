// RPC: JSON-RPC 2.0 over a session, exactly once across resumes and client restarts. This is the
// server (the rpc service); the client is ./rpc-client.ts, the shapes both speak ./rpc-protocol.ts,
// the calls kept for retries ./rpc-results.ts.
//
// Theory of operation
//   A client opens a session with the hello {"service":"rpc","client":"<random id>"} and sends
//   one JSON-RPC 2.0 message (a request, a notification or a batch array) per session data
//   unit; the server answers each request with one response (a batch with one array) in the
//   same way. Within one session the session layer already delivers every unit exactly once
//   across cuts (resume replays what was lost). Across sessions (the client process restarted
//   and retries), the server deduplicates by request id:
//
//     scope = principal id (if authenticated) + hello.client     (or the session itself when
//             the hello names no client: then ids are only deduplicated within the session)
//     key   = scope + id
//
//   A request whose key is running joins the running call; one whose key is finished gets the
//   stored response without running again. Stored responses live `resultTtlMs` and are bounded
//   by `maxCachedResults` entries and `maxCachedBytes` (oldest evicted first); a response larger
//   than `maxCachedResultBytes` is not stored. Only executions are stored: a request refused
//   before it ran (parse error, unknown method, overloaded) can simply be retried.
//
//   Cancellation: the notification {"jsonrpc":"2.0","method":"$/cancel","params":{"id":ID}}
//   aborts the `signal` a method receives; the call then answers -32800 (request cancelled),
//   even if the method ignores its signal. Every call is also bounded by the server's
//   `callTimeoutMs` (answer -32001). The client's own timeout (`timeoutMs`) sends `$/cancel` and
//   rejects with ERR_RPC_TIMEOUT. A call keeps running when its session ends (its result lands in
//   the cache for a retry) but never longer than `callTimeoutMs`.
//
//   Errors: a method throws RpcMethodError to choose the JSON-RPC code; a SessionError becomes
//   -32000 with data {code, details}; anything else becomes -32603 "internal error" (the
//   message is not leaked). Clients see ERR_RPC_ERROR with details.rpcCode and details.data.

import { SessionError } from '../engine/errors.js';
import type { Session } from '../driver/session.js';
import { Refusal } from '../server/server.js';
import type { OpenContext, Principal, Service, ServiceHello } from './service.js';
import { positiveIntegers } from './options.js';
import { CANCEL_METHOD, INTERRUPTED_METHOD, RpcErrorCode, errorResponse, isId, utf8 } from './rpc-protocol.js';
import { CallResults, callKey } from './rpc-results.js';
import { SharedCalls } from './rpc-shared.js';
import type { SharedCallsOptions } from './rpc-shared.js';
import type { RpcId, RpcRequest, RpcResponse } from './rpc-protocol.js';
import type {} from '../driver/errors.js';
import type {} from '../store/errors.js';

export { CANCEL_METHOD, RpcErrorCode } from './rpc-protocol.js';
export { STALE_RUN_CHANNEL } from './rpc-shared.js';
export type { StaleRunMessage } from './rpc-shared.js';
export type { RpcId } from './rpc-protocol.js';
export { RpcClient } from './rpc-client.js';
export type { RpcCallOptions, RpcClientOptions, RpcMethodMap } from './rpc-client.js';

/** Longest `client` id accepted in the hello. */
export const MAX_CLIENT_ID_LENGTH = 128;

export interface RpcContext {
  /** Aborted by $/cancel or by the server's callTimeoutMs. */
  readonly signal: AbortSignal;
  readonly principal: Principal;
  readonly session: Session;
  /** Undefined for a notification. */
  readonly id: RpcId | undefined;
  /** 1, or more when the node running an earlier attempt died before it answered (shared calls). */
  readonly attempt: number;
}

export type RpcMethod = (params: unknown, context: RpcContext) => unknown;
export type RpcMethods = Record<string, RpcMethod>;

/** Thrown by a method to answer with a chosen JSON-RPC error. */
export class RpcMethodError extends Error {
  override name = 'RpcMethodError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface RpcServiceOptions {
  /** Methods by name; `echo` and `system.listMethods` are built in (a method given here wins). */
  methods?: RpcMethods;
  /** Longest a call may run, in ms. Default 30 000. */
  callTimeoutMs?: number;
  /** Calls one session may have running at once; more are answered -32002. Default 64. */
  maxConcurrentCalls?: number;
  /** Requests in one batch; larger batches are answered -32600. Default 100. */
  maxBatch?: number;
  /** Stored responses kept for deduplication. Default 10 000. */
  maxCachedResults?: number;
  /** Bytes of stored responses. Default 16 MiB. */
  maxCachedBytes?: number;
  /** A response larger than this is sent but not stored. Default 1 MiB. */
  maxCachedResultBytes?: number;
  /** How long a stored response is kept, in ms. Default 10 minutes. */
  resultTtlMs?: number;
  /**
   * Calls in a store every node shares (./rpc-shared.ts): a retry on any node joins the running
   * call or gets its stored answer. Default: this node's memory only.
   */
  shared?: SharedCallsOptions;
}

const DEFAULTS = {
  callTimeoutMs: 30_000,
  maxConcurrentCalls: 64,
  maxBatch: 100,
  maxCachedResults: 10_000,
  maxCachedBytes: 16 * 1024 * 1024,
  maxCachedResultBytes: 1024 * 1024,
  resultTtlMs: 10 * 60_000,
};

/** The RPC service for a ServiceHost. */
export class RpcService implements Service {
  readonly name = 'rpc';
  private readonly methods: RpcMethods;
  private readonly o: typeof DEFAULTS;
  /** Calls run or running here by key, for retries to join or reuse (./rpc-results.ts). */
  private readonly results: CallResults;
  private readonly running = new Set<AbortController>();
  private readonly shared: SharedCalls | undefined;

  constructor(options: RpcServiceOptions = {}) {
    const { shared, ...limits } = options;
    this.o = positiveIntegers('rpcService', DEFAULTS, limits, Number.isInteger);
    this.results = new CallResults(this.o);
    this.shared = shared ? new SharedCalls(shared, this.o.resultTtlMs, this.o.callTimeoutMs) : undefined;
    // No prototype: a method named like an Object.prototype member ('constructor', '__proto__')
    // is just a name that is registered or not.
    this.methods = Object.assign(Object.create(null) as RpcMethods, {
      echo: (params: unknown) => params,
      'system.listMethods': () => Object.keys(this.methods).sort(),
    });
    if (options.methods) this.register(options.methods, true);
  }

  /** Adds methods (e.g. a files service's `rpcMethods()`); a name may be registered once. */
  register(methods: RpcMethods, replaceBuiltIns = false): void {
    for (const [name, fn] of Object.entries(methods)) {
      if (name.startsWith('$/') || name.startsWith('rpc.'))
        throw new SessionError(
          'ERR_INVALID_ARGUMENT',
          `method names starting with '$/' or 'rpc.' are reserved: '${name}'`,
        );
      if (typeof fn !== 'function')
        throw new SessionError('ERR_INVALID_ARGUMENT', `method '${name}' is not a function`);
      const builtIn = name === 'echo' || name === 'system.listMethods';
      if (Object.hasOwn(this.methods, name) && !(replaceBuiltIns && builtIn))
        throw new SessionError('ERR_INVALID_ARGUMENT', `method '${name}' is registered twice`);
      Object.defineProperty(this.methods, name, { value: fn, enumerable: true, configurable: true, writable: true });
    }
  }

  get methodNames(): string[] {
    return Object.keys(this.methods).sort();
  }

  /** Stored responses (for tests and live views). */
  get cacheStats(): { entries: number; bytes: number } {
    return this.results.stats;
  }

  validate(hello: ServiceHello): void {
    const client = hello['client'];
    if (client === undefined) return;
    if (typeof client !== 'string' || client.length === 0 || client.length > MAX_CLIENT_ID_LENGTH) {
      throw new Refusal(`hello.client must be a string of 1..${MAX_CLIENT_ID_LENGTH} characters`, 'rejected');
    }
  }

  open(session: Session, principal: Principal, context?: OpenContext): void {
    const client = typeof principal.hello['client'] === 'string' ? principal.hello['client'] : undefined;
    // The session ID is the same on every node that holds the session.
    const scope = client === undefined ? `s:${session.id}` : `c:${principal.id ?? principal.name ?? ''}\u0000${client}`;
    // Taken over from a node that died: the requests it was running are sent again by the client.
    if (context?.restored) session.send(JSON.stringify({ jsonrpc: '2.0', method: INTERRUPTED_METHOD })).catch(() => {});
    void this.serve(session, principal, scope);
  }

  async close(): Promise<void> {
    for (const c of this.running) c.abort(new SessionError('ERR_CANCELLED', 'the RPC service is closing'));
  }

  private async serve(session: Session, principal: Principal, scope: string): Promise<void> {
    const inFlight = { count: 0 };
    // Answers waiting for room in the session: past maxConcurrentCalls of them, reading stops
    // until one is out, so a client that sends and never reads cannot pile answers up here.
    const sending = new Set<Promise<void>>();
    const send = (value: unknown): void => {
      const p: Promise<void> = session
        .send(JSON.stringify(value))
        .catch(() => {
          /* the session ended; the result stays in the cache */
        })
        .finally(() => sending.delete(p));
      sending.add(p);
    };
    try {
      for (;;) {
        while (sending.size >= this.o.maxConcurrentCalls) await Promise.race(sending);
        const next = await session.read();
        if (next.done) break;
        const unit = next.value;
        let message: unknown;
        try {
          message = JSON.parse(utf8.decode(unit));
        } catch {
          send(errorResponse(null, RpcErrorCode.parseError, 'parse error: not UTF-8 JSON'));
          continue;
        }
        if (Array.isArray(message)) {
          if (message.length === 0 || message.length > this.o.maxBatch) {
            send(
              errorResponse(
                null,
                RpcErrorCode.invalidRequest,
                message.length === 0 ? 'empty batch' : `a batch holds at most ${this.o.maxBatch} requests (maxBatch)`,
              ),
            );
            continue;
          }
          void Promise.all(message.map((m) => this.handle(m, session, principal, scope, inFlight))).then((rs) => {
            const answers = rs.filter((r): r is RpcResponse => r !== undefined);
            if (answers.length > 0) send(answers);
          });
          continue;
        }
        void this.handle(message, session, principal, scope, inFlight).then((r) => {
          if (r) send(r);
        });
      }
    } catch {
      // the session failed; nothing to answer any more
    }
  }

  /** One request or notification; resolves with its response (undefined for a notification). */
  private async handle(
    message: unknown,
    session: Session,
    principal: Principal,
    scope: string,
    inFlight: { count: number },
  ): Promise<RpcResponse | undefined> {
    if (typeof message !== 'object' || message === null || Array.isArray(message))
      return errorResponse(null, RpcErrorCode.invalidRequest, 'a request must be a JSON object');
    const m = message as Partial<RpcRequest>;
    const hasId = Object.hasOwn(m, 'id');
    const id = hasId && isId(m.id) ? m.id : null;
    if (m.jsonrpc !== '2.0' || typeof m.method !== 'string' || (hasId && m.id !== null && !isId(m.id))) {
      return errorResponse(
        id,
        RpcErrorCode.invalidRequest,
        'invalid request: needs "jsonrpc":"2.0", a "method" string and a string or number "id"',
      );
    }
    if (m.params !== undefined && (typeof m.params !== 'object' || m.params === null)) {
      return hasId ? errorResponse(id, RpcErrorCode.invalidParams, 'params must be an array or an object') : undefined;
    }
    if (m.method === CANCEL_METHOD) {
      const target = (m.params as { id?: unknown } | undefined)?.id;
      if (isId(target)) {
        const entry = this.results.get(callKey(scope, target));
        if (entry?.state === 'running')
          entry.controller.abort(new RpcMethodError(RpcErrorCode.cancelled, 'request cancelled'));
      }
      return undefined;
    }
    const method = Object.hasOwn(this.methods, m.method) ? this.methods[m.method] : undefined;
    if (!hasId) {
      // A notification: run it (no answer, no deduplication), bounded like any call.
      if (method && inFlight.count < this.o.maxConcurrentCalls) {
        inFlight.count++;
        void this.execute(
          method,
          m.params,
          { session, principal, id: undefined, attempt: 1 },
          new AbortController(),
        ).finally(() => inFlight.count--);
      }
      return undefined;
    }
    if (id === null)
      return errorResponse(
        null,
        RpcErrorCode.invalidRequest,
        'a request id must be a string or a number (null is reserved)',
      );
    const key = callKey(scope, id);
    const known = this.results.lookup(key);
    if (known?.state === 'done') return known.response;
    if (known?.state === 'running') return known.done;
    if (!method) return errorResponse(id, RpcErrorCode.methodNotFound, `method not found: '${m.method}'`);
    if (inFlight.count >= this.o.maxConcurrentCalls)
      return errorResponse(
        id,
        RpcErrorCode.overloaded,
        `too many calls running on this session (maxConcurrentCalls ${this.o.maxConcurrentCalls}); retry later`,
      );
    inFlight.count++;
    const controller = new AbortController();
    const run = (attempt: number): Promise<RpcResponse> =>
      this.execute(method, m.params, { session, principal, id, attempt }, controller).then((outcome) =>
        'error' in outcome
          ? errorResponse(id, outcome.error.code, outcome.error.message, outcome.error.data)
          : { jsonrpc: '2.0' as const, id, result: outcome.result },
      );
    const done = this.shared ? this.runShared(this.shared, key, id, controller, run) : run(1);
    this.results.running(key, done, controller);
    const response = await done;
    inFlight.count--;
    this.results.store(key, response);
    return response;
  }

  /** Runs the call here if no node runs or ran it, else answers with what that node answers. */
  private async runShared(
    shared: SharedCalls,
    key: string,
    id: RpcId,
    controller: AbortController,
    run: (attempt: number) => Promise<RpcResponse>,
  ): Promise<RpcResponse> {
    let claim;
    try {
      claim = await shared.claim(key, controller.signal);
    } catch (e) {
      return errorResponse(
        id,
        RpcErrorCode.applicationError,
        `the shared call table did not answer; nothing ran, retry (${e instanceof Error ? e.message : String(e)})`,
        { code: 'ERR_STORE_UNAVAILABLE', details: {} },
      );
    }
    if (claim.kind === 'done') return claim.response;
    const stop = shared.renew(claim.lease);
    let response: RpcResponse;
    try {
      response = await run(claim.lease.attempt);
    } finally {
      await stop();
    }
    // Stored only if the lease is still ours; else the answer of the node that took it over.
    return shared
      .finish(claim.lease, response)
      .catch(() => response /* the store did not answer: ours still goes out; a retry elsewhere may run it again */);
  }

  private async execute(
    method: RpcMethod,
    params: unknown,
    base: Omit<RpcContext, 'signal'>,
    controller: AbortController,
  ): Promise<{ result: unknown } | { error: { code: number; message: string; data?: unknown } }> {
    this.running.add(controller);
    const timer = setTimeout(
      () =>
        controller.abort(
          new RpcMethodError(
            RpcErrorCode.timeout,
            `the call ran longer than ${this.o.callTimeoutMs} ms (callTimeoutMs)`,
          ),
        ),
      this.o.callTimeoutMs,
    );
    const stopped = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    stopped.catch(() => {});
    try {
      const result = await Promise.race([
        Promise.resolve().then(() => method(params, { ...base, signal: controller.signal })),
        stopped,
      ]);
      return { result: result === undefined ? null : result };
    } catch (error) {
      if (error instanceof RpcMethodError)
        return {
          error:
            error.data === undefined
              ? { code: error.code, message: error.message }
              : { code: error.code, message: error.message, data: error.data },
        };
      if (error instanceof SessionError)
        return {
          error: {
            code: RpcErrorCode.applicationError,
            message: error.message,
            data: { code: error.code, details: error.details },
          },
        };
      return { error: { code: RpcErrorCode.internalError, message: 'internal error' } };
    } finally {
      clearTimeout(timer);
      this.running.delete(controller);
    }
  }
}

/** The RPC service: `new ServiceHost([rpcService({ methods }), ...])`. */
export function rpcService(options: RpcServiceOptions = {}): RpcService {
  return new RpcService(options);
}
