// Raw HTTP for the attacks in test/security: node:http (not fetch) so that Host, Origin and the
// client's local address are exactly what the attacker would send.

import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { ServeNode } from '../support/serve.js';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RawRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Source address (127.0.0.2 is another client on loopback). */
  localAddress?: string;
  timeoutMs?: number;
}

/** One request to `node`'s HTTP port at `path`; resolves with the status, headers and body. */
export function raw(node: ServeNode, path: string, options: RawRequest = {}): Promise<RawResponse> {
  const url = new URL(path, node.http);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 20_000, () =>
      req.destroy(new Error(`no answer to ${path} within ${options.timeoutMs ?? 20_000} ms`)),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A WebSocket upgrade to /session with `headers`; resolves with the HTTP status (101 when upgraded). */
export function upgrade(node: ServeNode, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return upgradeAt(new URL('/session', node.http), headers);
}

/** A WebSocket upgrade to `url` (https: trusting `ca`) with `headers`; resolves with the HTTP status and body. */
export function upgradeAt(
  url: URL,
  headers: Record<string, string>,
  ca?: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : request)({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      agent: false,
      ...(ca ? { ca } : {}),
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(20_000, () => req.destroy(new Error('no answer to the upgrade')));
    req.on('error', reject);
    req.end();
  });
}

export const JSON_TYPE = { 'content-type': 'application/json' };

/** Logs in on the page's API as `name`; resolves with the cookie and the login's principal. */
export async function login(
  node: ServeNode,
  name: string,
  extra: Record<string, unknown> = {},
  localAddress?: string,
): Promise<{ cookie: string; principal: string; admin: boolean }> {
  const res = await raw(node, '/api/login', {
    method: 'POST',
    headers: JSON_TYPE,
    body: JSON.stringify({ name, ...extra }),
    ...(localAddress ? { localAddress } : {}),
  });
  if (res.status !== 200) throw new Error(`login as ${name} answered ${res.status}: ${res.body}`);
  const setCookie = res.headers['set-cookie']?.[0] ?? '';
  const body = JSON.parse(res.body) as { principal: string; admin: boolean };
  return { cookie: setCookie.split(';')[0] as string, principal: body.principal, admin: body.admin };
}
