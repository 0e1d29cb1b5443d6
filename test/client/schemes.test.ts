// The scheme table of connect() (src/client/schemes.ts): a profile's scheme goes to the connect it
// registered, with the URL and the options as given; without the profile loaded (src/client/
// alone, as in the browser bundle) iso:// is refused with what to use instead.

import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { registerScheme } from '../../src/client/schemes.js';
import type { Session } from '../../src/driver/session.js';

describe('the scheme table of connect()', () => {
  it('refuses iso:// while no entry point loaded the ISO profile, saying where it works', async () => {
    await expect(connect('iso://127.0.0.1:102')).rejects.toMatchObject({
      code: 'ERR_INVALID_URL',
      message: expect.stringContaining(
        "iso:// works where the ISO profile is loaded (the package's Node entries, not the browser bundle)",
      ),
    });
  });

  it("hands a registered scheme its URL and options, and leaves the client's own schemes alone", async () => {
    const calls: [string, object][] = [];
    const made = { id: 'made-up' } as unknown as Session;
    registerScheme('made-up', async (url, options) => {
      calls.push([url, options]);
      return made;
    });
    const options = { handshakeTimeoutMs: 1234 };
    expect(await connect('made-up://somewhere:9', options as never)).toBe(made);
    expect(calls).toEqual([['made-up://somewhere:9', options]]);
    await expect(connect('made-up:/no-slashes')).rejects.toMatchObject({ code: 'ERR_INVALID_URL' });
    await expect(connect('memory://nobody-listens-here', { reconnect: false })).rejects.toMatchObject({
      code: 'ERR_CONNECT_FAILED',
    });
    expect(calls).toHaveLength(1);
  });
});
