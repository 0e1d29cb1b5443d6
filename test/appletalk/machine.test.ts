// AppletalkNodes in pairs on a virtual Ethernet (support/lan.ts): ZIP lookups, a whole ASP
// session, and what loss and cuts do to ATP (retries, exactly-once duplicate suppression) and to
// ASP (tickles, the session timer).

import { describe, expect, it } from 'vitest';
import { AppletalkNode, type AppletalkEvent } from '../../src/appletalk/index.js';
import { hex } from '../support/bytes.js';
import { pair, SERVER, SLS, WS, type Sent } from './support/lan.js';

const text = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const ROUTER = { network: 1000, node: 20, socket: 6 };
const aspFn = (s: Pick<Sent, 'atp'>): number | undefined =>
  s.atp && s.atp.fn === 'TReq' ? s.atp.user >>> 24 : undefined;

function opened(): ReturnType<typeof pair> {
  const lan = pair();
  lan.do((now) => lan.node('ws').asp!.open(now, SLS));
  expect(lan.of('ws', 'opened')).toEqual([
    { type: 'opened', session: 1, remote: { network: 1000, node: 20, socket: 0x81 } },
  ]);
  expect(lan.of('server', 'opened')).toEqual([
    { type: 'opened', session: 1, remote: { network: 1000, node: 10, socket: 0xc8 } },
  ]);
  return lan;
}

describe('ZIP', () => {
  it('GetNetInfo (broadcast), Query (Extended Reply and Reply), GetZoneList, GetMyZone, GetLocalZones', () => {
    const lan = pair();
    lan.do((now) => lan.node('ws').zip.getNetInfo(now, 'Colloquy'));
    expect(lan.wire[0]!.decoded.ethDestination).toBe('09:00:07:ff:ff:ff');
    expect(lan.of('ws', 'zip-netinfo')[0]!.reply).toMatchObject({
      zoneInvalid: false,
      onlyOneZone: false,
      rangeStart: 1000,
      rangeEnd: 1009,
      zone: 'Colloquy',
    });
    lan.do((now) => lan.node('ws').zip.getNetInfo(now, 'Nowhere'));
    expect(lan.of('ws', 'zip-netinfo')[1]!.reply).toMatchObject({
      zoneInvalid: true,
      zone: 'Nowhere',
      defaultZone: 'Colloquy',
    });
    // The reply went to the workstation's own MAC, learned from its request.
    expect(lan.wire.at(-1)!.decoded.ethDestination).toBe(WS.mac);

    lan.do((now) => lan.node('ws').zip.query(now, ROUTER, [1000, 2000, 3000]));
    expect(lan.of('ws', 'zip-zones')[0]).toMatchObject({
      extended: true,
      zones: [
        { network: 1000, zone: 'Colloquy' },
        { network: 1000, zone: 'Annex' },
      ],
    });
    // Both answers went out; the agent takes the first and drops the late one.
    expect(
      lan.wire.filter((s) => s.from === 'server' && s.decoded.ddp.type === 6).map((s) => s.decoded.ddp.data[0]),
    ).toEqual([6, 6, 8, 2]);

    for (const fn of ['GetZoneList', 'GetMyZone', 'GetLocalZones'] as const)
      lan.do((now) => lan.node('ws').zip.zoneList(now, ROUTER, fn));
    expect(lan.of('ws', 'zip-zone-list')).toEqual([
      { type: 'zip-zone-list', fn: 'GetZoneList', last: true, zones: ['Colloquy', 'Annex', 'LocalTalk'] },
      { type: 'zip-zone-list', fn: 'GetMyZone', last: false, zones: ['Colloquy'] },
      { type: 'zip-zone-list', fn: 'GetLocalZones', last: true, zones: ['Colloquy', 'Annex'] },
    ]);
  });

  it('retries a lost GetNetInfo, then fails with ERR_ZIP_TIMEOUT when nobody answers', () => {
    const lan = pair();
    let drop = 1;
    lan.link = (s) => !(s.from === 'ws' && drop-- > 0);
    lan.do((now) => lan.node('ws').zip.getNetInfo(now));
    lan.run(() => lan.of('ws', 'zip-netinfo').length > 0);
    expect(lan.of('ws', 'zip-netinfo')).toHaveLength(1);
    expect(lan.now).toBe(1000);

    const alone = pair();
    alone.link = () => false;
    alone.do((now) => alone.node('ws').zip.getNetInfo(now));
    alone.run();
    expect(alone.of('ws', 'zip-failed')[0]!.error).toMatchObject({ code: 'ERR_ZIP_TIMEOUT' });
    expect(alone.wire).toHaveLength(5);
  });
});

