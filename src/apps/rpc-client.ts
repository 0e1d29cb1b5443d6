// The JSON-RPC 2.0 client of the rpc service (./rpc.ts is the server; ./rpc.ts re-exports this
// module, so `import { RpcClient } from './rpc.js'` still works).
//
// Theory of operation
//   One RpcClient speaks over one session: `call` sends a request with a fresh id
//   (`<clientId>.<n>`, or the caller's own id to retry a call from an earlier process), keeps a
//   pending entry keyed by the id's JSON, and settles it when the response with that id arrives
//   (a batch answer is settled element by element). A response with a null id is an error the
//   server could not tie to a request: it fails the oldest pending call. The per-call timeout
//   and the caller's AbortSignal both give up locally and send `$/cancel` so the server stops
//   the method too. When the session ends (released, failed, or the server sent something that
//   is not JSON-RPC, which aborts it) every pending call rejects with that error, and so does
//   every later call. When a node takes the session over after the node serving it died, it
//   sends the notification `$/interrupted`; every call still pending is sent again with its id,
//   and the server joins the running call or answers from its stored result (./rpc-shared.ts). Exactly-once across cuts is the session's job; across client restarts the
//   server deduplicates by clientId + request id (see ./rpc.ts).

import { randomBytes } from 'node:crypto';
import { SessionError } from '../engine/errors.js';
import type { Session } from '../driver/session.js';
import { connect } from '../client/connect.js';
import type { ClientSession, ConnectOptions } from '../client/connect.js';
import { encodeHello } from './service.js';
import { releasedByServer, watchPeerRelease } from './peer-release.js';
import { CANCEL_METHOD, INTERRUPTED_METHOD, RpcErrorCode, utf8 } from './rpc-protocol.js';
import type { RpcId, RpcRequest } from './rpc-protocol.js';
import type {} from './errors.js';
import type {} from '../driver/errors.js';

/** Describes a server's methods for a typed client: `{ add: { params: [number, number]; result: number } }`. */
export type RpcMethodMap = Record<string, { params?: unknown; result?: unknown }>;

export interface RpcCallOptions {
  /** Reject with ERR_RPC_TIMEOUT (and cancel on the server) after this long. Default: the client's timeoutMs (30 s); 0 = none. */
  timeoutMs?: number;
  /** Aborting rejects with ERR_CANCELLED and cancels on the server. */
  signal?: AbortSignal;
  /** The request id; set it to retry a call from an earlier process (with the same clientId). Default: `<clientId>.<n>`. */
  id?: RpcId;
}

export interface RpcClientOptions {
  /** Names this client for deduplication across sessions. Default: 128 random bits in hex. */
  clientId?: string;
  /** Default per-call timeout in ms. Default 30 000; 0 = none. */
  timeoutMs?: number;
  /** Calls awaiting an answer at once; more throw ERR_SEND_BUFFER_FULL. Default 1024. */
  maxPendingCalls?: number;
}

interface Pending {
  request: RpcRequest;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** A JSON-RPC 2.0 client over one session. */
export class RpcClient<M extends RpcMethodMap = RpcMethodMap> {
  readonly clientId: string;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private failure: Error | undefined;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  /** The server's reason when it released the session (a node that stops). */
  private readonly peerRelease: { reason(): string | undefined };

  /** Connects to a server's rpc service (hello {"service":"rpc","client":clientId}). */
  static async connect<M extends RpcMethodMap = RpcMethodMap>(
    url: string,
    options: RpcClientOptions & { connect?: ConnectOptions } = {},
  ): Promise<RpcClient<M>> {
    const clientId = options.clientId ?? randomBytes(16).toString('hex');
    const session = await connect(url, {
      ...options.connect,
      userData: encodeHello({ service: 'rpc', client: clientId }),
    });
    return new RpcClient<M>(session, { ...options, clientId });
  }

  constructor(
    readonly session: Session | ClientSession,
    options: RpcClientOptions = {},
  ) {
    this.clientId = options.clientId ?? randomBytes(16).toString('hex');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxPending = options.maxPendingCalls ?? 1024;
    this.peerRelease = watchPeerRelease(session);
    void this.readLoop();
  }

