// IPC between bench/runtime/ (the sending side, in the bench process) and its peer processes
// (bench/peers/sink.ts: every receiver of the throughput and round-trip runs; bench/peers/idle.ts:
// one idle server whose RSS is measured). Messages go over Node's IPC channel (process.send).

/** Bench -> sink. */
export type ToSink =
  /** Zero the received count; `echo` makes every receiver send each message back instead of counting it. */
  | { cmd: 'reset'; echo: boolean }
  /** Answer `reached` once the count is at least `target` (at once if it already is). */
  | { cmd: 'await'; target: number }
  /** Subscribe to `topic` at QoS 1 through the broker; report `progress` every `every` messages. */
  | { cmd: 'mqtt-subscribe'; url: string; topic: string; every: number }
  | { cmd: 'mqtt-unsubscribe' }
  | { cmd: 'exit' };

export interface SinkPorts {
  colloquyTcp: number;
  colloquyWs: number;
  rawWs: number;
  rawTcp: number;
  socketIo: number;
}

/** Sink -> bench. */
export type FromSink =
  | { ev: 'ready'; ports: SinkPorts }
  | { ev: 'reset' }
  | { ev: 'reached'; total: number }
  | { ev: 'progress'; total: number }
  | { ev: 'mqtt-ready' }
  | { ev: 'mqtt-done' }
  | { ev: 'error'; message: string };

/** Bench -> idle server. */
/** `snapshot`: write a V8 heap snapshot (after a full GC) to `path`, answered by `snapshot`. */
/** `cpu`: the process's CPU time over the next `ms`, answered by `cpu`. */
export type ToIdle =
  { cmd: 'measure' } | { cmd: 'snapshot'; path: string } | { cmd: 'cpu'; ms: number } | { cmd: 'exit' };

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  connections: number;
  /** Colloquy: connections turned away and sessions ended since the start, by reason (code: message). */
  turnedAway?: Record<string, number>;
  ended?: Record<string, number>;
  interrupted?: Record<string, number>;
}

/** Idle server -> bench. */
export type FromIdle =
  | { ev: 'ready'; port: number; path: string }
  | ({ ev: 'memory' } & MemorySample)
  | { ev: 'snapshot'; path: string }
  | { ev: 'cpu'; ms: number; userUs: number; systemUs: number }
  | { ev: 'error'; message: string };

/** Bench -> opener (bench/peers/opener.ts): open `count` sessions and hold them; `exit` ends them. */
export type ToOpener =
  | {
      cmd: 'open';
      kind: 'colloquy' | 'ws';
      url: string;
      count: number;
      /** Source addresses, used in turn (127.0.0.x: each has its own ephemeral ports). */
      localAddresses: string[];
      concurrency: number;
      timeoutMs: number;
      /** Colloquy only: sessions per WebSocket connection, multiplexed by a ConnectionPool (default 1: a connection each). */
      perConnection?: number;
      /** Report `progress` this often while opening (none when absent). */
      progressMs?: number;
    }
  | { cmd: 'exit' };

/** Opener -> bench. */
export type FromOpener =
  | { ev: 'ready' }
  | { ev: 'opened'; opened: number; seconds: number; failure?: string; connections: number }
  | { ev: 'progress'; opened: number; failed: number }
  | { ev: 'error'; message: string };

/** Sends to the parent; a peer with no IPC channel (started by hand) has nobody to tell. */
export function tell(message: FromSink | FromIdle | FromOpener): void {
  process.send?.(message);
}

/** A peer ends with its parent: no orphan keeps ports or memory after the bench stops. */
export function exitWithParent(): void {
  process.on('disconnect', () => process.exit(0));
}
