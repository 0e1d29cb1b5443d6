// PLACEHOLDER until this command lands in this session's work: it says so and exits 1.
import type { Command } from './commands.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve sessions, chat, RPC, files and the web page',
  run(_args, ctx) {
    ctx.stderr.write('colloquy serve: not built yet\n');
    return 1;
  },
};
