// The stores' diagnostics channel: each store call, timed, on `node:diagnostics_channel`. The
// server's channels are in src/server/diagnostics.ts, whose CHANNELS lists this one too (the
// names are public API, docs/operations.md). It lives here, in the store layer, because the
// stores publish it and the store layer sits below the server.
//
//   colloquy:store:call              one store call finished, with its duration

import { channel } from 'node:diagnostics_channel';

export const STORE_CALL_CHANNEL = 'colloquy:store:call';

export interface StoreCallMessage {
  store: string;
  op: string;
  durationMs: number;
  error: string | null;
}

const storeCall = channel(STORE_CALL_CHANNEL);

/**
 * The start of a store call: a function to call when it settles (with its error, if any), or
 * null when nobody listens (then the clock is not read at all).
 */
export function storeCallStarted(store: string, op: string): ((error?: unknown) => void) | null {
  if (!storeCall.hasSubscribers) return null;
  const start = performance.now();
  return (error?: unknown) => {
    if (!storeCall.hasSubscribers) return;
    const code = error === undefined ? null : ((error as { code?: unknown } | null)?.code ?? 'ERR_UNKNOWN');
    storeCall.publish({
      store,
      op,
      durationMs: performance.now() - start,
      error: typeof code === 'string' || code === null ? code : String(code),
    } satisfies StoreCallMessage);
  };
}
