// The runtime conformance suite, run unchanged over memory, tcp, tls and ws.

import { describe } from 'vitest';
import { testCertificate } from '../support/tls-cert.js';
import { conformance } from './conformance.js';

let memoryCount = 0;

describe('runtime over memory', () => {
  conformance({
    name: 'memory',
    endpoint: () => ({ memory: `conformance-${process.pid}-${++memoryCount}` }),
    url: (s) => `memory://${s.addresses.memory}`,
  });
});

describe('runtime over tcp', () => {
  conformance({
    name: 'tcp',
    endpoint: () => ({ tcp: { port: 0 } }),
    url: (s) => `tcp://127.0.0.1:${s.addresses.tcp}`,
  });
});

describe('runtime over tls', () => {
  conformance({
    name: 'tls',
    endpoint: () => {
      const { cert, key } = testCertificate();
      return { tls: { port: 0, cert, key } };
    },
    url: (s) => `tls://127.0.0.1:${s.addresses.tls}`,
    client: { tls: { ca: testCertificate().cert } },
  });
});

describe('runtime over ws', () => {
  conformance({
    name: 'ws',
    endpoint: () => ({ ws: { port: 0 } }),
    url: (s) => `ws://127.0.0.1:${s.addresses.ws}/session`,
  });
});
