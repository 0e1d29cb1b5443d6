// Client helpers for the load-balancer tests: an HTTP request that says which node answered and
// what cookie it set, and a Colloquy session through the balancer whose upgrade carries a cookie.

import { expect } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import type { Balancer } from './lb.js';

export const COOKIE = 'COLLOQUY_NODE';

/** GET /whoami through the balancer: which node answered, and the cookie it was given, if any. */
export async function whoami(lb: Balancer, cookie?: string): Promise<{ node: string; setCookie: string | null }> {
  const res = await fetch(`${lb.url}/whoami`, {
    headers: cookie ? { cookie } : {},
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { node: string };
  const set = res.headers.get('set-cookie');
  const m = set ? new RegExp(`${COOKIE}=([^;]*)`).exec(set) : null;
  return { node: body.node, setCookie: m ? `${COOKIE}=${m[1] as string}` : null };
}

/** A session through the balancer carrying `cookie` on its upgrade, and the replies it reads ("<node> <text>"). */
export async function openSession(
  lb: Balancer,
  cookie: string,
): Promise<{ client: ClientSession; replies: string[]; waitFor(n: number): Promise<void> }> {
  const client = await connect(`ws://127.0.0.1:${lb.port}/session`, {
    headers: { cookie },
    reconnect: { initialDelayMs: 10, maxDelayMs: 200 },
  });
  const replies: string[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  void (async () => {
    for await (const m of client) {
      replies.push(new TextDecoder().decode(m));
      for (const w of waiters.filter((w) => replies.length >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  })().catch(() => {});
  return {
    client,
    replies,
    waitFor: (n) =>
      replies.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}
