// The trap: any unhandled rejection or uncaught exception during a test run fails the run.
// Vitest already reports them as errors; this makes the failure explicit and loud even for
// rejections that surface after a test has finished.
process.on('unhandledRejection', (reason) => {
  console.error('UNHANDLED REJECTION (the trap fails this run):', reason);
  process.exitCode = 1;
  throw reason instanceof Error ? reason : new Error(`unhandled rejection: ${String(reason)}`);
});
