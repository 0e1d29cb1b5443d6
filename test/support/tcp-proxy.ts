// A loopback TCP proxy the test can cut: stands between a client and a shared server (such as the
// machine's PostgreSQL, which the tests must not stop) to make an outage without touching the
// server.
//
//   'up'    forwards both ways;
//   'down'  resets every open connection and every new one (as a server that died);
//   'hang'  keeps connections open but forwards nothing, either way (a paused server): bytes
//           wait in the proxy, and flow again, in order, once it is 'up'.

import net from 'node:net';
import type { AddressInfo } from 'node:net';

export type ProxyMode = 'up' | 'down' | 'hang';

export interface TcpProxy {
  readonly port: number;
  mode: ProxyMode;
  /** Switches mode; 'down' resets every connection open now. */
  set(mode: ProxyMode): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const flushers = new Map<[net.Socket, net.Socket], () => void>();
  let mode: ProxyMode = 'up';
  const server = net.createServer((client) => {
    if (mode === 'down') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      flushers.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
    const held: [net.Socket, Buffer][] = [];
    const forward =
      (to: net.Socket) =>
      (d: Buffer): void => {
        if (mode === 'up' && held.length === 0) to.write(d);
        else held.push([to, d]);
      };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    flushers.set(pair, () => {
      while (mode === 'up' && held.length > 0) {
        const [to, d] = held.shift() as [net.Socket, Buffer];
        to.write(d);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: TcpProxy = {
    port: (server.address() as AddressInfo).port,
    get mode() {
      return mode;
    },
    set mode(m: ProxyMode) {
      proxy.set(m);
    },
    set(m: ProxyMode) {
      mode = m;
      for (const pair of [...pairs]) {
        if (m === 'down') {
          pair[0].resetAndDestroy();
          pair[1].destroy();
          pairs.delete(pair);
          flushers.delete(pair);
        } else if (m === 'up') flushers.get(pair)?.();
      }
    },
    close: () =>
      new Promise((resolve) => {
        for (const [client, upstream] of pairs) {
          client.destroy();
          upstream.destroy();
        }
        pairs.clear();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
