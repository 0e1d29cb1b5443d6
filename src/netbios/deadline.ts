// A signal that aborts when the caller's signal does or when `timeoutMs` passes, whichever is
// first; dispose() clears the timer. (AbortSignal.any and AbortSignal.timeout would do, but the
// timeout must abort with our own coded error, and Node 20.0 lacks AbortSignal.any.)

export interface Deadline {
  readonly signal: AbortSignal;
  dispose(): void;
}

export function deadline(timeoutMs: number, outer: AbortSignal | undefined, onTimeout: () => Error): Deadline {
  const controller = new AbortController();
  const abort = (): void => controller.abort(outer?.reason);
  if (outer?.aborted) abort();
  else outer?.addEventListener('abort', abort, { once: true });
  const timer = setTimeout(() => controller.abort(onTimeout()), timeoutMs);
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      outer?.removeEventListener('abort', abort);
    },
  };
}
