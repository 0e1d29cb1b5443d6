// colloquy: the OSI session layer for TypeScript. Today: the engine (codec + protocol machine).
export * from './engine/index.js';
