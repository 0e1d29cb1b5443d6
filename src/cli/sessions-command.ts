// PLACEHOLDER until this command lands in this session's work: it says so and exits 1.
import type { Command } from './commands.js';

export const sessionsCommand: Command = {
  name: 'sessions',
  summary: "list a server's live sessions",
  run(_args, ctx) {
    ctx.stderr.write('colloquy sessions: not built yet\n');
    return 1;
  },
};
