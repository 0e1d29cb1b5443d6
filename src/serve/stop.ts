// How a serve node stops: readiness, the drain and its two modes. ./app.ts owns the HTTP port
// and the order of everything after the drain; this file owns the drain itself.
//
//   drain(mode)                                                 (SIGTERM, Ctrl-C, POST /api/admin/drain)
//     1. ready = false            GET /api/ready answers 503; WebSocket upgrades get 503 (a load
//                                 balancer that retries on 503 sends them to another node)
//     2. wait drainDelayMs        the load balancer's health check takes the node out of the pool
//                                 before any transport closes (default 0: the shipped configs
//                                 retry a refused or 503 redial on another node at once)
//     3. Server.close({ mode })   stop accepting, then every session under one deadline
//                                 (stopTimeoutMs, the delay included):
//          release   each session released; the rest aborted at the deadline
//          handover  nothing released: each session's last inputs persisted, its transport
//                    closed, its client resumes on another node through the balancer
//
// Handover needs a shared store (the Server has durability: redis:// today); it is the default
// stop mode then, release otherwise. Both are bounded: the stop ends by the deadline whatever
// the clients do. If the deadline passes with sessions left (more than the machine can abort in
// time), onStopDeadline has the final report before they are aborted: serve prints it and exits.

import type { CloseReport, Server, StopMode } from '../server/server.js';
import { DEFAULT_CLOSE_TIMEOUT_MS } from '../server/server.js';
import type { OpenEndpoints } from '../server/endpoints.js';
import type { ServeOptions } from './app.js';

export class Stopper {
  readonly mode: StopMode;
  private drained: Promise<CloseReport> | null = null;
  private draining = false;
  /** Set by the app once its own endpoints are open: closed when the drain stops accepting. */
  endpoints: OpenEndpoints | null = null;

  constructor(
    private readonly server: Server,
    private readonly options: Pick<
      ServeOptions,
      'onStop' | 'stopTimeoutMs' | 'drainDelayMs' | 'onEvent' | 'onStopDeadline'
    >,
    private readonly sessions: () => number,
  ) {
    this.mode = options.onStop ?? (server.canHandOver ? 'handover' : 'release');
    if (this.mode === 'handover' && !server.canHandOver) {
      throw new Error(
        '--on-stop handover needs a shared store (--store redis://HOST:PORT): with the memory store no other node can take the sessions over',
      );
    }
    const deadline = options.stopTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    if ((options.drainDelayMs ?? 0) >= deadline)
      throw new Error(
        `the drain delay (${options.drainDelayMs ?? 0} ms) must be shorter than the stop timeout (${deadline} ms)`,
      );
  }

  /** True until a drain begins. */
  get ready(): boolean {
    return !this.draining;
  }

  /** Idempotent: a second call (SIGTERM after POST /api/admin/drain) gets the first one's report. */
  drain(mode: StopMode = this.mode): Promise<CloseReport> {
    this.drained ??= this.run(mode === 'handover' && !this.server.canHandOver ? 'release' : mode);
    return this.drained;
  }

  private async run(mode: StopMode): Promise<CloseReport> {
    const started = performance.now();
    this.draining = true;
    this.options.onEvent?.({ event: 'draining', mode, sessions: this.sessions() });
    const delay = this.options.drainDelayMs ?? 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    await this.endpoints?.close();
    const deadline = this.options.stopTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    const { onStopDeadline } = this.options;
    const report = await this.server.close({
      mode,
      timeoutMs: Math.max(0, deadline - (performance.now() - started)),
      ...(onStopDeadline
        ? {
            onDeadline: (r: CloseReport) =>
              onStopDeadline({ ...r, elapsedMs: Math.round(performance.now() - started) }),
          }
        : {}),
    });
    const total = { ...report, elapsedMs: Math.round(performance.now() - started) };
    this.options.onEvent?.({ event: 'drained', ...total });
    return total;
  }
}
