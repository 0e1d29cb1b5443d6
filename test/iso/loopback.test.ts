// Two Colloquy ISO 8327 endpoints on loopback, driven by the unchanged session machine through
// the Session API: connect, data, tokens, sync points, resynchronize, activities, capability
// data, exceptions, release (refused and accepted), abort, refusals, and what X.225 cannot do.

import { afterEach, describe, expect, it } from 'vitest';
import { connectIso } from '../../src/iso/runtime.js';
import type { IsoSession } from '../../src/iso/runtime.js';
import { bytes } from './cases.js';

/** Text as hex, to compare with received octets through plain(). */
const ascii = (s: string): string => Buffer.from(s).toString('hex');
const octets = (s: string): Uint8Array => new TextEncoder().encode(s);
import { closedOf, listen, nextEvent, pair, plain } from './support.js';
import type { Pair } from './support.js';

const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const open: Pair[] = [];
async function track(p: Promise<Pair>): Promise<Pair> {
  const got = await p;
  open.push(got);
  return got;
}
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

async function read(s: IsoSession): Promise<Uint8Array> {
  const r = await s.read();
  if (r.done) throw new Error('session ended');
  return r.value;
}

describe('ISO 8327 between two Colloquy endpoints', () => {
  it('connects (CR/CC, CN/AC), moves data both ways, segmented to a small TPDU size, and releases', async () => {
    const { client, server } = await track(pair({}, { tpduSize: 128, userData: octets('hello CN') }));
    expect(client.isoVersion).toBe(2);
    expect(server.isoVersion).toBe(2);
    expect(client.cotp?.tpduSize).toBe(128);
    expect(plain(server.peerConnect)).toMatchObject({
      type: 'CN',
      connectAccept: { versions: 3 },
      userData: ascii('hello CN'),
    });
    expect(client.peerAnswer).toMatchObject({ type: 'AC', connectAccept: { versions: 2 } });
    expect(client.negotiated?.mode).toBe('fullDuplex');
    expect([...client.negotiated!.units].sort()).toEqual([
      'duplex',
      'expedited',
      'majorSync',
      'minorSync',
      'resynchronize',
      'typedData',
    ]);
    expect([...server.negotiated!.units].sort()).toEqual([...client.negotiated!.units].sort());

    const big = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff);
    for (let i = 0; i < 50; i++) await client.send(`c${i}`);
    await client.send(big);
    for (let i = 0; i < 50; i++) expect(text(await read(server))).toBe(`c${i}`);
    expect(await read(server)).toEqual(big);
    await server.send('from the acceptor');
    expect(text(await read(client))).toBe('from the acceptor');

    const ex = nextEvent(server, 'expedited');
    client.sendExpedited('urgent');
    expect(text((await ex).payload)).toBe('urgent');
    const td = nextEvent(client, 'typed');
    server.sendTyped('typed');
    expect(text((await td).payload)).toBe('typed');

    const serverClosed = closedOf(server);
    expect(await client.release(octets('bye'))).toBe(true);
    expect((await serverClosed).error).toBeUndefined();
    expect(client.state).toBe('closed');
  });

  it('passes the data token in half duplex: PT asks, GT gives', async () => {
    const { client, server } = await track(pair({}, { modes: ['halfDuplex'], units: ['minorSync'] }));
    expect(client.negotiated?.mode).toBe('halfDuplex');
    expect(client.tokens).toEqual(['data', 'minorSync']);
    expect(server.tokens).toEqual([]);
    await expect(server.send('not mine')).rejects.toMatchObject({ code: 'ERR_TOKEN_NOT_HELD' });
    const asked = nextEvent(client, 'tokens-requested');
    const given = nextEvent(server, 'tokens-given');
    server.requestTokens(['data'], octets('please'));
    expect(plain(await asked)).toMatchObject({ tokens: ['data'], userData: ascii('please') });
    expect((await given).tokens).toEqual(['data']);
    await server.send('now mine');
    expect(text(await read(client))).toBe('now mine');
    const back = nextEvent(client, 'tokens-given');
    server.giveTokens(['data']);
    expect((await back).tokens).toEqual(['data']);
    expect(await client.release()).toBe(true);
  });

  it('minor and major sync points, then resynchronize restart, abandon and set', async () => {
    const { client, server } = await track(pair({}, { initialSerial: 10 }));
    server.on('sync-minor', (e) => {
      if (e.confirm) server.confirmMinorSync(octets(`ok ${e.serial}`));
    });
    const seen = nextEvent(server, 'sync-minor');
    expect(await client.syncMinor({ confirm: true, userData: octets('mip') })).toBe(10);
    expect(plain(await seen)).toMatchObject({ serial: 10, confirm: true, userData: ascii('mip') });
    expect(await client.syncMinor()).toBe(11);
    const major = nextEvent(server, 'sync-major');
    expect(await client.syncMajor(octets('map'))).toBe(12);
    expect(plain(await major)).toMatchObject({ serial: 12, userData: ascii('map') });
    expect(client.serial).toBe(13);
    expect(server.serial).toBe(13);
    await client.send('before restart');
    expect(text(await read(server))).toBe('before restart');

    const rs = nextEvent(server, 'resync');
    expect(await client.resynchronize('restart')).toBe(13);
    expect(await rs).toMatchObject({ resyncType: 'restart', serial: 13 });
    expect(await client.resynchronize('abandon', { serial: 20 })).toBe(20);
    expect(await client.resynchronize('set', { serial: 500, userData: octets('rs') })).toBe(500);
    expect(client.serial).toBe(500);
    expect(server.serial).toBe(500);
    expect(await client.syncMajor()).toBe(500);
    expect(await client.release()).toBe(true);
  });

  it('resynchronize moves tokens as the Token Setting Item says', async () => {
    const { client, server } = await track(pair({}, { modes: ['halfDuplex'], units: ['resynchronize', 'minorSync'] }));
    expect(client.tokens).toEqual(['data', 'minorSync']);
    await client.resynchronize('abandon', { tokens: ['minorSync'] });
    expect(client.tokens).toEqual(['minorSync']);
    expect(server.tokens).toEqual(['data']);
    await server.send('after resync');
    expect(text(await read(client))).toBe('after resync');
  });

  it('activities: capability data, start, interrupt, resume, discard, end, and give control both ways', async () => {
    const units = ['activities', 'capabilityData', 'minorSync', 'majorSync'] as const;
    const { client, server } = await track(
      pair(
        { handlers: { capability: (p) => octets(`ack ${text(p)}`), endActivity: () => octets('aea') } },
        { units: [...units] },
      ),
    );
    expect(plain(await client.sendCapability('cd'))).toEqual(ascii('ack cd'));
    await expect(client.send('outside')).rejects.toMatchObject({ code: 'ERR_ACTIVITY_REQUIRED' });

    const started = nextEvent(server, 'activity-start');
    client.startActivity('A1', octets('as'));
    expect(plain(await started)).toMatchObject({ activityId: ascii('A1'), userData: ascii('as') });
    await client.send('in A1');
    expect(text(await read(server))).toBe('in A1');
    expect(await client.syncMinor()).toBe(1);
    expect(plain(await client.interruptActivity(5))).toEqual({ activityId: ascii('A1'), serial: 1 });

    const resumed = nextEvent(server, 'activity-resume');
    client.resumeActivity('A2', 'A1', 1);
    expect(plain(await resumed)).toMatchObject({ activityId: ascii('A2'), oldActivityId: ascii('A1'), serial: 1 });
    expect(await client.syncMinor()).toBe(2);
    await client.discardActivity(128);

    client.startActivity('A3');
    await client.send('in A3');
    expect(text(await read(server))).toBe('in A3');
    expect(await client.endActivity(octets('ae'))).toBe(1);

    const control = nextEvent(server, 'control-given');
    await client.giveControl();
    await control;
    expect(server.tokens).toEqual(['minorSync', 'majorActivity']);
    await server.giveControl();
    expect(client.tokens).toEqual(['minorSync', 'majorActivity']);
    expect(await client.release()).toBe(true);
  });

  it('exceptions: the side without the data token reports one (ED)', async () => {
    const { client, server } = await track(pair({}, { modes: ['halfDuplex'], units: ['exceptions'] }));
    const ex = nextEvent(client, 'exception');
    server.reportException(3, octets('ed'));
    expect(plain(await ex)).toMatchObject({ from: 'user', reason: 3, userData: ascii('ed') });
    await expect(client.send('blocked')).rejects.toMatchObject({ code: 'ERR_EXCEPTION_PENDING' });
    const given = nextEvent(server, 'tokens-given');
    client.giveTokens(['data']);
    await given;
    await server.send('took over');
    expect(text(await read(client))).toBe('took over');
  });

  it('negotiated release: NF refuses the first FN, DN accepts the second', async () => {
    let asked = 0;
    const { client, server } = await track(
      pair(
        {
          handlers: {
            release: (u) =>
              ++asked > 1 && text(u) === 'again'
                ? { accept: true, userData: octets('dn') }
                : { accept: false, userData: octets('nf') },
          },
        },
        { units: ['negotiatedRelease'] },
      ),
    );
    const refused = nextEvent(client, 'release-refused');
    expect(await client.release(octets('first'))).toBe(false);
    expect(plain((await refused).userData)).toEqual(ascii('nf'));
    const closed = closedOf(client);
    expect(await client.release(octets('again'))).toBe(true);
    expect(plain((await closed).userData)).toEqual(ascii('dn'));
    expect(server.closed).toBe(true);
  });

  it('abort: AB with user data ends both sides; the peer sees a user abort', async () => {
    const { client, server } = await track(pair());
    const closed = closedOf(server);
    client.abort('enough', octets('ab data'));
    const { error } = await closed;
    expect(plain(error)).toMatchObject({
      code: 'ERR_ABORTED',
      origin: 'remote',
      details: { reason: 0, userData: ascii('ab data') },
    });
    expect(error?.message).toMatch(/user abort/);
  });

  it('a lost transport ends the session at once: X.225 has no resume', async () => {
    const { client, server } = await track(pair());
    const closed = closedOf(client);
    let resumed = false;
    client.on('resumed', () => {
      resumed = true;
    });
    server.driver.dropTransport(new Error('cut'));
    const { error } = await closed;
    expect(error).toMatchObject({ code: 'ERR_ABORTED' });
    expect(resumed).toBe(false);
    expect(client.state).toBe('closed');
  });
});

