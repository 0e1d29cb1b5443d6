// The ISO 8327 profile through the general API: listen({ iso }) and connect('iso://…'), from the
// package's entry points (src/client.ts, src/server.ts), which register the profile (src/iso/profile.ts).

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client.js';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server.js';
import type { Server } from '../../src/server.js';

let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

describe('ISO 8327 through listen() and connect()', () => {
  it('a session opened with connect("iso://…") reaches listen({ iso }) and carries data both ways', async () => {
    server = await listen({ iso: { port: 0 } });
    const port = server.addresses.iso as number;
    const peerReady = new Promise<Session>((resolve) => (server as Server).on('session', resolve));
    const client = await connect(`iso://127.0.0.1:${port}`);
    const peer = await peerReady;
    await client.send('over X.225');
    const [got] = await (async () => {
      for await (const m of peer) return [m];
      return [];
    })();
    expect(new TextDecoder().decode(got)).toBe('over X.225');
    await peer.send('back');
    for await (const m of client) {
      expect(new TextDecoder().decode(m)).toBe('back');
      break;
    }
    expect(server.sessions.size).toBe(1);
    await expect(client.release()).resolves.toBe(true);
  });
});
