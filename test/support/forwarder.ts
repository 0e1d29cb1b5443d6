// A TCP forwarder whose target can change: a load balancer moving a client's next connection to
// another node. `cutAll` drops every connection through it (the node became unreachable);
// `freeze` stops every byte both ways and keeps the connections open (a peer that never answers,
// as behind a NAT that dropped its mapping). The target is a port, or a function asked at each
// new connection (a balancer that picks whichever node is ready).

import net from 'node:net';

export interface Forwarder {
  port: number;
  switchTo(port: number): void;
  cutAll(): void;
  freeze(): void;
  close(): Promise<void>;
}

export async function forwarder(target: number | (() => number)): Promise<Forwarder> {
  let current = target;
  const sockets = new Set<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(typeof current === 'number' ? current : current(), '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.on('close', () => pairs.delete(pair));
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    switchTo: (port) => {
      current = port;
    },
    cutAll: () => {
      for (const s of sockets) s.destroy();
    },
    freeze: () => {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