describe('version 1 and the limits X.225 sets', () => {
  it('negotiates version 1 when only it is offered, then holds user data to 512 octets (9 in AB)', async () => {
    const { client, server } = await track(pair({}, { versions: [1] }));
    expect(client.isoVersion).toBe(1);
    expect(server.isoVersion).toBe(1);
    expect(() => client.syncMajor(new Uint8Array(513))).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE', details: expect.objectContaining({ limit: 512 }) }),
    );
    expect(() => client.abort('x', new Uint8Array(10))).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE' }),
    );
    expect(await client.syncMajor(new Uint8Array(512))).toBe(1);
  });

  it('refuses what X.225 cannot carry: expedited over 14 octets, long activity identifiers, credentials refresh, simplex', async () => {
    const { client } = await track(pair({}, { units: ['expedited', 'activities'] }));
    expect(() => client.sendExpedited(new Uint8Array(15))).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE', details: expect.objectContaining({ limit: 14 }) }),
    );
    client.sendExpedited(new Uint8Array(14));
    expect(() => client.startActivity('1234567')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    await expect(client.refreshCredentials()).rejects.toMatchObject({
      code: 'ERR_UNIT_NOT_SELECTED',
      details: { profile: 'iso8327' },
    });
    await expect(connectIso('iso://127.0.0.1:1', { modes: ['simplex'] })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
  });
});

