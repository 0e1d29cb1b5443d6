// The package's `colloquy/client` entry: connect() and the client session, with every protocol
// profile's URL scheme registered (iso://, src/iso/profile.ts), as src/client/ itself cannot
// import the profiles above it.
import './iso/profile.js';
export * from './client/connect.js';
