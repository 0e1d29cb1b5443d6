// Runs the CLI in this process with captured stdout/stderr and, for the call, extra environment
// variables (restored afterwards).

import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/cli.js';

export async function runCaptured(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await runCli(args, { signal: new AbortController().signal, stdout, stderr });
    return { code, out, err };
  } finally {
    for (const k of Object.keys(env))
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
  }
}
