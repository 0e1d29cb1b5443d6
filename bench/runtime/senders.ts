// One sender per system for the throughput cases: Colloquy, raw ws, raw TCP, Socket.IO, MQTT.

import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync } from 'mqtt';
import { io as socketIo } from 'socket.io-client';
import { WebSocket } from 'ws';
import { connect } from '../../src/client/connect.js';
import {
  CORK_BYTES,
  RAW_WS_HIGH_WATER,
  SOCKET_IO_WINDOW,
  MQTT_URL,
  MQTT_WINDOW,
  MQTT_PROGRESS_EVERY,
} from './config.js';
import type { Sink } from './peers.js';

// ---- senders -------------------------------------------------------------------------------

export interface Sender {
  /** Sends until `count` messages or `deadline`; resolves with how many were handed over. */
  send(count: number, deadline: number): Promise<number>;
  /** Resolves once the sender itself knows the first `total` messages arrived (immediate without acks). */
  acknowledged(total: number, deadline: number): Promise<void>;
  close(): Promise<void>;
}

/** Resolves when `done()` holds, checking every millisecond (for counters without events). */
export async function poll(done: () => boolean, deadline: number, what: () => string): Promise<void> {
  while (!done()) {
    if (performance.now() > deadline) throw new Error(what());
    await sleep(1);
  }
}

/** `p`, or undefined after `ms`; the timer never outlives the race. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * `batch` 1: `await session.send()` for every message, as an application writes it. A larger
 * batch issues that many send() calls before awaiting them together (a diagnostic: it shows
 * what the per-message flush costs; the `diag.` rows at 64 B).
 */
export async function colloquySender(url: string, payload: Uint8Array, batch = 1): Promise<Sender> {
  const session = await connect(url, { heartbeatMs: 0, reconnect: false });
  const acked = (): number => session.machine.stats.acknowledged;
  const pending: Promise<void>[] = [];
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        if (batch === 1) {
          await session.send(payload);
          i++;
        } else {
          const n = Math.min(batch, count - i);
          for (let j = 0; j < n; j++) pending.push(session.send(payload));
          await Promise.all(pending);
          pending.length = 0;
          i += n;
        }
        if ((i & 63) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: (total, deadline) =>
      poll(
        () => acked() >= total,
        deadline,
        () => `acknowledged ${acked()} of ${total}`,
      ),
    async close() {
      const released = await withTimeout(
        session.release().catch(() => false),
        3000,
      );
      if (released !== true) session.abort('bench done');
    },
  };
}

export async function rawWsSender(url: string, payload: Uint8Array): Promise<Sender> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('error', () => {});
  await once(ws, 'open');
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        if (ws.bufferedAmount > RAW_WS_HIGH_WATER) {
          // The callback runs once this message (and all before it) reached the socket.
          await new Promise<void>((resolve, reject) => ws.send(payload, (e) => (e ? reject(e) : resolve())));
        } else {
          ws.send(payload);
        }
        if ((++i & 255) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: () => Promise.resolve(),
    async close() {
      ws.close();
      await withTimeout(once(ws, 'close'), 2000);
    },
  };
}

export async function rawTcpSender(port: number, payload: Uint8Array): Promise<Sender> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, 4);
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        if (!socket.write(frame)) await once(socket, 'drain');
        if ((++i & 255) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: () => Promise.resolve(),
    async close() {
      socket.end();
      await withTimeout(once(socket, 'close'), 2000);
    },
  };
}

/**
 * Raw TCP at the loopback limit: the same length-prefixed messages, written in batches of
 * CORK_BYTES between socket.cork() and uncork(), so each batch leaves in one writev syscall.
 */
export async function rawTcpCorkedSender(port: number, payload: Uint8Array): Promise<Sender> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, 4);
  const batch = Math.max(1, Math.floor(CORK_BYTES / frame.length));
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        const n = Math.min(batch, count - i);
        socket.cork();
        let room = true;
        for (let j = 0; j < n; j++) room = socket.write(frame);
        socket.uncork();
        i += n;
        if (!room) await once(socket, 'drain');
        if (performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: () => Promise.resolve(),
    async close() {
      socket.end();
      await withTimeout(once(socket, 'close'), 2000);
    },
  };
}

/** Counts answers to a window of outstanding requests; `wait()` resolves at the next change. */
export class Window {
  answered = 0;
  failed: Error | null = null;
  private wake: (() => void) | null = null;
  bump(error?: Error | null): void {
    if (error) this.failed ??= error;
    else this.answered++;
    this.notify();
  }
  notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
  wait(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }
  /** Waits until `done()`; one timer wakes the wait at `deadline`, which then fails. */
  async until(done: () => boolean, deadline: number, what: () => string): Promise<void> {
    if (done()) return;
    const timer = setTimeout(() => this.notify(), Math.max(0, deadline - performance.now()));
    try {
      while (!done()) {
        if (performance.now() >= deadline) throw new Error(what());
        await this.wait();
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

export async function socketIoSender(port: number, payload: Uint8Array): Promise<Sender> {
  const socket = socketIo(`http://127.0.0.1:${port}`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const data = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const acks = new Window();
  let sent = 0;
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        while (sent - acks.answered >= SOCKET_IO_WINDOW) await acks.wait();
        socket.emitWithAck('m', data).then(
          () => acks.bump(),
          (e: unknown) => acks.bump(e instanceof Error ? e : new Error(String(e))),
        );
        sent++;
        if ((++i & 63) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: (total, deadline) =>
      acks.until(
        () => acks.answered >= total,
        deadline,
        () => `${acks.answered} of ${total} acks`,
      ),
    async close() {
      socket.disconnect();
      await Promise.resolve();
    },
  };
}

export async function mqttSender(sink: Sink, payload: Uint8Array): Promise<Sender> {
  const topic = `colloquy-bench/${process.pid}/${Date.now()}`;
  await sink.request({ cmd: 'mqtt-subscribe', url: MQTT_URL, topic, every: MQTT_PROGRESS_EVERY }, 'mqtt-ready', 5000);
  const client = await connectAsync(MQTT_URL, {
    clientId: `colloquy-bench-pub-${process.pid}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 3000,
  });
  client.on('error', () => {});
  const data = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const pubacks = new Window();
  let received = 0;
  let published = 0;
  const off = sink.listen((m) => {
    if (m.ev === 'progress') {
      received = m.total;
      pubacks.notify();
    }
  });
  return {
    async send(count, deadline) {
      let i = 0;
      while (i < count) {
        while (published - Math.min(pubacks.answered, received) >= MQTT_WINDOW) await pubacks.wait();
        client.publish(topic, data, { qos: 1 }, (e) => pubacks.bump(e));
        published++;
        if ((++i & 63) === 0 && performance.now() >= deadline) break;
      }
      return i;
    },
    acknowledged: (total, deadline) =>
      pubacks.until(
        () => pubacks.answered >= total,
        deadline,
        () => `${pubacks.answered} of ${total} PUBACKs`,
      ),
    async close() {
      off();
      await withTimeout(client.endAsync(), 2000);
      await sink.request({ cmd: 'mqtt-unsubscribe' }, 'mqtt-done', 5000);
    },
  };
}