describe('ASP session', () => {
  it('open, commands (one 1,200-octet reply in 3 ATP packets), a write, an attention, close', () => {
    const lan = opened();
    const ws = lan.node('ws').asp!;
    const server = lan.node('server').asp!;
    lan.do((now) => ws.command(now, text('list')));
    expect(lan.of('server', 'command')).toEqual([{ type: 'command', seq: 0, data: text('list') }]);
    const big = Uint8Array.from({ length: 1200 }, (_, i) => i & 0xff);
    lan.do((now) => server.reply(now, 0, 0, big));
    expect(lan.of('ws', 'reply')).toEqual([{ type: 'reply', seq: 0, fn: 'Command', result: 0, data: big }]);
    const responses = lan.wire.filter(
      (s) => s.atp?.fn === 'TResp' && s.atp.tid === lan.wire.find((w) => aspFn(w) === 2)!.atp!.tid,
    );
    expect(responses.map((s) => [s.atp!.bitmap, s.atp!.eom, s.atp!.data.length])).toEqual([
      [0, false, 578],
      [1, false, 578],
      [2, true, 44],
    ]);

    const data = text('x'.repeat(700));
    lan.do((now) => ws.write(now, text('put'), data));
    expect(lan.of('server', 'write')).toEqual([{ type: 'write', seq: 1, command: text('put'), data }]);
    lan.do((now) => server.reply(now, 1, 700));
    expect(lan.of('ws', 'reply')[1]).toEqual({
      type: 'reply',
      seq: 1,
      fn: 'Write',
      result: 700,
      data: new Uint8Array(0),
    });

    lan.do((now) => server.attention(now, 0x8001));
    expect(lan.of('ws', 'attention')).toEqual([{ type: 'attention', code: 0x8001 }]);

    lan.do((now) => ws.close(now));
    expect(lan.of('ws', 'closed')).toEqual([{ type: 'closed', origin: 'local' }]);
    expect(lan.of('server', 'closed')).toEqual([{ type: 'closed', origin: 'remote' }]);
    expect(ws.state).toBe('closed');
    expect(server.state).toBe('listening');
    // Requests in XO mode end with a TRel; every ASP function named by the issue went on the wire.
    expect(new Set(lan.wire.map(aspFn).filter((f) => f !== undefined))).toEqual(new Set([4, 5, 2, 6, 7, 8, 1]));
    expect(lan.wire.filter((s) => s.atp?.fn === 'TRel')).toHaveLength(6);
    expect(lan.of('ws', 'failed')).toEqual([]);
    expect(lan.of('server', 'failed')).toEqual([]);
  });

  it('tickles keep a quiet session open; a cut link loses it at both ends after the session timer', () => {
    const lan = opened();
    lan.run(() => false, 100_000);
    const tickles = lan.wire.filter((s) => aspFn(s) === 5);
    expect(tickles.filter((s) => s.from === 'ws')).toHaveLength(4); // at 0, 30, 60, 90 s
    expect(tickles.filter((s) => s.from === 'ws').map((s) => s.decoded.ddp.destination.socket)).toEqual([
      0x80, 0x80, 0x80, 0x80,
    ]);
    expect(tickles.filter((s) => s.from === 'server').map((s) => s.decoded.ddp.destination.socket)).toEqual([
      0xc8, 0xc8, 0xc8, 0xc8,
    ]);
    // A retransmitted tickle keeps its TID: it is one ATP request, retried for ever.
    expect(new Set(tickles.filter((s) => s.from === 'ws').map((s) => s.atp!.tid)).size).toBe(1);
    expect(lan.node('ws').asp!.state).toBe('open');

    lan.link = () => false;
    const cut = lan.now;
    lan.run(() => lan.of('ws', 'failed').length > 0 && lan.of('server', 'failed').length > 0);
    for (const side of ['ws', 'server'])
      expect(lan.of(side, 'failed')[0]!.error).toMatchObject({ code: 'ERR_ASP_SESSION_LOST' });
    expect(lan.now - cut).toBeLessThanOrEqual(120_000);
    expect(lan.node('server').asp!.state).toBe('listening');
  });

  it('the server closes; GetStatus; a second OpenSession while one is open is refused (NoMoreSessions)', () => {
    const lan = opened();
    lan.do((now) => lan.node('server').asp!.close(now));
    expect(lan.of('ws', 'closed')).toEqual([{ type: 'closed', origin: 'remote' }]);
    expect(lan.of('server', 'closed')).toEqual([{ type: 'closed', origin: 'local' }]);
    lan.do((now) => lan.node('ws').asp!.getStatus(now, SLS));
    expect(lan.of('ws', 'status')).toEqual([{ type: 'status', status: Uint8Array.of(1, 2, 3) }]);
    lan.do((now) => lan.node('ws').asp!.open(now, SLS));
    expect(lan.of('ws', 'opened')[1]).toMatchObject({ session: 2 });

    const other = lan.add('ws2', {
      mac: '08:00:07:12:34:1e',
      network: 1000,
      node: 30,
      asp: { role: 'workstation', socket: 0xc8 },
    });
    lan.do((now) => other.asp!.open(now, SLS));
    expect(lan.of('ws2', 'failed')[0]!.error).toMatchObject({
      code: 'ERR_ASP_REFUSED',
      details: { error: -1068, errorName: 'NoMoreSessions' },
    });
    expect(lan.node('ws').asp!.state).toBe('open');
  });

  it('refuses commands before open and past the limits', () => {
    const lan = pair();
    expect(() => lan.node('ws').asp!.command(0, text('x'))).toThrow(
      expect.objectContaining({ code: 'ERR_ASP_CLOSED' }),
    );
    const ok = opened();
    expect(() => ok.node('ws').asp!.command(0, new Uint8Array(579))).toThrow(
      expect.objectContaining({ code: 'ERR_ASP_LIMIT' }),
    );
    expect(() => ok.node('ws').asp!.write(0, text('w'), new Uint8Array(4625))).toThrow(
      expect.objectContaining({ code: 'ERR_ASP_LIMIT' }),
    );
    for (let i = 0; i < 8; i++) ok.node('ws').asp!.command(0, text('c'));
    expect(() => ok.node('ws').asp!.command(0, text('c'))).toThrow(
      expect.objectContaining({ details: { limit: 'maxPending' } }),
    );
  });
});

