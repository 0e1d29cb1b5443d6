// Interoperability with libiec61850 as it was captured on the wire (facts file §2.2): mock peers
// replay the captured bytes, and Colloquy in libiec61850 mode must answer with the very bytes
// the real peer sent: CR, CN, GT+DT, FN as a client; CC, AC, DN as a server.

import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/engine/bytes.js';
import { connectIso } from '../../src/iso/runtime.js';
import { decodeTsdu } from '../../src/iso/spdu.js';
import { decodeTpdu, encodeDataTpkts } from '../../src/iso/tpkt-cotp.js';
import { concat, LIBIEC61850, LIBIEC61850_AC } from './cases.js';
import { closedOf, listen, plain, RawPeer, rawServer } from './support.js';

/** The user data of a captured SPDU whose only parameter before it is PGI 193 (FN, DN), or the CN's. */
const CN_USER_DATA = LIBIEC61850.cn.subarray(LIBIEC61850.cn.length - 156);
const RLRQ = LIBIEC61850.fn.subarray(11);
const RLRE = LIBIEC61850.dn.subarray(11);
const ABRT = LIBIEC61850.ab.subarray(14);
const CONCLUDE_REQUEST = LIBIEC61850.concludeRequest.subarray(11);
const READ_RESPONSE = LIBIEC61850.readResponseTsdu.subarray(4);
const AC_USER_DATA = LIBIEC61850_AC.subarray(27);

const hexOf = (b: Uint8Array | null): string => (b ? toHex(b) : 'closed');

describe('Colloquy as the client of a libiec61850 server', () => {
  it('sends the captured CR, CN, GT+DT and FN byte for byte, and takes the captured CC, AC, DT and DN', async () => {
    const mock = await rawServer();
    try {
      // libiec61850 mode alone proposes what MMS peers use: duplex, no other unit.
      const connecting = connectIso(`iso://127.0.0.1:${mock.port}`, { libiec61850: true, userData: CN_USER_DATA });
      const peer = await mock.peer;
      expect(hexOf(await peer.next())).toBe(toHex(LIBIEC61850.cr));
      peer.write(LIBIEC61850.cc);
      expect(hexOf(await peer.next())).toBe(toHex(LIBIEC61850.cn));
      peer.write(LIBIEC61850_AC);
      const client = await connecting;
      expect(client.isoVersion).toBe(2);
      expect(client.negotiated?.mode).toBe('fullDuplex');
      expect(plain(client.peerAnswer)).toMatchObject({
        type: 'AC',
        connectAccept: { protocolOptions: 0, versions: 2 },
        requirements: 2,
        calledSsel: '0001',
      });

      await client.send(CONCLUDE_REQUEST);
      expect(hexOf(await peer.next())).toBe(toHex(LIBIEC61850.concludeRequest));
      peer.write(encodeDataTpkts(LIBIEC61850.readResponseTsdu, 8192));
      const r = await client.read();
      expect(hexOf(r.value ?? null)).toBe(toHex(READ_RESPONSE));

      const closed = closedOf(client);
      const released = client.release(RLRQ);
      expect(hexOf(await peer.next())).toBe(toHex(LIBIEC61850.fn));
      peer.write(LIBIEC61850.dn);
      expect(await released).toBe(true);
      expect(hexOf((await closed).userData ?? null)).toBe(toHex(RLRE));
      await peer.closed();
    } finally {
      mock.close();
    }
  });

  it('aborts with the captured AB (Transport Disconnect 0x0b, ABRT in PGI 193)', async () => {
    const mock = await rawServer();
    try {
      const connecting = connectIso(`iso://127.0.0.1:${mock.port}`, {
        libiec61850: true,
        units: [],
        modes: ['fullDuplex'],
        userData: CN_USER_DATA,
      });
      const peer = await mock.peer;
      await peer.next();
      peer.write(LIBIEC61850.cc);
      await peer.next();
      peer.write(LIBIEC61850_AC);
      const client = await connecting;
      client.abort('conclude', ABRT);
      expect(hexOf(await peer.next())).toBe(toHex(LIBIEC61850.ab));
      await peer.closed();
    } finally {
      mock.close();
    }
  });

  it('offers version 2 only in libiec61850 mode (the real server closes TCP on 0x03); both versions otherwise; no user data, no PGI 193 (an empty one is refused by the peer presentation layer)', async () => {
    for (const [libiec61850, versions] of [
      [true, 2],
      [false, 3],
    ] as const) {
      const mock = await rawServer();
      try {
        const connecting = connectIso(`iso://127.0.0.1:${mock.port}`, { libiec61850 }).catch((e: unknown) => e);
        const peer = await mock.peer;
        await peer.next();
        peer.write(LIBIEC61850.cc);
        const dt = decodeTpdu((await peer.next())!.subarray(4));
        const [cn] = dt.type === 'DT' ? decodeTsdu(dt.data) : [];
        expect(cn).toMatchObject({ type: 'CN', connectAccept: { protocolOptions: 0, versions } });
        expect(cn?.userData, `libiec61850: ${libiec61850}`).toBeUndefined();
        expect(cn?.extendedUserData).toBeUndefined();
        peer.socket.destroy(); // what libiec61850 does with a CN it does not like
        expect(plain(await connecting)).toMatchObject({ code: 'ERR_ABORTED' });
      } finally {
        mock.close();
      }
    }
  });
});

