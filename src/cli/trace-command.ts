// PLACEHOLDER until this command lands in this session's work: it says so and exits 1.
import type { Command } from './commands.js';

export const traceCommand: Command = {
  name: 'trace',
  summary: 'open a session and draw its frames as a ladder diagram',
  run(_args, ctx) {
    ctx.stderr.write('colloquy trace: not built yet\n');
    return 1;
  },
};
