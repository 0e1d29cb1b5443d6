// wrapWebSocket: maps an open WebSocket onto the Transport contract, for both the `ws` package
// (Node) and a browser's native WebSocket. ws.ts opens and accepts them. No node:* imports.
//
//   data       binary messages only (binaryType 'nodebuffer' for ws, 'arraybuffer' native);
//              a text message is a protocol error: closed with 1003, ERR_TRANSPORT_TEXT_FRAME
//   write      send(); false once more than highWaterMark bytes are unsent (bufferedAmount). ws:
//              a send that may cross the mark carries a callback (its bytes and all before them
//              reached the socket), which then checks for drain; below the mark no callback is
//              made. Native: bufferedAmount, polled every drainPollMs only while a writer waits.
//   pause      ws: pause() (socket reads stop, TCP backpressure). Native: cannot stop the peer,
//              so messages are held up to maxHeldBytes (ERR_TRANSPORT_RECEIVE_OVERFLOW past it)
//   close      close(1000): the close frame follows queued messages; reported on 'close'
//   destroy    ws: terminate(). Native: close(4000), reported at once
//   'close'    1000, 1001, 1005: clean; 1006: ERR_TRANSPORT_RESET; others ERR_TRANSPORT_PEER_ERROR
//   events     ws: its own on('message' | 'close' | 'error'), which hand over (data, isBinary) and
//              (code, reason) without the EventTarget shim's event object per message; the same
//              three listener functions serve every socket (they find their transport on it).
//              Native: addEventListener.

import { TransportBase } from './base.js';
import { TransportError } from './errors.js';
import type { Transport } from './transport.js';

interface WsEvent {
  data?: unknown;
  code?: number;
  reason?: string;
  error?: unknown;
}

/** The part of the WHATWG WebSocket interface this transport uses; `ws` sockets fit too. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  readonly url?: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message' | 'close' | 'error', listener: (event: WsEvent) => void): void;
}

/** WebSocket frame header bytes, at most (a masked frame with a 64-bit length). */
const MAX_WS_HEADER = 14;
const utf8 = new TextDecoder();

/** The extras of a `ws` socket: flow control, a callback when bytes reach the socket, its own events. */
export interface NodeWebSocket extends WebSocketLike {
  pause(): void;
  resume(): void;
  terminate(): void;
  send(data: Uint8Array, callback?: (error?: Error) => void): void;
  on(type: 'message', listener: (data: unknown, isBinary: boolean) => void): unknown;
  on(type: 'close', listener: (code: number, reason: Uint8Array) => void): unknown;
  on(type: 'error', listener: (error: Error) => void): unknown;
}

export interface WrapWebSocketOptions {
  /** For logs; defaults to the host of the socket's URL. */
  remoteAddress?: string;
  /** Server side: the HTTP upgrade request's headers, exposed as `transport.headers`. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** Server side: the upgrade came over TLS (wss), exposed as `transport.secure`. */
  secure?: boolean;
  /** Unsent bytes above which write() returns false. Default 1 MiB. */
  highWaterMark?: number;
  /** Native sockets only: bytes held while paused before the transport fails. Default 16 MiB. */
  maxHeldBytes?: number;
  /** Native sockets only: bufferedAmount poll interval while waiting for drain. Default 10 ms. */
  drainPollMs?: number;
  /** close(): how long the peer has to answer the closing handshake before the socket is destroyed. Default 5 s. */
  closeTimeoutMs?: number;
}

const OPEN = 1;
/** On a `ws` socket: its transport, for the listeners every transport shares (see the constructor). */
const TRANSPORT = Symbol('colloquy.wsTransport');
type TaggedNodeWebSocket = NodeWebSocket & { [TRANSPORT]: WebSocketTransport };
const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1005]);

function isNodeWebSocket(socket: WebSocketLike): socket is NodeWebSocket {
  const s = socket as Partial<NodeWebSocket>;
  return (
    typeof s.pause === 'function' &&
    typeof s.resume === 'function' &&
    typeof s.terminate === 'function' &&
    typeof s.on === 'function'
  );
}

/**
 * What a transport was set up with, the same for every socket a server accepts: one frozen record
 * per distinct value, shared (six fields of every transport otherwise, issue 14); a bounded cache
 * of pure values, as ../engine/machine/agreed.ts.
 */