describe('Colloquy as the server of a libiec61850 client', () => {
  it('answers the captured CR, CN and FN with the captured CC, AC and DN, byte for byte', async () => {
    const l = await listen({
      libiec61850: true,
      onConnect: () => ({ accept: true, userData: AC_USER_DATA }),
      handlers: { release: () => ({ accept: true, userData: RLRE }) },
    });
    try {
      const peer = await RawPeer.connect(l.listener.port);
      peer.write(LIBIEC61850.cr);
      expect(hexOf(await peer.next())).toBe(toHex(LIBIEC61850.cc));
      peer.write(LIBIEC61850.cn);
      expect(hexOf(await peer.next())).toBe(toHex(LIBIEC61850_AC));
      const server = await l.next();
      expect(plain(server.peerConnect)).toMatchObject({
        type: 'CN',
        requirements: 2,
        callingSsel: '0001',
        calledSsel: '0001',
        userData: toHex(CN_USER_DATA),
      });

      peer.write(LIBIEC61850.concludeRequest);
      const r = await server.read();
      expect(hexOf(r.value ?? null)).toBe(toHex(CONCLUDE_REQUEST));
      await server.send(READ_RESPONSE);
      expect(hexOf(await peer.next())).toBe(toHex(encodeDataTpkts(LIBIEC61850.readResponseTsdu, 8192)));

      const closed = closedOf(server);
      peer.write(LIBIEC61850.fn);
      expect(hexOf(await peer.next())).toBe(toHex(LIBIEC61850.dn));
      expect((await closed).error).toBeUndefined();
      await peer.closed();
    } finally {
      await l.listener.close();
    }
  });

  it('takes the captured AB as a user abort and sends no AA (the transport is released)', async () => {
    const l = await listen({ libiec61850: true });
    try {
      const peer = await RawPeer.connect(l.listener.port);
      peer.write(LIBIEC61850.cr);
      await peer.next();
      peer.write(LIBIEC61850.cn);
      await peer.next();
      const server = await l.next();
      const closed = closedOf(server);
      peer.write(LIBIEC61850.ab);
      expect(plain((await closed).error)).toMatchObject({
        code: 'ERR_ABORTED',
        origin: 'remote',
        details: { reason: 0, userData: toHex(ABRT) },
      });
      expect(await peer.next()).toBeNull();
    } finally {
      await l.listener.close();
    }
  });

  it('answers bytes that are not TPKTs with a COTP ER and closes; a silent peer is closed at the handshake timeout', async () => {
    const l = await listen({ handshakeTimeoutMs: 200 });
    try {
      const peer = await RawPeer.connect(l.listener.port);
      peer.write(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'));
      await peer.closed();
      const silent = await RawPeer.connect(l.listener.port);
      await silent.closed();
      const bad = await RawPeer.connect(l.listener.port);
      bad.write(LIBIEC61850.cr);
      await bad.next();
      bad.write(concat([Uint8Array.of(3, 0, 0, 7), Uint8Array.of(2, 0x60, 0)])); // an AK: not class 0
      const er = await bad.next();
      expect(er && decodeTpdu(er.subarray(4))).toMatchObject({
        type: 'ER',
        dstRef: 1,
        cause: 2,
        invalidTpdu: Uint8Array.of(2, 0x60, 0),
      });
      await bad.closed();
    } finally {
      await l.listener.close();
    }
  });

  it('a DT before the CN is a protocol error at the session level (AB, protocol error)', async () => {
    const l = await listen({ libiec61850: true });
    try {
      const peer = await RawPeer.connect(l.listener.port);
      peer.write(LIBIEC61850.cr);
      await peer.next();
      peer.write(LIBIEC61850.concludeRequest);
      const ab = decodeTpdu((await peer.next())!.subarray(4));
      expect(ab.type === 'DT' && toHex(ab.data.subarray(0, 5))).toBe('1903110105');
      await peer.closed();
    } finally {
      await l.listener.close();
    }
  });
});
