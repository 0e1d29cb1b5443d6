// A hostile native client for the security tests: opens a TCP connection, sends frames built with
// the library's own codec, and reads what the server answers (bounded in time).

import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../src/engine/codec/index.js';
import type { Frame } from '../../src/engine/frames.js';

export interface RawPeer {
  socket: net.Socket;
  send(frame: Frame): void;
  /** The next frame the server sends, or null when the connection closed first. */
  next(timeoutMs?: number): Promise<Frame | null>;
  /** Resolves when the server has closed the connection (rejects after timeoutMs). */
  closed(timeoutMs?: number): Promise<void>;
  destroy(): void;
}

export async function rawPeer(port: number): Promise<RawPeer> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const decoder = new FrameDecoder({ maxFrameSize: 16 * 1024 * 1024 });
  const frames: Frame[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  const endedP = new Promise<void>((resolve) =>
    socket.once('close', () => {
      ended = true;
      wake?.();
      resolve();
    }),
  );
  socket.on('data', (chunk) => {
    decoder.push(new Uint8Array(chunk));
    for (let f = decoder.next(); f; f = decoder.next()) frames.push(f);
    wake?.();
  });
  const bounded = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
    Promise.race([
      p,
      new Promise<T>((_, reject) => {
        const t = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
        t.unref();
      }),
    ]);
  return {
    socket,
    send: (frame) => {
      socket.write(encodeFrame(frame));
    },
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (frames.length === 0 && !ended) {
        if (Date.now() > deadline) throw new Error(`no frame within ${timeoutMs} ms`);
        await bounded(
          new Promise<void>((resolve) => {
            wake = resolve;
          }),
          Math.max(1, deadline - Date.now()),
          'no frame',
        ).catch(() => {});
        wake = null;
      }
      return frames.shift() ?? null;
    },
    closed: (timeoutMs = 5000) => bounded(endedP, timeoutMs, 'the server did not close the connection'),
    destroy: () => socket.destroy(),
  };
}
