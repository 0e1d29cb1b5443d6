// A PPTP peer for tests, built on our own codec: it decodes what the client sends and answers
// through a script, with well-formed messages or with any raw octets (the misbehaving cases).

import net from 'node:net';
import {
  encodeMessage,
  PptpDecoder,
  type PptpMessage,
  type StartControlConnectionReply,
} from '../../src/pptp/index.js';

export interface MockConnection {
  readonly received: PptpMessage[];
  send(message: PptpMessage | Uint8Array): void;
  end(): void;
  destroy(): void;
}

export type Script = (message: PptpMessage, conn: MockConnection) => void;

export interface MockPeer {
  readonly port: number;
  readonly connections: MockConnection[];
  close(): Promise<void>;
}

export const GOOD_SCCRP: StartControlConnectionReply = {
  type: 'START_CONTROL_CONNECTION_REPLY',
  protocolVersion: 0x0100,
  resultCode: 1,
  errorCode: 0,
  framingCapabilities: 3,
  bearerCapabilities: 1,
  maximumChannels: 42,
  firmwareRevision: 0x0203,
  hostName: 'mock-pac',
  vendor: 'Colloquy tests',
};

/** A well-behaved PAC: the default answer to everything a PNS sends. */
export const goodPac: Script = (m, conn) => {
  switch (m.type) {
    case 'START_CONTROL_CONNECTION_REQUEST':
      conn.send(GOOD_SCCRP);
      break;
    case 'ECHO_REQUEST':
      conn.send({ type: 'ECHO_REPLY', identifier: m.identifier, resultCode: 1, errorCode: 0 });
      break;
    case 'OUTGOING_CALL_REQUEST':
      conn.send({
        type: 'OUTGOING_CALL_REPLY',
        callId: 1000 + m.callId,
        peerCallId: m.callId,
        resultCode: 1,
        errorCode: 0,
        causeCode: 0,
        connectSpeed: 64000,
        packetReceiveWindowSize: 16,
        packetProcessingDelay: 0,
        physicalChannelId: 5,
      });
      break;
    case 'CALL_CLEAR_REQUEST':
      conn.send({
        type: 'CALL_DISCONNECT_NOTIFY',
        callId: 1000 + m.callId,
        resultCode: 4,
        errorCode: 0,
        causeCode: 0,
        callStatistics: 'cleared',
      });
      break;
    case 'STOP_CONTROL_CONNECTION_REQUEST':
      conn.send({ type: 'STOP_CONTROL_CONNECTION_REPLY', resultCode: 1, errorCode: 0 });
      conn.end();
      break;
    default:
      break;
  }
};

export async function mockPeer(
  script: Script = goodPac,
  onConnect?: (conn: MockConnection) => void,
): Promise<MockPeer> {
  const connections: MockConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const decoder = new PptpDecoder();
    const conn: MockConnection = {
      received: [],
      send: (message) => {
        if (!socket.destroyed) socket.write(message instanceof Uint8Array ? message : encodeMessage(message));
      },
      end: () => socket.end(),
      destroy: () => socket.destroy(),
    };
    connections.push(conn);
    socket.on('data', (chunk: Buffer) => {
      decoder.push(new Uint8Array(chunk));
      try {
        for (let m = decoder.next(); m !== undefined; m = decoder.next()) {
          conn.received.push(m);
          script(m, conn);
        }
      } catch {
        socket.destroy();
      }
    });
    onConnect?.(conn);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
