// A TCP forwarder whose target can change: a load balancer moving a client's next connection to
// another node. `cutAll` drops every connection through it (the node became unreachable).

import net from 'node:net';

export interface Forwarder {
  port: number;
  switchTo(port: number): void;
  cutAll(): void;
  close(): Promise<void>;
}

export async function forwarder(target: number): Promise<Forwarder> {
  let current = target;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(current, '127.0.0.1');
    for (const s of [client, upstream]) { sockets.add(s); s.on('error', () => {}); s.on('close', () => sockets.delete(s)); }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    switchTo: (port) => { current = port; },
    cutAll: () => { for (const s of sockets) s.destroy(); },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
