// PLACEHOLDER until this command lands in this session's work: it says so and exits 1.
import type { Command } from './commands.js';

export const getCommand: Command = {
  name: 'get',
  summary: 'download a file over a session (resumable, SHA-256 verified)',
  run(_args, ctx) {
    ctx.stderr.write('colloquy get: not built yet\n');
    return 1;
  },
};

export const putCommand: Command = {
  name: 'put',
  summary: 'upload a file over a session (resumable, SHA-256 verified)',
  run(_args, ctx) {
    ctx.stderr.write('colloquy put: not built yet\n');
    return 1;
  },
};