describe('refusals', () => {
  it('the listener refuses with user data: RF reason 2, and connectIso rejects with it', async () => {
    const l = await listen({ onConnect: () => ({ accept: false, userData: octets('not today') }) });
    try {
      const error = await connectIso(`iso://127.0.0.1:${l.listener.port}`).catch((e: unknown) => e);
      expect(plain(error)).toMatchObject({
        code: 'ERR_REFUSED',
        origin: 'remote',
        details: { iso: { type: 'RF', reason: 2, userData: ascii('not today') } },
      });
    } finally {
      await l.listener.close();
    }
  });

  it('an unknown session selector gets RF 129; no common version gets RF 132; an unknown TSAP gets DR', async () => {
    const l = await listen({ calledSsel: bytes(0, 2), calledTsap: bytes(0, 9), versions: [2] });
    const url = `iso://127.0.0.1:${l.listener.port}`;
    try {
      await expect(connectIso(url, { calledTsap: bytes(0, 9) })).rejects.toMatchObject({
        code: 'ERR_REFUSED',
        details: { iso: { type: 'RF', reason: 129 } },
      });
      await expect(
        connectIso(url, { calledTsap: bytes(0, 9), calledSsel: bytes(0, 2), versions: [1] }),
      ).rejects.toMatchObject({
        code: 'ERR_REFUSED',
        details: { reason: 3, iso: { type: 'RF', reason: 132, versions: 2 } },
      });
      await expect(connectIso(url)).rejects.toMatchObject({ code: 'ERR_REFUSED', details: { cotpReason: 3 } });
      const ok = await connectIso(url, { calledTsap: bytes(0, 9), calledSsel: bytes(0, 2) });
      expect(ok.isoVersion).toBe(2);
      await ok.release();
    } finally {
      await l.listener.close();
    }
  });
});
