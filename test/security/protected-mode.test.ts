// Issue 11, finding 2 (the services side) and protected mode: "the files service and RPC take
// anonymous sessions". Against spawned serve processes: beyond loopback serve refuses to start
// without an access policy, naming the flag; with --access, an anonymous session is refused by
// the services it may not use (ERR_REFUSED) while a login or the admin token gets in; on
// loopback with no flags, anonymous native clients work as in the quick start.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { encodeHello } from '../../src/apps/service.js';
import { RpcClient } from '../../src/apps/rpc-client.js';
import { startServe, type ServeNode } from '../support/serve.js';
import { login } from './support.js';

const hello = (service: string): Uint8Array => encodeHello({ service });

describe('protected mode and the access policy', () => {
  it('refuses to listen beyond loopback without --access, saying which flag to pass', async () => {
    // Refused before anything binds, so this never opens a port on the network.
    const failure = await startServe(['--host', '0.0.0.0']).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(failure?.message).toMatch(/exited with 2/);
    expect(failure?.message).toMatch(/protected mode/);
    expect(failure?.message).toMatch(/--access login/);
    const bad = await startServe(['--access', 'files=everybody']).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(bad?.message).toMatch(/'everybody' is not a level/);
  }, 90_000);

  describe('--access rpc=login,files=admin (anyone for the rest)', () => {
    let node: ServeNode;
    beforeAll(async () => {
      node = await startServe(['--access', 'anyone,rpc=login,files=admin']);
    }, 90_000);
    afterAll(async () => {
      await node?.stop();
    });

    it('refuses anonymous files and RPC sessions with ERR_REFUSED; the admin token and a login get in as the policy says', async () => {
      const refused = async (
        url: string,
        service: string,
        options: { credentials?: string; headers?: Record<string, string> } = {},
      ): Promise<Error | null> =>
        connect(url, { userData: hello(service), heartbeatMs: 0, reconnect: false, ...options }).then(
          async (s) => {
            await s.release();
            return null;
          },
          (e: unknown) => e as Error,
        );

      for (const url of [node.tcp, node.ws]) {
        const files = await refused(url, 'files');
        expect(files).toMatchObject({ code: 'ERR_REFUSED' });
        expect(files?.message).toMatch(/the files service here is for the admin only/);
        expect(await refused(url, 'rpc')).toMatchObject({ code: 'ERR_REFUSED' });
        // What stays open to anyone still works.
        expect(await refused(url, 'echo')).toBeNull();
      }
      // Wrong credentials are refused outright; the admin token as credentials opens everything.
      expect(await refused(node.tcp, 'echo', { credentials: 'guess-guess-guess' })).toMatchObject({
        code: 'ERR_REFUSED',
      });
      expect(await refused(node.tcp, 'files', { credentials: node.adminToken })).toBeNull();
      const rpc = await RpcClient.connect(node.tcp, { connect: { credentials: node.adminToken, heartbeatMs: 0 } });
      expect(await rpc.call('echo', { hi: 1 })).toEqual({ hi: 1 });
      await rpc.close();
      // A page login may use RPC (login) but not files (admin).
      const ada = await login(node, 'ada');
      expect(await refused(node.ws, 'rpc', { headers: { cookie: ada.cookie } })).toBeNull();
      expect(await refused(node.ws, 'files', { headers: { cookie: ada.cookie } })).toMatchObject({
        code: 'ERR_REFUSED',
      });
    }, 60_000);
  });

  describe('loopback with no flags (the quick start)', () => {
    let node: ServeNode;
    beforeAll(async () => {
      node = await startServe();
    }, 90_000);
    afterAll(async () => {
      await node?.stop();
    });

    it('lets anonymous native clients use every service (anonymous is the loopback default)', async () => {
      for (const service of ['chat', 'rpc', 'files', 'echo']) {
        const s = await connect(node.tcp, { userData: hello(service), heartbeatMs: 0 });
        expect(s.state).not.toBe('closed');
        await s.release().catch(() => {});
      }
    }, 60_000);
  });
});
