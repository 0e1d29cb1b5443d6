// RPC service and client in one process: listen() + ServiceHost + rpcService, real TCP on
// loopback; cuts by destroying the client's transport (the session resumes by itself).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import { encodeHello } from '../../src/apps/service.js';
import { RpcClient, RpcErrorCode, RpcMethodError, rpcService } from '../../src/apps/rpc.js';
import { SessionError } from '../../src/engine/errors.js';
import { startAppsServer } from './fixtures/apps-server.js';
import type { AppsServer } from './fixtures/apps-server.js';

let server: AppsServer;
let root: string;
const clients: { session: { closed: boolean; abort(m: string): void } }[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'colloquy-rpc-'));
  server = await startAppsServer({
    files: { root },
    rpc: {
      callTimeoutMs: 2000,
      maxConcurrentCalls: 4,
      methods: {
        add: (params) => {
          const [a, b] = params as [unknown, unknown];
          if (typeof a !== 'number' || typeof b !== 'number')
            throw new RpcMethodError(RpcErrorCode.invalidParams, 'add takes two numbers');
          return a + b;
        },
        boom: () => {
          throw new Error('secret detail');
        },
        hang: (_p, { signal }) =>
          new Promise((resolve) => signal.addEventListener('abort', () => resolve('late'), { once: true })),
      },
    },
  });
});

afterEach(async () => {
  for (const c of clients.splice(0)) if (!c.session.closed) c.session.abort('test over');
  await server.close();
  await rm(root, { recursive: true, force: true });
});

async function client(clientId?: string): Promise<RpcClient<{ add: { params: [number, number]; result: number } }>> {
  const c = await RpcClient.connect<{ add: { params: [number, number]; result: number } }>(
    server.tcp,
    clientId ? { clientId } : {},
  );
  clients.push(c);
  return c;
}

function cut(c: { session: unknown }): void {
  (c.session as ClientSession).driver.attached?.destroy();
}

