// PLACEHOLDER until this command lands in this session's work: it says so and exits 1.
import type { Command } from './commands.js';

export const callCommand: Command = {
  name: 'call',
  summary: 'make a JSON-RPC 2.0 call over a session',
  run(_args, ctx) {
    ctx.stderr.write('colloquy call: not built yet\n');
    return 1;
  },
};
