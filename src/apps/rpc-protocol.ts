// JSON-RPC 2.0 as both ends of the rpc service speak it: the error codes, the cancel
// notification, and the message shapes. The server is ./rpc.ts, the client ./rpc-client.ts;
// ./rpc.ts re-exports the public names, so `import { RpcErrorCode } from './rpc.js'` still works.
//
// Theory of operation
//   One JSON text per session data unit: a request {"jsonrpc":"2.0","method","params"?,"id"},
//   a notification (no id), or a batch array of them; the answers are responses with either a
//   `result` or an `error` {code, message, data?}. Ids are strings or finite numbers (null is
//   reserved for errors the server cannot tie to a request). Codes -32768..-32000 are the
//   spec's; the ones this project adds (-32000..-32002, -32800) are listed in RpcErrorCode.

/** JSON-RPC 2.0 error codes used here (-32768..-32000 are reserved by the spec). */
export const RpcErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** A SessionError thrown by a method: data carries its code and details. */
  applicationError: -32000,
  /** The server's callTimeoutMs ran out. */
  timeout: -32001,
  /** More than maxConcurrentCalls calls of this session are running. */
  overloaded: -32002,
  /** Cancelled by $/cancel (the code LSP uses). */
  cancelled: -32800,
} as const;

/** The notification that cancels a running call: params {"id": <the request id>}. */
export const CANCEL_METHOD = '$/cancel';

/**
 * Server to client: this node took the session over after the node serving it died; send the
 * requests still awaiting an answer again (same ids: the server joins or answers them once).
 */
export const INTERRUPTED_METHOD = '$/interrupted';

export type RpcId = string | number;

export interface RpcRequest {
  jsonrpc: '2.0';
  method: string;
  params?: unknown;
  id?: RpcId | null;
}
export type RpcResponse =
  | { jsonrpc: '2.0'; id: RpcId | null; result: unknown }
  | { jsonrpc: '2.0'; id: RpcId | null; error: { code: number; message: string; data?: unknown } };

/** Strict UTF-8: a unit that is not valid UTF-8 is not JSON-RPC. */
export const utf8 = new TextDecoder('utf-8', { fatal: true });

export function errorResponse(id: RpcId | null, code: number, message: string, data?: unknown): RpcResponse {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

export function isId(v: unknown): v is RpcId {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}
