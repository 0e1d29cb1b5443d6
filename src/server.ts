// The package's `colloquy/server` entry: listen() and the server, with every protocol profile's
// endpoint registered (listen({ iso }), src/iso/profile.ts), as src/server/ itself cannot import
// the profiles above it.
import './iso/profile.js';
export * from './server/server.js';