describe('ATP under loss', () => {
  it('a lost TReq is retried; the command is delivered once', () => {
    const lan = opened();
    let drop = 1;
    lan.link = (s) => !(aspFn(s) === 2 && drop-- > 0);
    lan.do((now) => lan.node('ws').asp!.command(now, text('once')));
    expect(lan.of('server', 'command')).toHaveLength(0);
    lan.run(() => lan.of('server', 'command').length > 0);
    expect(lan.now).toBe(2000);
    lan.do((now) => lan.node('server').asp!.reply(now, 0, 0, text('done')));
    expect(lan.of('ws', 'reply')).toHaveLength(1);
  });

  it('exactly once: lost responses make the TReq come again; the server answers from its cache, never redelivers', () => {
    const lan = opened();
    let drop = 2;
    lan.link = (s) => !(s.atp?.fn === 'TResp' && s.from === 'server' && s.atp.data.length > 0 && drop-- > 0);
    lan.do((now) => lan.node('ws').asp!.command(now, text('once')));
    lan.do((now) => lan.node('server').asp!.reply(now, 0, 0, text('done')));
    lan.run(() => lan.of('ws', 'reply').length > 0);
    expect(lan.of('server', 'command')).toHaveLength(1);
    expect(lan.of('ws', 'reply')).toEqual([{ type: 'reply', seq: 0, fn: 'Command', result: 0, data: text('done') }]);
    const commands = lan.wire.filter((s) => aspFn(s) === 2);
    expect(commands.map((s) => s.atp!.tid)).toEqual([
      commands[0]!.atp!.tid,
      commands[0]!.atp!.tid,
      commands[0]!.atp!.tid,
    ]);
  });

  it('a 3-packet response with a hole in the middle: the retry asks only for the missing packet', () => {
    const lan = opened();
    lan.link = (s) => !(s.atp?.fn === 'TResp' && s.atp.bitmap === 1 && s.at === 0);
    lan.do((now) => lan.node('ws').asp!.command(now, text('big')));
    lan.do((now) => lan.node('server').asp!.reply(now, 0, 0, new Uint8Array(1200)));
    lan.run(() => lan.of('ws', 'reply').length > 0);
    const retry = lan.wire.filter((s) => aspFn(s) === 2)[1]!;
    // Packets 0 and 2 (EOM: nothing past it) are in; only packet 1 is asked for again.
    expect(retry.atp!.bitmap).toBe(0b010);
    expect(lan.of('ws', 'reply')[0]!.data).toHaveLength(1200);
  });

  it('a cut during a command: the workstation gives up with ERR_ASP_SESSION_LOST after its retries', () => {
    const lan = pair({ ws: { atpRetryMs: 1000, atpMaxRetries: 3 } });
    lan.do((now) => lan.node('ws').asp!.open(now, SLS));
    lan.link = () => false;
    lan.do((now) => lan.node('ws').asp!.command(now, text('lost')));
    lan.run(() => lan.of('ws', 'failed').length > 0);
    expect(lan.of('ws', 'failed')[0]!.error).toMatchObject({
      code: 'ERR_ASP_SESSION_LOST',
      details: { request: 'Command' },
    });
    expect(lan.now).toBe(4000);
  });
});