interface WsConf {
  /** A `ws` socket (pause, resume, terminate, its own events), not a browser's. */
  readonly node: boolean;
  readonly highWaterMark: number;
  readonly pollMs: number;
  readonly closeTimeoutMs: number;
  /** Native sockets: bytes held while paused before the transport fails; -1 for `ws` (it pauses). */
  readonly maxHeldBytes: number;
  readonly secure: boolean | undefined;
}
const confs = new Map<string, WsConf>();
function wsConf(c: WsConf): WsConf {
  const key = `${c.node} ${c.highWaterMark} ${c.pollMs} ${c.closeTimeoutMs} ${c.maxHeldBytes} ${c.secure}`;
  const known = confs.get(key);
  if (known) return known;
  const conf = Object.freeze(c);
  if (confs.size >= 256) confs.clear();
  confs.set(key, conf);
  return conf;
}

class WebSocketTransport extends TransportBase {
  // On the prototype, not a field of every transport.
  get kind(): 'ws' {
    return 'ws';
  }
  get secure(): boolean | undefined {
    return this.#conf.secure;
  }
  protected override get maxHeldBytes(): number {
    return this.#conf.maxHeldBytes;
  }
  readonly remoteAddress: string;
  /** Until forgetHeaders(): the server drops them once its `authenticate` has seen them. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
  readonly #socket: WebSocketLike;
  readonly #conf: WsConf;
  #needDrain = false;
  #poll: ReturnType<typeof setTimeout> | undefined;
  #error: Error | undefined;
  #abortCode: number | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Made on first use (an idle session never needs it): `ws`, the callback of a send that may
   * cross the mark; native, the drain poll.
   */
  #drainFn: (() => void) | undefined;

