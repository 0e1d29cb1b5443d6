// PLACEHOLDER until this command lands in this session's work: it says so and exits 1.
import type { Command } from './commands.js';

export const chatCommand: Command = {
  name: 'chat',
  summary: 'chat in a room (interactive, or line by line from a pipe)',
  run(_args, ctx) {
    ctx.stderr.write('colloquy chat: not built yet\n');
    return 1;
  },
};
