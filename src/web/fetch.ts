// The Web-standard adapter: Request in, Response out, for any framework built on them (Hono,
// Bun.serve, Deno.serve, workers, route handlers). `WebSessions.handle()` calls this.

import type { SessionData, WebSession } from './web-session.js';
import { isStoreError, UNAVAILABLE_BODY, type WebSessions } from './web-sessions.js';

export async function handleFetch<T extends SessionData>(
  sessions: WebSessions,
  request: Request,
  handler: (request: Request, session: WebSession<T>) => Response | Promise<Response>,
  info: { address?: string },
): Promise<Response> {
  const secure = sessions.isSecure(
    new URL(request.url).protocol === 'https:',
    request.headers.get('x-forwarded-proto'),
  );
  let session: WebSession<T>;
  try {
    session = await sessions.load<T>({
      cookie: request.headers.get('cookie'),
      secure,
      userAgent: request.headers.get('user-agent') ?? undefined,
      address: info.address,
    });
  } catch (error) {
    if (sessions.failClosed || !isStoreError(error)) return unavailable(error);
    sessions.report(error);
    session = sessions.anonymous<T>(secure);
  }
  const response = await handler(request, session);
  const any = session as unknown as WebSession<SessionData>;
  try {
    await sessions.save(any);
  } catch (error) {
    if (sessions.failClosed || !isStoreError(error)) return unavailable(error);
    sessions.report(error);
  }
  const set = sessions.cookies(any, secure);
  if (set.length === 0) return response;
  const headers = new Headers(response.headers);
  for (const c of set) headers.append('set-cookie', c);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** 503 for a store failure; anything else is a bug and is thrown. */
function unavailable(error: unknown): Response {
  if (!isStoreError(error)) throw error;
  return new Response(UNAVAILABLE_BODY, {
    status: 503,
    headers: { 'retry-after': '1', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
  });
}