  constructor(socket: WebSocketLike, options: WrapWebSocketOptions) {
    super();
    if (socket.readyState !== OPEN)
      throw new TypeError(`wrapWebSocket needs an open socket (readyState ${socket.readyState})`);
    this.#socket = socket;
    const isNode = isNodeWebSocket(socket);
    this.#conf = wsConf({
      node: isNode,
      highWaterMark: options.highWaterMark ?? 1024 * 1024,
      pollMs: options.drainPollMs ?? 10,
      closeTimeoutMs: options.closeTimeoutMs ?? 5000,
      maxHeldBytes: isNode ? -1 : (options.maxHeldBytes ?? 16 * 1024 * 1024),
      secure: options.secure,
    });
    this.remoteAddress = options.remoteAddress ?? (socket.url ? new URL(socket.url).host : 'unknown');
    if (options.headers) this.headers = options.headers;
    socket.binaryType = isNode ? 'nodebuffer' : 'arraybuffer';
    if (isNode) {
      const node = socket;
      node.pause();
      // The same three functions for every socket, which find their transport on it: closures
      // per socket cost ~200 bytes of an idle session (issue 14).
      (node as TaggedNodeWebSocket)[TRANSPORT] = this;
      node.on('message', WebSocketTransport.#nodeMessage);
      node.on('error', WebSocketTransport.#nodeError);
      node.on('close', WebSocketTransport.#nodeClose);
    } else {
      socket.addEventListener('message', (event) => this.#onMessage(event.data));
      socket.addEventListener('error', (event) => {
        if (event.error instanceof Error) this.#error ??= event.error;
      });
      socket.addEventListener('close', (event) => this.#onClose(event.code ?? 1006, event.reason ?? ''));
    }
  }

  /** The socket as a `ws` one, or undefined for a browser's. */
  get #node(): NodeWebSocket | undefined {
    return this.#conf.node ? (this.#socket as NodeWebSocket) : undefined;
  }

  static #nodeMessage(this: TaggedNodeWebSocket, data: unknown, isBinary: boolean): void {
    const t = this[TRANSPORT];
    if (isBinary) t.#onMessage(data);
    else t.#onText();
  }
  static #nodeError(this: TaggedNodeWebSocket, error: Error): void {
    this[TRANSPORT].#error ??= error;
  }
  static #nodeClose(this: TaggedNodeWebSocket, code: number, reason: Uint8Array): void {
    this[TRANSPORT].#onClose(code, utf8.decode(reason));
  }

  #onClose(code: number, reason: string): void {
    this.#stopPoll();
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.finished(this.#error ?? closeError(code, reason));
  }

  #onText(): void {
    this.#abortCode = 1003;
    this.destroy(
      new TransportError(
        'ERR_TRANSPORT_TEXT_FRAME',
        'received a text frame; Colloquy carries binary frames only',
        'remote',
      ),
    );
  }

  #onMessage(data: unknown): void {
    if (data instanceof Uint8Array) this.receive(data);
    else if (data instanceof ArrayBuffer) this.receive(new Uint8Array(data));
    else if (ArrayBuffer.isView(data)) this.receive(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else this.#onText();
  }

  protected writeBytes(bytes: Uint8Array): boolean {
    const node = this.#node;
    const highWaterMark = this.#conf.highWaterMark;
    if (node) {
      // A callback only on a send that may cross the mark: it runs once these bytes (and all
      // before them) reached the socket, and checks for drain from there.
      if (this.#needDrain || node.bufferedAmount + bytes.byteLength + MAX_WS_HEADER > highWaterMark)
        node.send(bytes, (this.#drainFn ??= () => this.#checkDrain()));
      else node.send(bytes);
    } else {
      this.#socket.send(bytes);
    }
    if (this.#socket.bufferedAmount <= highWaterMark) return true;
    this.#needDrain = true;
    if (!node) this.#poll ??= setTimeout(this.#pollDrain(), this.#conf.pollMs);
    return false;
  }

  #checkDrain(): void {
    if (!this.#needDrain || this.#socket.bufferedAmount > this.#conf.highWaterMark) return;
    this.#needDrain = false;
    this.emitDrain();
  }

  #pollDrain(): () => void {
    return (this.#drainFn ??= () => {
      this.#poll = undefined;
      if (this.closed) return;
      this.#checkDrain();
      if (this.#needDrain) this.#poll = setTimeout(this.#pollDrain(), this.#conf.pollMs);
    });
  }

  #stopPoll(): void {
    if (this.#poll !== undefined) clearTimeout(this.#poll);
    this.#poll = undefined;
  }

  protected closeGracefully(): void {
    this.#socket.close(1000);
    // A peer that never answers the closing handshake (or never reads) must not hold the socket.
    this.#closeTimer = setTimeout(
      () =>
        this.destroy(
          new TransportError(
            'ERR_TRANSPORT_RESET',
            `the peer did not complete the WebSocket close within ${this.#conf.closeTimeoutMs} ms (closeTimeoutMs)`,
            'remote',
          ),
        ),
      this.#conf.closeTimeoutMs,
    );
    (this.#closeTimer as { unref?: () => void }).unref?.();
  }

  protected destroyNow(): void {
    this.#stopPoll();
    const code = this.#abortCode;
    if (this.#node && code === undefined) this.#node.terminate();
    else if (this.#node) this.#node.close(code, 'binary frames only');
    // Browsers only let scripts send 1000 or 3000-4999.
    else this.#socket.close(4000, code === 1003 ? 'binary frames only' : 'destroyed');
  }

  protected setFlowing(flowing: boolean): void {
    if (flowing) this.#node?.resume();
    else this.#node?.pause();
  }
}

function closeError(code: number, reason: string): Error | undefined {
  if (CLEAN_CLOSE_CODES.has(code)) return undefined;
  if (code === 1006)
    return new TransportError(
      'ERR_TRANSPORT_RESET',
      'the WebSocket closed without a closing handshake (1006)',
      'remote',
      { code },
    );
  return new TransportError(
    'ERR_TRANSPORT_PEER_ERROR',
    `the peer closed the WebSocket with status ${code}${reason ? `: ${reason}` : ''}`,
    'remote',
    { code, reason },
  );
}

/**
 * Lets go of a server-side WebSocket transport's upgrade headers (no-op for any other
 * transport): an open session need not keep the request's headers once nothing will read them.
 */
export function forgetHeaders(transport: Transport): void {
  if (transport instanceof WebSocketTransport && transport.headers !== undefined) transport.headers = undefined;
}

/** Wraps an open WebSocket (`ws` or native). Call it from the 'open' handler: nothing is lost until setHandlers(). */
export function wrapWebSocket(socket: WebSocketLike, options: WrapWebSocketOptions = {}): Transport {
  return new WebSocketTransport(socket, options);
}