describe('AppletalkNode input rules', () => {
  it('drops a malformed frame with `discarded`, ignores frames for other nodes, reads a byte stream', () => {
    const node = new AppletalkNode({
      ...SERVER,
      zip: { zones: [{ rangeStart: 1000, rangeEnd: 1009, extended: true, zones: ['Z'] }] },
    });
    node.handleFrame(hex('00'.repeat(60)), 0);
    expect(node.pollEvent()).toMatchObject({ type: 'discarded', error: { reason: 'bad-length' } });
    const other = new AppletalkNode({ ...WS, node: 11 });
    other.zip.query(0, { network: 1000, node: 30, socket: 6 }, [1000]); // to node 30, not 20
    node.handleFrame(other.pollBytes()!, 0);
    expect(node.pollBytes()).toBeUndefined();
    const ws = new AppletalkNode(WS);
    ws.zip.query(0, ROUTER, [1000]);
    const query = ws.pollBytes()!;
    node.handleBytes(query.subarray(0, 10), 0);
    expect(node.pollBytes()).toBeUndefined();
    node.handleBytes(query.subarray(10), 0);
    expect(node.pollBytes()).toBeDefined();
    node.handleBytes(hex('080007123414 08000712340a 0800'), 0);
    const events: AppletalkEvent[] = [];
    for (let e = node.pollEvent(); e; e = node.pollEvent()) events.push(e);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'failed', error: expect.objectContaining({ reason: 'not-appletalk' }) }),
    );
  });
});