describe('rpc service', () => {
  it('answers echo, system.listMethods, typed calls and files.list', async () => {
    const c = await client();
    expect(await c.call('echo', { a: [1, 'x'] })).toEqual({ a: [1, 'x'] });
    const methods = await c.call<string[]>('system.listMethods');
    for (const m of ['echo', 'system.listMethods', 'files.list', 'files.stat', 'add']) expect(methods).toContain(m);
    const sum: number = await c.call('add', [2, 3]);
    expect(sum).toBe(5);
    expect(await c.call('files.list', {})).toEqual({ path: '', entries: [], truncated: false });
    expect(await c.close()).toBeUndefined();
  });

  it('turns method errors into JSON-RPC errors without leaking internal messages', async () => {
    const c = await client();
    const err = await c.call('add', ['x', 1] as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    expect((err as SessionError).code).toBe('ERR_RPC_ERROR');
    expect((err as SessionError).details['rpcCode']).toBe(RpcErrorCode.invalidParams);
    const missing = await c.call('nope').then(
      () => {
        throw new Error('resolved');
      },
      (e: unknown) => e as SessionError,
    );
    expect(missing.details['rpcCode']).toBe(RpcErrorCode.methodNotFound);
    const boom = await c.call('boom').then(
      () => {
        throw new Error('resolved');
      },
      (e: unknown) => e as SessionError,
    );
    expect(boom.details['rpcCode']).toBe(RpcErrorCode.internalError);
    expect(boom.message).not.toContain('secret');
    const rejected = await c.call('files.list', { path: '../etc' }).then(
      () => {
        throw new Error('resolved');
      },
      (e: unknown) => e as SessionError,
    );
    expect(rejected.details['rpcCode']).toBe(RpcErrorCode.applicationError);
    expect(rejected.details['data']).toMatchObject({ code: 'ERR_PATH_REJECTED', details: { reason: 'dot-dot' } });
  });

  it('answers malformed requests and batches as JSON-RPC 2.0 says', async () => {
    const s = await connect(server.tcp, { userData: encodeHello({ service: 'rpc' }) });
    const ask = async (text: string): Promise<unknown> => {
      await s.send(text);
      const r = await s.read();
      return JSON.parse(new TextDecoder().decode(r.value));
    };
    expect(await ask('{not json')).toMatchObject({ id: null, error: { code: RpcErrorCode.parseError } });
    expect(await ask('{"jsonrpc":"1.0","method":"echo","id":1}')).toMatchObject({
      id: 1,
      error: { code: RpcErrorCode.invalidRequest },
    });
    expect(await ask('[]')).toMatchObject({ error: { code: RpcErrorCode.invalidRequest } });
    const batch = await ask(
      '[{"jsonrpc":"2.0","method":"echo","params":[1],"id":"a"},{"jsonrpc":"2.0","method":"echo","params":[2]},{"jsonrpc":"2.0","method":"x","id":"b"}]',
    );
    expect(batch).toEqual([
      { jsonrpc: '2.0', id: 'a', result: [1] },
      { jsonrpc: '2.0', id: 'b', error: { code: RpcErrorCode.methodNotFound, message: "method not found: 'x'" } },
    ]);
    await s.release();
  });

  it('times out on the client, cancels on the server, and cancels on abort', async () => {
    const c = await client();
    const t = await c.call('hang', {}, { timeoutMs: 200 }).then(
      () => {
        throw new Error('resolved');
      },
      (e: unknown) => e as SessionError,
    );
    expect(t.code).toBe('ERR_RPC_TIMEOUT');
    const ac = new AbortController();
    const p = c.call('hang', {}, { signal: ac.signal, timeoutMs: 0 });
    ac.abort();
    expect(((await p.catch((e: unknown) => e)) as SessionError).code).toBe('ERR_CANCELLED');
    // The server ran both and cancelled both: a retry of the first id answers from the cache.
    const again = await c.call('hang', {}, { id: `${c.clientId}.1` }).then(
      () => {
        throw new Error('resolved');
      },
      (e: unknown) => e as SessionError,
    );
    expect(again.details['rpcCode']).toBe(RpcErrorCode.cancelled);
  });

  it('stops a call at the server timeout and refuses calls past maxConcurrentCalls', async () => {
    const c = await client();
    const running = [1, 2, 3, 4].map(() =>
      c.call('hang', {}, { timeoutMs: 0 }).then(
        () => {
          throw new Error('resolved');
        },
        (e: unknown) => e as SessionError,
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    const over = await c.call('echo', [1]).then(
      () => {
        throw new Error('resolved');
      },
      (e: unknown) => e as SessionError,
    );
    expect(over.details['rpcCode']).toBe(RpcErrorCode.overloaded);
    for (const e of await Promise.all(running)) expect(e.details['rpcCode']).toBe(RpcErrorCode.timeout);
    expect(await c.call('echo', [2])).toEqual([2]);
    const scalar = await c.call('echo', 2).then(
      () => {
        throw new Error('resolved');
      },
      (e: unknown) => e as SessionError,
    );
    expect(scalar.details['rpcCode']).toBe(RpcErrorCode.invalidParams);
  });

  it('a call survives a cut of its connection and runs once', async () => {
    const c = await client();
    const p = c.call<number>('test.count', { sleepMs: 300 }, { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 50));
    cut(c);
    expect(await p).toBe(1);
    cut(c);
    expect(await c.call('test.runs', {}, { timeoutMs: 20_000 })).toBe(1);
    expect(server.count()).toBe(1);
  });

  it('a retry from a new session (client restart) with the same client and request id returns the stored result', async () => {
    const first = await client('restart-client-1');
    expect(await first.call('test.count', {}, { id: 'req-7' })).toBe(1);
    first.session.abort('the process died');
    const second = await client('restart-client-1');
    expect(await second.call('test.count', {}, { id: 'req-7' })).toBe(1);
    expect(await second.call('test.count', {}, { id: 'req-8' })).toBe(2);
    // Another client id is another scope: the same request id runs.
    const other = await client('restart-client-2');
    expect(await other.call('test.count', {}, { id: 'req-7' })).toBe(3);
    expect(server.count()).toBe(3);
  });

  it('a retry that arrives while the first run is still going joins it', async () => {
    const first = await client('joiner');
    const slow = first.call<number>('test.count', { sleepMs: 400 }, { id: 'j1' });
    await new Promise((r) => setTimeout(r, 50));
    const second = await client('joiner');
    const [a, b] = await Promise.all([slow, second.call<number>('test.count', { sleepMs: 400 }, { id: 'j1' })]);
    expect([a, b]).toEqual([1, 1]);
    expect(server.count()).toBe(1);
  });

  it('bounds the result cache by entries', async () => {
    const small = rpcService({ maxCachedResults: 3 });
    expect(small.cacheStats).toEqual({ entries: 0, bytes: 0 });
    const host = await import('../../src/apps/host.js');
    const { listen } = await import('../../src/server/server.js');
    const h = new host.ServiceHost([small]);
    const srv = await listen({ tcp: { port: 0 }, authenticate: h.authenticate });
    h.attach(srv);
    try {
      const c = await RpcClient.connect(`tcp://127.0.0.1:${srv.addresses.tcp}`);
      for (let i = 0; i < 10; i++) await c.call('echo', [i]);
      expect(small.cacheStats.entries).toBe(3);
      await c.close();
    } finally {
      await srv.destroy();
    }
  });

  it('treats names like Object.prototype members as plain names', async () => {
    const c = await client();
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const e = await c.call(name, []).then(
        () => {
          throw new Error('resolved');
        },
        (err: unknown) => err as SessionError,
      );
      expect(e.details['rpcCode']).toBe(RpcErrorCode.methodNotFound);
    }
    const own = rpcService({ methods: { ['__proto__']: () => 'odd but fine' } });
    expect(own.methodNames).toContain('__proto__');
    expect(() => own.register({ echo: () => 1 })).toThrow(/registered twice/);
  });

  it('refuses a hello with a bad client id', async () => {
    await expect(
      connect(server.tcp, { userData: encodeHello({ service: 'rpc', client: 5 }), reconnect: false }),
    ).rejects.toThrow(/hello.client/);
  });
});
