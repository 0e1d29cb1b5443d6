// The traffic the tshark check captures: Colloquy ISO endpoints sending every SPDU type they
// send (CN, AC, RF, FN, DN, NF, AB, AA, GT, PT, DT, EX, TD, CD, CDA, GTC, GTA, MIP, MIA, MAP, MAA,
// RS, RA, AS, AR, AI, AIA, AD, ADA, AE, AEA, ED), one step at a time (each waits for the peer's
// indication), so the order on the wire is known. tshark.test.ts lists what must be seen.

import { connectIso } from '../../src/iso/runtime.js';
import type { IsoSession } from '../../src/iso/runtime.js';
import { LIBIEC61850 } from './cases.js';
import { closedOf, listen, nextEvent, RawPeer } from './support.js';

const octets = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * Wireshark's ses heuristic (packet-ses.c, dissect_ses_heur) takes a TSDU only if the octet
 * after the first SPDU's parameter field is a known SI, so EX and TD user information has to
 * start with one (0x01) for tshark to dissect them as ses at all; otherwise T.125 claims them.
 */
export const EX_PAYLOAD = Uint8Array.of(0x01, 0x65, 0x78);
export const TD_PAYLOAD = Uint8Array.of(0x01, 0x74, 0x64);
export const SCENARIO_UNITS = [
  'expedited',
  'typedData',
  'minorSync',
  'majorSync',
  'resynchronize',
  'activities',
  'negotiatedRelease',
  'capabilityData',
  'exceptions',
] as const;
/** halfDuplex and every unit above. */
export const SCENARIO_REQUIREMENTS = 0x07fd;

async function tokensTo(to: IsoSession, give: () => void): Promise<void> {
  const given = nextEvent(to, 'tokens-given');
  give();
  await given;
}

export async function startScenario(): Promise<{ port: number; run(): Promise<void>; close(): Promise<void> }> {
  let releases = 0;
  const l = await listen({
    onConnect: (req) =>
      new TextDecoder().decode(req.userData) === 'refuse'
        ? { accept: false, userData: octets('rf') }
        : { accept: true, userData: octets('ac') },
    handlers: {
      capability: () => octets('cda'),
      syncMajor: () => octets('maa'),
      resync: () => octets('ra'),
      endActivity: () => octets('aea'),
      release: () =>
        ++releases === 1 ? { accept: false, userData: octets('nf') } : { accept: true, userData: octets('dn') },
    },
  });
  const url = `iso://127.0.0.1:${l.listener.port}`;
  const run = async (): Promise<void> => {
    // A: a half-duplex session with every unit: everything it can say.
    const serverNext = l.next();
    const c = await connectIso(url, { modes: ['halfDuplex'], units: [...SCENARIO_UNITS], userData: octets('cn') });
    const s = await serverNext;
    s.on('sync-minor', (e) => {
      if (e.confirm) s.confirmMinorSync(octets('mia'));
    });
    await c.sendCapability('cd');
    const started = nextEvent(s, 'activity-start');
    c.startActivity('A1', octets('as'));
    await started;
    await c.send('dt');
    await s.read();
    const typed = nextEvent(s, 'typed');
    c.sendTyped(TD_PAYLOAD);
    await typed;
    const expedited = nextEvent(s, 'expedited');
    c.sendExpedited(EX_PAYLOAD);
    await expedited;
    await c.syncMinor({ confirm: true, userData: octets('mip') });
    await c.syncMajor(octets('map'));
    await c.resynchronize('restart', { userData: octets('rs') });
    await c.interruptActivity(1);
    const resumed = nextEvent(s, 'activity-resume');
    c.resumeActivity('A2', 'A1', 2, octets('ar'));
    await resumed;
    await c.discardActivity(2);
    const again = nextEvent(s, 'activity-start');
    c.startActivity('A3');
    await again;
    await c.endActivity(octets('ae'));
    await tokensTo(s, () => c.giveTokens(['data']));
    const reported = nextEvent(s, 'exception');
    c.reportException(3, octets('ed'));
    await reported;
    await tokensTo(c, () => s.giveTokens(['data']));
    await tokensTo(s, () => s.requestTokens(['data'], octets('pt')));
    await tokensTo(c, () => s.giveTokens(['data']));
    await c.giveControl();
    await s.giveControl();
    if (await c.release(octets('fn'))) throw new Error('scenario: the first release should be refused');
    if (!(await c.release(octets('fn')))) throw new Error('scenario: the second release should be accepted');

    // B: refused (RF reason 2 with user data).
    await connectIso(url, { userData: octets('refuse') }).then(
      () => {
        throw new Error('scenario: B should be refused');
      },
      () => undefined,
    );

    // C: aborted by the initiator (AB 0x0b with user data).
    const cNext = l.next();
    const c2 = await connectIso(url, {});
    const s2 = await cNext;
    const gone = closedOf(s2);
    c2.abort('bye', octets('ab'));
    await gone;

    // D: a peer's AB that keeps the transport is answered with AA.
    const raw = await RawPeer.connect(l.listener.port);
    raw.write(LIBIEC61850.cr);
    await raw.next();
    raw.write(LIBIEC61850.cn);
    await raw.next();
    raw.write(Uint8Array.of(3, 0, 0, 12, 2, 0xf0, 0x80, 0x19, 0x03, 0x11, 0x01, 0x02));
    await raw.next();
    await raw.closed();
  };
  return { port: l.listener.port, run, close: () => l.listener.close() };
}