  /** Calls `method`; resolves with its result, rejects with ERR_RPC_ERROR, ERR_RPC_TIMEOUT, ERR_CANCELLED or the session's error. */
  /**
   * `call<T>('name', params)` resolves with T; without T, a method named in M resolves with its
   * declared result type (and takes its declared params), any other with `unknown`.
   */
  call<T = never, K extends string = string>(
    method: K,
    params?: K extends keyof M ? M[K]['params'] : unknown,
    options?: RpcCallOptions,
  ): Promise<[T] extends [never] ? (K extends keyof M ? M[K]['result'] : unknown) : T>;
  async call(method: string, params?: unknown, options: RpcCallOptions = {}): Promise<unknown> {
    if (this.failure) throw this.failure;
    options.signal?.throwIfAborted();
    if (this.pending.size >= this.maxPending)
      throw new SessionError(
        'ERR_SEND_BUFFER_FULL',
        `${this.pending.size} calls await an answer (maxPendingCalls)`,
        'local',
        { limit: 'maxPendingCalls' },
      );
    const id = options.id ?? `${this.clientId}.${++this.seq}`;
    const key = JSON.stringify(id);
    if (this.pending.has(key))
      throw new SessionError('ERR_INVALID_ARGUMENT', `request id ${key} is already awaiting an answer`);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const request: RpcRequest =
      params === undefined ? { jsonrpc: '2.0', method, id } : { jsonrpc: '2.0', method, params, id };
    return new Promise<unknown>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(key);
      };
      const giveUp = (error: Error): void => {
        cleanup();
        this.notify(CANCEL_METHOD, { id }).catch(() => {});
        reject(error);
      };
      const onAbort = (): void =>
        giveUp(new SessionError('ERR_CANCELLED', `call ${method} was aborted`, 'local', { id }));
      this.pending.set(key, {
        request,
        resolve: (v) => {
          cleanup();
          resolve(v);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs > 0)
        timer = setTimeout(
          () =>
            giveUp(
              new SessionError('ERR_RPC_TIMEOUT', `no answer to ${method} within ${timeoutMs} ms`, 'local', {
                id,
                timeoutMs,
              }),
            ),
          timeoutMs,
        );
      this.session
        .send(JSON.stringify(request), options.signal ? { signal: options.signal } : {})
        .catch((e: unknown) => {
          cleanup();
          reject(e instanceof Error ? e : new Error(String(e)));
        });
    });
  }

  /** Sends a notification (no answer). */
  async notify(method: string, params?: unknown): Promise<void> {
    await this.session.send(
      JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }),
    );
  }

  /** Orderly release of the session. */
  async close(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.session.closed) return;
    await this.session.release(undefined, options);
  }

  private async readLoop(): Promise<void> {
    try {
      for await (const unit of this.session) {
        let message: unknown;
        try {
          message = JSON.parse(utf8.decode(unit));
        } catch {
          throw new SessionError('ERR_APP_PROTOCOL', 'the server sent a message that is not UTF-8 JSON', 'remote', {
            reason: 'not-json',
          });
        }
        for (const r of Array.isArray(message) ? message : [message]) this.settle(r);
      }
      const byServer = this.peerRelease.reason();
      this.fail(
        byServer === undefined
          ? new SessionError('ERR_INVALID_STATE', 'the RPC session was released', 'local', { state: 'closed' })
          : new SessionError(
              'ERR_INVALID_STATE',
              `${releasedByServer(byServer)} before the call was answered; call again with the same id: a call that ran is answered from the server's record`,
              'remote',
              { state: 'closed', reason: byServer },
            ),
      );
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      if (e instanceof SessionError && e.code === 'ERR_APP_PROTOCOL' && !this.session.closed)
        this.session.abort(e.message);
      this.fail(e);
    }
  }

  private settle(r: unknown): void {
    if (typeof r !== 'object' || r === null)
      throw new SessionError('ERR_APP_PROTOCOL', 'the server sent a response that is not an object', 'remote', {
        reason: 'not-object',
      });
    const response = r as {
      id?: unknown;
      method?: unknown;
      result?: unknown;
      error?: { code?: unknown; message?: unknown; data?: unknown };
    };
    if (response.method === INTERRUPTED_METHOD && response.id === undefined) {
      // Another node took the session over: what the dead node was running, ask again (same ids).
      for (const p of this.pending.values())
        this.session.send(JSON.stringify(p.request)).catch(() => {
          /* the session's end fails the call */
        });
      return;
    }
    if (response.id === null || response.id === undefined) {
      // An error the server could not tie to a request (e.g. a parse error): fail the oldest call.
      const first = this.pending.values().next();
      if (!first.done && response.error) first.value.reject(this.rpcError(response.error, null));
      return;
    }
    const waiter = this.pending.get(JSON.stringify(response.id));
    if (!waiter) return; // answered after a timeout or an abort
    if (response.error !== undefined) waiter.reject(this.rpcError(response.error, response.id));
    else waiter.resolve(response.result);
  }

  private rpcError(error: { code?: unknown; message?: unknown; data?: unknown }, id: unknown): SessionError {
    const rpcCode = typeof error.code === 'number' ? error.code : RpcErrorCode.internalError;
    const message = typeof error.message === 'string' ? error.message : 'error';
    const data = error.data as { code?: unknown } | undefined;
    const appCode = typeof data?.code === 'string' ? data.code : undefined;
    return new SessionError(
      'ERR_RPC_ERROR',
      `${message} (JSON-RPC ${rpcCode}${appCode ? `, ${appCode}` : ''})`,
      'remote',
      { rpcCode, id, ...(error.data === undefined ? {} : { data: error.data }) },
    );
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const w of [...this.pending.values()]) w.reject(error);
    this.pending.clear();
  }
}
