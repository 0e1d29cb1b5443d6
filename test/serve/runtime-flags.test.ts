// `colloquy serve --max-sessions N` and the other runtime-limit flags (src/serve/runtime-flags.ts):
// a flag reaches the spawned server (a third session is refused with maxSessions 2, the
// documented ERR_REFUSED / REFUSE congested), bad values are usage errors naming the flag, and
// --help lists every flag with its default.

import { describe, expect, it } from 'vitest';
import { encodeHello } from '../../src/apps/service.js';
import { connect } from '../../src/client/connect.js';
import { RefuseReason } from '../../src/engine/frames.js';
import { DEFAULT_MAX_SESSIONS } from '../../src/server/server.js';
import { flagName, RUNTIME_FLAGS } from '../../src/serve/runtime-flags.js';
import { ANONYMOUS, startServe } from '../support/serve.js';
import { runCaptured } from '../support/run-cli.js';

const echo = encodeHello({ service: 'echo' });

describe('serve runtime-limit flags', () => {
  it('--max-sessions 2 reaches the server: the third session is refused (ERR_REFUSED, congested), the first two work', async () => {
    const node = await startServe([...ANONYMOUS, '--max-sessions', '2', '--max-sessions-per-address', '0']);
    try {
      const open = () => connect(node.tcp, { userData: echo, heartbeatMs: 0, reconnect: false });
      const [a, b] = [await open(), await open()];
      await expect(open()).rejects.toMatchObject({
        code: 'ERR_REFUSED',
        details: { reason: RefuseReason.congested },
        message: expect.stringContaining('maxSessions 2'),
      });
      await a.send('still here');
      for await (const m of a) {
        expect(new TextDecoder().decode(m)).toBe('still here');
        break;
      }
      await a.release();
      // A slot is free again once a session ends.
      const c = await open();
      await Promise.all([b.release(), c.release()]);
    } finally {
      await node.stop();
    }
  }, 90_000);

  it('bad values are usage errors (exit 2) naming the flag and what it takes', async () => {
    for (const [args, says] of [
      [['--max-sessions', '0'], "--max-sessions takes a whole number >= 1, not '0'"],
      [['--max-held-bytes', '1e9'], '--max-held-bytes takes a whole number of bytes >= 1'],
      [['--handshake-timeout-ms', '-5'], '--handshake-timeout-ms'],
      [['--max-connections-per-address', 'lots'], '(0: no cap)'],
    ] as const) {
      const r = await runCaptured(['serve', ...args]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(says);
    }
  }, 60_000);

  it('--help lists every runtime flag with its default', async () => {
    const r = await runCaptured(['serve', '--help']);
    expect(r.code).toBe(0);
    for (const f of RUNTIME_FLAGS)
      expect(r.out).toMatch(new RegExp(`--${flagName(f.option)} [A-Z]+\\s[^]*?\\(default ${f.default}\\)`));
    expect(r.out).toContain(`(default ${DEFAULT_MAX_SESSIONS})`);
  });
});
