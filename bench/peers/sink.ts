// The receiving peer of bench/runtime/, in its own process so the sender and the receiver each
// have a core (as client and server would). It hosts one receiver per system on loopback:
//
//   Colloquy     listen() on tcp and ws (/session), heartbeats off; each session is read through
//                its async iterator, as an application reads it
//   raw ws       a `ws` WebSocketServer, no compression; every binary message counts
//   raw TCP      net.Server; messages are a 4-byte big-endian length and the payload
//   Socket.IO 4  websocket transport only, connection state recovery on; each 'm' event is
//                counted, then acknowledged (the sender uses emitWithAck)
//   MQTT         on request, a QoS 1 subscriber through the broker
//
// Every receiver adds to one count (cases run one at a time). In echo mode every receiver sends
// each message back instead (round-trip runs). Commands and reports: ./protocol.ts.
// Run by bench/runtime/; ends when its parent goes away.

import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { connectAsync } from 'mqtt';
import type { MqttClient } from 'mqtt';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer } from 'ws';
import type { Session } from '../../src/driver/session.js';
import { listen } from '../../src/server/server.js';
import { exitWithParent, tell } from './protocol.js';
import type { ToSink } from './protocol.js';

exitWithParent();

let total = 0;
let target = Number.POSITIVE_INFINITY;
let echo = false;
let progressEvery = 0;

function got(): void {
  total++;
  if (progressEvery > 0 && total % progressEvery === 0) tell({ ev: 'progress', total });
  if (total >= target) {
    target = Number.POSITIVE_INFINITY;
    tell({ ev: 'reached', total });
  }
}

// ---- Colloquy ------------------------------------------------------------------------------

const colloquy = await listen({
  tcp: { port: 0 },
  ws: { port: 0, path: '/session' },
  heartbeatMs: 0,
  maxSessions: 1000,
});

async function consume(session: Session): Promise<void> {
  try {
    for await (const message of session) {
      if (echo) await session.send(message);
      else got();
    }
  } catch {
    // aborted by the bench at the end of a case
  }
}
colloquy.on('session', (session) => void consume(session));

// ---- raw ws --------------------------------------------------------------------------------

const rawWs = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
rawWs.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data: Buffer) => {
    if (echo) ws.send(data);
    else got();
  });
});
await once(rawWs, 'listening');

// ---- raw TCP, length-prefixed --------------------------------------------------------------

const rawTcp = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let rest: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= 4) {
      const end = at + 4 + buf.readUInt32BE(at);
      if (end > buf.length) break;
      if (echo) socket.write(buf.subarray(at, end));
      else got();
      at = end;
    }
    rest = at < buf.length ? buf.subarray(at) : null;
  });
});
rawTcp.listen(0, '127.0.0.1');
await once(rawTcp, 'listening');

// ---- Socket.IO 4 ---------------------------------------------------------------------------

const ioHttp = createHttpServer();
const io = new SocketIoServer(ioHttp, {
  transports: ['websocket'],
  connectionStateRecovery: {},
  serveClient: false,
  perMessageDeflate: false,
});
io.on('connection', (socket) => {
  socket.on('m', (_data: unknown, ack?: () => void) => {
    got();
    ack?.();
  });
});
ioHttp.listen(0, '127.0.0.1');
await once(ioHttp, 'listening');

// ---- MQTT subscriber (on request) ----------------------------------------------------------

let mqttClient: MqttClient | null = null;

async function command(m: ToSink): Promise<void> {
  switch (m.cmd) {
    case 'reset':
      total = 0;
      target = Number.POSITIVE_INFINITY;
      echo = m.echo;
      return tell({ ev: 'reset' });
    case 'await':
      if (total >= m.target) return tell({ ev: 'reached', total });
      target = m.target;
      return;
    case 'mqtt-subscribe': {
      const client = await connectAsync(m.url, {
        clientId: `colloquy-bench-sub-${process.pid}`,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 3000,
      });
      mqttClient = client;
      client.on('message', () => got());
      client.on('error', () => {});
      await client.subscribeAsync(m.topic, { qos: 1 });
      progressEvery = m.every;
      return tell({ ev: 'mqtt-ready' });
    }
    case 'mqtt-unsubscribe':
      progressEvery = 0;
      await mqttClient?.endAsync(true);
      mqttClient = null;
      return tell({ ev: 'mqtt-done' });
    case 'exit':
      await colloquy.destroy();
      rawWs.close();
      rawTcp.close();
      await io.close();
      process.exit(0);
  }
}

process.on('message', (m: ToSink) => {
  command(m).catch((error: unknown) =>
    tell({ ev: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});

tell({
  ev: 'ready',
  ports: {
    colloquyTcp: colloquy.addresses.tcp ?? 0,
    colloquyWs: colloquy.addresses.ws ?? 0,
    rawWs: (rawWs.address() as AddressInfo).port,
    rawTcp: (rawTcp.address() as AddressInfo).port,
    socketIo: (ioHttp.address() as AddressInfo).port,
  },
});
